// The rotation pipeline for one credential:
//   read current → new key (or server key) → CSR → issuer → validate → swap.
// Runs on a worker thread; touches only its own credential's files and immutable plan.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/events.hpp"
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
  store::CredentialStore store;
  // Roots the issued chain must verify to, shared by every plan of the issuer. Empty: use the
  // anchors the issuer reports (only trustworthy for issuers whose anchors come from local
  // configuration, like `local`).
  std::shared_ptr<const std::vector<x509::Certificate>> anchors;
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
};

struct RotationEnv {
  const Clock& clock;
  EventSink& events;
  Millis min_remaining_validity;
  // Runs `on_rotate` actions after a swap; null: actions are skipped (tests, `certrotd check`).
  const notify::ActionRunner* actions = nullptr;
};

Result<Installed> rotate(const CredentialPlan& plan, const RotationEnv& env);

// Runs the credential's `on_rotate` actions after a successful swap (nothing when it has none or
// env.actions is null), emitting dependent-reloaded / dependent-failed for each. Never touches
// the credential: a failing dependent does not undo the swap.
std::vector<notify::ActionOutcome> notify_dependents(const CredentialPlan& plan,
                                                     const std::string& old_serial,
                                                     const Installed& installed,
                                                     const RotationEnv& env);

// Reads a passphrase file: the first line, without its line ending. The value is never logged.
Result<std::string> read_passphrase(const std::filesystem::path& file);

}  // namespace certrotd::engine
