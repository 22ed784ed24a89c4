// The rotation pipeline for one credential:
//   read current → new key (or server key) → CSR → issuer → validate → swap.
// Runs on a worker thread; touches only its own credential's files and immutable plan.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/events.hpp"
#include "engine/issuers.hpp"
#include "issuer/issuer.hpp"
#include "notify/runner.hpp"
#include "store/credential_store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {

// Everything a rotation of one credential needs, fixed for one configuration generation.
// Shared with in-flight rotations, so a reload never pulls the floor from under one.
struct CredentialPlan {
  CredentialPlan(std::shared_ptr<const config::Config> generation_,
                 const config::CredentialConfig& config_, store::CredentialStore store_)
      : generation(std::move(generation_)), config(config_), store(std::move(store_)) {}

  // The configuration this plan was built from, kept alive by the plan: `config` points into
  // it, so 10,000 credentials hold their settings once, not once per plan.
  std::shared_ptr<const config::Config> generation;
  const config::CredentialConfig& config;  // config.issuer names the issuer
  std::shared_ptr<issuer::Issuer> issuer;
  // Every issuer of the configuration, shared by its plans: IssuerContext::issuer holds them
  // weakly, so an issuer reached only through another one (SAP's `self_managed: { issuer }`
  // with no credential of its own) lives as long as the plans that may ask for it.
  std::shared_ptr<const IssuerMap> issuers;
  store::CredentialStore store;
  // Roots the issued chain must verify to, shared by every plan of the issuer. Empty: use the
  // anchors the issuer reports (only trustworthy for issuers whose anchors come from local
  // configuration, like `local`).
  std::shared_ptr<const std::vector<x509::Certificate>> anchors;
  // Why the output folder could not be opened (created, recovered) when the plan was made: a
  // run-time condition of this credential alone (read-only file system, no permission), retried
  // by its jobs while the other credentials run.
  std::optional<Error> folder_error;
};

// The credential as it is on disk, read through the stable file names.
struct LiveCredential {
  std::vector<x509::Certificate> chain;  // leaf first
  x509::PrivateKey key;
};

// nullopt when there is no certificate yet. An error when files exist but cannot be used
// (unreadable, not PEM, key does not match the certificate, wrong passphrase).
// Reads `<output.dir>/{cert,chain,key}.pem` only; never creates or repairs anything, so
// `certrotd check` can use it on a host where the daemon runs.
Result<std::optional<LiveCredential>> read_live(const config::CredentialConfig& config);

// The identity of the live cert.pem and key.pem: a digest of inode, size and mtime of each,
// following the stable links; 0 when either is missing. Changes whenever either file is
// replaced or rewritten, by us or by hand.
std::uint64_t live_files_id(const config::CredentialConfig& config);

struct Installed {
  x509::CertInfo info;
  std::string version;
  // The version is live, but writing a copy outside the folder failed: the rotation happened
  // (dependents are told) and the copy is retried from the live version until it is written.
  std::optional<Error> copy_error;
  // The certificate was issued for the key of the version before (`key: { reuse: true }`).
  bool key_reused = false;
  // `activation: { mode: staged }`: the version was published as `next/`, not made live.
  bool staged = false;
};

struct RotationEnv {
  const Clock& clock;
  EventSink& events;
  Millis min_remaining_validity;
  // Runs `on_rotate` actions after a swap; null: actions are skipped (tests, `certrotd check`).
  const notify::ActionRunner* actions = nullptr;
};

// What passes between the engine and the issuer besides the certificate.
struct IssuerExchange {
  std::optional<std::string> state_in;  // handed to the issuer as IssueRequest::state
  // The issuer answered (a certificate or "not yet"): `state_out` is what to keep from now on.
  bool answered = false;
  std::optional<std::string> state_out;
  std::optional<issuer::NotYet> not_yet;        // set: nothing was issued; the result is an error
  std::optional<issuer::RenewalWindow> window;  // reported with the certificate
  // A renewal_info job: the issuer's answer (the result is then the live certificate's facts).
  std::optional<issuer::RenewalInfo> renewal_info = std::nullopt;
  // When the issuer's upkeep is due after an issuance (IssueOutcome::upkeep_after).
  std::optional<Millis> upkeep_after = std::nullopt;
  // An upkeep job: the issuer's answer, and whether ca.pem was rewritten from it.
  std::optional<issuer::UpkeepOutcome> upkeep = std::nullopt;
  bool ca_changed = false;
};

// In staged mode (`activation: { mode: staged }`) with a live credential, the validated version
// is staged (CredentialStore::stage) rather than installed, and Installed::staged says so; the
// first issuance is always installed. An immediate install removes a version still staged.
Result<Installed> rotate(const CredentialPlan& plan, const RotationEnv& env);
// The same, with the issuer's private state handed over and its answer besides the
// certificate kept in `exchange`. "Not yet" returns a retryable error and sets
// exchange.not_yet; an issuer state longer than issuer::k_max_issuer_state is refused as a
// permanent invalid answer (and not kept).
Result<Installed> rotate(const CredentialPlan& plan, const RotationEnv& env,
                         IssuerExchange& exchange);

// Asks the issuer when to renew the live certificate (Issuer::renewal_info, ACME ARI) with the
// live chain and the issuer's state for the credential; the answer goes to
// exchange.renewal_info, the result is the live certificate's facts. An error when there is no
// usable live certificate or the issuer failed. Runs on a worker (engine/renewal_info.cpp).
Result<Installed> ask_renewal_info(const CredentialPlan& plan, IssuerExchange& exchange);

// The issuer's housekeeping for the credential (Issuer::upkeep) with the live credential (if
// any), the roots of its ca.pem and the issuer's state; the answer goes to exchange.upkeep.
// Roots that differ from ca.pem's are written into the live version (CredentialStore::
// replace_ca) and exchange.ca_changed says so. The result is the live certificate's facts
// (empty ones when none is live). Runs on a worker (engine/upkeep.cpp).
Result<Installed> run_upkeep(const CredentialPlan& plan, IssuerExchange& exchange);

// Asks the issuer to revoke the live certificate (Issuer::revoke) with the live chain and the
// issuer's state for the credential; the result is the revoked certificate's facts. Runs on a
// worker (engine/revoke.cpp).
Result<Installed> revoke_live(const CredentialPlan& plan, issuer::RevocationReason reason,
                              const std::optional<std::string>& state);

// Runs the credential's `on_rotate` actions after a successful swap (nothing when it has none or
// env.actions is null), emitting dependent-reloaded / dependent-failed for each. Never touches
// the credential: a failing dependent does not undo the swap.
std::vector<notify::ActionOutcome> notify_dependents(const CredentialPlan& plan,
                                                     const std::string& old_serial,
                                                     const Installed& installed,
                                                     const RotationEnv& env);

// Runs the credential's `on_staged` actions after a version was staged (the facts name the
// live serial as the old one, the staged one as the new, and `next/` as the folder), emitting
// dependent-reloaded / dependent-failed for each, as notify_dependents() does.
std::vector<notify::ActionOutcome> notify_staged(const CredentialPlan& plan,
                                                 const std::string& live_serial,
                                                 const Installed& staged, const RotationEnv& env);

// Runs the credential's `notify:` actions after the live certificate `live` crossed the expiry
// threshold named `threshold` ("expiring", "critical", "expired"), emitting dependent-reloaded /
// dependent-failed for each, as notify_dependents() does.
std::vector<notify::ActionOutcome> notify_threshold(const CredentialPlan& plan,
                                                    const x509::CertInfo& live,
                                                    const std::string& threshold,
                                                    const RotationEnv& env);

// Writes the configured copies from the live version (after a copy failed). An error when
// there is no live version or a copy still cannot be written.
Result<Installed> rewrite_copies(const CredentialPlan& plan);

// A certificate and key an operator put in place: `certrotd import`, or what a hand
// replacement wrote into the output folder.
struct Replacement {
  std::vector<x509::Certificate> chain;  // leaf first
  x509::PrivateKey key;
};

// Checks a replacement (engine/validate.hpp validate_replacement: key matches, valid now, chain
// verifies to `anchors`, or to the live ca.pem when `anchors` is empty) and installs it as a
// complete new version (fullchain, bundle, ca and copies derived as for an issued one).
Result<Installed> install_replacement(const config::CredentialConfig& config,
                                      const store::CredentialStore& store,
                                      const Replacement& replacement,
                                      std::span<const x509::Certificate> anchors, SystemTime now);

// After the certificate in the output folder changed under us: makes the folder a complete,
// consistent set again. Runs on a worker.
//  - The live version is consistent and the stable names lead into it (an offline `import` or
//    `rollback`): nothing to rebuild; copies are refreshed.
//  - cert.pem and key.pem were replaced by hand (often written through the stable links into the
//    live version folder, leaving fullchain.pem and bundle.pem behind): when the pair is usable
//    (validate_replacement), it is installed as a complete new version; the version written over
//    is replaced by one restored from its own bundle.pem (key, certificate and chain as certrotd
//    installed them), so a rollback finds the previous credential whole, never the mixed files.
//  - The pair is not usable (key does not match, not valid now, unreadable): the previous
//    credential is restored from the bundle.pem of the version written over (key, certificate and
//    chain as certrotd installed them) and the error says how to replace it safely.
Result<Installed> adopt_replacement(const CredentialPlan& plan, const RotationEnv& env);

}  // namespace certrotd::engine
