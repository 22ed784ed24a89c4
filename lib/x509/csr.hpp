// PKCS#10 certificate signing requests.
#pragma once

#include <string>
#include <string_view>

#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"

namespace certrotd::x509 {

// A PEM CSR for `key` with the subject, SANs (subjectAltName extension request) and EKU of
// `request`, signed with SHA-256 (Ed25519: its own hash).
Result<std::string> build_csr(const PrivateKey& key, const CertificateRequest& request);

// What a signer needs from a CSR. The CSR's self-signature is verified by `parse_csr`.
struct ParsedCsr {
  X509ReqPtr req;
  EvpPkeyPtr public_key;
  CertificateRequest request;  // subject, SANs and EKU as asked
};

Result<ParsedCsr> parse_csr(std::string_view pem);

// Whether two PEM CSRs ask for the same thing with the same key: their CertificationRequestInfo
// (subject, public key, attributes; RFC 2986 §4.1) is byte for byte equal. The signatures may
// differ (ECDSA signs with a fresh nonce each time). False when either does not parse or verify.
bool same_request(std::string_view a_pem, std::string_view b_pem);

}  // namespace certrotd::x509
