// Bearer tokens for network issuers, independent of where they come from.
//
// An issuer asks a `TokenSource` for a token for one request: which token (a `TokenGrant`: the
// issuer's configuration of how to obtain it, e.g. an OAuth2 client_credentials grant, later a
// Vault cert login or a token file) and who asks (the TLS client identity). The source may
// cache; when the resource server refuses the token, the issuer says so with `invalidate`, and
// the next `token` call obtains a new one.
//
// Error contract (util/result.hpp), kept by every source and grant:
//   - Reason::network / tls_server / tls_client_rejected / http_status / rate_limited /
//     invalid_answer / io / config, set by the innermost layer that knows it;
//   - retryable for transient trouble (network, timeouts, 5xx, 429), permanent when the same
//     request would fail the same way (the token service refused who we are, a bad answer, a
//     missing secret file);
//   - `retry_after` from the token service's Retry-After, already clamped.
// Tokens and secrets are never logged and never part of an error message.
#pragma once

#include <optional>
#include <string>

#include "http/transport.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::auth {

struct BearerToken {
  std::string value;  // never logged
  // When the token stops working (from expires_in, a lease duration, a JWT `exp`, ...).
  SystemTime expires_at;
  // The RFC 8705 §3.1 confirmation claim (x5t#S256 of the certificate the token is bound to),
  // when the token is a JWT that carries one.
  std::optional<std::string> cnf_x5t_s256;
};

class TokenGrant;

// One question to a TokenSource. A view: everything it names outlives the call.
struct TokenRequest {
  const TokenGrant& grant;
  // The TLS client identity of the requests the token goes with; a grant that authenticates
  // with a certificate uses it, and a bound token must be bound to it.
  const std::optional<http::ClientIdentity>& identity;
  // Verifies the token service's TLS certificate (empty when the grant needs no network).
  const std::string& ca_bundle_pem;
};

// How to obtain a token from one place: the grant knows the protocol, a TokenSource decides
// when to ask.
class TokenGrant {
public:
  virtual ~TokenGrant() = default;
  // Equal keys mean interchangeable tokens (for the same identity): the key covers everything
  // that makes another token (service URL, client, audience, scope, ...), never a secret.
  virtual std::string cache_key() const = 0;
  // The URL or file the token comes from, for messages (no query string, no secret).
  virtual std::string where() const = 0;
  // Obtains a new token now. Errors keep the contract above.
  virtual Result<BearerToken> obtain(http::Transport& transport, const Clock& clock,
                                     const TokenRequest& request) const = 0;
};

class TokenSource {
public:
  virtual ~TokenSource() = default;
  // A token that stays valid for a while (a cached one, or a new one). A token bound (cnf) to
  // another certificate than `request.identity` is refused (permanent, invalid-answer).
  virtual Result<BearerToken> token(const TokenRequest& request) = 0;
  // The resource server refused the token `token(request)` returned (HTTP 401; Vault answers
  // 403): the next call obtains a new one instead of repeating it.
  virtual void invalidate(const TokenRequest& request) = 0;
  // Drops every token obtained with this client identity (after the certificate rotated:
  // RFC 8705 §6.3, a bound token dies with its certificate).
  virtual void forget_identity(const std::string& identity_id) = 0;
};

}  // namespace certrotd::auth
