// The seam every certificate source implements: the embedded local CA today, OAuth2/mTLS HTTP,
// CFSSL, EST, Vault and ACME later.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"

namespace certrotd::issuer {

// The credential being renewed, as it is on disk now. Network issuers authenticate with it
// (mTLS with the very certificate being replaced).
struct CurrentCredential {
  std::vector<x509::Certificate> chain;  // leaf first
  x509::PrivateKey key;
};

struct IssueRequest {
  std::string credential;              // the credential's name, for logs and errors
  std::optional<std::string> csr_pem;  // unset: ask the issuer to generate the key
  x509::CertificateRequest request;    // what the CSR asks for (also sent as names)
  x509::KeySpec key;                   // for server-generated keys
  std::optional<Millis> lifetime;      // a wish; the issuer's own limit may win
  std::optional<CurrentCredential> current;
};

struct IssuedCredential {
  std::vector<x509::Certificate> chain;  // leaf first, then intermediates (no root needed)
  std::optional<x509::PrivateKey> key;   // set when the issuer generated the key
  std::vector<x509::Certificate> ca;     // trust anchors the issuer vouches for, if it knows
};

// Errors from `issue` carry ErrorKind::retryable for transient trouble (network, 5xx, busy) and
// ErrorKind::permanent for answers that will not change by themselves (rejected, misconfigured).
class Issuer {
public:
  virtual ~Issuer() = default;
  virtual std::string_view type() const = 0;
  // Whether this issuer generates keys itself (then `csr_pem` is not sent).
  virtual bool generates_keys() const { return false; }
  virtual Result<IssuedCredential> issue(const IssueRequest& request) = 0;
};

}  // namespace certrotd::issuer
