// `type: est` in the configuration: its keys, its factory and its roots.
#include <cctype>

#include "issuer/est/est.hpp"
#include "issuer/network/network_options.hpp"

namespace certrotd::issuer {

namespace {

using yaml::Field;
using yaml::Fields;
using yaml::Reader;

constexpr std::string_view k_est_example =
    "corp-est: { type: est, url: https://est.corp.example:8443/.well-known/est, ca_bundle: "
    "/etc/certrotd/est-server-ca.pem, auth: { mtls: self } }";
constexpr std::string_view k_bootstrap_example =
    "bootstrap: { basic: { username: host42, password_file: /etc/certrotd/est-pass } }  (or "
    "bootstrap: { mtls: { cert: FILE, key: FILE } })";

std::vector<std::string> est_keys() {
  std::vector<std::string> keys = network_keys();
  keys.emplace_back("server_generated_key");
  keys.emplace_back("link_tls_unique");
  keys.emplace_back("trust");
  keys.emplace_back("bootstrap_fingerprints");
  return keys;
}

// `basic: { username: host42, password_file: FILE }`.
std::optional<EstBasicAuth> read_basic(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "basic",
                                    {"username", "password_file"}, k_bootstrap_example);
  if (!fields) return std::nullopt;
  const Field* user = fields->get("username");
  const Field* file = fields->get("password_file");
  if (!user || !file) {
    reader.add(field.key_mark, "basic needs both username and password_file",
               "write basic: { username: host42, password_file: /etc/certrotd/est-pass }");
    return std::nullopt;
  }
  auto u = reader.string(*user);
  auto p = reader.path(*file);
  if (!u || !p) return std::nullopt;
  if (u->empty() || u->find(':') != std::string::npos) {
    // RFC 7617 §2: the user-id cannot contain a colon.
    reader.add(user->value_mark, "the username must be non-empty and hold no ':'",
               "write username: host42");
    return std::nullopt;
  }
  return EstBasicAuth{*u, *p};
}

Fields without_bootstrap(const Fields& fields) {
  std::vector<Field> rest;
  for (const Field& field : fields.all()) {
    if (field.key != "bootstrap") rest.push_back(field);
  }
  return Fields(fields.mark(), std::move(rest));
}

// EST's `bootstrap:` is the shared one (`mtls:` a bootstrap certificate) or `basic:` HTTP Basic
// (RFC 7030 §3.2.3). Returns the fields the shared reader is to see: without `bootstrap` when it
// holds `basic`, which the shared reader does not know.
std::optional<Fields> read_bootstrap(const Fields& fields, const Reader& reader,
                                     EstIssuerOptions& out) {
  const Field* f = fields.get("bootstrap");
  if (!f) return fields;
  const auto b = reader.fields(*f->value, f->value_mark, "bootstrap", {"mtls", "basic"},
                               k_bootstrap_example);
  if (!b) return std::nullopt;
  const Field* basic = b->get("basic");
  if (!basic) return fields;
  if (b->get("mtls")) {
    reader.add(f->key_mark, "bootstrap names both mtls and basic",
               "keep one: bootstrap: { basic: { username: ..., password_file: ... } }");
    return std::nullopt;
  }
  auto auth = read_basic(*basic, reader);
  if (!auth) return std::nullopt;
  out.basic = std::move(*auth);
  // No certificate: identity_for() falls back to no client certificate, and the 401 answer
  // gets the password.
  out.bootstrap = BootstrapAuth{};
  return without_bootstrap(fields);
}

// `trust: { from_issuer: true, refresh: 24h }`: refresh is the period of the /cacerts fetch
// between renewals (Issuer::upkeep), at least a second; without it, /cacerts is fetched with
// each renewal only.
void read_trust(const Fields& fields, const Reader& reader, EstIssuerOptions& out, bool& ok) {
  const Field* f = fields.get("trust");
  if (!f) return;
  const auto t = reader.fields(*f->value, f->value_mark, "trust", {"from_issuer", "refresh"},
                               "trust: { from_issuer: true, refresh: 24h }");
  if (!t) {
    ok = false;
    return;
  }
  yaml::read_if_present(
      *t, "from_issuer", [&](const Field& b) { return reader.boolean(b); }, out.trust_from_issuer,
      ok);
  const Field* refresh = t->get("refresh");
  if (!refresh) return;
  const auto period = reader.duration(*refresh, std::chrono::seconds(1));
  if (!period) {
    ok = false;
    return;
  }
  if (!out.trust_from_issuer) {
    reader.add(refresh->key_mark,
               "trust.refresh refreshes the roots of /cacerts, which only "
               "from_issuer: true reads",
               "write trust: { from_issuer: true, refresh: 24h }, or remove refresh");
    ok = false;
    return;
  }
  out.trust_refresh = *period;
}

// `bootstrap_fingerprints: ["ab:cd:…"]`: SHA-256 of roots to take from /cacerts, with or
// without ':' separators, in any case.
void read_fingerprints(const Fields& fields, const Reader& reader, EstIssuerOptions& out,
                       bool& ok) {
  const Field* f = fields.get("bootstrap_fingerprints");
  if (!f) return;
  const auto items = reader.string_list(*f, "bootstrap_fingerprints: [\"3f:9a:…:c2\"]");
  if (!items) {
    ok = false;
    return;
  }
  for (const auto& item : *items) {
    std::string hex;
    for (char c : item.value) {
      if (c != ':') hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const bool valid = hex.size() == 64 &&
                       hex.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!valid) {
      reader.add(item.mark, "'" + item.value + "' is no SHA-256 fingerprint",
                 "write the 64 hex digits of openssl x509 -noout -fingerprint -sha256");
      ok = false;
      continue;
    }
    std::string normal;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      if (!normal.empty()) normal += ':';
      normal += hex.substr(i, 2);
    }
    out.bootstrap_fingerprints.push_back(std::move(normal));
  }
}

std::shared_ptr<const IssuerOptions> read_est(const Field& entry, const Reader& reader) {
  const auto fields = issuer_fields(entry, reader, est_keys(), k_est_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<EstIssuerOptions>();
  const auto network = read_bootstrap(*fields, reader, *options);
  bool ok = network.has_value();
  // The shared reader would reset a `basic` bootstrap; keep what read_bootstrap made.
  const auto basic_bootstrap = options->bootstrap;
  ok = read_network_options(network ? *network : without_bootstrap(*fields), entry, reader, "est",
                            BootstrapToken::refused, *options) &&
       ok;
  if (options->basic) options->bootstrap = basic_bootstrap;
  yaml::read_if_present(
      *fields, "server_generated_key", [&](const Field& f) { return reader.boolean(f); },
      options->server_generated_key, ok);
  yaml::read_if_present(
      *fields, "link_tls_unique", [&](const Field& f) { return reader.boolean(f); },
      options->link_tls_unique, ok);
  read_trust(*fields, reader, *options, ok);
  read_fingerprints(*fields, reader, *options, ok);
  if (ok && !options->bootstrap_fingerprints.empty() && !options->trust_from_issuer) {
    reader.add(fields->get("bootstrap_fingerprints")->key_mark,
               "bootstrap_fingerprints pins roots of /cacerts, which only trust: { from_issuer: "
               "true } reads",
               "add trust: { from_issuer: true }, or remove bootstrap_fingerprints");
    ok = false;
  }
  if (!ok) return nullptr;
  return options;
}

// With trust.from_issuer the issuer names the roots (the anchors and what they vouch for);
// otherwise they are trust_anchors, as for every network issuer.
Result<Anchors> est_anchors(const IssuerOptions& options) {
  if (options_as<EstIssuerOptions>(options).trust_from_issuer) return Anchors{};
  return network_anchors(options);
}

Result<std::shared_ptr<Issuer>> create_est(const IssuerOptions& options,
                                           const IssuerContext& context) {
  const auto& est = options_as<EstIssuerOptions>(options);
  auto deps = network_deps(est, context);
  if (!deps) return fail(deps.error());
  auto issuer = EstIssuer::create(est, std::move(*deps));
  if (!issuer) return fail(issuer.error());
  return std::shared_ptr<Issuer>(std::move(*issuer));
}

}  // namespace

IssuerType est_issuer_type() {
  return IssuerType{"est", true, read_est, create_est, est_anchors, network_anchors};
}

}  // namespace certrotd::issuer
