#include <nlohmann/json.hpp>

#include "issuer/http/http_issuer.hpp"
#include "util/files.hpp"

namespace certrotd::issuer {

namespace {

Result<std::vector<x509::Certificate>> certs_from(std::string_view text, const std::string& what) {
  auto certs = x509::parse_certificates(x509::normalize_pem(text));
  if (!certs) return fail(certs.error().wrap("malformed response: " + what));
  return certs;
}

nlohmann::json names_body(const IssueRequest& request) {
  nlohmann::json sans = nlohmann::json::array();
  for (const auto& san : request.request.sans) sans.push_back(x509::to_string(san));
  return {{"common_name", request.request.subject.common_name},
          {"sans", sans},
          {"key_type", x509::to_string(request.key)}};
}

}  // namespace

Result<IssuedCredential> parse_issue_response(const http::Response& response,
                                              const HttpIssuerOptions& options, bool want_key) {
  IssuedCredential issued;
  if (response.media_type() == "application/pem-certificate-chain") {
    auto chain = certs_from(response.body, "the PEM certificate chain");
    if (!chain) return fail(chain.error());
    if (want_key) return fail("malformed response: a PEM chain carries no server-generated key");
    issued.chain = std::move(*chain);
    return issued;
  }
  const auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (json.is_discarded()) {
    return fail("malformed response: not JSON (" +
                http::summarize_body(response.body, response.media_type()) + ")");
  }
  const auto at = [&](const std::string& pointer) -> const nlohmann::json* {
    try {
      const nlohmann::json::json_pointer p(pointer);
      return json.contains(p) ? &json.at(p) : nullptr;
    } catch (const nlohmann::json::exception&) {
      return nullptr;
    }
  };
  const nlohmann::json* cert = at(options.certificate_pointer);
  if (cert == nullptr || !cert->is_string()) {
    return fail("malformed response: no certificate string at " + options.certificate_pointer);
  }
  auto chain = certs_from(cert->get<std::string>(), options.certificate_pointer);
  if (!chain) return fail(chain.error());
  issued.chain = std::move(*chain);
  if (const nlohmann::json* extra = at(options.chain_pointer); extra && !extra->is_null()) {
    std::vector<std::string> parts;
    if (extra->is_string()) {
      parts.push_back(extra->get<std::string>());
    } else if (extra->is_array()) {
      for (const auto& item : *extra) {
        if (!item.is_string())
          return fail("malformed response: " + options.chain_pointer + " holds a non-string");
        parts.push_back(item.get<std::string>());
      }
    } else {
      return fail("malformed response: " + options.chain_pointer + " is not PEM");
    }
    for (const auto& part : parts) {
      if (part.empty()) continue;
      auto more = certs_from(part, options.chain_pointer);
      if (!more) return fail(more.error());
      for (auto& c : *more) {
        // A chain that repeats the leaf (or an intermediate) is common; keep each once.
        bool seen = false;
        for (const auto& have : issued.chain) seen = seen || have.same_as(c);
        if (!seen) issued.chain.push_back(std::move(c));
      }
    }
  }
  if (want_key) {
    const nlohmann::json* key = at(options.key_pointer);
    if (key == nullptr || !key->is_string()) {
      return fail("malformed response: no key string at " + options.key_pointer);
    }
    auto parsed = x509::parse_private_key(x509::normalize_pem(key->get<std::string>()));
    if (!parsed) return fail(parsed.error().wrap("malformed response: key"));
    issued.key = std::move(*parsed);
  }
  return issued;
}

HttpIssuer::HttpIssuer(HttpIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem)
    : NetworkIssuer(options, std::move(deps), std::move(ca_bundle_pem)),
      m_http(std::move(options)) {}

Result<std::unique_ptr<HttpIssuer>> HttpIssuer::create(HttpIssuerOptions options,
                                                       NetworkDeps deps) {
  auto bundle = read_file(options.ca_bundle);
  if (!bundle) return fail(bundle.error().wrap("ca_bundle"));
  if (auto certs = x509::parse_certificates(*bundle); !certs) {
    return fail(certs.error().wrap("ca_bundle " + options.ca_bundle.string()));
  }
  if (!deps.transport || deps.clock == nullptr) return fail("the http issuer needs a transport");
  return std::unique_ptr<HttpIssuer>(
      new HttpIssuer(std::move(options), std::move(deps), std::move(*bundle)));
}

Result<IssuedCredential> HttpIssuer::issue(const IssueRequest& request) {
  const bool mtls_token = m_http.token && auth::uses_mtls(m_http.token->method);
  auto identity = identity_for(request, mtls_token);
  if (!identity) return fail(identity.error());

  http::Request post = base_request(m_http.url);
  post.method = http::Method::post;
  post.tls.client = identity->client;
  post.headers = {{"Content-Type", "application/json"},
                  {"Accept", "application/json, application/pem-certificate-chain"}};

  std::optional<auth::TokenSettings> token_settings = m_http.token;
  if (identity->bootstrap && m_options.bootstrap && m_options.bootstrap->token) {
    token_settings = m_options.bootstrap->token;
  }
  std::optional<auth::ClientCredentialsGrant> grant;
  if (token_settings) {
    if (!m_deps.tokens) return fail("the http issuer has no token client");
    grant.emplace(*token_settings);
    auto token = m_deps.tokens->token(
        auth::TokenRequest{*grant, identity->client, m_ca_bundle_pem});
    if (!token) return fail(token.error());
    // RFC 8705 §3: a bound token only works over a connection with the same certificate. The
    // token client refuses a token bound to another one than `identity->client`, and the
    // issuance request below uses exactly that identity.
    post.headers.emplace_back("Authorization", "Bearer " + token->value);
  }

  nlohmann::json body;
  if (m_http.server_generated_key) {
    body = names_body(request);
  } else {
    if (!request.csr_pem) return fail("no CSR to send");
    body = nlohmann::json::object();
    nlohmann::json::json_pointer field("/" + m_http.csr_field);
    body[field] = *request.csr_pem;
  }
  post.body = body.dump();

  auto response = m_deps.transport->perform(post);
  if (!response) {
    return fail(transport_error(http::naming_presented(response.error(), post.tls.client),
                                "issuance request"));
  }
  auto ok = http::expect_success(std::move(*response), m_http.url, m_deps.clock->wall_now());
  if (!ok) {
    // RFC 6750 §3.1: 401 is the resource server refusing the token; the next attempt asks for
    // a new one instead of presenting it again.
    if (grant && ok.error().status == 401) {
      m_deps.tokens->invalidate(auth::TokenRequest{*grant, identity->client, m_ca_bundle_pem});
    }
    return fail(
        transport_error(http::naming_presented(ok.error(), post.tls.client), "issuance request"));
  }
  auto issued = parse_issue_response(*ok, m_http, m_http.server_generated_key);
  if (!issued) {
    Error e = issued.error().because(Reason::invalid_answer);
    e.context = http::redact_url(m_http.url);
    return fail(std::move(e));
  }
  return issued;
}

}  // namespace certrotd::issuer
