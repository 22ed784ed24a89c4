// Issuing certificates: what the local CA and `certrotd ca init` are built on.
#pragma once

#include <optional>

#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"

namespace certrotd::x509 {

struct SignOptions {
  // The key being certified (public part).
  EVP_PKEY* subject_public_key = nullptr;
  CertificateRequest request;
  SystemTime not_before;
  SystemTime not_after;
  bool is_ca = false;
  std::optional<int> path_len;  // CA only
  // The signer. Both unset means self-signed with `self_key` (root CA creation).
  const Certificate* issuer_cert = nullptr;
  const PrivateKey* issuer_key = nullptr;
  const PrivateKey* self_key = nullptr;
};

// Signs with SHA-256 (Ed25519 keys: pure Ed25519). Serial: 128 random bits (positive, from
// `random`). Extensions: basicConstraints (critical), keyUsage (critical; CA: keyCertSign+cRLSign;
// leaf: digitalSignature, plus keyEncipherment for RSA), extendedKeyUsage for requested usages,
// subjectAltName, subjectKeyIdentifier, authorityKeyIdentifier.
Result<Certificate> sign_certificate(const SignOptions& options, Random& random);

}  // namespace certrotd::x509
