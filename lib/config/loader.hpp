// Private to lib/config: turns parsed YAML documents into a Config. The main file is read first
// (state_dir and defaults live only there), then each conf.d file; the checks that span files
// (issuer references, distinct output folders) run once everything is read.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "yaml/reader.hpp"

namespace certrotd::config::detail {

// The generic YAML reader, under the names the schema readers use.
using yaml::describe;
using yaml::Field;
using yaml::Fields;
using yaml::MarkedString;
using yaml::Problems;
using yaml::Reader;
using yaml::YamlNode;

// A value with the place it was written, kept for checks that run after reading.
template <typename T>
struct Setting {
  T value;
  Mark mark;
};

// An expiry threshold as written: a percentage of the lifetime ("10%") or a time before
// notAfter ("7d").
struct ExpiryThreshold {
  double fraction = 0.0;
  std::optional<Millis> before;
};

// The settings that `defaults:` and each credential can both give; a credential's own value wins.
struct Tunables {
  std::optional<Setting<x509::KeySpec>> key;
  // `key: { reuse: true }`: its own setting, so a credential's `key: { reuse: true }` keeps the
  // type of `defaults:` and a credential's `key: { type: rsa }` keeps the default's reuse.
  std::optional<Setting<bool>> key_reuse;
  std::optional<Setting<double>> renew_at;
  std::optional<Setting<Millis>> renew_before;
  std::optional<Setting<double>> jitter;
  std::optional<Setting<Millis>> backoff_base;
  std::optional<Setting<Millis>> backoff_cap;
  std::optional<Setting<ExpiryThreshold>> expiring_at;
  std::optional<Setting<ExpiryThreshold>> critical_at;
  std::optional<Setting<Millis>> lifetime;
};

// The keys of Tunables, as written in YAML.
std::vector<std::string> tunable_keys();
// Reads the Tunables keys present in `fields`; problems go to the reader.
Tunables read_tunables(const Fields& fields, const Reader& reader);
// Each setting of `over` that is set replaces the one in `base`.
Tunables overlay(const Tunables& base, const Tunables& over);

// A credential as read, with the positions the cross-file checks report at.
struct PendingCredential {
  CredentialConfig config;
  Mark issuer_mark;
  std::optional<Setting<Millis>> renew_before;
  std::optional<Setting<Millis>> lifetime;
  std::optional<Setting<bool>> key_reuse;
  Mark output_dir_mark;
  std::vector<Mark> copy_marks;  // one per config.output.copies entry
  // The issuer type's own key the credential wrote (`sap`), and where; empty when none.
  std::string issuer_key;
  Mark issuer_key_mark;
  // Set when the credential names neither a common_name nor a SAN: where to say so.
  std::optional<Mark> no_names_mark;
  // Where `activation:`, its durations and `on_staged:` were written, when they were.
  std::optional<Mark> activation_mark;
  std::optional<Mark> activate_after_mark;
  std::optional<Mark> activate_before_expiry_mark;
  std::optional<Mark> on_staged_mark;
};

// Letters, digits, '.', '_' and '-', not starting with '.': a credential name usable as a folder.
bool is_safe_file_name(std::string_view name);

// Reads one entry of `credentials:`; `defaults` from the main file fill what it leaves out.
// `issuers` names the keys issuer types read in a credential (IssuerType::credential_key).
std::optional<PendingCredential> read_credential(const Field& entry, const Tunables& defaults,
                                                 const fs::path& state_dir, const Reader& reader,
                                                 const issuer::IssuerRegistry& issuers);

// Reads a credential's `on_rotate:` list into `out`; problems go to the reader.
void read_on_rotate(const Field& field, const Reader& reader, std::vector<notify::Action>& out);

// Reads `activation:` into credential.config.activation, noting where its parts were written.
void read_activation(const Field& field, const Reader& reader, PendingCredential& credential);
// Reads `on_staged:` (the on_rotate action types) and refuses an exec handed a file that holds
// the staged private key (key.pem, bundle.pem): partners get the certificate, never the key.
void read_on_staged(const Field& field, const Reader& reader, CredentialConfig& config);
// The checks of staged activation that need the lifetime (the credential's or its issuer's
// limit, the shorter): activate_before_expiry must be shorter than what the live certificate
// has left at renewal; on_staged needs mode: staged.
void check_activation(const PendingCredential& credential, std::optional<Millis> lifetime,
                      Problems& problems);

// Refuses overlaps between the paths certrotd writes: output dirs (equal or one inside
// another), copies (equal, inside an output dir, or with anything inside them) and state_dir
// (inside or around an output dir or copy; output dirs under state_dir/live are its default
// place). Each problem names both sides' positions. `state_dir_mark` is empty for the default.
void check_output_paths(const std::vector<PendingCredential>& credentials,
                        const fs::path& state_dir, const Mark& state_dir_mark, Problems& problems);

class Loader {
public:
  Loader(Problems& problems, const issuer::IssuerRegistry& issuers)
      : m_problems(problems), m_issuer_types(issuers) {}

  void read_main(const YamlNode& root, const Reader& reader);
  void read_drop_in(const YamlNode& root, const Reader& reader);
  // Runs the checks that need every file; the Config when nothing was wrong anywhere.
  std::optional<Config> finish(const fs::path& source);

private:
  void read_issuers(const Field& field, const Reader& reader);
  std::optional<IssuerConfig> read_issuer(const Field& entry, const Reader& reader) const;
  void read_metrics(const Field& field, const Reader& reader);
  void read_credentials(const Field& field, const Reader& reader);
  // `key: { reuse: true }` with an issuer that makes the keys itself is refused.
  void check_key_reuse(const PendingCredential& credential, const issuer::IssuerOptions& issuer);
  void check_credential(const PendingCredential& credential);
  // A credential's `sap:` (or another type's key) must match its issuer's type, and a type that
  // requires its key must get it.
  void check_issuer_key(const PendingCredential& credential, const IssuerConfig& issuer);
  // Names are required unless the issuer's type decides them (its credential options say so).
  void check_names(const PendingCredential& credential, const IssuerConfig* issuer);
  // Both of the above, with the credential's issuer when it is defined.
  void check_issuer_settings(const PendingCredential& credential);
  void check_issuer_options(const PendingCredential& credential);

  Problems& m_problems;
  const issuer::IssuerRegistry& m_issuer_types;
  std::string m_main_file;
  Config m_config;
  Mark m_state_dir_mark;  // where state_dir was set; none for the default
  // Issuers defined with mistakes (already reported), by name.
  std::map<std::string, Mark> m_broken_issuers;
  Tunables m_defaults;
  std::vector<PendingCredential> m_credentials;
  // name -> index in m_credentials: a linear search per credential made loading 10,000 of them
  // quadratic.
  std::unordered_map<std::string, std::size_t> m_credential_index;
};

}  // namespace certrotd::config::detail
