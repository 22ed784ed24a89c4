#include "config/network_issuer.hpp"

#include <string>
#include <vector>

namespace certrotd::config::detail {

namespace {

std::string in_quotes_(std::string_view s) { return "'" + std::string(s) + "'"; }

constexpr std::string_view k_http_example =
    "corp-http: { type: http, url: https://pki.internal/v1/certificates, ca_bundle: "
    "/etc/certrotd/ca-bundle.pem, auth: { mtls: self } }";
constexpr std::string_view k_cfssl_example =
    "corp-cfssl: { type: cfssl, url: https://ca.internal:8888, ca_bundle: "
    "/etc/certrotd/ca-bundle.pem, auth: { mtls: self } }";
constexpr std::string_view k_mtls_example =
    "auth: { mtls: self }  (or credential:NAME, or "
    "{ cert: FILE, key: FILE })";

// `mtls: self | credential:NAME | { cert: FILE, key: FILE }`.
std::optional<issuer::MtlsAuth> read_mtls(const Field& field, const Reader& reader,
                                          bool allow_self) {
  issuer::MtlsAuth auth;
  if (field.value->is_map()) {
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
    auth.source = issuer::MtlsAuth::Source::files;
    auth.cert = *c;
    auth.key = *k;
    return auth;
  }
  const auto text = reader.string(field);
  if (!text) return std::nullopt;
  if (*text == "self" && allow_self) {
    auth.source = issuer::MtlsAuth::Source::self;
    return auth;
  }
  if (text->starts_with("credential:") && text->size() > 11 && allow_self) {
    auth.source = issuer::MtlsAuth::Source::credential;
    auth.credential = text->substr(11);
    return auth;
  }
  if (*text == "none") return auth;
  reader.add(field.value_mark, "mtls must be self, credential:NAME or { cert, key }",
             allow_self ? "write mtls: self" : "write mtls: { cert: FILE, key: FILE }");
  return std::nullopt;
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
    if (e.key == "scope" || e.key == "resource") {
      reader.add(e.key_mark, "'" + e.key + "' has its own key in token",
                 "write " + e.key + ": ... next to extra_params");
      ok = false;
    } else if (e.key == "grant_type" || e.key == "client_id" || e.key.starts_with("client_")) {
      reader.add(e.key_mark,
                 "'" + e.key +
                     "' is sent by certrotd itself (from client_id and "
                     "method)",
                 "remove it from extra_params");
      ok = false;
    } else if (auto value = reader.string(e)) {
      params.emplace_back(e.key, *value);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return params;
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
  for (const char* required : {"url", "client_id"}) {
    if (!fields->get(required)) {
      reader.add(field.key_mark, std::string("token needs ") + required,
                 std::string("write ") + required + ": ...");
      ok = false;
    }
  }
  const auto str = [&](const char* key) -> std::string {
    const Field* f = fields->get(key);
    if (!f) return {};
    auto s = reader.string(*f);
    if (!s) ok = false;
    return s.value_or("");
  };
  token.url = str("url");
  token.client_id = str("client_id");
  token.scope = str("scope");
  token.resource = str("resource");
  if (const Field* f = fields->get("extra_params")) {
    if (auto params = read_extra_params(*f, reader))
      token.extra_params = *params;
    else
      ok = false;
  }
  if (const Field* f = fields->get("method")) {
    if (auto s = reader.string(*f)) {
      if (auto m = auth::parse_method(*s)) {
        token.method = *m;
      } else {
        reader.add(f->value_mark, "unknown token method " + in_quotes_(*s),
                   "write one of tls_client_auth, self_signed_tls_client_auth, "
                   "client_secret_basic, client_secret_post");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("client_secret_file")) {
    if (auto p = reader.path(*f))
      token.client_secret_file = *p;
    else
      ok = false;
  }
  if (const Field* f = fields->get("client_secret_credential")) {
    // A name under $CREDENTIALS_DIRECTORY (systemd LoadCredential=); resolved at start-up.
    if (auto s = reader.string(*f))
      token.client_secret_credential = *s;
    else
      ok = false;
  }
  const bool has_secret = token.client_secret_file || !token.client_secret_credential.empty();
  if (ok && !auth::uses_mtls(token.method) && !has_secret) {
    reader.add(field.key_mark,
               "token method " + std::string(auth::to_string(token.method)) + " needs a secret",
               "write client_secret_file: /etc/certrotd/client-secret");
    ok = false;
  }
  if (ok && auth::uses_mtls(token.method) && has_secret) {
    reader.add(field.key_mark,
               "token method " + std::string(auth::to_string(token.method)) +
                   " authenticates with the certificate; a client secret would be a second method",
               "remove client_secret_file, or use method: client_secret_basic");
    ok = false;
  }
  if (ok && !token.url.starts_with("https://")) {
    reader.add(fields->get("url")->value_mark, "the token url must be https://",
               "write url: https://...");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return token;
}

}  // namespace

std::optional<IssuerConfig> read_network_issuer(const Field& entry, const Reader& reader,
                                                std::string_view type) {
  const bool is_http = type == "http";
  std::vector<std::string> keys{"type", "url",       "ca_bundle",       "trust_anchors",
                                "auth", "bootstrap", "connect_timeout", "timeout"};
  keys.emplace_back("max_concurrent");  // any issuer's; read by the loader's read_issuer()
  if (is_http) {
    for (const char* k : {"token", "request", "response"}) keys.emplace_back(k);
  } else {
    for (const char* k : {"profile", "label", "auth_key_file"}) keys.emplace_back(k);
  }
  const std::string where = "issuer " + in_quotes_(entry.key);
  const auto fields = reader.fields(*entry.value, entry.value_mark, where, keys,
                                    is_http ? k_http_example : k_cfssl_example);
  if (!fields) return std::nullopt;
  bool ok = true;
  issuer::NetworkIssuerOptions net;
  for (const char* required : {"url", "ca_bundle"}) {
    if (!fields->get(required)) {
      reader.add(entry.key_mark, where + " of type " + std::string(type) + " needs " + required,
                 std::string("write ") + required +
                     (std::string_view(required) == "url" ? ": https://..."
                                                          : ": /etc/certrotd/ca-bundle.pem"));
      ok = false;
    }
  }
  if (const Field* f = fields->get("url")) {
    if (auto s = reader.string(*f)) {
      net.url = *s;
      if (!net.url.starts_with("https://")) {
        reader.add(f->value_mark, "the issuer url must be https://",
                   "write url: https://...; certrotd never sends credentials in clear text");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("ca_bundle")) {
    if (auto p = reader.path(*f))
      net.ca_bundle = *p;
    else
      ok = false;
  }
  if (const Field* f = fields->get("trust_anchors")) {
    if (auto p = reader.path(*f))
      net.trust_anchors = *p;
    else
      ok = false;
  }
  if (const Field* f = fields->get("connect_timeout")) {
    if (auto d = reader.duration(*f, Millis(100)))
      net.connect_timeout = *d;
    else
      ok = false;
  }
  if (const Field* f = fields->get("timeout")) {
    if (auto d = reader.duration(*f, Millis(100)))
      net.timeout = *d;
    else
      ok = false;
  }
  if (const Field* f = fields->get("auth")) {
    if (const auto a = reader.fields(*f->value, f->value_mark, "auth", {"mtls"}, k_mtls_example)) {
      if (const Field* m = a->get("mtls")) {
        if (auto mtls = read_mtls(*m, reader, true))
          net.mtls = *mtls;
        else
          ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("bootstrap")) {
    const auto b = reader.fields(
        *f->value, f->value_mark, "bootstrap",
        is_http ? std::vector<std::string>{"mtls", "token"} : std::vector<std::string>{"mtls"},
        "bootstrap: { mtls: { cert: /etc/certrotd/bootstrap.pem, key: "
        "/etc/certrotd/bootstrap.key } }");
    if (b) {
      issuer::BootstrapAuth boot;
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
      if (boot.mtls.source == issuer::MtlsAuth::Source::none && !boot.token) {
        reader.add(f->key_mark, "bootstrap names no way to authenticate",
                   "write bootstrap: { mtls: { cert: FILE, key: FILE } }");
        ok = false;
      }
      net.bootstrap = boot;
    } else {
      ok = false;
    }
  }

  if (!is_http) {
    issuer::CfsslIssuerOptions options;
    static_cast<issuer::NetworkIssuerOptions&>(options) = net;
    if (const Field* f = fields->get("profile")) {
      if (auto s = reader.string(*f))
        options.profile = *s;
      else
        ok = false;
    }
    if (const Field* f = fields->get("label")) {
      if (auto s = reader.string(*f))
        options.label = *s;
      else
        ok = false;
    }
    if (const Field* f = fields->get("auth_key_file")) {
      if (auto p = reader.path(*f))
        options.auth_key_file = *p;
      else
        ok = false;
    }
    if (!ok) return std::nullopt;
    return IssuerConfig{entry.key, "cfssl", options, entry.key_mark};
  }

  issuer::HttpIssuerOptions options;
  static_cast<issuer::NetworkIssuerOptions&>(options) = net;
  if (const Field* f = fields->get("token")) {
    if (auto token = read_token(*f, reader))
      options.token = *token;
    else
      ok = false;
  }
  if (const Field* f = fields->get("request")) {
    if (const auto r = reader.fields(*f->value, f->value_mark, "request",
                                     {"csr_field", "server_generated_key"},
                                     "request: { csr_field: csr }")) {
      if (const Field* c = r->get("csr_field")) {
        if (auto s = reader.string(*c))
          options.csr_field = *s;
        else
          ok = false;
      }
      if (const Field* k = r->get("server_generated_key")) {
        auto s = reader.string(*k);
        if (s && (*s == "true" || *s == "false")) {
          options.server_generated_key = *s == "true";
        } else {
          reader.add(k->value_mark, "server_generated_key must be true or false",
                     "write server_generated_key: true");
          ok = false;
        }
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("response")) {
    if (const auto r = reader.fields(*f->value, f->value_mark, "response",
                                     {"certificate", "chain", "key"},
                                     "response: { certificate: /certificate, chain: /chain }")) {
      const auto pointer = [&](const char* key, std::string& out) {
        const Field* p = r->get(key);
        if (!p) return;
        auto s = reader.string(*p);
        if (!s || (!s->empty() && s->front() != '/')) {
          reader.add(p->value_mark, std::string(key) + " must be a JSON pointer",
                     std::string("write ") + key + ": /" + key);
          ok = false;
          return;
        }
        out = *s;
      };
      pointer("certificate", options.certificate_pointer);
      pointer("chain", options.chain_pointer);
      pointer("key", options.key_pointer);
    } else {
      ok = false;
    }
  }
  const bool mtls_token = options.token && auth::uses_mtls(options.token->method);
  if (ok && mtls_token && options.mtls.source == issuer::MtlsAuth::Source::none) {
    reader.add(entry.key_mark,
               where + ": token method " + std::string(auth::to_string(options.token->method)) +
                   " needs a client certificate",
               "write auth: { mtls: self }");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return IssuerConfig{entry.key, "http", options, entry.key_mark};
}

}  // namespace certrotd::config::detail
