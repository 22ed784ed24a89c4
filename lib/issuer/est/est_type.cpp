// `type: est` in the configuration: its keys, its factory and its roots.
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
  return keys;
}

std::optional<bool> read_bool(const Field& field, const Reader& reader) {
  auto s = reader.string(field);
  if (s && (*s == "true" || *s == "false")) return *s == "true";
  reader.add(field.value_mark, field.key + " must be true or false",
             "write " + field.key + ": true");
  return std::nullopt;
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
      *fields, "server_generated_key", [&](const Field& f) { return read_bool(f, reader); },
      options->server_generated_key, ok);
  if (!ok) return nullptr;
  return options;
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
  return IssuerType{"est", true, read_est, create_est, network_anchors, {}};
}

}  // namespace certrotd::issuer
