// File primitives with the durability rules certrotd relies on.
//
// `AtomicFile` is the only way lib/ writes a file that someone else reads: the temp file is
// created in the target's directory *with its final mode and owner* (so key material is never
// readable by anyone else, not even for an instant), written, fsync'd, renamed over the target,
// and the directory fsync'd so the rename survives a power cut. An uncommitted AtomicFile removes
// its temp file when destroyed.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/errno_text.hpp"  // the messages of callers that report errno
#include "util/fd.hpp"
#include "util/result.hpp"

namespace certrotd {

namespace fs = std::filesystem;

// Who should own a written file; unset fields keep the process's own uid/gid.
struct FileOwner {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// A file a credential version carries besides its PEM files (an issuer's binding.json): a plain
// name inside the version folder, written with the secret mode when `secret`, otherwise the
// public one.
struct NamedFile {
  std::string name;
  std::string content;
  bool secret = false;
};

// Name lookups for `owner:`/`group:` config values (numeric strings accepted).
Result<uid_t> lookup_user(const std::string& name);
Result<gid_t> lookup_group(const std::string& name);

// The whole content of a regular file. Anything else (a folder, a FIFO, a socket, a device) is
// refused without reading or waiting: a configured path that names a FIFO must not hang the
// daemon.
Result<std::string> read_file(const fs::path& path);

// The same for `name` in the folder `dir_fd`, never following a symlink (one in its place is an
// error); nullopt when there is no such entry. `shown` names the file in errors.
Result<std::optional<std::string>> read_file_at(int dir_fd, const std::string& name,
                                                const fs::path& shown);

// fsync() a directory so that entries created, renamed or removed in it are durable.
Result<void> fsync_dir(const fs::path& dir);

// mkdir -p; directories that are created get `mode`. Existing ones are left as they are.
Result<void> make_dirs(const fs::path& dir, mode_t mode = 0755);

// AtomicFile's temporary files are named `.certrotd-tmp.<target name>.XXXXXX`, so that a start
// after a crash can find and remove exactly the ones certrotd made (remove_temp_files).
constexpr std::string_view k_temp_file_prefix = ".certrotd-tmp.";

// Whether `name` is an AtomicFile temporary name for `target` (for any target when empty).
bool is_temp_file_name(std::string_view name, std::string_view target = {});

// Removes the temporary files of unfinished AtomicFile writes in the folder `dir_fd`: regular
// files named by is_temp_file_name(name, target) and owned by this process's user; nothing else
// is touched. Returns how many were removed. `shown` names the folder in errors.
Result<int> remove_temp_files(int dir_fd, std::string_view target, const fs::path& shown);

// Removes `name` in `dir_fd` and, if it is a folder, everything below it, without following any
// symlink (a link is removed, not what it points at). A missing name is not an error.
Result<void> remove_tree_at(int dir_fd, const std::string& name, const fs::path& shown);

class AtomicFile {
public:
  // Creates `<dir>/.certrotd-tmp.<name>.XXXXXX` with O_EXCL and `mode` (umask does not apply:
  // fchmod on the fd before any byte is written), then applies `owner` with fchown.
  // The folder is looked up by path; certrotd's own folders use create_in.
  static Result<AtomicFile> create(const fs::path& target, mode_t mode, FileOwner owner = {});
  // The same in the folder `dir_fd` (duplicated, so the caller keeps its own): the temp file, the
  // rename and the fsync all name entries relative to that folder, never a path. `shown` is the
  // target's path for messages.
  static Result<AtomicFile> create_in(int dir_fd, const std::string& name, const fs::path& shown,
                                      mode_t mode, FileOwner owner = {});

  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Result<void> write(std::string_view data);
  // fsync, rename over the target, fsync the directory.
  Result<void> commit();

  // The temporary file's name in its folder, and its path (for messages and tests).
  const std::string& temp_name() const { return m_temp; }
  fs::path temp_path() const { return m_shown.parent_path() / m_temp; }

private:
  AtomicFile(Fd dir, std::string name, std::string temp, fs::path shown, Fd fd);

  Fd m_dir;
  std::string m_name;
  std::string m_temp;
  fs::path m_shown;
  Fd m_fd;
  bool m_committed = false;
};

// Convenience: the whole AtomicFile sequence for one buffer.
Result<void> write_file_atomic(const fs::path& target, std::string_view data, mode_t mode,
                               FileOwner owner = {});

// Writes a file that does not exist yet, created with its final mode, and fsyncs it.
// Used for files inside a fresh version directory where no rename is needed.
Result<void> write_new_file(const fs::path& path, std::string_view data, mode_t mode,
                            FileOwner owner = {});
// The same for `name` in the folder `dir_fd`, never following a symlink; `shown` for messages.
Result<void> write_new_file_at(int dir_fd, const std::string& name, const fs::path& shown,
                               std::string_view data, mode_t mode, FileOwner owner = {});

}  // namespace certrotd
