// Certificates and private keys: load, save, inspect, generate, match.
//
// Input is lenient (PEM with CRLF, whitespace inside base64, one-line PEM with literal "\n"
// escapes as found in JSON and SAP service keys; keys as PKCS#8, encrypted PKCS#8, PKCS#1 or
// SEC1). Output is strict: PEM with LF, keys always PKCS#8 (encrypted with AES-256-CBC and a
// PBKDF2/scrypt KDF when a passphrase is given).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"
#include "x509/handles.hpp"
#include "x509/types.hpp"

namespace certrotd::x509 {

// Turns one-line PEM ("-----BEGIN ...-----\nMIIB...\n-----END ...-----" with a literal backslash-n)
// and CRLF into ordinary LF PEM. Leaves normal PEM unchanged.
std::string normalize_pem(std::string_view text);

class Certificate {
public:
  explicit Certificate(X509Ptr cert);     // takes ownership; cert must not be null
  Certificate(const Certificate& other);  // shares the X509 (reference count)
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;

  X509* get() const { return m_cert.get(); }
  const CertInfo& info() const { return m_info; }
  std::string to_pem() const;
  std::string to_der() const;

  // Same DER encoding.
  bool same_as(const Certificate& other) const;

private:
  X509Ptr m_cert;
  CertInfo m_info;
};

// All certificates in a PEM text, in order. Error if there is none or one is malformed.
Result<std::vector<Certificate>> parse_certificates(std::string_view pem);
// Exactly the first certificate of a PEM text.
Result<Certificate> parse_certificate(std::string_view pem);
std::string to_pem(const std::vector<Certificate>& certs);

class PrivateKey {
public:
  explicit PrivateKey(EvpPkeyPtr key);  // takes ownership; key must not be null
  PrivateKey(const PrivateKey& other);  // shares the EVP_PKEY (reference count)
  PrivateKey& operator=(const PrivateKey& other);
  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;

  EVP_PKEY* get() const { return m_key.get(); }
  KeySpec spec() const;

  // PKCS#8 PEM; encrypted ("BEGIN ENCRYPTED PRIVATE KEY") when a passphrase is given.
  Result<std::string> to_pkcs8_pem(std::optional<std::string_view> passphrase = {}) const;
  // SubjectPublicKeyInfo PEM.
  std::string public_key_pem() const;

private:
  EvpPkeyPtr m_key;
};

// Accepts PKCS#8 (plain or encrypted), PKCS#1 RSA and SEC1 EC keys. An encrypted key without a
// passphrase, or with a wrong one, is an error that says so (never a prompt on the terminal).
Result<PrivateKey> parse_private_key(std::string_view pem,
                                     std::optional<std::string_view> passphrase = {});

// EC P-256/P-384, RSA 2048/3072/4096, Ed25519. Anything else is an error.
Result<PrivateKey> generate_key(const KeySpec& spec);

// The private key belongs to the certificate's public key.
bool key_matches(const PrivateKey& key, const Certificate& cert);

// SHA-256 over the DER certificate, base64url without padding: the RFC 8705 `x5t#S256` value.
std::string x5t_s256(const Certificate& cert);

}  // namespace certrotd::x509
