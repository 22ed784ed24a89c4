// Chain building and verification at an injected time.
#pragma once

#include <optional>
#include <span>

#include "util/clock.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"

namespace certrotd::x509 {

struct VerifyOptions {
  SystemTime at;                         // validity is checked at this instant
  std::optional<ExtendedUsage> purpose;  // checked when set (X509_PURPOSE_SSL_CLIENT/SERVER)
};

// Builds a path from `leaf` through `intermediates` to one of `anchors` and verifies it.
// The error message carries OpenSSL's reason ("certificate has expired", "unable to get local
// issuer certificate", ...) and the depth and subject where it failed.
Result<void> verify_chain(const Certificate& leaf, std::span<const Certificate> intermediates,
                          std::span<const Certificate> anchors, const VerifyOptions& options);

}  // namespace certrotd::x509
