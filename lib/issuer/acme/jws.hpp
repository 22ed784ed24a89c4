// The ACME account key and the JSON Web Signatures made with it (RFC 8555 §6.2, RFC 7515).
//
// Requests are flattened JWS JSON: {"protected", "payload", "signature"}, each base64url. ES256
// signatures are the 64 bytes r||s (RFC 7518 §3.4), not the DER that OpenSSL produces; RS256 is
// PKCS#1 v1.5 with SHA-256. The JWK thumbprint (RFC 7638) is over the required members in
// lexicographic order with no white space, and names the account in key authorizations.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.hpp"
#include "x509/certificate.hpp"

namespace certrotd::issuer::acme {

enum class AccountKeyType { es256, rs256 };

// "ES256" / "RS256", as `account_key:` and the JWS `alg` write them.
std::string_view to_string(AccountKeyType type);

class AccountKey {
public:
  // ES256: EC P-256; RS256: RSA 2048.
  static Result<AccountKey> generate(AccountKeyType type);
  // A PEM private key of either kind (the kind follows from the key).
  static Result<AccountKey> from_pem(std::string_view pem);

  AccountKeyType type() const { return m_type; }
  std::string_view alg() const { return to_string(m_type); }
  const x509::PrivateKey& key() const { return m_key; }
  // The public JWK: {"crv","kty","x","y"} or {"e","kty","n"}.
  const nlohmann::json& jwk() const { return m_jwk; }
  // base64url(SHA-256(canonical JWK)), RFC 7638.
  const std::string& thumbprint() const { return m_thumbprint; }
  // The signature bytes over `input` (r||s for ES256).
  Result<std::string> sign(std::string_view input) const;

private:
  AccountKey(AccountKeyType type, x509::PrivateKey key, nlohmann::json jwk);
  AccountKeyType m_type;
  x509::PrivateKey m_key;
  nlohmann::json m_jwk;
  std::string m_thumbprint;
};

// The flattened JWS of `payload` (already serialised; "" for POST-as-GET) with the protected
// header `protected_header` (alg, nonce, url, and jwk or kid: the caller's choice).
Result<std::string> sign_jws(const AccountKey& key, const nlohmann::json& protected_header,
                             std::string_view payload);

// The externalAccountBinding object of RFC 8555 §7.3.4: an HS256 JWS over the account's JWK
// with {alg, kid, url} and no nonce. `hmac_key` is the decoded MAC key (never logged).
Result<nlohmann::json> external_account_binding(const AccountKey& key, std::string_view eab_kid,
                                                std::string_view hmac_key,
                                                std::string_view new_account_url);

// token "." thumbprint (RFC 8555 §8.1).
std::string key_authorization(std::string_view token, const AccountKey& key);
// base64url(SHA-256(key authorization)): dns-01's TXT value (§8.4).
std::string dns_txt_value(std::string_view key_authorization);

}  // namespace certrotd::issuer::acme
