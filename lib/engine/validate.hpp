// The checks an issuer's answer must pass before it may touch disk. A bad answer never reaches
// disk: the caller keeps the old credential, logs the reason and retries with backoff.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "util/clock.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"

namespace certrotd::engine {

struct Expectations {
  x509::CertificateRequest request;            // subject CN, SANs and EKU that were asked for
  x509::KeySpec key;                           // the key type that was asked for
  std::span<const x509::Certificate> anchors;  // roots the chain must verify to
  SystemTime now;
  Millis min_remaining_validity{0};                      // notAfter must be further away than this
  Millis max_not_before_skew = std::chrono::minutes(5);  // tolerated notBefore in the future
  std::optional<std::string> current_fingerprint;  // the live certificate, which must not return
  // The issuer decides the names (a SAP binding's subject and SANs): check 4 is skipped.
  bool names_by_issuer = false;
};

// Checks, in order, and stops at the first failure (its message names the check):
//  1. the chain is not empty and the key matches the leaf;
//  2. the key is of the requested type and size;
//  3. the chain verifies to `anchors` (for each requested EKU purpose);
//  4. the subject CN, the SAN set and the EKUs are what was requested (extra SANs are refused:
//     a certificate for names we did not ask for is somebody else's);
//  5. notBefore is not further in the future than the skew tolerance and notAfter is more than
//     `min_remaining_validity` away;
//  6. it is not the certificate already live.
Result<void> validate_issued(std::span<const x509::Certificate> chain, const x509::PrivateKey& key,
                             const Expectations& expected);

// A credential placed by an operator (a hand replacement, `certrotd import`): the checks that
// make sense without a request to compare against. The chain is not empty, the key matches the
// leaf, the leaf is valid now (notBefore within `max_not_before_skew`, notAfter in the future),
// and, when `anchors` is not empty, the chain verifies to them.
Result<void> validate_replacement(std::span<const x509::Certificate> chain,
                                  const x509::PrivateKey& key,
                                  std::span<const x509::Certificate> anchors, SystemTime now,
                                  Millis max_not_before_skew = std::chrono::minutes(5));

}  // namespace certrotd::engine
