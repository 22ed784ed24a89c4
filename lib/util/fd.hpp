// A move-only owner of a POSIX file descriptor, and a scope guard for one-off cleanups.
#pragma once

#include <unistd.h>

#include <utility>

namespace certrotd {

class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.m_fd, -1));
    }
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership; the caller closes the descriptor.
  int release() { return std::exchange(m_fd, -1); }

  void reset(int fd = -1) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = fd;
  }

private:
  int m_fd = -1;
};

// Runs a callable when the scope ends unless dismissed.
template <typename F>
class ScopeGuard {
public:
  explicit ScopeGuard(F f) : m_f(std::move(f)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (m_active) {
      m_f();
    }
  }
  void dismiss() { m_active = false; }

private:
  F m_f;
  bool m_active = true;
};

}  // namespace certrotd
