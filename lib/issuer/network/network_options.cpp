#include "issuer/network/network_options.hpp"

#include <string>
#include <vector>

namespace certrotd::issuer {

namespace {

using yaml::Field;
using yaml::Fields;
using yaml::Reader;

constexpr std::string_view k_mtls_example =
    "auth: { mtls: self }  (or credential:NAME, or "
    "{ cert: FILE, key: FILE })";

std::optional<MtlsAuth> read_mtls_files(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "mtls", {"cert", "key"},
                                    "mtls: { cert: /etc/certrotd/client.pem, key: "
                                    "/etc/certrotd/client.key }");
  if (!fields) return std::nullopt;
  const Field* cert = fields->get("cert");
  const Field* key = fields->get("key");
  if (!cert || !key) {
    reader.add(field.key_mark, "mtls with files needs both cert and key",
               "write mtls: { cert: FILE, key: FILE }");
    return std::nullopt;
  }
  auto c = reader.path(*cert);
  auto k = reader.path(*key);
  if (!c || !k) return std::nullopt;
  MtlsAuth auth;
  auth.source = MtlsAuth::Source::files;
  auth.cert = *c;
  auth.key = *k;
  return auth;
}

// `mtls: self | credential:NAME | { cert: FILE, key: FILE }`.
std::optional<MtlsAuth> read_mtls(const Field& field, const Reader& reader, bool allow_self) {
  if (field.value->is_map()) return read_mtls_files(field, reader);
  MtlsAuth auth;
  const auto text = reader.string(field);
  if (!text) return std::nullopt;
  if (*text == "self" && allow_self) {
    auth.source = MtlsAuth::Source::self;
    return auth;
  }
  if (text->starts_with("credential:") && text->size() > 11 && allow_self) {
    auth.source = MtlsAuth::Source::credential;
    auth.credential = text->substr(11);
    return auth;
  }
  if (*text == "none") return auth;
  reader.add(field.value_mark, "mtls must be self, credential:NAME or { cert, key }",
             allow_self ? "write mtls: self" : "write mtls: { cert: FILE, key: FILE }");
  return std::nullopt;
}

// Whether `extra_params` may carry this key; reports it when not.
bool allowed_extra_param(const Field& e, const Reader& reader) {
  if (e.key == "scope" || e.key == "resource") {
    reader.add(e.key_mark, "'" + e.key + "' has its own key in token",
               "write " + e.key + ": ... next to extra_params");
    return false;
  }
  if (e.key == "grant_type" || e.key == "client_id" || e.key.starts_with("client_")) {
    reader.add(e.key_mark,
               "'" + e.key +
                   "' is sent by certrotd itself (from client_id and "
                   "method)",
               "remove it from extra_params");
    return false;
  }
  return true;
}

// `extra_params: { audience: https://pki.internal }`: more form fields for the token request
// (Auth0 and Okta want `audience`, some servers `resource` lists or a tenant). The fields certrotd
// sends itself, and secrets, cannot be given here.
std::optional<std::vector<std::pair<std::string, std::string>>> read_extra_params(
    const Field& field, const Reader& reader) {
  const auto entries = reader.entries(*field.value, field.value_mark, "extra_params",
                                      "extra_params: { audience: https://pki.internal }");
  if (!entries) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> params;
  bool ok = true;
  for (const Field& e : entries->all()) {
    auto value = allowed_extra_param(e, reader) ? reader.string(e) : std::nullopt;
    if (value) {
      params.emplace_back(e.key, std::move(*value));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return params;
}

std::optional<auth::ClientAuthMethod> read_method(const Field& field, const Reader& reader) {
  auto s = reader.string(field);
  if (!s) return std::nullopt;
  auto m = auth::parse_method(*s);
  if (!m) {
    reader.add(field.value_mark, "unknown token method " + in_quotes(*s),
               "write one of tls_client_auth, self_signed_tls_client_auth, "
               "client_secret_basic, client_secret_post");
  }
  return m;
}

// The method and the secret must agree: a secret method needs one, an mTLS method none; the
// endpoint must be https://.
bool check_token(const auth::TokenSettings& token, const Field& field, const Fields& fields,
                 const Reader& reader) {
  const bool has_secret = token.client_secret_file || !token.client_secret_credential.empty();
  if (!auth::uses_mtls(token.method) && !has_secret) {
    reader.add(field.key_mark,
               "token method " + std::string(auth::to_string(token.method)) + " needs a secret",
               "write client_secret_file: /etc/certrotd/client-secret");
    return false;
  }
  if (auth::uses_mtls(token.method) && has_secret) {
    reader.add(field.key_mark,
               "token method " + std::string(auth::to_string(token.method)) +
                   " authenticates with the certificate; a client secret would be a second method",
               "remove client_secret_file, or use method: client_secret_basic");
    return false;
  }
  if (!token.url.starts_with("https://")) {
    reader.add(fields.get("url")->value_mark, "the token url must be https://",
               "write url: https://...");
    return false;
  }
  return true;
}

void require(const Fields& fields, const Field& field, const Reader& reader, bool& ok) {
  for (const char* required : {"url", "client_id"}) {
    if (!fields.get(required)) {
      reader.add(field.key_mark, std::string("token needs ") + required,
                 std::string("write ") + required + ": ...");
      ok = false;
    }
  }
}

void read_url(const Fields& fields, const Reader& reader, std::string_view url_key,
              std::string& url, bool& ok) {
  const Field* f = fields.get(url_key);
  if (!f) return;
  auto s = reader.string(*f);
  if (!s) {
    ok = false;
    return;
  }
  url = *s;
  if (!url.starts_with("https://")) {
    reader.add(f->value_mark, "the issuer " + std::string(url_key) + " must be https://",
               "write " + std::string(url_key) +
                   ": https://...; certrotd never sends credentials in clear text");
    ok = false;
  }
}

void require_url_and_bundle(const Fields& fields, const Field& entry, const Reader& reader,
                            std::string_view type, std::string_view url_key, bool& ok) {
  for (const std::string_view required : {url_key, std::string_view("ca_bundle")}) {
    if (!fields.get(required)) {
      reader.add(entry.key_mark,
                 "issuer " + in_quotes(entry.key) + " of type " + std::string(type) + " needs " +
                     std::string(required),
                 "write " + std::string(required) +
                     (required == url_key ? ": https://..." : ": /etc/certrotd/ca-bundle.pem"));
      ok = false;
    }
  }
}

void read_auth(const Fields& fields, const Reader& reader, MtlsAuth& out, bool& ok) {
  const Field* f = fields.get("auth");
  if (!f) return;
  const auto a = reader.fields(*f->value, f->value_mark, "auth", {"mtls"}, k_mtls_example);
  if (!a) {
    ok = false;
    return;
  }
  if (const Field* m = a->get("mtls")) {
    if (auto mtls = read_mtls(*m, reader, true))
      out = *mtls;
    else
      ok = false;
  }
}

void read_bootstrap(const Fields& fields, const Reader& reader, BootstrapToken bootstrap_token,
                    std::optional<BootstrapAuth>& out, bool& ok) {
  const Field* f = fields.get("bootstrap");
  if (!f) return;
  const auto b = reader.fields(*f->value, f->value_mark, "bootstrap",
                               bootstrap_token == BootstrapToken::allowed
                                   ? std::vector<std::string>{"mtls", "token"}
                                   : std::vector<std::string>{"mtls"},
                               "bootstrap: { mtls: { cert: /etc/certrotd/bootstrap.pem, key: "
                               "/etc/certrotd/bootstrap.key } }");
  if (!b) {
    ok = false;
    return;
  }
  BootstrapAuth boot;
  if (const Field* m = b->get("mtls")) {
    if (auto mtls = read_mtls(*m, reader, false))
      boot.mtls = *mtls;
    else
      ok = false;
  }
  if (const Field* t = b->get("token")) {
    if (auto token = read_token(*t, reader))
      boot.token = *token;
    else
      ok = false;
  }
  if (boot.mtls.source == MtlsAuth::Source::none && !boot.token) {
    reader.add(f->key_mark, "bootstrap names no way to authenticate",
               "write bootstrap: { mtls: { cert: FILE, key: FILE } }");
    ok = false;
  }
  out = boot;
}

}  // namespace

std::vector<std::string> network_keys() {
  return {"url", "ca_bundle", "trust_anchors", "auth", "bootstrap", "connect_timeout", "timeout"};
}

std::optional<auth::TokenSettings> read_token(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(
      *field.value, field.value_mark, "token",
      {"url", "client_id", "method", "client_secret_file", "client_secret_credential", "scope",
       "resource", "extra_params"},
      "token: { url: https://auth.internal/oauth/token, client_id: host-42, method: "
      "tls_client_auth }");
  if (!fields) return std::nullopt;
  auth::TokenSettings token;
  bool ok = true;
  require(*fields, field, reader, ok);
  const auto string = [&](const Field& f) { return reader.string(f); };
  const auto path = [&](const Field& f) { return reader.path(f); };
  yaml::read_if_present(*fields, "url", string, token.url, ok);
  yaml::read_if_present(*fields, "client_id", string, token.client_id, ok);
  yaml::read_if_present(*fields, "scope", string, token.scope, ok);
  yaml::read_if_present(*fields, "resource", string, token.resource, ok);
  yaml::read_if_present(
      *fields, "extra_params", [&](const Field& f) { return read_extra_params(f, reader); },
      token.extra_params, ok);
  yaml::read_if_present(
      *fields, "method", [&](const Field& f) { return read_method(f, reader); }, token.method, ok);
  yaml::read_if_present(*fields, "client_secret_file", path, token.client_secret_file, ok);
  // A name under $CREDENTIALS_DIRECTORY (systemd LoadCredential=); resolved at start-up.
  yaml::read_if_present(*fields, "client_secret_credential", string, token.client_secret_credential,
                        ok);
  if (!ok || !check_token(token, field, *fields, reader)) return std::nullopt;
  return token;
}

bool read_network_options(const Fields& fields, const Field& entry, const Reader& reader,
                          std::string_view type, BootstrapToken bootstrap_token,
                          NetworkIssuerOptions& out, std::string_view url_key) {
  bool ok = true;
  require_url_and_bundle(fields, entry, reader, type, url_key, ok);
  read_url(fields, reader, url_key, out.url, ok);
  const auto path = [&](const Field& f) { return reader.path(f); };
  const auto timeout = [&](const Field& f) { return reader.duration(f, Millis(100)); };
  yaml::read_if_present(fields, "ca_bundle", path, out.ca_bundle, ok);
  yaml::read_if_present(fields, "trust_anchors", path, out.trust_anchors, ok);
  yaml::read_if_present(fields, "connect_timeout", timeout, out.connect_timeout, ok);
  yaml::read_if_present(fields, "timeout", timeout, out.timeout, ok);
  read_auth(fields, reader, out.mtls, ok);
  read_bootstrap(fields, reader, bootstrap_token, out.bootstrap, ok);
  return ok;
}

Result<NetworkDeps> network_deps(const NetworkIssuerOptions& options,
                                 const IssuerContext& context) {
  NetworkDeps deps;
  deps.transport = context.transport;
  deps.tokens = context.tokens;
  deps.clock = context.clock;
  if (!deps.transport) return fail("no HTTP transport available");
  if (options.mtls.source == MtlsAuth::Source::credential) {
    std::optional<CredentialFiles> other;
    if (context.credential) other = context.credential(options.mtls.credential);
    if (!other) {
      return fail("auth.mtls names credential '" + options.mtls.credential +
                  "', which is not defined");
    }
    deps.read_credential = [read = std::move(*other)](const std::string&) { return read(); };
  }
  deps.warn = context.warn;
  return deps;
}

Result<void> resolve_secret(std::optional<auth::TokenSettings>& token,
                            const IssuerContext& context) {
  if (!token || token->client_secret_credential.empty()) return {};
  if (!context.credentials_directory) {
    return fail("token.client_secret_credential '" + token->client_secret_credential +
                "' needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=), which is not set");
  }
  token->client_secret_file = *context.credentials_directory / token->client_secret_credential;
  return {};
}

Result<Anchors> network_anchors(const IssuerOptions& options) {
  const auto& network = options_as<NetworkIssuerOptions>(options);
  auto anchors = load_anchors(network.trust_anchors.value_or(network.ca_bundle));
  if (!anchors) return fail(anchors.error().wrap("trust_anchors"));
  return anchors;
}

}  // namespace certrotd::issuer
