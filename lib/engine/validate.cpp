#include "engine/validate.hpp"

#include <algorithm>
#include <set>

#include "util/duration.hpp"
#include "x509/verify.hpp"

namespace certrotd::engine {

namespace {

Result<void> check_names(const x509::CertInfo& info, const x509::CertificateRequest& request) {
  const auto& wanted_cn = request.subject.common_name;
  if (!wanted_cn.empty() && info.common_name != wanted_cn) {
    return fail("subject CN is '" + info.common_name + "', asked for '" + wanted_cn + "'");
  }
  const std::set<x509::San> got(info.sans.begin(), info.sans.end());
  const std::set<x509::San> wanted(request.sans.begin(), request.sans.end());
  for (const auto& san : wanted) {
    if (!got.contains(san)) {
      return fail("certificate lacks requested SAN " + x509::to_string(san));
    }
  }
  for (const auto& san : got) {
    if (!wanted.contains(san)) {
      return fail("certificate carries SAN " + x509::to_string(san) + " that was not requested");
    }
  }
  for (const auto usage : request.usages) {
    if (std::find(info.usages.begin(), info.usages.end(), usage) == info.usages.end()) {
      return fail("certificate lacks requested extended key usage " + x509::to_string(usage));
    }
  }
  return {};
}

Result<void> check_dates(const x509::CertInfo& info, const Expectations& expected) {
  if (info.not_before > expected.now + expected.max_not_before_skew) {
    return fail(
        "certificate is not valid before " +
        format_duration(std::chrono::duration_cast<Millis>(info.not_before - expected.now)) +
        " from now (clock skew beyond tolerance)");
  }
  if (info.not_after <= expected.now + expected.min_remaining_validity) {
    return fail("certificate expires too soon (notAfter is " +
                format_duration(std::chrono::duration_cast<Millis>(info.not_after - expected.now)) +
                " from now, need more than " + format_duration(expected.min_remaining_validity) +
                ")");
  }
  return {};
}

}  // namespace

Result<void> validate_issued(std::span<const x509::Certificate> chain, const x509::PrivateKey& key,
                             const Expectations& expected) {
  if (chain.empty()) {
    return fail("issuer returned no certificate");
  }
  const x509::Certificate& leaf = chain.front();
  const x509::CertInfo& info = leaf.info();
  if (!x509::key_matches(key, leaf)) {
    return fail("certificate does not match the private key");
  }
  if (key.spec() != expected.key) {
    return fail("key is " + x509::to_string(key.spec()) + ", asked for " +
                x509::to_string(expected.key));
  }
  if (expected.anchors.empty()) {
    return fail("no trust anchors configured to verify the chain against");
  }
  const auto intermediates = chain.subspan(1);
  std::vector<std::optional<x509::ExtendedUsage>> purposes;
  for (const auto usage : expected.request.usages) purposes.emplace_back(usage);
  if (purposes.empty()) purposes.emplace_back(std::nullopt);
  for (const auto& purpose : purposes) {
    const x509::VerifyOptions options{expected.now, purpose};
    if (auto r = x509::verify_chain(leaf, intermediates, expected.anchors, options); !r) {
      return fail(r.error().wrap("chain does not verify"));
    }
  }
  if (!expected.names_by_issuer) {
    if (auto r = check_names(info, expected.request); !r) return r;
  }
  if (auto r = check_dates(info, expected); !r) return r;
  if (expected.current_fingerprint && *expected.current_fingerprint == info.sha256_fingerprint) {
    return fail("issuer returned the certificate that is already live");
  }
  return {};
}

Result<void> validate_replacement(std::span<const x509::Certificate> chain,
                                  const x509::PrivateKey& key,
                                  std::span<const x509::Certificate> anchors, SystemTime now,
                                  Millis max_not_before_skew) {
  if (chain.empty()) return fail("no certificate");
  const x509::Certificate& leaf = chain.front();
  if (!x509::key_matches(key, leaf)) return fail("the key does not match the certificate");
  Expectations dates;
  dates.now = now;
  dates.max_not_before_skew = max_not_before_skew;
  if (auto r = check_dates(leaf.info(), dates); !r) return r;
  if (anchors.empty()) return {};
  const x509::VerifyOptions options{now, std::nullopt};
  if (auto r = x509::verify_chain(leaf, chain.subspan(1), anchors, options); !r) {
    return fail(r.error().wrap("chain does not verify"));
  }
  return {};
}

}  // namespace certrotd::engine
