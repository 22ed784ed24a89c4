#include "store/credential_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <system_error>

#include "util/fd.hpp"
#include "util/trusted_path.hpp"

namespace certrotd::store {

namespace {

constexpr std::string_view k_data_link = "..data";
constexpr std::string_view k_data_temp_prefix = "..data.tmp";
constexpr std::string_view k_version_prefix = "..v-";
// The staged version, under the live file names: `next` -> `..v-<id>`, replaced by renaming
// `..tmp-next` over it (a `..tmp-` name, so recover() removes one a crash left).
constexpr std::string_view k_next_link = "next";
constexpr std::string_view k_next_temp = "..tmp-next";
// One line per kept version: "<id> <from> <until> <ending>", times in seconds since the epoch,
// "-" for what is not known. Written whole with AtomicFile, so readers see one complete file.
constexpr std::string_view k_history_file = "..history";
// Everything an unfinished write leaves behind starts with this: version directories being
// written, versions being pruned, stable links being replaced. recover() deletes them all.
constexpr std::string_view k_temp_prefix = "..tmp-";
// Ten digits keep ids sorting as text for 10^10 installs; parsing compares numerically anyway.
constexpr int k_counter_digits = 10;
constexpr std::size_t k_max_label_length = 64;
// A reader that loses a race against pruning starts over; more than a few losses in a row means
// something other than a racing install is removing versions.
constexpr int k_load_attempts = 5;

constexpr std::array k_all_contents = {Content::cert, Content::chain,  Content::fullchain,
                                       Content::key,  Content::bundle, Content::ca};

// Joins PEM texts so that one never runs into the next on the same line.
std::string join_pem(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const std::string_view part : parts) {
    if (part.empty()) continue;
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += part;
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string sanitize_label(std::string_view label) {
  std::string out;
  for (const char c : label) {
    if (out.size() == k_max_label_length) break;
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    out += safe ? c : '_';
  }
  return out;
}

// The creation counter at the front of a version id, or nullopt for names we did not make.
std::optional<std::uint64_t> version_counter(std::string_view id) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), value);
  if (ec != std::errc() || ptr == id.data()) return std::nullopt;
  if (ptr != id.data() + id.size() && *ptr != '-') return std::nullopt;
  return value;
}

std::string make_version_id(std::uint64_t counter, std::string_view label) {
  std::array<char, 32> digits{};
  const int n = std::snprintf(digits.data(), digits.size(), "%0*llu", k_counter_digits,
                              static_cast<unsigned long long>(counter));
  std::string id(digits.data(), static_cast<std::size_t>(n));
  const std::string safe = sanitize_label(label);
  if (!safe.empty()) id += "-" + safe;
  return id;
}

std::string version_name(std::string_view id) {
  return std::string(k_version_prefix) + std::string(id);
}

// An output folder, opened once, each component of its path judged on the way
// (open_trusted_dir). Everything below creates, renames and removes entries relative to its
// descriptor, never through the path again: whoever could swap a folder on the path for a
// symlink after the check cannot redirect a write. It also keeps lookups short: at start-up with
// 10,000 credentials, whole-path lookups were most of the time spent.
class Folder {
public:
  // With MissingFolders::accept a missing folder gives a Folder that does not `exist()`.
  static Result<Folder> open(const fs::path& path, MissingFolders missing) {
    auto dir = open_trusted_dir(path, PathTrust::of_this_process(), missing);
    if (!dir) return fail(dir.error().wrap("cannot open output folder " + path.string()));
    return Folder(path, std::move(dir->fd), dir->created);
  }

  bool exists() const { return m_fd.valid(); }
  int fd() const { return m_fd.get(); }
  const fs::path& path() const { return m_path; }
  bool created() const { return m_created; }
  // An entry's full path, for messages.
  std::string shown(std::string_view name) const { return (m_path / name).string(); }

private:
  Folder(fs::path path, Fd fd, bool created)
      : m_path(std::move(path)), m_fd(std::move(fd)), m_created(created) {}

  fs::path m_path;
  Fd m_fd;
  bool m_created = false;
};

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

// Calls `visit(name, d_type)` for each entry of the folder, "." and ".." left out.
template <typename Visit>
Result<void> for_each_entry(const Folder& folder, Visit visit) {
  const auto failed = [&folder] {
    return fail_retryable("cannot list directory: " + errno_text(errno), folder.path().string());
  };
  Fd copy(::fcntl(folder.fd(), F_DUPFD_CLOEXEC, 0));
  if (!copy) return failed();
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(copy.get()));
  if (!dir) return failed();
  copy.release();          // closedir() closes it now
  ::rewinddir(dir.get());  // the copy shares its read position with the folder's descriptor
  errno = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") visit(name, entry->d_type);
    errno = 0;  // what `visit` left there is not readdir's answer
  }
  if (errno != 0) return failed();
  return {};
}

bool is_complete_version(const Folder& folder, std::string_view name) {
  for (const Content c : k_all_contents) {
    struct stat st {};
    const std::string file = std::string(name) + "/" + std::string(file_name(c));
    if (::fstatat(folder.fd(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
      return false;
    }
  }
  return true;
}

Result<std::optional<std::string>> read_link(const Folder& folder, std::string_view name) {
  std::array<char, PATH_MAX> buf{};
  const std::string entry(name);
  const ssize_t n = ::readlinkat(folder.fd(), entry.c_str(), buf.data(), buf.size() - 1);
  if (n < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    if (errno == EINVAL) return fail("not a symbolic link", folder.shown(name));
    return fail_retryable("cannot read link: " + errno_text(errno), folder.shown(name));
  }
  return std::optional<std::string>(std::string(buf.data(), static_cast<std::size_t>(n)));
}

// The id `..data` points at, or nullopt if it is missing or points somewhere we did not put it.
Result<std::optional<std::string>> live_id(const Folder& folder) {
  auto target = read_link(folder, k_data_link);
  if (!target) return fail(target.error());
  if (!*target || !starts_with(**target, k_version_prefix) ||
      (*target)->find('/') != std::string::npos) {
    return std::optional<std::string>{};
  }
  return std::optional<std::string>((*target)->substr(k_version_prefix.size()));
}

// The id `next` points at, or nullopt if there is no such link or it is not one of ours.
Result<std::optional<std::string>> next_id(const Folder& folder) {
  auto target = read_link(folder, k_next_link);
  if (!target) {
    // Not a link (a folder someone made): nothing of ours is staged there.
    if (target.error().kind == ErrorKind::permanent) return std::optional<std::string>{};
    return fail(target.error());
  }
  if (!*target || !starts_with(**target, k_version_prefix) ||
      (*target)->find('/') != std::string::npos) {
    return std::optional<std::string>{};
  }
  return std::optional<std::string>((*target)->substr(k_version_prefix.size()));
}

struct Version {
  std::string id;
  std::uint64_t counter = 0;
};

// Complete versions, oldest first.
Result<std::vector<Version>> list_versions(const Folder& folder) {
  std::vector<Version> out;
  auto listed = for_each_entry(folder, [&](std::string_view name, unsigned char) {
    if (!starts_with(name, k_version_prefix)) return;
    const std::string id(name.substr(k_version_prefix.size()));
    const auto counter = version_counter(id);
    if (!counter || !is_complete_version(folder, name)) return;
    out.push_back({id, *counter});
  });
  if (!listed) return fail(listed.error());
  std::sort(out.begin(), out.end(),
            [](const Version& a, const Version& b) { return a.counter < b.counter; });
  return out;
}

// The next counter: one past every version directory present, complete or not, so that a new id
// never collides with a name already on disk.
Result<std::uint64_t> next_counter(const Folder& folder) {
  std::uint64_t next = 1;
  auto listed = for_each_entry(folder, [&](std::string_view name, unsigned char) {
    if (!starts_with(name, k_version_prefix)) return;
    const auto counter = version_counter(name.substr(k_version_prefix.size()));
    if (counter && *counter >= next) next = *counter + 1;
  });
  if (!listed) return fail(listed.error());
  return next;
}

// Replaces `link` with a symlink to `target` in one rename, so readers see the old or the new
// link and never no link at all.
Result<void> replace_symlink(const Folder& folder, const std::string& link,
                             const std::string& target, const std::string& temp) {
  ::unlinkat(folder.fd(), temp.c_str(), 0);
  if (::symlinkat(target.c_str(), folder.fd(), temp.c_str()) != 0) {
    return fail_retryable("cannot create symlink: " + errno_text(errno), folder.shown(temp));
  }
  if (::renameat(folder.fd(), temp.c_str(), folder.fd(), link.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(folder.fd(), temp.c_str(), 0);
    return fail_retryable("cannot rename symlink: " + errno_text(err), folder.shown(link));
  }
  return {};
}

Result<void> point_data_at(const Folder& folder, const std::string& id) {
  const std::string temp = std::string(k_data_temp_prefix) + "-" + id;
  return replace_symlink(folder, std::string(k_data_link), std::string(k_version_prefix) + id,
                         temp);
}

enum class ForeignEntries { keep, replace };

// What a name in the folder is, as far as the checks here care.
enum class EntryKind { absent, link, directory, other, unknown };

EntryKind kind_of_dirent(unsigned char d_type) {
  switch (d_type) {
    case DT_LNK: return EntryKind::link;
    case DT_DIR: return EntryKind::directory;
    case DT_UNKNOWN: return EntryKind::unknown;  // some file systems leave it to stat()
    default: return EntryKind::other;
  }
}

Result<EntryKind> stat_kind(const Folder& folder, const std::string& name) {
  struct stat st {};
  if (::fstatat(folder.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return EntryKind::absent;
    return fail_retryable("cannot stat: " + errno_text(errno), folder.shown(name));
  }
  if (S_ISLNK(st.st_mode)) return EntryKind::link;
  if (S_ISDIR(st.st_mode)) return EntryKind::directory;
  return EntryKind::other;
}

// One pass over a folder: the leftovers of unfinished writes, and what each stable name is
// (sparing recover() a stat() per name, which adds up over 10,000 folders at start-up).
struct Listing {
  std::vector<std::string> leftovers;
  std::array<EntryKind, k_all_contents.size()> stable{};  // EntryKind::absent unless listed
};

Result<Listing> list_folder(const Folder& folder) {
  Listing out;
  auto listed = for_each_entry(folder, [&](std::string_view name, unsigned char d_type) {
    if (starts_with(name, k_temp_prefix) || starts_with(name, k_data_temp_prefix)) {
      out.leftovers.emplace_back(name);
      return;
    }
    for (std::size_t i = 0; i < k_all_contents.size(); ++i) {
      if (name == file_name(k_all_contents[i])) out.stable[i] = kind_of_dirent(d_type);
    }
  });
  if (!listed) return fail(listed.error());
  return out;
}

// Points `name` at `..data/<name>` unless it does already or is a folder; anything else under the
// name is replaced, a non-link non-folder only when `foreign` says so. `kind` is what the name
// was a moment ago (unknown: looked up). Returns whether the link was (re)created.
Result<bool> ensure_link(const Folder& folder, const std::string& name, EntryKind kind,
                         ForeignEntries foreign) {
  const std::string target = std::string(k_data_link) + "/" + name;
  if (kind == EntryKind::unknown) {
    auto looked_up = stat_kind(folder, name);
    if (!looked_up) return fail(looked_up.error());
    kind = *looked_up;
  }
  if (kind == EntryKind::link) {
    auto current = read_link(folder, name);
    if (current && *current && **current == target) return false;
  } else if (kind == EntryKind::directory ||
             (kind == EntryKind::other && foreign == ForeignEntries::keep)) {
    return false;
  }
  const std::string temp = std::string(k_temp_prefix) + "link-" + name;
  if (auto r = replace_symlink(folder, name, target, temp); !r) return fail(r.error());
  return true;
}

// The stable names (`cert.pem` -> `..data/cert.pem`). A regular file left by whatever managed the
// folder before certrotd is replaced only when a version has just been installed, so that open()
// never hides a credential that is still being served.
// Returns whether any link was (re)created.
// `listing`, when given, says what each name was a moment ago; otherwise each is looked up.
Result<bool> ensure_stable_links(const Folder& folder, ForeignEntries foreign,
                                 const Listing* listing = nullptr) {
  bool changed = false;
  for (std::size_t i = 0; i < k_all_contents.size(); ++i) {
    const std::string name(file_name(k_all_contents[i]));
    auto made = ensure_link(folder, name, listing ? listing->stable[i] : EntryKind::unknown,
                            foreign);
    if (!made) return fail(made.error());
    changed = changed || *made;
  }
  return changed;
}

bool is_pem_name(std::string_view name) {
  return std::any_of(k_all_contents.begin(), k_all_contents.end(),
                     [&](Content c) { return name == file_name(c); });
}

// A name an issuer may give a file of its own: plain, visible, and none of the PEM names.
bool is_extra_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos && !is_pem_name(name) && name != k_next_link;
}

// The regular files of version `id` besides the PEM files (the issuer's extras).
Result<std::vector<std::string>> extra_names(const Folder& folder, const std::string& id) {
  const std::string version = version_name(id);
  Fd fd(::openat(folder.fd(), version.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd)
    return fail_retryable("cannot open version: " + errno_text(errno), folder.shown(version));
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.get()));
  if (!dir)
    return fail_retryable("cannot list version: " + errno_text(errno), folder.shown(version));
  fd.release();  // closedir() closes it now
  std::vector<std::string> out;
  errno = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (is_extra_name(name) && (entry->d_type == DT_REG || entry->d_type == DT_UNKNOWN)) {
      out.emplace_back(name);
    }
    errno = 0;
  }
  if (errno != 0) {
    return fail_retryable("cannot list version: " + errno_text(errno), folder.shown(version));
  }
  return out;
}

// The stable names of the extras of the version `id` (`binding.json` -> `..data/binding.json`),
// made BEFORE `..data` moves to `id`: the target does not name the version, so a crash between
// leaves at worst a link that dangles until the swap, never a live version without its link.
// A name that is a folder is left alone; anything else under it is replaced, as for the PEM
// names after an install. A link of an extra the version lacks stays and dangles: readers find
// no such file for that version, never one of another.
Result<void> ensure_extra_links(const Folder& folder, const std::string& id) {
  auto names = extra_names(folder, id);
  if (!names) return fail(names.error());
  bool changed = false;
  for (const std::string& name : *names) {
    auto made = ensure_link(folder, name, EntryKind::unknown, ForeignEntries::replace);
    if (!made) return fail(made.error());
    changed = changed || *made;
  }
  // On disk before the swap that relies on them.
  if (changed && ::fsync(folder.fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), folder.path().string());
  }
  return {};
}

// Removes a directory tree so that a crash half-way leaves only a `..tmp-` name for recover().
Result<void> remove_version(const Folder& folder, const std::string& id) {
  const std::string from = version_name(id);
  const std::string doomed = std::string(k_temp_prefix) + "old-" + id;
  if (auto r = remove_tree_at(folder.fd(), doomed, folder.shown(doomed)); !r) return r;
  if (::renameat(folder.fd(), from.c_str(), folder.fd(), doomed.c_str()) != 0) {
    return fail_retryable("cannot move old version aside: " + errno_text(errno),
                          folder.shown(from));
  }
  return remove_tree_at(folder.fd(), doomed, folder.shown(doomed));
}

// Removes the oldest versions until `keep` remain (the staged one not counted), never the live
// one (`live_counter`), anything newer (only possible after a rollback) or the staged one.
Result<void> prune(const Folder& folder, std::uint64_t live_counter, std::size_t keep) {
  auto all = list_versions(folder);
  if (!all) return fail(all.error());
  auto staged = next_id(folder);
  if (!staged) return fail(staged.error());
  std::size_t remaining = all->size();
  if (*staged) {
    const auto is_staged = [&](const Version& v) { return v.id == **staged; };
    if (std::any_of(all->begin(), all->end(), is_staged)) --remaining;
  }
  bool pruned = false;
  for (const Version& v : *all) {
    if (remaining <= keep) break;
    if (v.counter >= live_counter) break;
    if (*staged && v.id == **staged) continue;
    if (auto r = remove_version(folder, v.id); !r) return fail(r.error());
    --remaining;
    pruned = true;
  }
  if (pruned && ::fsync(folder.fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), folder.path().string());
  }
  return {};
}

mode_t dir_mode(const FileOwner& owner) { return owner.gid ? 0750 : 0755; }

// Folders certrotd writes into stay its own: `output.owner` goes to the files a consumer reads,
// never to a folder, or that user could swap entries under a later write. A configured group
// gets read and search access (0750) so its members can reach the files.
Result<void> apply_dir_mode(int fd, const FileOwner& owner, const fs::path& path) {
  if (owner.gid && ::fchown(fd, static_cast<uid_t>(-1), *owner.gid) != 0) {
    return fail("cannot set group: " + errno_text(errno), path.string());
  }
  if (::fchmod(fd, dir_mode(owner)) != 0) {
    return fail("cannot set mode: " + errno_text(errno), path.string());
  }
  return {};
}

// The parent folder of a copy, opened through trusted components, and the copy's name in it.
struct CopyTarget {
  Fd dir;
  std::string name;
};

Result<CopyTarget> open_copy_target(const CopySpec& copy, MissingFolders missing) {
  const fs::path parent = copy.path.has_parent_path() ? copy.path.parent_path() : fs::path(".");
  auto dir = open_trusted_dir(parent, PathTrust::of_this_process(), missing, 0755);
  if (!dir) return fail(dir.error().wrap("copy " + copy.path.string()));
  return CopyTarget{std::move(dir->fd), copy.path.filename().string()};
}

Result<std::string> read_all(int dir_fd, const std::string& name, const fs::path& shown) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    const int err = errno;
    return fail(errno_text(err), shown.string(),
                err == ENOENT ? ErrorKind::permanent : ErrorKind::retryable);
  }
  std::string out;
  std::array<char, 16384> buf{};
  while (true) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_retryable("read failed: " + errno_text(errno), shown.string());
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

// One copy outside the folder, written atomically with its mode and owner set on the fd.
Result<void> write_copy(const CopySpec& copy, std::string_view text) {
  auto target = open_copy_target(copy, MissingFolders::create);
  if (!target) return fail(target.error());
  const mode_t mode = copy.mode.value_or(is_secret(copy.content) ? 0600 : 0644);
  auto file = AtomicFile::create_in(target->dir.get(), target->name, copy.path, mode, copy.owner);
  if (!file) return fail(file.error());
  if (auto r = file->write(text); !r) return r;
  return file->commit();
}

// Removes the temporary files of copies a crash interrupted (they may hold a complete key).
Result<void> remove_copy_leftovers(const StoreOptions& options) {
  for (const CopySpec& copy : options.copies) {
    // A folder that is not there yet holds no leftovers; one that cannot be trusted is reported
    // when the copy is written.
    auto target = open_copy_target(copy, MissingFolders::accept);
    if (!target || !target->dir) continue;
    if (auto r = remove_temp_files(target->dir.get(), target->name, copy.path.parent_path()); !r) {
      return fail(r.error());
    }
  }
  return {};
}

// Writes a complete version under a temporary name and renames it to `..v-<id>`: a crash at any
// point leaves only a `..tmp-` name, which recover() removes. The temporary folder is made and
// then reached through its own descriptor, so nothing written here is looked up by path.
Result<void> write_version(const Folder& folder, const std::string& id,
                           const CredentialFiles& files, const StoreOptions& options) {
  const std::string temp = std::string(k_temp_prefix) + "new-" + id;
  const fs::path shown = folder.shown(temp);
  // Only a failed earlier attempt at the same id leaves this name (recover() removes the rest).
  if (auto r = remove_tree_at(folder.fd(), temp, shown); !r) return r;
  if (::mkdirat(folder.fd(), temp.c_str(), 0700) != 0) {
    return fail_retryable("cannot create temporary directory: " + errno_text(errno),
                          shown.string());
  }
  ScopeGuard remove_temp([&] { (void)remove_tree_at(folder.fd(), temp, shown); });
  Fd temp_fd(::openat(folder.fd(), temp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!temp_fd) {
    return fail_retryable("cannot open directory: " + errno_text(errno), shown.string());
  }
  if (auto r = apply_dir_mode(temp_fd.get(), options.owner, shown); !r) return r;
  for (const Content c : k_all_contents) {
    const mode_t mode = is_secret(c) ? options.secret_mode : options.public_mode;
    const std::string name(file_name(c));
    if (auto r = write_new_file_at(temp_fd.get(), name, shown / name, files.content(c), mode,
                                   options.owner);
        !r) {
      return r;
    }
  }
  for (const NamedFile& extra : files.extras) {
    if (!is_extra_name(extra.name)) {
      return fail("an issuer's file may not be named '" + extra.name + "'", shown.string());
    }
    const mode_t mode = extra.secret ? options.secret_mode : options.public_mode;
    if (auto r = write_new_file_at(temp_fd.get(), extra.name, shown / extra.name, extra.content,
                                   mode, options.owner);
        !r) {
      return r;
    }
  }
  if (::fsync(temp_fd.get()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), shown.string());
  }
  const std::string final_name = version_name(id);
  if (::renameat(folder.fd(), temp.c_str(), folder.fd(), final_name.c_str()) != 0) {
    return fail_retryable("cannot rename version directory: " + errno_text(errno),
                          folder.shown(final_name));
  }
  remove_temp.dismiss();
  return {};
}

// The history's words for an ending: one token each, so a line splits on blanks.
constexpr std::array<std::pair<Ending, std::string_view>, 3> k_ending_tokens = {{
    {Ending::rotated, "rotated"},
    {Ending::rolled_back, "rolled-back"},
    {Ending::replaced_by_hand, "replaced-by-hand"},
}};

std::string time_token(const std::optional<SystemTime>& t) {
  if (!t) return "-";
  return std::to_string(std::chrono::duration_cast<Seconds>(t->time_since_epoch()).count());
}

std::optional<SystemTime> parse_time_token(const std::string& token) {
  long long seconds = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), seconds);
  if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
  return SystemTime(Seconds(seconds));
}

using History = std::map<std::string, LiveSpan, std::less<>>;

// Lines that do not parse are skipped: the history only informs, it never decides.
History parse_history(const std::string& text) {
  History out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string id, from, until, ended;
    if (!(fields >> id >> from >> until >> ended)) continue;
    LiveSpan span{parse_time_token(from), parse_time_token(until), std::nullopt};
    for (const auto& [ending, token] : k_ending_tokens) {
      if (ended == token) span.ended = ending;
    }
    out[id] = span;
  }
  return out;
}

History read_history(const Folder& folder) {
  auto text = read_all(folder.fd(), std::string(k_history_file), folder.shown(k_history_file));
  return text ? parse_history(*text) : History{};
}

// Records that `now_live` became live (and `was_live`, if any, ended as `change` says), keeping
// lines only for versions still on disk. Best effort: the history informs `certrotd history`,
// and a full disk must not turn a completed swap into a failure; the next change rewrites it.
void record_change(const Folder& folder, const std::optional<std::string>& was_live,
                   const std::string& now_live, const Change& change) {
  History history = read_history(folder);
  if (was_live && *was_live != now_live) {
    LiveSpan& old = history[*was_live];
    old.until = change.at;
    old.ended = change.ends_previous;
  }
  history[now_live] = LiveSpan{change.at, std::nullopt, std::nullopt};
  auto kept = list_versions(folder);
  if (!kept) return;
  std::string text;
  for (const Version& v : *kept) {
    const auto it = history.find(v.id);
    if (it == history.end()) continue;
    const LiveSpan& span = it->second;
    std::string ended = "-";
    for (const auto& [ending, token] : k_ending_tokens) {
      if (span.ended == ending) ended = token;
    }
    text += v.id + " " + time_token(span.from) + " " + time_token(span.until) + " " + ended + "\n";
  }
  auto file = AtomicFile::create_in(folder.fd(), std::string(k_history_file),
                                    folder.shown(k_history_file), 0644);
  if (!file || !file->write(text)) return;
  (void)file->commit();
}

// `next` must name a complete version that is not live: one that names nothing complete is
// damage, one that names the live version is an activation a crash interrupted after the swap.
Result<void> recover_next(const Folder& folder) {
  auto staged = next_id(folder);
  if (!staged) return fail(staged.error());
  if (!*staged) return {};
  auto live = live_id(folder);
  if (!live) return fail(live.error());
  const bool usable = is_complete_version(folder, version_name(**staged)) &&
                      !(*live && **live == **staged);
  if (usable) return {};
  const std::string name(k_next_link);
  if (::unlinkat(folder.fd(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return fail_retryable("cannot remove link: " + errno_text(errno), folder.shown(name));
  }
  if (::fsync(folder.fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), folder.path().string());
  }
  return {};
}

Result<void> recover(const Folder& folder, const StoreOptions& options) {
  auto listing = list_folder(folder);
  if (!listing) return fail(listing.error());
  bool changed = false;
  for (const std::string& name : listing->leftovers) {
    // Removes a symlink itself, never what it points at.
    if (auto r = remove_tree_at(folder.fd(), name, folder.shown(name)); !r) return r;
    changed = true;
  }

  auto live = live_id(folder);
  if (!live) return fail(live.error());
  bool live_ok = *live && is_complete_version(folder, version_name(**live));
  if (!live_ok) {
    auto all = list_versions(folder);
    if (!all) return fail(all.error());
    if (!all->empty()) {
      if (auto r = point_data_at(folder, all->back().id); !r) return r;
      changed = true;
      live_ok = true;
    }
  }
  if (live_ok) {
    // The listing predates any repair of `..data` above, which does not touch the stable names.
    auto links = ensure_stable_links(folder, ForeignEntries::keep, &*listing);
    if (!links) return fail(links.error());
    changed = changed || *links;
  }
  if (changed && ::fsync(folder.fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), folder.path().string());
  }
  if (auto r = recover_next(folder); !r) return fail(r.error());
  // A history write that a crash interrupted.
  if (auto r = remove_temp_files(folder.fd(), k_history_file, folder.path()); !r) {
    return fail(r.error());
  }
  return remove_copy_leftovers(options);
}

}  // namespace

std::string_view to_string(Content content) {
  switch (content) {
    case Content::cert: return "cert";
    case Content::chain: return "chain";
    case Content::fullchain: return "fullchain";
    case Content::key: return "key";
    case Content::bundle: return "bundle";
    case Content::ca: return "ca";
  }
  return "unknown";
}

Result<Content> parse_content(std::string_view text) {
  for (const Content c : k_all_contents) {
    if (text == to_string(c)) return c;
  }
  return fail("unknown content '" + std::string(text) +
              "' (expected cert, chain, fullchain, key, bundle or ca)");
}

std::string_view file_name(Content content) {
  switch (content) {
    case Content::cert: return "cert.pem";
    case Content::chain: return "chain.pem";
    case Content::fullchain: return "fullchain.pem";
    case Content::key: return "key.pem";
    case Content::bundle: return "bundle.pem";
    case Content::ca: return "ca.pem";
  }
  return "unknown.pem";
}

bool is_secret(Content content) { return content == Content::key || content == Content::bundle; }

std::string_view to_string(Ending ending) {
  switch (ending) {
    case Ending::rotated: return "rotated";
    case Ending::rolled_back: return "rolled back";
    case Ending::replaced_by_hand: return "replaced by hand";
  }
  return "unknown";
}

std::string CredentialFiles::fullchain() const { return join_pem({cert, chain}); }

std::string CredentialFiles::bundle() const { return join_pem({key, cert, chain}); }

std::string CredentialFiles::content(Content c) const {
  switch (c) {
    case Content::cert: return cert;
    case Content::chain: return chain;
    case Content::fullchain: return fullchain();
    case Content::key: return key;
    case Content::bundle: return bundle();
    case Content::ca: return ca;
  }
  return {};
}

CredentialStore::CredentialStore(std::shared_ptr<const StoreOptions> options)
    : m_options(std::move(options)) {}

std::size_t CredentialStore::keep_versions() const {
  return static_cast<std::size_t>(std::max(1, m_options->keep_versions));
}

Result<CredentialStore> CredentialStore::open(StoreOptions options) {
  return open(std::make_shared<const StoreOptions>(std::move(options)));
}

Result<CredentialStore> CredentialStore::open(std::shared_ptr<const StoreOptions> options) {
  if (options->dir.empty()) return fail("output directory is not set");
  const fs::path dir = options->dir;
  auto folder = Folder::open(dir, MissingFolders::create);
  if (!folder) return fail(folder.error());
  if (folder->created()) {
    // mkdir's mode went through the umask; say exactly what the folder should be.
    if (auto r = apply_dir_mode(folder->fd(), options->owner, dir); !r) return fail(r.error());
  }
  if (auto r = recover(*folder, *options); !r) {
    return fail(r.error().wrap("cannot recover " + dir.string()));
  }
  return CredentialStore(std::move(options));
}

CredentialStore CredentialStore::reopen(std::shared_ptr<const StoreOptions> options) {
  return CredentialStore(std::move(options));
}

Result<std::string> CredentialStore::install(const CredentialFiles& files, std::string_view label,
                                             std::optional<Change> change) const {
  const fs::path dir = m_options->dir;
  auto folder = Folder::open(dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  // For the history only: a `..data` that is not ours yet must not stop the install.
  auto live_before = live_id(*folder);
  const std::optional<std::string> was_live = live_before ? *live_before : std::nullopt;
  auto counter = next_counter(*folder);
  if (!counter) return fail(counter.error());
  const std::string id = make_version_id(*counter, label);
  if (auto r = write_version(*folder, id, files, *m_options); !r) return fail(r.error());

  // Not live, so not worth keeping: a later rollback must not find a version that never was.
  if (!files.extras.empty()) {
    if (auto r = ensure_extra_links(*folder, id); !r) {
      (void)remove_version(*folder, id);
      return fail(r.error());
    }
  }
  if (auto r = point_data_at(*folder, id); !r) {
    (void)remove_version(*folder, id);
    return fail(r.error());
  }
  if (auto r = ensure_stable_links(*folder, ForeignEntries::replace); !r) return fail(r.error());
  if (::fsync(folder->fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), dir.string());
  }

  if (auto r = prune(*folder, *counter, keep_versions()); !r) return fail(r.error());
  if (change) record_change(*folder, was_live, id, *change);

  if (auto r = write_copies(files); !r) {
    return fail(r.error().wrap("version " + id + " is live but a copy failed"));
  }
  return id;
}

Result<std::optional<CredentialFiles>> CredentialStore::load_current() const {
  const fs::path dir = m_options->dir;
  auto opened = Folder::open(dir, MissingFolders::accept);
  if (!opened) return fail(opened.error());
  if (!opened->exists()) return std::optional<CredentialFiles>{};
  const Folder& folder = *opened;
  const fs::path data = dir / k_data_link;
  for (int attempt = 0;; ++attempt) {
    // Reading `..data` once and opening the version it names (never a link) pins one version
    // directory; every file is then read relative to it, so a concurrent swap cannot mix two.
    auto live = live_id(folder);
    if (!live) return fail(live.error());
    if (!*live) {
      auto kind = stat_kind(folder, std::string(k_data_link));
      if (!kind) return fail(kind.error());
      if (*kind == EntryKind::absent) return std::optional<CredentialFiles>{};
      return fail("..data does not point at a version", data.string());
    }
    const std::string version = version_name(**live);
    Fd dir_fd(
        ::openat(folder.fd(), version.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir_fd) {
      const int err = errno;
      if (err == ENOENT) {
        // The link exists but its target does not: a pruning race, or damage recover() fixes.
        if (attempt + 1 < k_load_attempts) continue;
        return fail("..data points at a missing version", data.string());
      }
      return fail_retryable("cannot open live version: " + errno_text(err), data.string());
    }
    CredentialFiles files;
    const std::array<std::pair<Content, std::string*>, 4> wanted = {{
        {Content::cert, &files.cert},
        {Content::chain, &files.chain},
        {Content::key, &files.key},
        {Content::ca, &files.ca},
    }};
    std::optional<Error> error;
    for (const auto& [content, out] : wanted) {
      const std::string name(file_name(content));
      auto text = read_all(dir_fd.get(), name, data / name);
      if (!text) {
        error = text.error();
        break;
      }
      *out = std::move(*text);
    }
    if (!error) return std::optional<CredentialFiles>(std::move(files));
    // A missing file in a version we already opened means it was pruned under us; start over.
    if (error->kind == ErrorKind::permanent && attempt + 1 < k_load_attempts) continue;
    return fail(*error);
  }
}

namespace {

// Points `..data` at the complete version `id`, records it, and refreshes the copies.
Result<std::string> make_live(const CredentialStore& store, const Folder& folder,
                              const std::string& was_live, const std::string& id,
                              std::optional<SystemTime> at) {
  const fs::path& dir = folder.path();
  if (auto r = ensure_extra_links(folder, id); !r) return fail(r.error());
  if (auto r = point_data_at(folder, id); !r) return fail(r.error());
  if (auto r = ensure_stable_links(folder, ForeignEntries::replace); !r) return fail(r.error());
  if (::fsync(folder.fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), dir.string());
  }
  if (at) record_change(folder, was_live, id, Change{*at, Ending::rolled_back});

  auto files = store.load_current();
  if (!files) return fail(files.error());
  if (!*files) return fail("..data vanished during rollback", dir.string());
  if (auto r = store.write_copies(**files); !r) {
    return fail(r.error().wrap("rolled back to " + id + " but a copy failed"));
  }
  return id;
}

}  // namespace

Result<std::string> CredentialStore::rollback(std::optional<SystemTime> at) const {
  const fs::path dir = m_options->dir;
  auto folder = Folder::open(dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto live = live_id(*folder);
  if (!live) return fail(live.error());
  if (!*live) return fail("nothing is installed yet", dir.string());
  const auto live_counter = version_counter(**live);
  if (!live_counter) return fail("..data names an unknown version " + **live, dir.string());
  auto all = list_versions(*folder);
  if (!all) return fail(all.error());
  const Version* previous = nullptr;
  for (const Version& v : *all) {
    if (v.counter < *live_counter) previous = &v;
  }
  if (!previous) return fail("no older version to roll back to", dir.string());
  return make_live(*this, *folder, **live, previous->id, at);
}

Result<std::string> CredentialStore::rollback_to(std::string_view id,
                                                 std::optional<SystemTime> at) const {
  const fs::path dir = m_options->dir;
  auto folder = Folder::open(dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto live = live_id(*folder);
  if (!live) return fail(live.error());
  if (!*live) return fail("nothing is installed yet", dir.string());
  if (**live == id) return fail("version " + std::string(id) + " is live already", dir.string());
  auto staged = next_id(*folder);
  if (!staged) return fail(staged.error());
  if (*staged && **staged == id) {
    return fail("version " + std::string(id) + " is staged; `certrotd activate` makes it live",
                dir.string());
  }
  auto all = list_versions(*folder);
  if (!all) return fail(all.error());
  const auto found = std::find_if(all->begin(), all->end(),
                                  [&](const Version& v) { return v.id == id; });
  if (found == all->end()) return fail("no kept version " + std::string(id), dir.string());
  return make_live(*this, *folder, **live, found->id, at);
}

Result<CredentialFiles> CredentialStore::load_version(std::string_view id) const {
  auto folder = Folder::open(m_options->dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  const std::string version = version_name(id);
  const fs::path shown = folder->shown(version);
  if (id.find('/') != std::string_view::npos) return fail("not a version id", shown.string());
  Fd dir_fd(
      ::openat(folder->fd(), version.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd) return fail("cannot open version: " + errno_text(errno), shown.string());
  CredentialFiles files;
  const std::array<std::pair<Content, std::string*>, 4> wanted = {{
      {Content::cert, &files.cert},
      {Content::chain, &files.chain},
      {Content::key, &files.key},
      {Content::ca, &files.ca},
  }};
  for (const auto& [content, out] : wanted) {
    const std::string name(file_name(content));
    auto text = read_all(dir_fd.get(), name, shown / name);
    if (!text) return fail(text.error());
    *out = std::move(*text);
  }
  return files;
}

Result<std::vector<VersionInfo>> CredentialStore::versions() const {
  auto folder = Folder::open(m_options->dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto live = live_id(*folder);
  if (!live) return fail(live.error());
  auto all = list_versions(*folder);
  if (!all) return fail(all.error());
  auto staged = next_id(*folder);
  if (!staged) return fail(staged.error());
  const History history = read_history(*folder);
  std::vector<VersionInfo> out;
  out.reserve(all->size());
  for (const Version& v : *all) {
    const auto it = history.find(v.id);
    out.push_back({v.id, *live && **live == v.id, *staged && **staged == v.id,
                   it == history.end() ? LiveSpan{} : it->second});
  }
  return out;
}

Result<void> CredentialStore::replace_ca(std::string_view pem) const {
  auto folder = Folder::open(m_options->dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto live = live_id(*folder);
  if (!live) return fail(live.error());
  if (!*live) return fail("no version is live", folder->shown(k_data_link));
  const std::string version = version_name(**live);
  Fd dir_fd(
      ::openat(folder->fd(), version.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd) {
    return fail_retryable("cannot open live version: " + errno_text(errno), folder->shown(version));
  }
  const std::string name(file_name(Content::ca));
  auto file = AtomicFile::create_in(dir_fd.get(), name, fs::path(folder->shown(version)) / name,
                                    m_options->public_mode, m_options->owner);
  if (!file) return fail(file.error());
  if (auto r = file->write(pem); !r) return r;
  return file->commit();
}

Result<void> CredentialStore::write_copies(const CredentialFiles& files) const {
  for (const CopySpec& copy : m_options->copies) {
    if (auto r = write_copy(copy, files.content(copy.content)); !r) return r;
  }
  return {};
}

Result<void> CredentialStore::discard(std::string_view id) const {
  auto folder = Folder::open(m_options->dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto live = live_id(*folder);
  if (!live) return fail(live.error());
  if (*live && **live == id) return fail("refusing to remove the live version", m_options->dir);
  auto staged = next_id(*folder);
  if (!staged) return fail(staged.error());
  if (*staged && **staged == id) {
    return fail("refusing to remove the staged version", m_options->dir);
  }
  struct stat st {};
  const std::string name = version_name(id);
  if (::fstatat(folder->fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
  if (auto r = remove_version(*folder, std::string(id)); !r) return r;
  if (::fsync(folder->fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), m_options->dir);
  }
  return {};
}

Result<std::string> CredentialStore::stage(const CredentialFiles& files,
                                           std::string_view label) const {
  const fs::path dir = m_options->dir;
  auto folder = Folder::open(dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto before = next_id(*folder);
  if (!before) return fail(before.error());
  auto counter = next_counter(*folder);
  if (!counter) return fail(counter.error());
  const std::string id = make_version_id(*counter, label);
  if (auto r = write_version(*folder, id, files, *m_options); !r) return fail(r.error());
  if (auto r = replace_symlink(*folder, std::string(k_next_link), version_name(id),
                               std::string(k_next_temp));
      !r) {
    (void)remove_version(*folder, id);
    return fail(r.error());
  }
  if (::fsync(folder->fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), dir.string());
  }
  // The version staged before is replaced; it was never live, so no rollback may find it.
  auto live = live_id(*folder);
  if (*before && *before != id && !(live && *live && **live == **before)) {
    if (auto r = remove_version(*folder, **before); r) (void)::fsync(folder->fd());
  }
  return id;
}

Result<std::optional<std::string>> CredentialStore::staged() const {
  auto folder = Folder::open(m_options->dir, MissingFolders::accept);
  if (!folder) return fail(folder.error());
  if (!folder->exists()) return std::optional<std::string>{};
  auto id = next_id(*folder);
  if (!id) return fail(id.error());
  if (*id && !is_complete_version(*folder, version_name(**id))) return std::optional<std::string>{};
  return id;
}

Result<std::string> CredentialStore::activate(std::optional<SystemTime> at) const {
  const fs::path dir = m_options->dir;
  auto folder = Folder::open(dir, MissingFolders::refuse);
  if (!folder) return fail(folder.error());
  auto staged = next_id(*folder);
  if (!staged) return fail(staged.error());
  if (!*staged || !is_complete_version(*folder, version_name(**staged))) {
    return fail("no version is staged", dir.string());
  }
  const std::string id = **staged;
  auto live_before = live_id(*folder);
  const std::optional<std::string> was_live = live_before ? *live_before : std::nullopt;
  if (auto r = ensure_extra_links(*folder, id); !r) return fail(r.error());
  if (auto r = point_data_at(*folder, id); !r) return fail(r.error());
  if (auto r = ensure_stable_links(*folder, ForeignEntries::replace); !r) return fail(r.error());
  if (::fsync(folder->fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), dir.string());
  }
  // Live now: a crash before `next` is gone leaves a `next` naming the live version, which
  // recover() removes.
  const std::string next(k_next_link);
  if (::unlinkat(folder->fd(), next.c_str(), 0) != 0 && errno != ENOENT) {
    return fail_retryable("cannot remove link: " + errno_text(errno), folder->shown(next));
  }
  if (::fsync(folder->fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), dir.string());
  }
  const auto counter = version_counter(id);
  if (counter) {
    if (auto r = prune(*folder, *counter, keep_versions()); !r) return fail(r.error());
  }
  if (at) record_change(*folder, was_live, id, Change{*at, Ending::rotated});
  auto files = load_current();
  if (!files) return fail(files.error());
  if (!*files) return fail("..data vanished during activation", dir.string());
  if (auto r = write_copies(**files); !r) {
    return fail(r.error().wrap("version " + id + " is live but a copy failed"));
  }
  return id;
}

Result<void> CredentialStore::unstage() const {
  auto folder = Folder::open(m_options->dir, MissingFolders::accept);
  if (!folder) return fail(folder.error());
  if (!folder->exists()) return {};
  auto staged = next_id(*folder);
  if (!staged) return fail(staged.error());
  if (!*staged) return {};
  const std::string next(k_next_link);
  if (::unlinkat(folder->fd(), next.c_str(), 0) != 0 && errno != ENOENT) {
    return fail_retryable("cannot remove link: " + errno_text(errno), folder->shown(next));
  }
  auto live = live_id(*folder);
  if (!live) return fail(live.error());
  struct stat st {};
  const std::string name = version_name(**staged);
  const bool present = ::fstatat(folder->fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (present && !(*live && **live == **staged)) {
    if (auto r = remove_version(*folder, **staged); !r) return r;
  }
  if (::fsync(folder->fd()) != 0) {
    return fail_retryable("fsync failed: " + errno_text(errno), m_options->dir);
  }
  return {};
}

Result<void> check_folder_writable(const fs::path& dir) {
  fs::path at = dir;
  struct stat st {};
  while (::stat(at.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail(Reason::io, errno_text(errno), at.string());
    if (!at.has_parent_path() || at.parent_path() == at) break;
    at = at.parent_path();
  }
  const std::string what = at == dir ? "" : " (creating " + dir.string() + ")";
  if (!S_ISDIR(st.st_mode)) return fail(Reason::io, "not a directory" + what, at.string());
  struct statvfs fs_info {};
  if (::statvfs(at.c_str(), &fs_info) == 0 && (fs_info.f_flag & ST_RDONLY) != 0) {
    return fail(Reason::io, "read-only file system" + what, at.string());
  }
  // access() asks with the real ids, which are the daemon's when `check` runs as its user.
  if (::access(at.c_str(), W_OK | X_OK) != 0) {
    return fail(Reason::io, errno_text(errno) + what, at.string());
  }
  return {};
}

fs::path CredentialStore::live_path(Content content) const {
  return fs::path(m_options->dir) / file_name(content);
}

}  // namespace certrotd::store
