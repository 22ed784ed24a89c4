// Walking a configured path so that nobody but root (and the daemon's own user) can redirect it.
//
// certrotd runs as root and writes private keys. A path such as `/srv/owned/sub/out` is only as
// safe as every folder on it: whoever may write `/srv/owned` can replace `sub` with a symlink to a
// root-only folder between two system calls. So a configured folder is opened one component at a
// time relative to the previous one, each with O_NOFOLLOW, and each is judged on what the
// descriptor shows (fstat), never on a path looked up again later. The caller then creates and
// renames files relative to the descriptor it gets back.
//
// A folder is trusted when
//   - its owner is root or the daemon's own user, and
//   - it is not writable by its group unless that group is root's or the daemon's own, and
//   - it is not writable by others, except a sticky folder owned by root (/tmp) on the way to the
//     configured folder: there others cannot rename or remove what they do not own. The
//     configured folder itself must not be writable by others at all.
// A symlink on the path is followed only when it is owned by root or the daemon's user and sits
// in a trusted folder: then only those could have made it or can change it, so following it is as
// safe as the folder itself (`/var/run -> /run`, `/etc/ssl/certs -> ...`). Its target is judged
// component by component like the rest. Every other symlink is refused.
//
// Why not openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) for the whole path: it would
// refuse root's own links too, and it says nothing about who owns or may write each folder, which
// needs an fstat per component anyway. Opening one component at a time with O_NOFOLLOW gives the
// same guarantee (no link is ever followed by the kernel) on every kernel.
//
// The same walk serves the load-time check (`certrotd check`, which must not create anything and
// accepts a missing tail that certrotd will create) and the runtime opening of output, copy and
// state folders. Both report the offending component and its owner.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "util/fd.hpp"
#include "util/result.hpp"

namespace certrotd {

// Who besides root may own and write the folders on a trusted path.
struct PathTrust {
  uid_t own_uid = 0;
  gid_t own_gid = 0;
  // The system user the packaged service runs as (k_service_user), when the account exists:
  // its folders (/var/lib/certrotd, the unit's StateDirectory=) are the daemon's own, also when
  // root runs `check`, `import` or an offline `rollback` on them. Whoever is that user already
  // is the daemon, so trusting it gives nobody anything new.
  std::optional<uid_t> service_uid;
  std::optional<gid_t> service_gid;

  static constexpr const char* k_service_user = "certrotd";

  // The effective user and group of this process, and the service user if it exists.
  static PathTrust of_this_process();
};

enum class MissingFolders {
  refuse,  // a missing component is an error (ENOENT, permanent)
  accept,  // load-time check: stop at the first missing component; certrotd creates the rest
  create,  // mkdirat each missing component with the given mode, then judge what is there
};

struct TrustedDir {
  Fd fd;                 // O_RDONLY | O_DIRECTORY
  bool created = false;  // the folder itself was made by this call (its mode went through umask)
};

// Opens the folder `path` after judging every component as described above. With
// MissingFolders::accept and a missing tail the result holds an invalid Fd (the deepest existing
// folder was judged as one certrotd would create the rest in). Errors are permanent for an
// untrusted component or a non-folder, retryable for I/O errors; the message names the component
// and its owner, the context is the component.
// `mode` applies to folders created with MissingFolders::create.
Result<TrustedDir> open_trusted_dir(const std::filesystem::path& path, const PathTrust& trust,
                                    MissingFolders missing, mode_t mode = 0755);

// The load-time check for an executable: `path`'s folders are judged as above and the file itself
// must be a regular file owned by root or the daemon's user and writable by no one else (as sshd's
// StrictModes asks of authorized_keys). A missing file is an error.
Result<void> check_trusted_file(const std::filesystem::path& path, const PathTrust& trust);

// The load-time check of many folders: like open_trusted_dir(path, trust, MissingFolders::accept)
// without returning the folder, but folders that share their parent with the previous one cost one
// fstatat instead of a walk each (10,000 output folders under /var/lib/certrotd/live are one walk
// and 10,000 fstatat calls). Only for checks: every write walks afresh.
class TrustedDirChecker {
public:
  explicit TrustedDirChecker(PathTrust trust) : m_trust(trust) {}

  Result<void> check(const std::filesystem::path& path);

private:
  PathTrust m_trust;
  // The last parent folder found trusted, and its O_PATH descriptor. One, not a map: a config
  // whose folders all have different parents would otherwise hold a descriptor for each.
  std::string m_parent;
  Fd m_parent_fd;
};

// "user mallory (uid 1001)", or "uid 1001" when the user has no name.
std::string describe_user(uid_t uid);

}  // namespace certrotd
