// Randomness as a dependency, so jitter and backoff are reproducible in tests.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>

namespace certrotd {

class Random {
public:
  virtual ~Random() = default;
  // A uniformly distributed 64-bit value.
  virtual std::uint64_t next_u64() = 0;

  // Uniform in [0, bound); 0 when bound is 0.
  std::uint64_t below(std::uint64_t bound) {
    if (bound == 0) {
      return 0;
    }
    // Lemire's rejection-free bound is overkill here; modulo bias at 2^64 is negligible for delays.
    return next_u64() % bound;
  }
};

// Seeded from the OS once; thread-safe.
class SystemRandom final : public Random {
public:
  SystemRandom() : m_engine(std::random_device{}()) {}
  std::uint64_t next_u64() override {
    std::lock_guard lock(m_mutex);
    return m_engine();
  }

private:
  std::mutex m_mutex;
  std::mt19937_64 m_engine;
};

// Deterministic sequence for tests.
class SeededRandom final : public Random {
public:
  explicit SeededRandom(std::uint64_t seed) : m_engine(seed) {}
  std::uint64_t next_u64() override {
    std::lock_guard lock(m_mutex);
    return m_engine();
  }

private:
  std::mutex m_mutex;
  std::mt19937_64 m_engine;
};

}  // namespace certrotd
