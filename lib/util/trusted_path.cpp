#include "util/trusted_path.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <string>
#include <vector>

#include "util/files.hpp"

namespace certrotd {

namespace {

// The kernel's own limit on links followed in one lookup (MAXSYMLINKS).
constexpr int k_max_links = 40;

enum class Leaf { folder, file };
// How the last folder of a walk is judged: as the one certrotd writes into (no sticky exception),
// or as one on the way to it.
enum class Last { destination, passage };

// A folder on the way, opened O_PATH: enough for openat/mkdirat/fstat, and it needs no read
// permission, so a daemon user can pass through root's 0711 folders.
struct Step {
  Fd fd;
  std::string shown;  // the path as resolved so far, for messages
  struct stat st {};
};

struct Walked {
  Fd fd;  // O_PATH; invalid when MissingFolders::accept stopped at a missing component
  std::string shown;
  struct stat st {};
  bool created = false;  // the last component was made by this walk
};

std::string describe_group(gid_t gid) {
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found) {
    return "group " + std::string(found->gr_name) + " (gid " + std::to_string(gid) + ")";
  }
  return "gid " + std::to_string(gid);
}

bool trusted_owner(uid_t uid, const PathTrust& trust) {
  return uid == 0 || uid == trust.own_uid || uid == trust.service_uid;
}

bool trusted_group(gid_t gid, const PathTrust& trust) {
  return gid == 0 || gid == trust.own_gid || gid == trust.service_gid;
}

const char* kind_of(const struct stat& st) {
  return S_ISDIR(st.st_mode) ? "folder" : S_ISLNK(st.st_mode) ? "symbolic link" : "file";
}

// Who other than root and the daemon's user could change what is in (or at) this inode, if anyone.
// `final`: the folder certrotd writes into, where even a sticky bit does not make others harmless
// (they could create the names certrotd is about to use).
Result<void> judge(const struct stat& st, const PathTrust& trust, const std::string& shown,
                   bool final) {
  const std::string what = std::string(kind_of(st)) + " " + shown;
  if (!trusted_owner(st.st_uid, trust)) {
    return fail(what + " is owned by " + describe_user(st.st_uid), shown);
  }
  if ((st.st_mode & S_IWGRP) != 0 && !trusted_group(st.st_gid, trust)) {
    return fail(what + " is writable by " + describe_group(st.st_gid) + " (owner " +
                    describe_user(st.st_uid) + ")",
                shown);
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    const bool sticky_root = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0 && st.st_uid == 0;
    if (!sticky_root || final) {
      return fail(what + " is writable by everyone (owner " + describe_user(st.st_uid) + ")",
                  shown);
    }
  }
  return {};
}

std::string join(const std::string& parent, const std::string& name) {
  if (parent.empty() || parent.back() == '/') return parent + name;
  return parent + "/" + name;
}

// Pushes the components of `path` so that the first one is at the back.
void push_components(std::vector<std::string>& todo, const std::string& path) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (at <= path.size()) {
    const std::size_t slash = path.find('/', at);
    const std::size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > at) parts.emplace_back(path.substr(at, end - at));
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(std::move(*it));
}

Result<Step> open_start(bool absolute, const PathTrust& trust) {
  Step start;
  start.shown = absolute ? "/" : ".";
  start.fd = Fd(::open(start.shown.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!start.fd) return fail_retryable("cannot open: " + errno_text(errno), start.shown);
  if (::fstat(start.fd.get(), &start.st) != 0) {
    return fail_retryable("cannot stat: " + errno_text(errno), start.shown);
  }
  if (auto r = judge(start.st, trust, start.shown, false); !r) return fail(r.error());
  return start;
}

Result<std::string> link_target(const Fd& link, const std::string& shown) {
  std::array<char, PATH_MAX> buf{};
  // An O_PATH descriptor of the link itself with an empty name reads that link (Linux 2.6.39+).
  const ssize_t n = ::readlinkat(link.get(), "", buf.data(), buf.size() - 1);
  if (n < 0) return fail_retryable("cannot read link: " + errno_text(errno), shown);
  if (n == 0) return fail("symbolic link " + shown + " is empty", shown);
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

Result<Walked> walk(const std::filesystem::path& path, const PathTrust& trust,
                    MissingFolders missing, mode_t mode, Leaf leaf,
                    Last last_folder = Last::destination) {
  const std::string& text = path.native();
  if (text.empty()) return fail("empty path");
  std::vector<std::string> todo;
  push_components(todo, text);
  std::vector<Step> stack;
  auto start = open_start(text.front() == '/', trust);
  if (!start) return fail(start.error());
  stack.push_back(std::move(*start));
  int links = 0;
  bool created = false;
  while (!todo.empty()) {
    const std::string name = std::move(todo.back());
    todo.pop_back();
    const bool last = todo.empty();
    if (name == ".") continue;
    if (name == ".." && stack.size() > 1) {
      stack.pop_back();
      continue;
    }
    const Step& parent = stack.back();
    const std::string shown = name == ".." ? parent.shown + "/.." : join(parent.shown, name);
    created = false;
    Fd fd(::openat(parent.fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd && errno == ENOENT) {
      if (missing == MissingFolders::accept) return Walked{Fd(), shown, {}, false};
      if (missing == MissingFolders::refuse || (last && leaf == Leaf::file)) {
        // Retryable, as any I/O failure: someone may create it later.
        return fail_retryable("does not exist", shown);
      }
      if (::mkdirat(parent.fd.get(), name.c_str(), mode) != 0 && errno != EEXIST) {
        return fail_retryable("cannot create directory: " + errno_text(errno), shown);
      }
      created = true;
      // Whatever is there now is judged below, whoever made it.
      fd.reset(::openat(parent.fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!fd) return fail_retryable("cannot open: " + errno_text(errno), shown);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
      return fail_retryable("cannot stat: " + errno_text(errno), shown);
    if (S_ISLNK(st.st_mode)) {
      // The folder holding the link was judged already; in a sticky folder the link's owner is
      // who may replace it.
      if (!trusted_owner(st.st_uid, trust)) {
        return fail("symbolic link " + shown + " is owned by " + describe_user(st.st_uid) +
                        "; certrotd follows only links made by root or its own user in folders "
                        "only they can write",
                    shown);
      }
      if (++links > k_max_links) return fail("too many levels of symbolic links", shown);
      auto target = link_target(fd, shown);
      if (!target) return fail(target.error());
      push_components(todo, *target);
      if (target->front() == '/') {
        auto root = open_start(true, trust);
        if (!root) return fail(root.error());
        stack.clear();
        stack.push_back(std::move(*root));
      }
      continue;
    }
    if (last && leaf == Leaf::file) {
      if (!S_ISREG(st.st_mode)) return fail(shown + " is not a regular file", shown);
      if (auto r = judge(st, trust, shown, true); !r) return fail(r.error());
      return Walked{std::move(fd), shown, st, false};
    }
    // A file where a folder should be is trouble on disk, not a path someone could redirect:
    // retryable, so the credential fails and is retried instead of the configuration.
    if (!S_ISDIR(st.st_mode)) return fail_retryable(shown + " is not a folder", shown);
    if (auto r = judge(st, trust, shown, false); !r) return fail(r.error());
    stack.push_back(Step{std::move(fd), shown, st});
  }
  if (leaf == Leaf::file) return fail(stack.back().shown + " is not a regular file", text);
  Step& final = stack.back();
  if (auto r = judge(final.st, trust, final.shown, last_folder == Last::destination); !r) {
    return fail(r.error());
  }
  return Walked{std::move(final.fd), final.shown, final.st, created};
}

}  // namespace

PathTrust PathTrust::of_this_process() {
  PathTrust trust{::geteuid(), ::getegid(), std::nullopt, std::nullopt};
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(k_service_user, &pw, buf.data(), buf.size(), &found) == 0 && found) {
    trust.service_uid = found->pw_uid;
    trust.service_gid = found->pw_gid;
  }
  return trust;
}

std::string describe_user(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) {
    return "user " + std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

Result<TrustedDir> open_trusted_dir(const std::filesystem::path& path, const PathTrust& trust,
                                    MissingFolders missing, mode_t mode) {
  auto walked = walk(path, trust, missing, mode, Leaf::folder);
  if (!walked) return fail(walked.error());
  if (!walked->fd) return TrustedDir{};
  // The O_PATH descriptor cannot be read or fsync'd; "." through it is the same folder, and no
  // name is looked up again.
  Fd fd(::openat(walked->fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_retryable("cannot open directory: " + errno_text(errno), walked->shown);
  return TrustedDir{std::move(fd), walked->created};
}

Result<void> TrustedDirChecker::check(const std::filesystem::path& path) {
  const std::filesystem::path parent = path.parent_path();
  const std::string name = path.filename().string();
  const auto full_walk = [&]() -> Result<void> {
    auto dir = walk(path, m_trust, MissingFolders::accept, 0, Leaf::folder);
    if (!dir) return fail(dir.error());
    return {};
  };
  if (parent.empty() || name.empty() || name == "." || name == "..") return full_walk();
  if (!m_parent_fd || parent.native() != m_parent) {
    m_parent_fd.reset();
    auto walked = walk(parent, m_trust, MissingFolders::accept, 0, Leaf::folder, Last::passage);
    if (!walked) return fail(walked.error());
    if (!walked->fd) return {};  // certrotd creates the rest
    m_parent = parent.native();
    m_parent_fd = std::move(walked->fd);
  }
  struct stat st {};
  if (::fstatat(m_parent_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_retryable("cannot stat: " + errno_text(errno), path.string());
  }
  if (S_ISDIR(st.st_mode)) return judge(st, m_trust, path.string(), true);
  // A link (or not a folder at all): the walk says whether it may be followed, and what it is.
  return full_walk();
}

Result<void> check_trusted_file(const std::filesystem::path& path, const PathTrust& trust) {
  auto walked = walk(path, trust, MissingFolders::refuse, 0, Leaf::file);
  if (!walked) return fail(walked.error());
  return {};
}

}  // namespace certrotd
