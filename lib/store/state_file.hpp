// Per-credential persisted state in `<state_dir>/state/<name>.json`, written atomically, so
// `certrotd check` and a restarted daemon know what happened last. One file per credential keeps
// a write O(1) with 10,000 credentials.
//
// Format: one JSON object; times are RFC 3339 UTC strings ("2024-05-01T12:00:00Z", with a
// fraction only when the time has one), unset times are null. Credential names must be safe file
// names ([A-Za-z0-9._-], not starting with '.', at most 200 characters); load() and save() refuse
// others with a permanent error. I/O failures are retryable.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

namespace certrotd::store {

// Facts of the live certificate as last parsed, and the identity of the files they came from.
// A restart with 10,000 credentials then needs 10,000 stat() calls instead of parsing 10,000
// certificates and keys (about 0.7 ms each through OpenSSL 3.0's decoders). The cache holds only
// while `files_id` (a digest of inode, size and mtime of cert.pem and key.pem) is unchanged.
// Kept in memory for every credential, so the fixed-size facts are stored as numbers and bytes,
// not as their text forms.
using Fingerprint = std::array<std::uint8_t, 32>;  // SHA-256 of the DER certificate

struct CertCache {
  std::uint64_t files_id = 0;  // 0: unknown, matches no files
  std::string serial;
  Fingerprint fingerprint{};
  SystemTime not_before;
  SystemTime not_after;
  // certrotd installed this certificate (rather than adopting one placed by hand). In the file
  // it is the top-level "installed_serial", which names the live serial exactly when this holds.
  bool installed = false;

  friend bool operator==(const CertCache&, const CertCache&) = default;
};

// The text form certificates are shown in: lower-case hex pairs joined by ':'.
std::string format_fingerprint(const Fingerprint& fingerprint);
std::optional<Fingerprint> parse_fingerprint(std::string_view text);

// Issuer-private state is refused by load() and save() when longer than this (the engine
// refuses it from the issuer before): 4 KiB, as issuer::k_max_issuer_state.
inline constexpr std::size_t k_max_issuer_state = 4096;

// The renewal window the issuer reported for the live certificate.
struct RenewalWindow {
  SystemTime start;
  SystemTime end;
  // ARI's explanationURL, shown in `status`; empty when the issuer gave none.
  std::string explanation_url = {};

  friend bool operator==(const RenewalWindow&, const RenewalWindow&) = default;
};

// A version staged as `next` (activation: { mode: staged }) and waiting to go live. In the file:
// "staged": {"version", "serial", "fingerprint", "not_before", "not_after", "staged_at"}, and
// "key_reused": true when it was issued for the live key.
struct StagedVersion {
  std::string version;  // the store's version id
  std::string serial;
  Fingerprint fingerprint{};  // tells, after a crash during activation, whether it went live
  SystemTime not_before;
  SystemTime not_after;
  SystemTime staged_at;     // activate_after counts from here
  bool key_reused = false;  // `key: { reuse: true }`: key_renewals counts it once it is live

  friend bool operator==(const StagedVersion&, const StagedVersion&) = default;
};

struct CredentialState {
  std::optional<SystemTime> last_attempt;
  std::optional<SystemTime> last_success;
  std::optional<SystemTime> next_attempt;
  std::optional<SystemTime> installed_at;  // when the live certificate was installed by us
  std::string last_error;                  // empty after a success
  int failures = 0;                        // consecutive
  std::optional<CertCache> live_cert;
  // The last failure cannot heal by retrying (a permanent error): `status` says needs-attention.
  bool needs_attention = false;
  std::string last_reason;  // reason class of the last failure ("network", "io", ...)
  // The live version is complete but at least one copy outside the folder could not be
  // written; the next attempt writes the copies from the live version.
  bool copies_missing = false;
  // The issuer's private state for this credential (an ACME order URL, an EST pending request
  // id): opaque bytes, stored as hex in "issuer_state", never logged.
  std::optional<std::string> issuer_state = std::nullopt;
  // The issuer answered "not yet": next_attempt is when to ask again, kept across a restart.
  bool issuer_pending = false;
  std::optional<RenewalWindow> renewal_window = std::nullopt;  // of the live certificate
  // For an issuer that reports renewal information (ACME ARI): when to ask it next about the
  // live certificate, and how many asks in a row failed. In the file: "renewal_info":
  // {"next_ask", "failures"}, written only when set.
  std::optional<SystemTime> renewal_info_next = std::nullopt;
  int renewal_info_failures = 0;
  // For an issuer with upkeep (issuer::Issuer::upkeep_mode): when it is due next, and how many
  // upkeeps in a row failed. In the file: "upkeep": {"next", "failures"}, written only when set.
  std::optional<SystemTime> upkeep_next = std::nullopt;
  int upkeep_failures = 0;
  // `certrotd revoke` revoked this certificate: it is renewed at once, also after a restart.
  // "revoked_serial", written only when set.
  std::string revoked_serial;
  // How many renewals the live key has seen (`key: { reuse: true }`): 0 after a new key, one
  // more for each certificate issued for the same key. "key_renewals", written only when set.
  int key_renewals = 0;
  // The last expiry threshold reported (schedule::Alert's value: 1 expiring, 2 critical,
  // 3 expired; 0 none) and for which certificate, so a restart does not report it again and the
  // next certificate is reported afresh. In the file: "alerted": {"serial", "threshold"}.
  std::string alerted_serial;
  std::uint8_t alerted = 0;
  // The version staged and not yet live; absent in older files.
  std::optional<StagedVersion> staged = std::nullopt;

  // installed_at when the live certificate is one certrotd installed; unset when it was adopted.
  std::optional<SystemTime> live_installed_at() const {
    return live_cert && live_cert->installed ? installed_at : std::nullopt;
  }

  friend bool operator==(const CredentialState&, const CredentialState&) = default;
};

class StateFiles {
public:
  explicit StateFiles(std::filesystem::path state_dir) : m_dir(std::move(state_dir)) {}

  // Missing file: a default state. Corrupt file: an error (the caller logs and starts afresh).
  Result<CredentialState> load(const std::string& credential) const;
  Result<void> save(const std::string& credential, const CredentialState& state) const;
  // Removes what a crash left of unfinished saves (AtomicFile temporary files, nothing else) in
  // `state/` and `pending/`; run once at start-up, before anything saves. Returns how many were
  // removed.
  Result<int> remove_leftovers() const;

  // The request an issuer holds for approval (EST 202, RFC 7030 §4.2.3), kept so the same key
  // and CSR go again: `<state_dir>/pending/<name>.pem`, opaque PEM text to this class. Written
  // atomically with mode 0600 in a 0700 folder reached through descriptors (a symlink in the
  // file's place is refused, never followed); the text is wiped after writing and never logged.
  // load_pending: nullopt when none is kept. remove_pending: none kept is no error.
  Result<void> save_pending(const std::string& credential, std::string_view pem) const;
  Result<std::optional<Secret>> load_pending(const std::string& credential) const;
  Result<void> remove_pending(const std::string& credential) const;
  std::filesystem::path pending_path_of(const std::string& credential) const;

  std::filesystem::path path_of(const std::string& credential) const;

private:
  std::filesystem::path m_dir;
};

}  // namespace certrotd::store
