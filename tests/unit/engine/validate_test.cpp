// Each kind of bad issuer answer is refused with a reason that names the check.
#include "engine/validate.hpp"

#include <gtest/gtest.h>

#include "x509/sign.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;

class ValidateTest : public ::testing::Test {
protected:
  void SetUp() override {
    root_key = *x509::generate_key({});
    x509::SignOptions ca;
    ca.subject_public_key = root_key->get();
    ca.request.subject.common_name = "Test Root";
    ca.not_before = now - 1h;
    ca.not_after = now + 24h * 365;
    ca.is_ca = true;
    ca.self_key = &*root_key;
    root = *x509::sign_certificate(ca, random);
    leaf_key = *x509::generate_key({});
    request.subject.common_name = "svc.example";
    request.sans = {*x509::parse_san("DNS:svc.example"), *x509::parse_san("IP:10.0.0.5")};
    request.usages = {x509::ExtendedUsage::client_auth};
  }

  x509::Certificate issue(const x509::CertificateRequest& req, SystemTime nb, SystemTime na,
                          const x509::PrivateKey& key) {
    x509::SignOptions o;
    o.subject_public_key = key.get();
    o.request = req;
    o.not_before = nb;
    o.not_after = na;
    o.issuer_cert = &*root;
    o.issuer_key = &*root_key;
    return *x509::sign_certificate(o, random);
  }

  Result<void> check(const x509::Certificate& leaf, const x509::PrivateKey& key,
                     std::optional<std::string> current = {}) {
    const std::vector<x509::Certificate> chain{leaf};
    const std::vector<x509::Certificate> anchors{*root};
    Expectations e{request, {}, anchors, now, 30s, 5min, std::move(current)};
    return validate_issued(chain, key, e);
  }

  static std::string reason(const Result<void>& r) { return r ? "accepted" : r.error().what(); }

  SystemTime now{std::chrono::hours(24 * 365 * 56)};
  SeededRandom random{7};
  std::optional<x509::PrivateKey> root_key;
  std::optional<x509::Certificate> root;
  std::optional<x509::PrivateKey> leaf_key;
  x509::CertificateRequest request;
};

TEST_F(ValidateTest, AcceptsExactlyWhatWasAskedFor) {
  EXPECT_TRUE(check(issue(request, now - 1min, now + 1h, *leaf_key), *leaf_key).has_value());
}

TEST_F(ValidateTest, RefusesACertificateForAnotherKey) {
  auto other = *x509::generate_key({});
  EXPECT_NE(reason(check(issue(request, now, now + 1h, other), *leaf_key)).find("does not match"),
            std::string::npos);
}

TEST_F(ValidateTest, RefusesAnotherName) {
  auto req = request;
  req.subject.common_name = "evil.example";
  EXPECT_NE(reason(check(issue(req, now, now + 1h, *leaf_key), *leaf_key)).find("subject CN"),
            std::string::npos);
}

TEST_F(ValidateTest, RefusesMissingAndExtraSans) {
  auto fewer = request;
  fewer.sans.pop_back();
  EXPECT_NE(
      reason(check(issue(fewer, now, now + 1h, *leaf_key), *leaf_key)).find("lacks requested SAN"),
      std::string::npos);
  auto more = request;
  more.sans.push_back(*x509::parse_san("DNS:extra.example"));
  EXPECT_NE(reason(check(issue(more, now, now + 1h, *leaf_key), *leaf_key)).find("not requested"),
            std::string::npos);
}

TEST_F(ValidateTest, RefusesAMissingExtendedKeyUsage) {
  auto req = request;
  req.usages = {x509::ExtendedUsage::server_auth};
  const auto r = check(issue(req, now, now + 1h, *leaf_key), *leaf_key);
  EXPECT_FALSE(r.has_value());
}

TEST_F(ValidateTest, RefusesAnExpiredOrShortLivedCertificate) {
  EXPECT_FALSE(check(issue(request, now - 2h, now - 1h, *leaf_key), *leaf_key).has_value());
  EXPECT_NE(reason(check(issue(request, now - 1min, now + 10s, *leaf_key), *leaf_key))
                .find("expires too soon"),
            std::string::npos);
}

TEST_F(ValidateTest, RefusesANotBeforeTooFarInTheFuture) {
  // verify_chain runs at `now`, so a future notBefore already fails chain verification; either
  // reason is a refusal.
  EXPECT_FALSE(check(issue(request, now + 1h, now + 2h, *leaf_key), *leaf_key).has_value());
}

TEST_F(ValidateTest, RefusesAChainToAnUnknownRoot) {
  // Self-signed with the leaf's own key: the key matches, but no configured root vouches for it.
  x509::SignOptions o;
  o.subject_public_key = leaf_key->get();
  o.request = request;
  o.not_before = now;
  o.not_after = now + 1h;
  o.self_key = &*leaf_key;
  const auto self_signed = *x509::sign_certificate(o, random);
  EXPECT_NE(reason(check(self_signed, *leaf_key)).find("chain does not verify"), std::string::npos);
}

TEST_F(ValidateTest, RefusesTheCertificateAlreadyLive) {
  const auto cert = issue(request, now, now + 1h, *leaf_key);
  EXPECT_NE(reason(check(cert, *leaf_key, cert.info().sha256_fingerprint)).find("already live"),
            std::string::npos);
}

TEST_F(ValidateTest, RefusesAKeyOfAnotherType) {
  auto rsa = *x509::generate_key({x509::KeyType::rsa, "", 2048});
  EXPECT_NE(reason(check(issue(request, now, now + 1h, rsa), rsa)).find("asked for"),
            std::string::npos);
}

}  // namespace
}  // namespace certrotd::engine
