// One certrotd per state directory.
//
// Two daemons on the same configuration would both rotate every credential: each swaps in its
// own version and each state file claims a serial that may not be live. `run` therefore holds an
// exclusive lock on `<state_dir>/certrotd.lock` for its whole life, and an offline `rollback`
// holds it while it swaps. The lock is an open file description lock (F_OFD_SETLK): the kernel
// drops it when the descriptor is closed or the process dies, so a crash leaves no stale lock,
// and unlike a classic POSIX record lock it also conflicts within one process (which is what
// makes it testable). The holder writes its PID into the file so that the refused process can
// name it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

#include "util/fd.hpp"
#include "util/result.hpp"

namespace certrotd {

class InstanceLock {
public:
  // The lock file's name inside the state directory.
  static constexpr const char* k_file_name = "certrotd.lock";

  // Creates `state_dir` (mode 0700) when missing, opens the lock file (created with mode 0600,
  // never through a symlink, close-on-exec), takes the lock without waiting and records `self`
  // in it. Errors: retryable when another process holds the lock (the message names its PID,
  // and holder() below returns it); permanent when the file cannot be created or opened.
  static Result<InstanceLock> acquire(const std::filesystem::path& state_dir, pid_t self);

  // The PID written into the lock file by the process that holds it; nullopt when none holds it
  // or none could be read (the holder writes it right after locking).
  static std::optional<pid_t> holder(const std::filesystem::path& state_dir);

  InstanceLock(InstanceLock&&) noexcept = default;
  InstanceLock& operator=(InstanceLock&&) noexcept = default;

private:
  explicit InstanceLock(Fd fd) : m_fd(std::move(fd)) {}

  Fd m_fd;  // the lock lives as long as this descriptor
};

}  // namespace certrotd
