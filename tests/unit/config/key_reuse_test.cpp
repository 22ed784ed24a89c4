// `key: { reuse: true }`: its own setting beside the key type, in `defaults:` and per credential,
// and refused for an issuer that makes the keys itself.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

std::string with_issuer(const std::string& rest) {
  return std::string(k_issuers) + (rest.starts_with('\n') ? rest.substr(1) : rest);
}

TEST(ConfigKeyReuse, IsOffByDefaultAndSetPerCredential) {
  const auto config = parse(with_issuer(R"(
credentials:
  fresh: { issuer: ca, sans: ["DNS:a"] }
  pinned: { issuer: ca, sans: ["DNS:b"], key: { type: rsa, bits: 2048, reuse: true } }
)"));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->find_credential("fresh")->key_reuse);
  const auto* pinned = config->find_credential("pinned");
  EXPECT_TRUE(pinned->key_reuse);
  EXPECT_EQ(pinned->key.type, x509::KeyType::rsa);
  EXPECT_EQ(pinned->key.rsa_bits, 2048);
}

TEST(ConfigKeyReuse, ReuseAndTypeAreInheritedFromDefaultsEachOnItsOwn) {
  const auto config = parse(with_issuer(R"(
defaults:
  key: { type: rsa, bits: 3072 }
credentials:
  a: { issuer: ca, sans: ["DNS:a"], key: { reuse: true } }
  b: { issuer: ca, sans: ["DNS:b"] }
)"));
  ASSERT_TRUE(config) << config.error().message;
  const auto* a = config->find_credential("a");
  EXPECT_TRUE(a->key_reuse);
  EXPECT_EQ(a->key.type, x509::KeyType::rsa) << "key: { reuse: true } keeps the default's type";
  EXPECT_EQ(a->key.rsa_bits, 3072);
  EXPECT_FALSE(config->find_credential("b")->key_reuse);

  const auto reused = parse(with_issuer(R"(
defaults:
  key: { reuse: true }
credentials:
  a: { issuer: ca, sans: ["DNS:a"], key: { type: ec, curve: P-384 } }
  b: { issuer: ca, sans: ["DNS:b"], key: { reuse: false } }
)"));
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_TRUE(reused->find_credential("a")->key_reuse) << "key: { type: ... } keeps reuse";
  EXPECT_EQ(reused->find_credential("a")->key.curve, "P-384");
  EXPECT_FALSE(reused->find_credential("b")->key_reuse);
}

TEST(ConfigKeyReuse, ReuseMustBeABooleanAndAKeyWithoutTypeOrReuseIsStillAnError) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], key: { reuse: yes please } }
  b: { issuer: ca, sans: ["DNS:b"], key: { reuse: true, bits: 2048 } }
  c: { issuer: ca, sans: ["DNS:c"], key: { reuse: true, typ: rsa } }
)")),
            "test.yaml:7:51: reuse must be true or false; write reuse: true\n"
            "test.yaml:8:42: key has no type; write key: { type: ec, curve: P-256 }, key: { "
            "type: rsa, bits: 3072 } or key: { type: ed25519 }\n"
            "test.yaml:9:57: unknown key 'typ' in key; did you mean 'type'?");
}

TEST(ConfigKeyReuse, AnIssuerThatMakesTheKeysItselfCannotReuseOne) {
  EXPECT_EQ(errors_of(R"(
issuers:
  keygen:
    type: http
    url: https://pki.internal/v1/certificates
    ca_bundle: /etc/certrotd/ca-bundle.pem
    request: { server_generated_key: true }
credentials:
  a: { issuer: keygen, sans: ["DNS:a"], key: { reuse: true } }
  b: { issuer: keygen, sans: ["DNS:b"] }
)"),
            "test.yaml:8:55: credential 'a' asks to reuse its key, but issuer 'keygen' generates "
            "the keys itself and sends a new one with every certificate; remove reuse: true, or "
            "name an issuer that signs a CSR (for type: http, request: { server_generated_key: "
            "false })");
}

}  // namespace
}  // namespace certrotd::config::test
