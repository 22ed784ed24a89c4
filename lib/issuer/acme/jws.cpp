#include "issuer/acme/jws.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "util/encoding.hpp"
#include "x509/handles.hpp"
#include "x509/openssl_util.hpp"

namespace certrotd::issuer::acme {

namespace {

using x509::detail::fail_openssl;

// ES256 coordinates and signature halves are 32 bytes each, left-padded (RFC 7518 §3.4, §6.2.1).
constexpr int k_p256_bytes = 32;

Result<std::string> bn_param(const EVP_PKEY* key, const char* name, int pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return fail_openssl("reading the account key");
  const x509::BignumPtr bn(raw);  // ours now
  const int size = pad_to > 0 ? pad_to : BN_num_bytes(bn.get());
  std::string out(static_cast<std::size_t>(size), '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), size) != size) {
    return fail_openssl("encoding the account key");
  }
  return out;
}

Result<nlohmann::json> public_jwk(AccountKeyType type, const EVP_PKEY* key) {
  if (type == AccountKeyType::es256) {
    auto x = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, k_p256_bytes);
    auto y = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, k_p256_bytes);
    if (!x || !y) return fail(x ? y.error() : x.error());
    return nlohmann::json{
        {"crv", "P-256"}, {"kty", "EC"}, {"x", base64url_encode(*x)}, {"y", base64url_encode(*y)}};
  }
  auto n = bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0);
  auto e = bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0);
  if (!n || !e) return fail(n ? e.error() : n.error());
  return nlohmann::json{{"e", base64url_encode(*e)}, {"kty", "RSA"}, {"n", base64url_encode(*n)}};
}

std::string sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

// DER ECDSA-Sig-Value -> r||s.
Result<std::string> der_to_raw(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const x509::EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return fail_openssl("decoding the ES256 signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(2 * k_p256_bytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, bytes, k_p256_bytes) != k_p256_bytes ||
      BN_bn2binpad(s, bytes + k_p256_bytes, k_p256_bytes) != k_p256_bytes) {
    return fail_openssl("encoding the ES256 signature");
  }
  return out;
}

}  // namespace

std::string_view to_string(AccountKeyType type) {
  return type == AccountKeyType::es256 ? "ES256" : "RS256";
}

AccountKey::AccountKey(AccountKeyType type, x509::PrivateKey key, nlohmann::json jwk)
    : m_type(type), m_key(std::move(key)), m_jwk(std::move(jwk)) {
  // RFC 7638 §3: the required members, sorted (nlohmann's object keeps keys sorted), compact.
  m_thumbprint = base64url_encode(sha256(m_jwk.dump()));
}

Result<AccountKey> AccountKey::generate(AccountKeyType type) {
  x509::KeySpec spec;
  if (type == AccountKeyType::rs256) {
    spec.type = x509::KeyType::rsa;
    spec.rsa_bits = 2048;
  }
  auto key = x509::generate_key(spec);
  if (!key) return fail(key.error().wrap("generating the ACME account key"));
  auto pem = key->to_pkcs8_pem();
  if (!pem) return fail(pem.error());
  return from_pem(*pem);
}

Result<AccountKey> AccountKey::from_pem(std::string_view pem) {
  auto key = x509::parse_private_key(pem);
  if (!key) return fail(key.error().wrap("the ACME account key"));
  const x509::KeySpec spec = key->spec();
  AccountKeyType type;
  if (spec.type == x509::KeyType::ec && spec.curve == "P-256") {
    type = AccountKeyType::es256;
  } else if (spec.type == x509::KeyType::rsa) {
    type = AccountKeyType::rs256;
  } else {
    return fail("the ACME account key is " + x509::to_string(spec) +
                "; certrotd signs with EC P-256 (ES256) or RSA (RS256)");
  }
  auto jwk = public_jwk(type, key->get());
  if (!jwk) return fail(jwk.error());
  return AccountKey(type, std::move(*key), std::move(*jwk));
}

Result<std::string> AccountKey::sign(std::string_view input) const {
  const x509::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, m_key.get()) != 1) {
    return fail_openssl("signing an ACME request");
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &size, data, input.size()) != 1) {
    return fail_openssl("signing an ACME request");
  }
  std::string sig(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &size, data,
                     input.size()) != 1) {
    return fail_openssl("signing an ACME request");
  }
  sig.resize(size);
  if (m_type == AccountKeyType::es256) return der_to_raw(sig);
  return sig;
}

Result<std::string> sign_jws(const AccountKey& key, const nlohmann::json& protected_header,
                             std::string_view payload) {
  const std::string header = base64url_encode(protected_header.dump());
  const std::string body = base64url_encode(payload);
  auto signature = key.sign(header + "." + body);
  if (!signature) return fail(signature.error());
  return nlohmann::json{
      {"protected", header}, {"payload", body}, {"signature", base64url_encode(*signature)}}
      .dump();
}

Result<nlohmann::json> external_account_binding(const AccountKey& key, std::string_view eab_kid,
                                                std::string_view hmac_key,
                                                std::string_view new_account_url) {
  const nlohmann::json header{
      {"alg", "HS256"}, {"kid", std::string(eab_kid)}, {"url", std::string(new_account_url)}};
  const std::string protected_b64 = base64url_encode(header.dump());
  const std::string payload_b64 = base64url_encode(key.jwk().dump());
  const std::string input = protected_b64 + "." + payload_b64;
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, hmac_key.data(), hmac_key.size(),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
                &mac_len) == nullptr) {
    return fail_openssl("HMAC-SHA256 for the external account binding");
  }
  return nlohmann::json{{"protected", protected_b64},
                        {"payload", payload_b64},
                        {"signature", base64url_encode(std::string_view(
                                          reinterpret_cast<const char*>(mac), mac_len))}};
}

std::string key_authorization(std::string_view token, const AccountKey& key) {
  return std::string(token) + "." + key.thumbprint();
}

std::string dns_txt_value(std::string_view key_authorization) {
  return base64url_encode(sha256(key_authorization));
}

}  // namespace certrotd::issuer::acme
