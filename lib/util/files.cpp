#include "util/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace certrotd {

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

constexpr std::string_view k_temp_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t k_temp_suffix_length = 6;
constexpr int k_temp_name_attempts = 100;

// Six characters as mkstemp(3) would pick them. The name only has to be free, not secret: it is
// made with O_EXCL in a folder only root and certrotd's user can write.
std::string random_suffix() {
  std::array<unsigned char, k_temp_suffix_length> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), GRND_NONBLOCK) !=
      static_cast<ssize_t>(bytes.size())) {
    // Only before the entropy pool is ready at boot; O_EXCL still keeps names apart.
    const auto seed = static_cast<std::uint64_t>(::getpid()) ^
                      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&bytes));
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<unsigned char>(seed >> (8 * i));
    }
  }
  std::string out;
  for (const unsigned char b : bytes) out += k_temp_alphabet[b % k_temp_alphabet.size()];
  return out;
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
  return fail("it is " + std::string(file_type_name(mode)) + ", not a regular file", path.string());
}

}  // namespace

namespace {

// The rest of a regular file opened as `fd`; `shown` names it in errors.
Result<std::string> read_open_file(const Fd& fd, const fs::path& shown) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return fail_retryable("cannot stat: " + errno_text(errno), shown.string());
  }
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode, shown);
  std::string out;
  char buf[16384];
  // Key and secret files pass through here: leave no copy of them on the stack.
  const ScopeGuard clear_buf([&buf] { ::explicit_bzero(buf, sizeof buf); });
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_retryable("read failed: " + errno_text(errno), shown.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

Result<std::string> read_file(const fs::path& path) {
  // O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer (and reading one for
  // data); O_NOCTTY: a terminal named here must not become ours. Neither changes how a regular
  // file is read.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    struct stat st {};
    // A socket cannot be opened at all (ENXIO); say what it is rather than "No such device".
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return not_regular(st.st_mode, path);
    }
    return fail(errno_text(err), path.string(),
                err == ENOENT ? ErrorKind::permanent : ErrorKind::retryable);
  }
  return read_open_file(fd, path);
}

Result<std::optional<std::string>> read_file_at(int dir_fd, const std::string& name,
                                                const fs::path& shown) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>{};
    // ELOOP: a symlink in its place, which is never followed.
    return fail_retryable(errno_text(errno), shown.string());
  }
  auto text = read_open_file(fd, shown);
  if (!text) return fail(text.error());
  return std::optional<std::string>(std::move(*text));
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

AtomicFile::AtomicFile(Fd dir, std::string name, std::string temp, fs::path shown, Fd fd)
    : m_dir(std::move(dir)),
      m_name(std::move(name)),
      m_temp(std::move(temp)),
      m_shown(std::move(shown)),
      m_fd(std::move(fd)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_dir(std::move(other.m_dir)),
      m_name(std::move(other.m_name)),
      m_temp(std::move(other.m_temp)),
      m_shown(std::move(other.m_shown)),
      m_fd(std::move(other.m_fd)),
      m_committed(std::exchange(other.m_committed, true)) {}

AtomicFile::~AtomicFile() {
  if (!m_committed && m_dir) {
    ::unlinkat(m_dir.get(), m_temp.c_str(), 0);
  }
}

Result<AtomicFile> AtomicFile::create(const fs::path& target, mode_t mode, FileOwner owner) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) {
    return fail_retryable("cannot create temporary file: " + errno_text(errno), target.string());
  }
  return create_in(dir_fd.get(), target.filename().string(), target, mode, owner);
}

Result<AtomicFile> AtomicFile::create_in(int dir_fd, const std::string& name, const fs::path& shown,
                                         mode_t mode, FileOwner owner) {
  Fd dir(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!dir) return fail_retryable("cannot duplicate descriptor: " + errno_text(errno), shown);
  const std::string prefix = std::string(k_temp_file_prefix) + name + ".";
  for (int attempt = 0; attempt < k_temp_name_attempts; ++attempt) {
    std::string temp = prefix + random_suffix();
    // 0600 and O_EXCL: nobody else can read it before fchmod below; O_NOFOLLOW: never a link.
    Fd fd(::openat(dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   0600));
    if (!fd) {
      if (errno == EEXIST) continue;
      return fail_retryable("cannot create temporary file: " + errno_text(errno), shown.string());
    }
    AtomicFile file(std::move(dir), name, std::move(temp), shown, std::move(fd));
    if (auto r = apply_mode_and_owner(file.m_fd.get(), mode, owner, shown); !r) {
      return fail(r.error());
    }
    return file;
  }
  return fail_retryable("cannot create temporary file: no free name", shown.string());
}

Result<void> AtomicFile::write(std::string_view data) {
  return write_all(m_fd.get(), data, m_shown);
}

Result<void> AtomicFile::commit() {
  if (::fsync(m_fd.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), m_shown.string());
  }
  m_fd.reset();
  if (::renameat(m_dir.get(), m_temp.c_str(), m_dir.get(), m_name.c_str()) != 0) {
    return fail_retryable("rename failed: " + errno_text(errno), m_shown.string());
  }
  m_committed = true;
  if (::fsync(m_dir.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), m_shown.parent_path().string());
  }
  return {};
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
  return write_new_file_at(AT_FDCWD, path.string(), path, data, mode, owner);
}

Result<void> write_new_file_at(int dir_fd, const std::string& name, const fs::path& shown,
                               std::string_view data, mode_t mode, FileOwner owner) {
  // Created 0600 (umask can only narrow it), then fchmod'ed to the final mode before writing.
  Fd fd(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_retryable("cannot create file: " + errno_text(errno), shown.string());
  }
  // A half-written file must not stay behind: it would look complete to a reader, and O_EXCL
  // would make every retry fail with EEXIST.
  ScopeGuard remove_partial([&] { ::unlinkat(dir_fd, name.c_str(), 0); });
  if (auto r = apply_mode_and_owner(fd.get(), mode, owner, shown); !r) return r;
  if (auto r = write_all(fd.get(), data, shown); !r) return r;
  if (::fsync(fd.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), shown.string());
  }
  remove_partial.dismiss();
  return {};
}

bool is_temp_file_name(std::string_view name, std::string_view target) {
  if (name.substr(0, k_temp_file_prefix.size()) != k_temp_file_prefix) return false;
  name.remove_prefix(k_temp_file_prefix.size());
  // <target>.XXXXXX
  if (name.size() < k_temp_suffix_length + 2) return false;
  const std::string_view suffix = name.substr(name.size() - k_temp_suffix_length);
  const std::string_view middle = name.substr(0, name.size() - k_temp_suffix_length);
  if (middle.back() != '.') return false;
  if (suffix.find_first_not_of(k_temp_alphabet) != std::string_view::npos) return false;
  return target.empty() || middle.substr(0, middle.size() - 1) == target;
}

Result<int> remove_temp_files(int dir_fd, std::string_view target, const fs::path& shown) {
  Fd copy(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!copy) return fail_retryable("cannot list directory: " + errno_text(errno), shown.string());
  DIR* dir = ::fdopendir(copy.get());
  if (!dir) return fail_retryable("cannot list directory: " + errno_text(errno), shown.string());
  copy.release();  // closedir below closes it
  ScopeGuard close_dir([dir] { ::closedir(dir); });
  // Rewind: a duplicate shares the file offset of a descriptor that may have been listed before.
  ::rewinddir(dir);
  std::vector<std::string> doomed;
  const uid_t me = ::geteuid();
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (!is_temp_file_name(name, target)) continue;
    struct stat st {};
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) st = {};
    // Only what certrotd itself made: a regular file of its own user.
    if (S_ISREG(st.st_mode) && st.st_uid == me) doomed.emplace_back(name);
    errno = 0;  // a failed fstatat above is not readdir's answer
  }
  if (errno != 0) {
    return fail_retryable("cannot list directory: " + errno_text(errno), shown.string());
  }
  for (const std::string& name : doomed) {
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return fail_retryable("cannot remove: " + errno_text(errno), (shown / name).string());
    }
  }
  if (!doomed.empty() && ::fsync(dir_fd) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), shown.string());
  }
  return static_cast<int>(doomed.size());
}

Result<void> remove_tree_at(int dir_fd, const std::string& name, const fs::path& shown) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_retryable("cannot stat: " + errno_text(errno), shown.string());
  }
  if (S_ISDIR(st.st_mode)) {
    Fd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return fail_retryable("cannot open directory: " + errno_text(errno), shown.string());
    DIR* dir = ::fdopendir(sub.get());
    if (!dir) return fail_retryable("cannot list directory: " + errno_text(errno), shown.string());
    const int sub_fd = sub.release();  // closedir below closes it
    ScopeGuard close_dir([dir] { ::closedir(dir); });
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view n = entry->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    if (errno != 0) {
      return fail_retryable("cannot list directory: " + errno_text(errno), shown.string());
    }
    for (const std::string& n : names) {
      if (auto r = remove_tree_at(sub_fd, n, shown / n); !r) return r;
    }
  }
  if (::unlinkat(dir_fd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
      errno != ENOENT) {
    return fail_retryable("cannot remove: " + errno_text(errno), shown.string());
  }
  return {};
}

}  // namespace certrotd
