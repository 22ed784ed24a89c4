// `type: http` in the configuration: its keys, its factory and its roots.
#include "issuer/http/http_issuer.hpp"
#include "issuer/network/network_options.hpp"

namespace certrotd::issuer {

namespace {

using yaml::Field;
using yaml::Fields;
using yaml::Reader;

constexpr std::string_view k_http_example =
    "corp-http: { type: http, url: https://pki.internal/v1/certificates, ca_bundle: "
    "/etc/certrotd/ca-bundle.pem, auth: { mtls: self } }";

std::vector<std::string> http_keys() {
  std::vector<std::string> keys = network_keys();
  for (const char* k : {"token", "request", "response"}) keys.emplace_back(k);
  return keys;
}

// `request: { csr_field: csr, server_generated_key: false }`.
void read_request(const Fields& fields, const Reader& reader, HttpIssuerOptions& options,
                  bool& ok) {
  const Field* f = fields.get("request");
  if (!f) return;
  const auto r = reader.fields(*f->value, f->value_mark, "request",
                               {"csr_field", "server_generated_key"},
                               "request: { csr_field: csr }");
  if (!r) {
    ok = false;
    return;
  }
  yaml::read_if_present(
      *r, "csr_field", [&](const Field& c) { return reader.string(c); }, options.csr_field, ok);
  yaml::read_if_present(
      *r, "server_generated_key", [&](const Field& k) { return reader.boolean(k); },
      options.server_generated_key, ok);
}

std::optional<std::string> read_pointer(const Field& field, const Reader& reader) {
  auto s = reader.string(field);
  if (!s || (!s->empty() && s->front() != '/')) {
    reader.add(field.value_mark, field.key + " must be a JSON pointer",
               "write " + field.key + ": /" + field.key);
    return std::nullopt;
  }
  return s;
}

// `response: { certificate: /certificate, chain: /chain, key: /key }`: JSON pointers.
void read_response(const Fields& fields, const Reader& reader, HttpIssuerOptions& options,
                   bool& ok) {
  const Field* f = fields.get("response");
  if (!f) return;
  const auto r = reader.fields(*f->value, f->value_mark, "response",
                               {"certificate", "chain", "key"},
                               "response: { certificate: /certificate, chain: /chain }");
  if (!r) {
    ok = false;
    return;
  }
  const auto pointer = [&](const Field& p) { return read_pointer(p, reader); };
  yaml::read_if_present(*r, "certificate", pointer, options.certificate_pointer, ok);
  yaml::read_if_present(*r, "chain", pointer, options.chain_pointer, ok);
  yaml::read_if_present(*r, "key", pointer, options.key_pointer, ok);
}

std::shared_ptr<const IssuerOptions> read_http(const Field& entry, const Reader& reader) {
  const auto fields = issuer_fields(entry, reader, http_keys(), k_http_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<HttpIssuerOptions>();
  bool ok = read_network_options(*fields, entry, reader, "http", BootstrapToken::allowed, *options);
  yaml::read_if_present(
      *fields, "token", [&](const Field& f) { return read_token(f, reader); }, options->token, ok);
  read_request(*fields, reader, *options, ok);
  read_response(*fields, reader, *options, ok);
  const bool mtls_token = options->token && auth::uses_mtls(options->token->method);
  if (ok && mtls_token && options->mtls.source == MtlsAuth::Source::none) {
    reader.add(entry.key_mark,
               "issuer " + in_quotes(entry.key) + ": token method " +
                   std::string(auth::to_string(options->token->method)) +
                   " needs a client certificate",
               "write auth: { mtls: self }");
    ok = false;
  }
  if (!ok) return nullptr;
  return options;
}

Result<std::shared_ptr<Issuer>> create_http(const IssuerOptions& options,
                                            const IssuerContext& context) {
  HttpIssuerOptions http = options_as<HttpIssuerOptions>(options);
  if (auto r = resolve_secret(http.token, context); !r) return fail(r.error());
  if (http.bootstrap) {
    if (auto r = resolve_secret(http.bootstrap->token, context); !r) return fail(r.error());
  }
  auto deps = network_deps(http, context);
  if (!deps) return fail(deps.error());
  auto issuer = HttpIssuer::create(std::move(http), std::move(*deps));
  if (!issuer) return fail(issuer.error());
  return std::shared_ptr<Issuer>(std::move(*issuer));
}

}  // namespace

IssuerType http_issuer_type() {
  return IssuerType{"http", true, read_http, create_http, network_anchors, {}};
}

}  // namespace certrotd::issuer
