#include "config/loader.hpp"
#include "config/trusted_paths.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include "util/duration.hpp"
#include "util/strings.hpp"

namespace certrotd::config::detail {

namespace {

constexpr std::string_view k_top_example =
    "state_dir: /var/lib/certrotd, then issuers: and credentials: mappings";
constexpr std::string_view k_issuer_example =
    "dev-ca: { type: local, ca_cert: /etc/certrotd/ca/ca.pem, ca_key: /etc/certrotd/ca/ca.key }";

std::vector<std::string> top_keys() {
  return {"state_dir",
          "max_concurrent_rotations",
          "min_remaining_validity",
          "defaults",
          "issuers",
          "credentials",
          "metrics"};
}

constexpr std::string_view k_metrics_example =
    "metrics: { listen: \"127.0.0.1:9543\", textfile: "
    "/var/lib/prometheus/node-exporter/certrotd.prom }";

// "a.b.c.d:port" into its parts; nullopt when it is not that.
std::optional<std::pair<std::string, std::uint16_t>> split_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  in_addr addr{};
  if (::inet_pton(AF_INET, host.c_str(), &addr) != 1) return std::nullopt;
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || first == last || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return std::pair{std::move(host), static_cast<std::uint16_t>(port)};
}

bool is_loopback(const std::string& ipv4) { return ipv4.rfind("127.", 0) == 0; }

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// "local, http and cfssl": the supported types, as a sentence.
std::string and_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

// `max_concurrent` (optional, any type): requests to this issuer in flight at once.
void read_max_concurrent(const Field& entry, const Reader& reader, IssuerConfig& issuer) {
  const YamlNode* node = entry.value->find("max_concurrent");
  if (!node) return;
  const Field field{"max_concurrent", entry.key_mark, node,
                    node->is_null() ? entry.key_mark : reader.mark(*node, entry.key_mark)};
  if (auto n = reader.integer(field, 1, 1024)) issuer.max_concurrent = static_cast<int>(*n);
}

}  // namespace

void Loader::read_main(const YamlNode& root, const Reader& reader) {
  m_main_file = reader.file();
  const auto fields = reader.fields(root, Mark{reader.file(), 1, 1}, "the top level", top_keys(),
                                    k_top_example);
  if (!fields) return;
  // state_dir and defaults first: credentials above them in the file still depend on them.
  Mark state_dir_mark{reader.file(), 1, 1};
  if (const Field* f = fields->get("state_dir")) {
    if (auto p = reader.path(*f)) {
      m_config.state_dir = *p;
      m_state_dir_mark = f->value_mark;
    }
    state_dir_mark = f->value_mark;
  }
  check_trusted_folder(m_config.state_dir, state_dir_mark, "state_dir", reader);
  if (const Field* f = fields->get("max_concurrent_rotations")) {
    if (auto n = reader.integer(*f, 1, 1024)) {
      m_config.max_concurrent_rotations = static_cast<int>(*n);
    }
  }
  if (const Field* f = fields->get("min_remaining_validity")) {
    if (auto d = reader.duration(*f, Millis(0))) m_config.min_remaining_validity = *d;
  }
  if (const Field* f = fields->get("defaults")) {
    if (auto defaults = reader.fields(*f->value, f->value_mark, "defaults", tunable_keys(),
                                      "defaults: { renew_at: 66%, jitter: 5% }")) {
      m_defaults = read_tunables(*defaults, reader);
    }
  }
  if (const Field* f = fields->get("issuers")) read_issuers(*f, reader);
  if (const Field* f = fields->get("credentials")) read_credentials(*f, reader);
  if (const Field* f = fields->get("metrics")) read_metrics(*f, reader);
}

// The endpoint has no authentication: an address other hosts can reach must be asked for twice,
// with the address and with allow_remote: true.
void Loader::read_metrics(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "metrics",
                                    {"listen", "textfile", "allow_remote"}, k_metrics_example);
  if (!fields) return;
  MetricsConfig& metrics = m_config.metrics;
  if (const Field* f = fields->get("textfile")) {
    if (auto p = reader.path(*f)) metrics.textfile = *p;
  }
  bool allow_remote = false;
  if (const Field* f = fields->get("allow_remote")) {
    const auto text = reader.string(*f);
    if (text && (*text == "true" || *text == "false")) {
      allow_remote = *text == "true";
    } else if (text) {
      reader.add(f->value_mark, "metrics.allow_remote must be true or false",
                 "write allow_remote: true, or leave it out");
    }
  }
  const Field* f = fields->get("listen");
  if (!f) return;
  const auto text = reader.string(*f);
  if (!text) return;
  auto parts = split_listen(*text);
  if (!parts) {
    reader.add(f->value_mark,
               "metrics.listen " + in_quotes(*text) + " is not an IPv4 address and port",
               "write listen: \"127.0.0.1:9543\"");
    return;
  }
  if (!is_loopback(parts->first) && !allow_remote) {
    reader.add(f->value_mark,
               "metrics.listen " + in_quotes(*text) +
                   " is reachable from other hosts and /metrics has no authentication",
               "write listen: \"127.0.0.1:9543\" (and scrape through a proxy), or add "
               "allow_remote: true to mean it");
    return;
  }
  metrics.listen_host = std::move(parts->first);
  metrics.listen_port = parts->second;
}

void Loader::read_drop_in(const YamlNode& root, const Reader& reader) {
  const auto fields = reader.fields(root, Mark{reader.file(), 1, 1}, "the top level", top_keys(),
                                    "issuers: and credentials: mappings");
  if (!fields) return;
  for (const Field& f : fields->all()) {
    if (f.key == "issuers") {
      read_issuers(f, reader);
    } else if (f.key == "credentials") {
      read_credentials(f, reader);
    } else {
      reader.add(f.key_mark, f.key + " can only be set in the main file " + m_main_file,
                 "move it there; files in conf.d/ may only add issuers: and credentials:");
    }
  }
}

// The common keys here, the rest by the registry entry that `type:` names.
std::optional<IssuerConfig> Loader::read_issuer(const Field& entry, const Reader& reader) const {
  if (!entry.value->is_map()) {
    // Let the generic check word the message.
    (void)reader.fields(*entry.value, entry.value_mark, "issuer " + in_quotes(entry.key), {"type"},
                        k_issuer_example);
    return std::nullopt;
  }
  const YamlNode* type = entry.value->find("type");
  if (!type || type->is_null()) {
    reader.add(entry.key_mark, "issuer " + in_quotes(entry.key) + " has no type",
               "write type: local");
    return std::nullopt;
  }
  const Mark type_mark = reader.mark(*type, entry.key_mark);
  const auto name = reader.string(*type, type_mark, "type");
  if (!name) return std::nullopt;
  auto kind = m_issuer_types.find(*name);
  if (!kind) {
    const std::vector<std::string> names = m_issuer_types.names();
    const std::string hint = closest_match(*name, names);
    reader.add(type_mark, "unknown issuer type " + in_quotes(*name),
               (hint.empty() ? std::string() : "did you mean '" + hint + "'? ") +
                   "this version of certrotd supports type: " + and_list(names));
    return std::nullopt;
  }
  IssuerConfig issuer{entry.key,    *name,         kind, kind->read(entry, reader),
                      std::nullopt, entry.key_mark};
  read_max_concurrent(entry, reader, issuer);
  if (!issuer.options) return std::nullopt;
  return issuer;
}

void Loader::read_issuers(const Field& field, const Reader& reader) {
  const auto entries = reader.entries(*field.value, field.value_mark, "issuers",
                                      "issuers: { " + std::string(k_issuer_example) + " }");
  if (!entries) return;
  for (const Field& entry : entries->all()) {
    std::optional<Mark> previous;
    if (const auto it = m_config.issuers.find(entry.key); it != m_config.issuers.end()) {
      previous = it->second.mark;
    } else if (const auto b = m_broken_issuers.find(entry.key); b != m_broken_issuers.end()) {
      previous = b->second;
    }
    if (previous) {
      reader.add(
          entry.key_mark,
          "issuer " + in_quotes(entry.key) + " is already defined at " + previous->to_string(),
          "rename one of them");
      continue;
    }
    if (auto issuer = read_issuer(entry, reader)) {
      m_config.issuers.emplace(entry.key, std::move(*issuer));
    } else {
      // Still known by name, so credentials that use it are not also reported as dangling.
      m_broken_issuers.emplace(entry.key, entry.key_mark);
    }
  }
}

void Loader::read_credentials(const Field& field, const Reader& reader) {
  const auto entries = reader.entries(
      *field.value, field.value_mark, "credentials",
      "credentials: { web: { issuer: dev-ca, sans: [\"DNS:web.example.internal\"] } }");
  if (!entries) return;
  for (const Field& entry : entries->all()) {
    if (const auto previous = m_credential_index.find(entry.key);
        previous != m_credential_index.end()) {
      reader.add(entry.key_mark,
                 "credential " + in_quotes(entry.key) + " is already defined at " +
                     m_credentials[previous->second].config.mark.to_string(),
                 "rename one of them");
      continue;
    }
    if (auto credential = read_credential(entry, m_defaults, m_config.state_dir, reader,
                                          m_issuer_types)) {
      m_credential_index.emplace(entry.key, m_credentials.size());
      m_credentials.push_back(std::move(*credential));
    }
  }
}

void Loader::check_key_reuse(const PendingCredential& credential,
                             const issuer::IssuerOptions& issuer) {
  if (!credential.key_reuse || !credential.key_reuse->value || !issuer.generates_keys()) return;
  const CredentialConfig& config = credential.config;
  // The issuer sends a new key with every certificate: there is no CSR to sign with the old
  // one, and silently handing out a new key would break every partner that pins it.
  m_problems.add(credential.key_reuse->mark,
                 "credential " + in_quotes(config.name) + " asks to reuse its key, but issuer " +
                     in_quotes(config.issuer) +
                     " generates the keys itself and sends a new one with every certificate",
                 "remove reuse: true, or name an issuer that signs a CSR (for type: http, "
                 "request: { server_generated_key: false })");
}

void Loader::check_issuer_key(const PendingCredential& credential, const IssuerConfig& issuer) {
  const CredentialConfig& config = credential.config;
  const issuer::IssuerType& type = *issuer.kind;
  if (!credential.issuer_key.empty() && credential.issuer_key != type.credential_key) {
    const auto owner = m_issuer_types.find_by_credential_key(credential.issuer_key);
    m_problems.add(credential.issuer_key_mark,
                   credential.issuer_key + ": applies to credentials of issuers of type " +
                       (owner ? owner->name : std::string("?")) + ", and issuer " +
                       in_quotes(config.issuer) + " is of type " + type.name,
                   "remove " + credential.issuer_key + ":, or name an issuer of that type");
    return;
  }
  if (type.credential_key_required && credential.issuer_key.empty()) {
    m_problems.add(credential.issuer_mark,
                   "credential " + in_quotes(config.name) + " of issuer " +
                       in_quotes(config.issuer) + " (type " + type.name + ") needs " +
                       type.credential_key + ":",
                   "write " + type.credential_example);
  }
}

void Loader::check_names(const PendingCredential& credential, const IssuerConfig* issuer) {
  if (!credential.no_names_mark) return;
  const CredentialConfig& config = credential.config;
  const bool own_key = issuer && !issuer->kind->credential_key.empty();
  // With its own key missing or wrong (reported already) the names are not the point either.
  if (own_key && (!config.issuer_options || !config.issuer_options->needs_names())) return;
  m_problems.add(*credential.no_names_mark,
                 "credential " + in_quotes(config.name) + " has neither a common_name nor a SAN",
                 "write at least one, e.g. sans: [\"DNS:" + config.name + ".example.internal\"]");
}

// What the credential's own issuer settings (`sap:`) ask of the rest of the configuration.
void Loader::check_issuer_options(const PendingCredential& credential) {
  const CredentialConfig& config = credential.config;
  if (!config.issuer_options) return;
  for (const auto& named : config.issuer_options->issuers_named()) {
    if (m_config.issuers.contains(named.issuer) || m_broken_issuers.contains(named.issuer)) {
      continue;
    }
    m_problems.add(named.mark,
                   "credential " + in_quotes(config.name) + " names issuer " +
                       in_quotes(named.issuer) + ", which is not defined",
                   "define it under issuers:, or name one of the issuers there");
  }
  if (config.activation.mode != schedule::ActivationMode::staged) return;
  if (auto refusal = config.issuer_options->refuses_staged()) {
    m_problems.add(credential.activation_mark.value_or(credential.issuer_mark), refusal->what,
                   refusal->instead);
  }
}

void Loader::check_issuer_settings(const PendingCredential& credential) {
  const auto it = m_config.issuers.find(credential.config.issuer);
  const IssuerConfig* issuer = it == m_config.issuers.end() ? nullptr : &it->second;
  check_names(credential, issuer);
  if (!issuer) return;
  check_issuer_key(credential, *issuer);
  // Options of another type's key were refused just now; their checks would only add noise.
  if (credential.issuer_key == issuer->kind->credential_key) check_issuer_options(credential);
}

void Loader::check_credential(const PendingCredential& credential) {
  const CredentialConfig& config = credential.config;
  std::optional<Millis> issuer_lifetime;
  check_issuer_settings(credential);
  if (!config.issuer.empty()) {
    const auto it = m_config.issuers.find(config.issuer);
    if (it != m_config.issuers.end()) {
      issuer_lifetime = it->second.options->max_lifetime();
      check_key_reuse(credential, *it->second.options);
    } else if (!m_broken_issuers.contains(config.issuer)) {
      std::vector<std::string> names;
      for (const auto& [name, issuer] : m_config.issuers) names.push_back(name);
      for (const auto& [name, mark] : m_broken_issuers) names.push_back(name);
      const std::string hint = closest_match(config.issuer, names);
      std::string instead;
      if (!hint.empty()) {
        instead = "did you mean '" + hint + "'?";
      } else if (names.empty()) {
        instead = "define it under issuers:";
      } else {
        std::sort(names.begin(), names.end());
        instead = "define it under issuers: or name one of:";
        for (const auto& n : names) instead += " " + n;
      }
      m_problems.add(credential.issuer_mark,
                     "credential " + in_quotes(config.name) + " names issuer " +
                         in_quotes(config.issuer) + ", which is not defined",
                     instead);
    }
  }
  // The issuer caps what the credential asks for, so the shorter of the two is what arrives.
  std::optional<Millis> lifetime = config.lifetime;
  bool issuer_wins = false;
  if (issuer_lifetime && (!lifetime || *issuer_lifetime < *lifetime)) {
    lifetime = issuer_lifetime;
    issuer_wins = true;
  }
  check_activation(credential, lifetime, m_problems);
  if (!credential.renew_before) return;
  if (!lifetime || credential.renew_before->value < *lifetime) return;
  std::string what = "renew_before " + format_duration(credential.renew_before->value) +
                     " is not shorter than the " + format_duration(*lifetime) +
                     " lifetime of credential " + in_quotes(config.name);
  if (issuer_wins) what += " (the most issuer " + in_quotes(config.issuer) + " grants)";
  m_problems.add(credential.renew_before->mark, what,
                 "write a shorter renew_before, or renew_at: 66% to renew at a share of the "
                 "lifetime");
}

std::optional<Config> Loader::finish(const fs::path& source) {
  for (const auto& c : m_credentials) check_credential(c);
  check_output_paths(m_credentials, m_config.state_dir, m_state_dir_mark, m_problems);
  check_trusted_outputs(m_credentials, m_problems);
  if (!m_problems.empty()) return std::nullopt;
  m_config.source = source;
  m_config.credentials.clear();
  for (auto& c : m_credentials) m_config.credentials.push_back(std::move(c.config));
  return std::move(m_config);
}

}  // namespace certrotd::config::detail
