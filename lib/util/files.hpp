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

#include "util/fd.hpp"
#include "util/result.hpp"

namespace certrotd {

namespace fs = std::filesystem;

// Who should own a written file; unset fields keep the process's own uid/gid.
struct FileOwner {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// Name lookups for `owner:`/`group:` config values (numeric strings accepted).
Result<uid_t> lookup_user(const std::string& name);
Result<gid_t> lookup_group(const std::string& name);

// The whole content of a regular file. Anything else (a folder, a FIFO, a socket, a device) is
// refused without reading or waiting: a configured path that names a FIFO must not hang the
// daemon.
Result<std::string> read_file(const fs::path& path);

// fsync() a directory so that entries created, renamed or removed in it are durable.
Result<void> fsync_dir(const fs::path& dir);

// mkdir -p; directories that are created get `mode`. Existing ones are left as they are.
Result<void> make_dirs(const fs::path& dir, mode_t mode = 0755);

class AtomicFile {
public:
  // Creates `<dir>/.<name>.tmp-XXXXXX` with O_EXCL and `mode` (umask does not apply: fchmod on
  // the fd before any byte is written), then applies `owner` with fchown.
  static Result<AtomicFile> create(const fs::path& target, mode_t mode, FileOwner owner = {});

  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Result<void> write(std::string_view data);
  // fsync, rename over the target, fsync the directory.
  Result<void> commit();

  const fs::path& temp_path() const { return m_temp; }

private:
  AtomicFile(fs::path target, fs::path temp, Fd fd);

  fs::path m_target;
  fs::path m_temp;
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

std::string errno_text(int err);

}  // namespace certrotd
