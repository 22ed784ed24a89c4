// OAuth 2.0 client_credentials (RFC 6749 §4.4) as a TokenGrant, with the four client
// authentication methods certrotd supports (protocols.md §1.1):
//   tls_client_auth, self_signed_tls_client_auth  — RFC 8705: the TLS client certificate proves
//                                                    the client; no secret is sent;
//   client_secret_basic, client_secret_post       — RFC 6749 §2.3.1: a secret read from a file
//                                                    at use time.
// TokenClient is the TokenSource that caches the tokens of any grant per (grant, client identity),
// shared by every credential that uses that identity; a cached token is refreshed before it
// expires. Tokens and secrets are never logged and never part of an error message.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/token_source.hpp"
#include "http/transport.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::auth {

enum class ClientAuthMethod {
  tls_client_auth,
  self_signed_tls_client_auth,
  client_secret_basic,
  client_secret_post,
};

std::string_view to_string(ClientAuthMethod method);
std::optional<ClientAuthMethod> parse_method(std::string_view name);
bool uses_mtls(ClientAuthMethod method);

struct TokenSettings {
  std::string url;  // the token endpoint (for mTLS methods: the mTLS alias, RFC 8705 §5)
  std::string client_id;
  ClientAuthMethod method = ClientAuthMethod::tls_client_auth;
  std::optional<std::filesystem::path> client_secret_file;  // secret methods only
  // A name under $CREDENTIALS_DIRECTORY (systemd LoadCredential=), turned into
  // client_secret_file by whoever knows that directory; lib/ does not read the environment.
  std::string client_secret_credential;
  std::string scope;     // space-separated; empty: none sent
  std::string resource;  // RFC 8707 resource indicator; empty: none sent
  // More form fields, in this order (`audience`, a tenant, ...); never the ones above.
  std::vector<std::pair<std::string, std::string>> extra_params;
};

// The client_credentials grant for one `token:` section.
class ClientCredentialsGrant final : public TokenGrant {
public:
  explicit ClientCredentialsGrant(TokenSettings settings) : m_settings(std::move(settings)) {}

  std::string cache_key() const override;
  std::string where() const override;
  // POSTs the token request. `request.identity` is required for the mTLS methods and also sent
  // with the secret methods when given (so the token may be bound to it); `ca_bundle_pem`
  // verifies the token endpoint.
  //
  // Errors: HTTP 400/401 (invalid_client, invalid_scope, ...) are permanent and summarise the
  // server's error (invalid_client: tls-client-rejected); 5xx, 429 and network trouble are
  // retryable; an answer without a Bearer access_token is invalid-answer.
  Result<BearerToken> obtain(http::Transport& transport, const Clock& clock,
                             const TokenRequest& request) const override;

private:
  Result<http::Request> token_request(const TokenRequest& request) const;
  Result<BearerToken> parse_answer(const http::Response& response, SystemTime sent_at) const;
  TokenSettings m_settings;
};

class TokenClient final : public TokenSource {
public:
  TokenClient(http::Transport& transport, const Clock& clock);

  // From the cache while the token has more than its refresh margin left, otherwise obtained
  // from the grant (whose errors are returned as they are).
  Result<BearerToken> token(const TokenRequest& request) override;
  void invalidate(const TokenRequest& request) override;
  void forget_identity(const std::string& identity_id) override;

  // The OAuth2 client_credentials token for these settings (a ClientCredentialsGrant).
  Result<BearerToken> token(const TokenSettings& settings, const std::string& ca_bundle_pem,
                            const std::optional<http::ClientIdentity>& mtls);

  // Seconds before expiry at which a cached token is refreshed: at least 60 s and 10 % of its
  // lifetime, but never more than half of it (protocols.md §1.2).
  static Millis refresh_margin(Millis lifetime);

private:
  struct Cached {
    BearerToken token;
    std::string identity_id;
    SystemTime refresh_at;
  };
  http::Transport& m_transport;
  const Clock& m_clock;
  std::mutex m_mutex;
  std::map<std::string, Cached> m_cache;
};

// The claims of a JWT (no signature check: the client only reads `cnf` and `exp`); nullopt if
// the token is not a JWT.
std::optional<std::string> jwt_payload(std::string_view token);

}  // namespace certrotd::auth
