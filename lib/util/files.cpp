#include "util/files.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

namespace certrotd {

std::string errno_text(int err) { return std::strerror(err); }

namespace {

Result<void> write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_retryable("write failed: " + errno_text(errno), path.string());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> apply_mode_and_owner(int fd, mode_t mode, const FileOwner& owner,
                                  const fs::path& path) {
  // fchmod first, while the file is still empty: umask may have produced a narrower mode, and a
  // wider one must never be visible with content in it.
  if (::fchmod(fd, mode) != 0) {
    return fail("cannot set mode: " + errno_text(errno), path.string());
  }
  if (owner.uid || owner.gid) {
    const uid_t uid = owner.uid.value_or(static_cast<uid_t>(-1));
    const gid_t gid = owner.gid.value_or(static_cast<gid_t>(-1));
    if (::fchown(fd, uid, gid) != 0) {
      return fail("cannot set owner: " + errno_text(errno), path.string());
    }
    // chown clears set-id bits but not permission bits; re-assert the mode to be explicit.
    if (::fchmod(fd, mode) != 0) {
      return fail("cannot set mode: " + errno_text(errno), path.string());
    }
  }
  return {};
}

// A numeric user or group id. std::stoul would throw on "99999999999999999999" and silently
// truncate values above 2^32; neither may happen at a lib/ edge.
template <typename Id>
std::optional<Result<Id>> parse_numeric_id(const std::string& name) {
  if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  Id id{};
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  // (Id)-1 means "unchanged" to chown(2), so it is not a usable id either.
  if (ec != std::errc() || ptr != name.data() + name.size() || id == static_cast<Id>(-1)) {
    return Result<Id>(fail("numeric id '" + name + "' is out of range"));
  }
  return Result<Id>(id);
}

}  // namespace

Result<uid_t> lookup_user(const std::string& name) {
  if (auto numeric = parse_numeric_id<uid_t>(name)) {
    return *numeric;
  }
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return fail("no such user '" + name + "'");
  }
  return found->pw_uid;
}

Result<gid_t> lookup_group(const std::string& name) {
  if (auto numeric = parse_numeric_id<gid_t>(name)) {
    return *numeric;
  }
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found) {
    return fail("no such group '" + name + "'");
  }
  return found->gr_gid;
}

namespace {

// What a non-regular st_mode is, for messages.
std::string_view file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

tl::unexpected<Error> not_regular(mode_t mode, const fs::path& path) {
  return fail("it is " + std::string(file_type_name(mode)) + ", not a regular file",
              path.string());
}

}  // namespace

Result<std::string> read_file(const fs::path& path) {
  // O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer (and reading one for
  // data); O_NOCTTY: a terminal named here must not become ours. Neither changes how a regular
  // file is read.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  struct stat st {};
  if (!fd) {
    const int err = errno;
    // A socket cannot be opened at all (ENXIO); say what it is rather than "No such device".
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return not_regular(st.st_mode, path);
    }
    return fail(errno_text(err), path.string(),
                err == ENOENT ? ErrorKind::permanent : ErrorKind::retryable);
  }
  if (::fstat(fd.get(), &st) != 0) {
    return fail_retryable("cannot stat: " + errno_text(errno), path.string());
  }
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode, path);
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_retryable("read failed: " + errno_text(errno), path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return fail_retryable("cannot open directory: " + errno_text(errno), dir.string());
  }
  if (::fsync(fd.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), dir.string());
  }
  return {};
}

Result<void> make_dirs(const fs::path& dir, mode_t mode) {
  fs::path current;
  for (const auto& part : dir) {
    current /= part;
    if (current == current.root_path()) continue;
    if (::mkdir(current.c_str(), mode) != 0 && errno != EEXIST) {
      return fail("cannot create directory: " + errno_text(errno), current.string());
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail("not a directory", dir.string());
  }
  return {};
}

AtomicFile::AtomicFile(fs::path target, fs::path temp, Fd fd)
    : m_target(std::move(target)), m_temp(std::move(temp)), m_fd(std::move(fd)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_target(std::move(other.m_target)),
      m_temp(std::move(other.m_temp)),
      m_fd(std::move(other.m_fd)),
      m_committed(std::exchange(other.m_committed, true)) {}

AtomicFile::~AtomicFile() {
  if (!m_committed && !m_temp.empty()) {
    ::unlink(m_temp.c_str());
  }
}

Result<AtomicFile> AtomicFile::create(const fs::path& target, mode_t mode, FileOwner owner) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string pattern = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  // mkostemp creates the file 0600 with O_EXCL: nobody else can read it before fchmod below.
  Fd fd(::mkostemp(pattern.data(), O_CLOEXEC));
  if (!fd) {
    return fail_retryable("cannot create temporary file: " + errno_text(errno), target.string());
  }
  AtomicFile file(target, fs::path(pattern), std::move(fd));
  if (auto r = apply_mode_and_owner(file.m_fd.get(), mode, owner, target); !r) {
    return fail(r.error());
  }
  return file;
}

Result<void> AtomicFile::write(std::string_view data) {
  return write_all(m_fd.get(), data, m_target);
}

Result<void> AtomicFile::commit() {
  if (::fsync(m_fd.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), m_target.string());
  }
  m_fd.reset();
  if (::rename(m_temp.c_str(), m_target.c_str()) != 0) {
    return fail_retryable("rename failed: " + errno_text(errno), m_target.string());
  }
  m_committed = true;
  return fsync_dir(m_target.has_parent_path() ? m_target.parent_path() : fs::path("."));
}

Result<void> write_file_atomic(const fs::path& target, std::string_view data, mode_t mode,
                               FileOwner owner) {
  auto file = AtomicFile::create(target, mode, owner);
  if (!file) return fail(file.error());
  if (auto r = file->write(data); !r) return r;
  return file->commit();
}

Result<void> write_new_file(const fs::path& path, std::string_view data, mode_t mode,
                            FileOwner owner) {
  // Created 0600 (umask can only narrow it), then fchmod'ed to the final mode before writing.
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_retryable("cannot create file: " + errno_text(errno), path.string());
  }
  // A half-written file must not stay behind: it would look complete to a reader, and O_EXCL
  // would make every retry fail with EEXIST.
  ScopeGuard remove_partial([&path] { ::unlink(path.c_str()); });
  if (auto r = apply_mode_and_owner(fd.get(), mode, owner, path); !r) return r;
  if (auto r = write_all(fd.get(), data, path); !r) return r;
  if (::fsync(fd.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), path.string());
  }
  remove_partial.dismiss();
  return {};
}

}  // namespace certrotd
