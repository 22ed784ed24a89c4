// `type: http`: a token from an OAuth2 endpoint (optional), then the CSR POSTed as JSON with the
// Bearer token over mTLS; the answer is a PEM chain or JSON read through pointers.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "auth/token_client.hpp"
#include "issuer/network/network.hpp"
#include "issuer/registry.hpp"

namespace certrotd::issuer {

struct HttpIssuerOptions : NetworkIssuerOptions {
  std::optional<auth::TokenSettings> token;  // unset: no Authorization header
  std::string csr_field = "csr";
  bool server_generated_key = false;  // send names instead of a CSR; read the key back
  std::string certificate_pointer = "/certificate";
  std::string chain_pointer = "/chain";  // optional in the answer
  std::string key_pointer = "/key";

  bool generates_keys() const override { return server_generated_key; }
};

class HttpIssuer final : public NetworkIssuer {
public:
  static Result<std::unique_ptr<HttpIssuer>> create(HttpIssuerOptions options, NetworkDeps deps);
  std::string_view type() const override { return "http"; }
  bool generates_keys() const override { return m_http.server_generated_key; }
  Result<IssuedCredential> issue(const IssueRequest& request) override;

private:
  HttpIssuer(HttpIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem);
  HttpIssuerOptions m_http;
};

// Parses an issuance answer: an application/pem-certificate-chain body as is, or JSON read through
// the pointers (certificate may itself hold the chain; chain may be a string or an array of
// strings; one-line PEM with literal "\n" is accepted). `want_key`: read the key pointer too.
Result<IssuedCredential> parse_issue_response(const http::Response& response,
                                              const HttpIssuerOptions& options, bool want_key);

// The registry entry (http_type.cpp).
IssuerType http_issuer_type();

}  // namespace certrotd::issuer
