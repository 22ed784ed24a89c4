// One credential's output folder, swapped atomically as a whole, with history for rollback.
//
// Layout (the Kubernetes AtomicWriter idea):
//
//   <dir>/..data               -> ..v-<version>          (symlink; the only thing a swap changes)
//   <dir>/..v-<version>/{cert,chain,fullchain,key,bundle,ca}.pem
//   <dir>/cert.pem             -> ..data/cert.pem        (created once; never changes)
//   ... likewise chain.pem, fullchain.pem, key.pem, bundle.pem, ca.pem
//   <dir>/<extra>              -> ..data/<extra>         (files an issuer adds: binding.json)
//   <dir>/..history            when each version was live and how that ended (one line each)
//   <dir>/next                 -> ..v-<version>          (only while a version is staged)
//
// Staged activation: stage() writes a complete version like install() but points the symlink
// `next` at it instead of `..data`, so `next/cert.pem`, `next/fullchain.pem`, ... are the staged
// files under the live names. `next` is made by renaming a fresh symlink into place, so a crash
// leaves a complete `next` or none; open() removes a `next` that names no complete version or
// the live one (an activation that a crash interrupted after the swap). activate() makes the
// staged version live (the same swap as install()) and then removes `next`.
//
// A swap writes a complete version directory under a temporary name, fsyncs its files and
// itself, renames it to its final name, then points `..data` at it by renaming a fresh symlink
// over it, and fsyncs <dir>. A reader that opens `<dir>/key.pem` and then `<dir>/cert.pem` can
// see two versions only if a swap happens in between; readers that need a matched pair read
// `bundle.pem` (key + full chain in one file) or open through `..data` once.
//
// Crash safety: at any kill point, `..data` names a complete version (or does not exist yet,
// before the first swap). `open()` removes leftovers of an unfinished write (temporary version
// directories and symlinks) before anything else.
//
// Every folder is reached through util/trusted_path (each component of its path judged, then
// only names relative to its descriptor), so a folder on the path that someone other than root
// or this process's user can write makes the operation fail rather than follow it.
//
// One writer per directory: open() deletes those leftovers, so it must not run while another
// process installs into the same directory, and install()/rollback() must not run concurrently
// with each other. load_current(), versions() and readers of the stable names may run at any time.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/clock.hpp"
#include "util/files.hpp"
#include "util/result.hpp"

namespace certrotd::store {

namespace fs = std::filesystem;

// What an output file or copy holds.
enum class Content { cert, chain, fullchain, key, bundle, ca };

std::string_view to_string(Content content);  // "cert", "chain", ...
Result<Content> parse_content(std::string_view text);
std::string_view file_name(Content content);  // "cert.pem", ...
bool is_secret(Content content);              // key and bundle

// The PEM texts of one credential version. fullchain and bundle are derived.
struct CredentialFiles {
  std::string cert;   // the leaf, PEM
  std::string chain;  // intermediates, PEM, may be empty
  std::string key;    // PKCS#8 PEM (maybe encrypted)
  std::string ca;     // trust anchors, PEM, may be empty
  // What the issuer adds to the version (binding.json): written into the version folder with
  // the PEM files, so readers see one version's set, and a rollback restores it. Each gets a
  // stable name `<dir>/<name>` -> `..data/<name>`; one the live version lacks dangles (ENOENT).
  // Names are plain (no '/', no leading '.') and none of the PEM names. Not read back by
  // load_current()/load_version().
  std::vector<NamedFile> extras = {};

  std::string fullchain() const;  // cert + chain
  std::string bundle() const;     // key + cert + chain
  std::string content(Content c) const;
};

// A file kept in sync outside the output folder, e.g. /etc/nginx/tls/site.key.
struct CopySpec {
  fs::path path;
  Content content = Content::fullchain;
  std::optional<mode_t> mode;  // default: 0600 for secret content, 0644 otherwise
  FileOwner owner;
};

struct StoreOptions {
  // The output folder. Text rather than a std::filesystem::path, which also keeps a list of its
  // components (about 250 bytes more): 10,000 of these live as long as the daemon.
  std::string dir;
  mode_t secret_mode = 0600;  // key.pem and bundle.pem (config: output.mode)
  mode_t public_mode = 0644;  // cert, chain, fullchain, ca
  // Applied to every file written (config: output.owner/group). Never to a folder: folders stay
  // this process's own (with `gid` as their group), so the owner cannot swap entries under a
  // later write.
  FileOwner owner;
  int keep_versions = 3;  // complete versions kept for rollback, the live one included
  std::vector<CopySpec> copies;
};

// How a version stopped being live, for `certrotd history`.
enum class Ending { rotated, rolled_back, replaced_by_hand };
std::string_view to_string(Ending ending);  // "rotated", "rolled back", "replaced by hand"

// When a version was last live and how that ended, from `<dir>/..history`. Versions older than
// that file (or written by a call that gave no time) know nothing: every field empty.
struct LiveSpan {
  std::optional<SystemTime> from;
  std::optional<SystemTime> until;
  std::optional<Ending> ended;
};

// A change of the live version, as the history records it: when it happened, and how the
// version live until then ends.
struct Change {
  SystemTime at;
  Ending ends_previous = Ending::rotated;
};

struct VersionInfo {
  std::string id;  // directory name without the "..v-" prefix; sorts by creation time
  bool live = false;
  bool staged = false;  // `next` names it
  LiveSpan span;
};

// Whether `dir` can be used as an output folder without changing anything: it exists and is
// writable, or its nearest existing ancestor is a writable folder; and the file system is not
// mounted read-only. What `certrotd check` reports; the store itself finds out by trying.
Result<void> check_folder_writable(const fs::path& dir);

class CredentialStore {
public:
  // Creates <dir> if needed (0755, or 0750 when a group is set) and recovers from any crash.
  static Result<CredentialStore> open(StoreOptions options);
  // The same, sharing options that live elsewhere (the engine points into its configuration
  // rather than holding a copy per credential).
  static Result<CredentialStore> open(std::shared_ptr<const StoreOptions> options);
  // For a folder this process has opened already (a reload that keeps a credential's output):
  // recovers nothing, because a rotation may be writing its next version there right now.
  static CredentialStore reopen(std::shared_ptr<const StoreOptions> options);

  // Writes a new complete version and makes it live; prunes history to `keep_versions`, never
  // removing the live or the staged version. `label` (e.g. the serial) becomes part of the version
  // id. Then refreshes the copies. Returns the new version id. With a `change`, the history records
  // it (the new version live from `change.at`, the old one ended then as it says).
  // (const: a store names its folder; what it writes there does not change the store itself)
  Result<std::string> install(const CredentialFiles& files, std::string_view label,
                              std::optional<Change> change = std::nullopt) const;

  // Writes a new complete version and publishes it as `next` without making it live; a version
  // staged before is removed (unless it is live). Returns the new version id.
  Result<std::string> stage(const CredentialFiles& files, std::string_view label) const;

  // The id of the staged version, or nullopt when none is staged (or the folder is missing).
  Result<std::optional<std::string>> staged() const;

  // Makes the staged version live (the history records it at `at`, the old one `rotated`),
  // removes `next`, prunes to `keep_versions` and refreshes the copies. Returns the id now live.
  // An error when nothing is staged; after the swap only a copy can fail, and then the error
  // says the version is live (as install()).
  Result<std::string> activate(std::optional<SystemTime> at = std::nullopt) const;

  // Removes `next` and the version it names (unless that is live). Nothing staged: no error.
  Result<void> unstage() const;

  // The live version's files, or nullopt before the first install.
  Result<std::optional<CredentialFiles>> load_current() const;

  // Re-points `..data` to the newest version older than the live one and refreshes the copies.
  // Error if there is none. Returns the version id now live.
  // With a time, the history records it (the version rolled away from ends as `rolled back`).
  Result<std::string> rollback(std::optional<SystemTime> at = std::nullopt) const;

  // Re-points `..data` to the complete version `id` (any kept one, older or newer than the live
  // one) and refreshes the copies. Error if there is no such version, it is already live, or it
  // is the staged one (activate() makes that live).
  Result<std::string> rollback_to(std::string_view id,
                                  std::optional<SystemTime> at = std::nullopt) const;

  // The files of the kept version `id`, live or not.
  Result<CredentialFiles> load_version(std::string_view id) const;

  // All complete versions, oldest first, with what the history knows of each.
  Result<std::vector<VersionInfo>> versions() const;

  // Removes one version that is neither live nor staged, e.g. one whose files were written over by
  // hand and that a rollback must therefore never restore. An unknown id is not an error.
  Result<void> discard(std::string_view id) const;

  // Replaces ca.pem of the live version with `pem` (an issuer's roots changed, not the
  // certificate: EST /cacerts), atomically inside the version folder, so readers of ca.pem see
  // the old file or the new one. The version stays the same version: the history and rollback
  // see no change. The copies are not touched: the caller writes them (write_copies), so a copy
  // that fails is retried like one after a rotation. An error when nothing is live.
  Result<void> replace_ca(std::string_view pem) const;

  // Writes every configured copy from `files` (each atomically, mode and owner set on the fd).
  Result<void> write_copies(const CredentialFiles& files) const;

  // <dir>/<file_name(content)>: the stable path readers use.
  fs::path live_path(Content content) const;
  const StoreOptions& options() const { return *m_options; }

private:
  explicit CredentialStore(std::shared_ptr<const StoreOptions> options);
  std::size_t keep_versions() const;

  std::shared_ptr<const StoreOptions> m_options;  // never null
};

}  // namespace certrotd::store
