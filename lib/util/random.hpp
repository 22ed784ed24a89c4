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

// A mutex-guarded mt19937_64 from a fixed seed: a deterministic sequence for tests.
class SeededRandom : public Random {
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

// The same engine seeded once from the OS (64 bits from two random_device draws); thread-safe.
class SystemRandom final : public SeededRandom {
public:
  SystemRandom() : SeededRandom(os_seed()) {}

private:
  static std::uint64_t os_seed() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) | device();
  }
};

}  // namespace certrotd
