// The configuration file: one YAML file (default /etc/certrotd/config.yaml) plus optional
// `conf.d/*.yaml` beside it, merged in name order. Every problem is reported as
// "file:line:col: what is wrong; what to write instead", unknown keys with a "did you mean" hint.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "issuer/registry.hpp"
#include "notify/action.hpp"
#include "schedule/activation.hpp"
#include "schedule/policy.hpp"
#include "store/credential_store.hpp"
#include "util/result.hpp"
#include "x509/types.hpp"
#include "yaml/mark.hpp"

namespace certrotd::config {

namespace fs = std::filesystem;

using Mark = yaml::Mark;

struct IssuerConfig {
  std::string name;
  std::string type;                                      // what `type:` says: kind->name
  std::shared_ptr<const issuer::IssuerType> kind;        // its registry entry
  std::shared_ptr<const issuer::IssuerOptions> options;  // what kind->read made of the section
  // At most this many rotations with this issuer at once (1..1024); unset: only
  // max_concurrent_rotations applies. Keeps a slow issuer from occupying every worker.
  std::optional<int> max_concurrent = std::nullopt;
  Mark mark;
};

struct CredentialConfig {
  std::string name;
  std::string issuer;                // a key of Config::issuers
  x509::CertificateRequest request;  // subject, sans, usage
  x509::KeySpec key;
  // `key: { reuse: true }`: renew for the live key while it is of the `key` type (partners that
  // pin the public key); false: a new key per rotation.
  bool key_reuse = false;
  schedule::RenewPolicy policy;
  std::optional<Millis> lifetime;  // asked of the issuer; the issuer's limit may win
  store::StoreOptions output;      // dir, owner/group, mode, copies, keep
  // Write key.pem as encrypted PKCS#8 with the passphrase in this file (read at use, never logged).
  std::optional<fs::path> key_passphrase_file;
  // Run in order after every successful swap (see lib/notify/action.hpp).
  std::vector<notify::Action> on_rotate;
  // Run once when the live certificate crosses an expiry threshold (expiring_at, critical_at,
  // notAfter), the same action types as on_rotate.
  std::vector<notify::Action> notify;
  // What the credential's own issuer section (`sap:`) said; null when it has none.
  std::shared_ptr<const issuer::CredentialOptions> issuer_options;
  // `activation:`: swap a renewed version in at once (immediate, the default) or publish it as
  // `next/` first and make it live later (staged; see schedule/activation.hpp).
  schedule::Activation activation;
  // Run in order after a version was staged, the same action types as on_rotate (typically an
  // exec that hands next/fullchain.pem to a partner); never handed the key.
  std::vector<notify::Action> on_staged;
  Mark mark;
};

// `metrics:` (top level, main file only): Prometheus exposition. Both parts are optional.
struct MetricsConfig {
  // HTTP endpoint serving /metrics, "127.0.0.1:9543". Loopback only unless allow_remote: true
  // (the endpoint has no authentication).
  std::optional<std::string> listen_host;
  std::uint16_t listen_port = 0;
  // node_exporter textfile collector: the .prom file, rewritten atomically on change.
  std::optional<fs::path> textfile;
};

struct Config {
  fs::path source;  // the main file
  fs::path state_dir = "/var/lib/certrotd";
  int max_concurrent_rotations = 4;  // rotations in flight at once, across all issuers
  // A new certificate must be valid for at least this long beyond now to be accepted.
  Millis min_remaining_validity = std::chrono::seconds(30);
  std::map<std::string, IssuerConfig> issuers;
  std::vector<CredentialConfig> credentials;  // in file order, conf.d after the main file
  MetricsConfig metrics;

  const CredentialConfig* find_credential(const std::string& name) const;
};

// Parses and validates. On failure the Error's message holds every problem found, one per line,
// each starting with "file:line:col: ". Relative paths in the file are resolved against the
// directory of the file that names them. Each `issuers.<name>` is read by the entry of `issuers`
// its `type:` names; without `issuers`, issuer::builtin_issuers().
Result<Config> load_config(const fs::path& file, const issuer::IssuerRegistry& issuers);
Result<Config> load_config(const fs::path& file);

// Parses YAML text (for tests); `name` is used as the file name in marks.
Result<Config> parse_config(const std::string& yaml_text, const std::string& name,
                            const fs::path& base_dir, const issuer::IssuerRegistry& issuers);
Result<Config> parse_config(const std::string& yaml_text, const std::string& name,
                            const fs::path& base_dir);

}  // namespace certrotd::config
