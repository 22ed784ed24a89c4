#include "util/instance_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

#include "util/files.hpp"

namespace certrotd {

namespace {

// O_NOFOLLOW: whoever can write into state_dir must not redirect our open to another file;
// O_NONBLOCK: a FIFO planted there must not hang start-up (refused below, not a regular file).
Result<Fd> open_lock_file(const std::filesystem::path& state_dir, int flags) {
  const std::filesystem::path path = state_dir / InstanceLock::k_file_name;
  Fd fd(::open(path.c_str(), flags | O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600));
  if (!fd) return fail("cannot open the lock file: " + errno_text(errno), path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail("the lock file is not a regular file", path.string());
  }
  return fd;
}

struct flock whole_file(short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
  return lock;
}

std::optional<pid_t> read_pid(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return std::nullopt;
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(buffer, buffer + n, pid);
  if (ec != std::errc{} || pid <= 0) return std::nullopt;
  return pid;
}

}  // namespace

Result<InstanceLock> InstanceLock::acquire(const std::filesystem::path& state_dir, pid_t self) {
  if (auto made = make_dirs(state_dir, 0700); !made) return fail(made.error());
  auto fd = open_lock_file(state_dir, O_CREAT);
  if (!fd) return fail(fd.error());
  struct flock lock = whole_file(F_WRLCK);
  if (::fcntl(fd->get(), F_OFD_SETLK, &lock) != 0) {
    const int err = errno;
    const std::string path = (state_dir / k_file_name).string();
    if (err != EAGAIN && err != EACCES) return fail("cannot lock: " + errno_text(err), path);
    const auto pid = read_pid(fd->get());
    return fail_retryable("another certrotd (" +
                              (pid ? "PID " + std::to_string(*pid) : std::string("PID unknown")) +
                              ") is running on this state directory",
                          path);
  }
  const std::string text = std::to_string(self) + "\n";
  // A PID that cannot be recorded only makes the refusal of a second instance less specific.
  if (::ftruncate(fd->get(), 0) == 0) {
    [[maybe_unused]] const auto n = ::pwrite(fd->get(), text.data(), text.size(), 0);
  }
  return InstanceLock(std::move(*fd));
}

std::optional<pid_t> InstanceLock::holder(const std::filesystem::path& state_dir) {
  auto fd = open_lock_file(state_dir, 0);
  if (!fd) return std::nullopt;
  struct flock probe = whole_file(F_WRLCK);
  if (::fcntl(fd->get(), F_OFD_GETLK, &probe) != 0 || probe.l_type == F_UNLCK) {
    return std::nullopt;
  }
  return read_pid(fd->get());
}

}  // namespace certrotd
