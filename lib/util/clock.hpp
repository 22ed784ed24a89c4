// Time as a dependency. Two kinds of time:
//  - wall time (`SystemTime`) for certificate validity, persisted state and logs;
//  - monotonic time (`MonoTime`) for timers and backoff, immune to clock steps.
// lib/ never calls `now()` directly; it asks the injected `Clock`.
#pragma once

#include <chrono>
#include <mutex>

namespace certrotd {

using SystemTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;
using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

class Clock {
public:
  virtual ~Clock() = default;
  virtual SystemTime wall_now() const = 0;
  virtual MonoTime mono_now() const = 0;
};

class RealClock final : public Clock {
public:
  SystemTime wall_now() const override { return std::chrono::system_clock::now(); }
  MonoTime mono_now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that only moves when told to; wall and monotonic time advance together.
// Thread-safe, because rotation workers read it while a test advances it.
class ManualClock final : public Clock {
public:
  explicit ManualClock(SystemTime wall_start = SystemTime{std::chrono::hours(24 * 365 * 56)})
      : m_wall(wall_start) {}

  SystemTime wall_now() const override {
    std::lock_guard lock(m_mutex);
    return m_wall;
  }
  MonoTime mono_now() const override {
    std::lock_guard lock(m_mutex);
    return m_mono;
  }
  void advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(m_mutex);
    m_wall += std::chrono::duration_cast<SystemTime::duration>(d);
    m_mono += std::chrono::duration_cast<MonoTime::duration>(d);
  }
  // Steps only the wall clock, as NTP or an operator would.
  void step_wall(std::chrono::nanoseconds d) {
    std::lock_guard lock(m_mutex);
    m_wall += std::chrono::duration_cast<SystemTime::duration>(d);
  }

private:
  mutable std::mutex m_mutex;
  SystemTime m_wall;
  MonoTime m_mono{};
};

}  // namespace certrotd
