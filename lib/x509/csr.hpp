// PKCS#10 certificate signing requests.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"

namespace certrotd::x509 {

// PKCS#9's upper bound for a challengePassword (ub-challenge-password, RFC 2985 appendix A).
inline constexpr std::size_t k_max_challenge_password = 255;

// What a CSR may carry besides the request's names, for servers that ask for it.
struct CsrExtras {
  // PKCS#9 challengePassword (RFC 2985 §5.4.1), as a UTF8String: an enrollment secret, or the
  // base64 TLS-unique value that links the CSR to its TLS connection (RFC 7030 §3.5).
  std::optional<std::string> challenge_password;
};

// A PEM CSR for `key` with the subject, SANs (subjectAltName extension request) and EKU of
// `request`, and `extras`, signed with SHA-256 (Ed25519: its own hash).
Result<std::string> build_csr(const PrivateKey& key, const CertificateRequest& request,
                              const CsrExtras& extras = {});

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
