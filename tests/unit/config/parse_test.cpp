// What a valid configuration turns into: values, defaults, inheritance and resolved paths.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"
#include "issuer/local/local.hpp"

namespace certrotd::config::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_full = R"(
state_dir: /var/lib/certrotd
max_concurrent_rotations: 2
min_remaining_validity: 1m
defaults:
  key: { type: ec, curve: P-384 }
  renew_at: 50%
  jitter: 10%
  backoff: { base: 10s, cap: 10m }
  expiring_at: 20%
  lifetime: 12h
issuers:
  dev-ca:
    type: local
    ca_cert: /etc/certrotd/ca/ca.pem
    ca_key: /etc/certrotd/ca/ca.key
    ca_key_passphrase_file: /etc/certrotd/ca/pass
    chain: /etc/certrotd/ca/chain.pem
    roots: /etc/certrotd/ca/roots.pem
    lifetime: 24h
    backdate: 2m
credentials:
  web:
    issuer: dev-ca
    subject:
      common_name: web.example.internal
      organization: [Example]
      organizational_unit: [Ops, Web]
      country: DE
      state: Berlin
      locality: Berlin
    sans: ["DNS:web.example.internal", "IP:10.0.0.5", "URI:spiffe://example.org/web", "email:ops@example.org"]
    usage: [serverAuth, clientAuth]
    key: { type: rsa, bits: 3072 }
    renew_before: 2h
    key_passphrase_file: /etc/certrotd/web.pass
    on_rotate: []
    output:
      dir: /srv/tls/web
      owner: root
      group: root
      mode: "0640"
      keep: 5
      copies:
        - { path: /etc/nginx/tls/web.crt, content: fullchain }
        - { path: /etc/nginx/tls/web.key, content: key, mode: "0600", owner: "0", group: "0" }
  api:
    issuer: dev-ca
    subject: { common_name: api.example.internal }
)";

TEST(ConfigParse, ReadsEveryTopLevelSetting) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->state_dir, "/var/lib/certrotd");
  EXPECT_EQ(config->max_concurrent_rotations, 2);
  EXPECT_EQ(config->min_remaining_validity, 1min);
  EXPECT_EQ(config->source, "/etc/certrotd/test.yaml");
}

TEST(ConfigParse, ReadsALocalIssuerWithAllItsOptions) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->issuers.size(), 1U);
  const IssuerConfig& issuer = config->issuers.at("dev-ca");
  EXPECT_EQ(issuer.name, "dev-ca");
  EXPECT_EQ(issuer.type, "local");
  EXPECT_EQ(issuer.mark.to_string(), "test.yaml:12:3");
  const auto& local = issuer::options_as<issuer::LocalIssuerOptions>(*issuer.options);
  EXPECT_EQ(local.ca_cert, "/etc/certrotd/ca/ca.pem");
  EXPECT_EQ(local.ca_key, "/etc/certrotd/ca/ca.key");
  EXPECT_EQ(local.ca_key_passphrase_file, fs::path("/etc/certrotd/ca/pass"));
  EXPECT_EQ(local.chain, fs::path("/etc/certrotd/ca/chain.pem"));
  EXPECT_EQ(local.roots, fs::path("/etc/certrotd/ca/roots.pem"));
  EXPECT_EQ(local.lifetime, 24h);
  EXPECT_EQ(local.backdate, 2min);
}

TEST(ConfigParse, ReadsTheSubjectNamesAndUsagesOfACredential) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  const CredentialConfig* web = config->find_credential("web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->issuer, "dev-ca");
  EXPECT_EQ(web->mark.to_string(), "test.yaml:22:3");
  const x509::Subject& s = web->request.subject;
  EXPECT_EQ(s.common_name, "web.example.internal");
  using Attribute = x509::Subject::Attribute;
  EXPECT_EQ(s.values(Attribute::organization), std::vector<std::string>{"Example"});
  EXPECT_EQ(s.values(Attribute::organizational_unit), (std::vector<std::string>{"Ops", "Web"}));
  EXPECT_EQ(s.value(Attribute::country), "DE");
  EXPECT_EQ(s.value(Attribute::state), "Berlin");
  EXPECT_EQ(s.value(Attribute::locality), "Berlin");
  const std::vector<x509::San> sans = {{x509::SanType::dns, "web.example.internal"},
                                       {x509::SanType::ip, "10.0.0.5"},
                                       {x509::SanType::uri, "spiffe://example.org/web"},
                                       {x509::SanType::email, "ops@example.org"}};
  EXPECT_EQ(web->request.sans, sans);
  EXPECT_EQ(web->request.usages,
            (std::vector<x509::ExtendedUsage>{x509::ExtendedUsage::server_auth,
                                              x509::ExtendedUsage::client_auth}));
  EXPECT_EQ(web->key_passphrase_file, fs::path("/etc/certrotd/web.pass"));
}

TEST(ConfigParse, ReadsTheOutputFolderAndItsCopies) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  const store::StoreOptions& out = config->find_credential("web")->output;
  EXPECT_EQ(out.dir, "/srv/tls/web");
  EXPECT_EQ(out.owner.uid, std::optional<uid_t>(0));
  EXPECT_EQ(out.owner.gid, std::optional<gid_t>(0));
  EXPECT_EQ(out.secret_mode, 0640U);
  EXPECT_EQ(out.public_mode, 0644U);
  EXPECT_EQ(out.keep_versions, 5);
  ASSERT_EQ(out.copies.size(), 2U);
  EXPECT_EQ(out.copies[0].path, "/etc/nginx/tls/web.crt");
  EXPECT_EQ(out.copies[0].content, store::Content::fullchain);
  EXPECT_EQ(out.copies[0].mode, std::nullopt);
  EXPECT_EQ(out.copies[1].path, "/etc/nginx/tls/web.key");
  EXPECT_EQ(out.copies[1].content, store::Content::key);
  EXPECT_EQ(out.copies[1].mode, std::optional<mode_t>(0600));
  EXPECT_EQ(out.copies[1].owner.uid, std::optional<uid_t>(0));
}

TEST(ConfigParse, KeepsCredentialsInFileOrder) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->credentials.size(), 2U);
  EXPECT_EQ(config->credentials[0].name, "web");
  EXPECT_EQ(config->credentials[1].name, "api");
}

TEST(ConfigParse, FindCredentialReturnsNullForAnUnknownName) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->find_credential("nope"), nullptr);
  EXPECT_EQ(config->find_credential("api")->name, "api");
}

TEST(ConfigParse, CredentialInheritsEveryDefault) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  const CredentialConfig* api = config->find_credential("api");
  EXPECT_EQ(api->key, (x509::KeySpec{x509::KeyType::ec, "P-384", 2048}));
  EXPECT_DOUBLE_EQ(api->policy.renew_at, 0.5);
  EXPECT_EQ(api->policy.renew_before, std::nullopt);
  EXPECT_DOUBLE_EQ(api->policy.jitter, 0.10);
  EXPECT_EQ(api->policy.backoff_base, 10s);
  EXPECT_EQ(api->policy.backoff_cap, 10min);
  EXPECT_DOUBLE_EQ(api->policy.expiring_at, 0.20);
  EXPECT_EQ(api->lifetime, std::optional<Millis>(12h));
}

TEST(ConfigParse, CredentialSettingsOverrideDefaults) {
  const auto config = parse(k_full);
  ASSERT_TRUE(config) << config.error().message;
  const CredentialConfig* web = config->find_credential("web");
  EXPECT_EQ(web->key.type, x509::KeyType::rsa);
  EXPECT_EQ(web->key.rsa_bits, 3072);
  EXPECT_EQ(web->policy.renew_before, std::optional<Millis>(2h));
  EXPECT_DOUBLE_EQ(web->policy.renew_at, 0.5);
}

TEST(ConfigParse, BackoffFieldsAreInheritedOneByOne) {
  const auto config = parse(std::string(k_issuers) + R"(
defaults:
  backoff: { base: 5s, cap: 5m }
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    backoff: { cap: 20m }
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials[0].policy.backoff_base, 5s);
  EXPECT_EQ(config->credentials[0].policy.backoff_cap, 20min);
}

TEST(ConfigParse, UsesBuiltInDefaultsWhenNothingIsSet) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->state_dir, "/var/lib/certrotd");
  EXPECT_EQ(config->max_concurrent_rotations, 4);
  EXPECT_EQ(config->min_remaining_validity, 30s);
  const CredentialConfig& web = config->credentials[0];
  EXPECT_EQ(web.key, x509::KeySpec{});
  EXPECT_DOUBLE_EQ(web.policy.renew_at, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(web.policy.jitter, 0.05);
  EXPECT_EQ(web.lifetime, std::nullopt);
  EXPECT_EQ(web.key_passphrase_file, std::nullopt);
  EXPECT_EQ(web.output.secret_mode, 0600U);
  EXPECT_EQ(web.output.keep_versions, 3);
  EXPECT_TRUE(web.output.copies.empty());
  EXPECT_TRUE(web.request.usages.empty());
  const auto& local = issuer::options_as<issuer::LocalIssuerOptions>(
      *config->issuers.at("ca").options);
  EXPECT_EQ(local.lifetime, 24h);
  EXPECT_EQ(local.backdate, 1min);
  EXPECT_EQ(local.ca_key_passphrase_file, std::nullopt);
}

TEST(ConfigParse, OutputDirDefaultsToTheLiveFolderUnderStateDir) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
state_dir: /srv/certrotd
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials[0].output.dir, "/srv/certrotd/live/web");
}

TEST(ConfigParse, RelativePathsResolveAgainstTheDirectoryOfTheFile) {
  const auto config = parse(R"(
state_dir: state
issuers:
  ca:
    type: local
    ca_cert: ca/ca.pem
    ca_key: ./ca/../ca/ca.key
    ca_key_passphrase_file: ca/pass
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    key_passphrase_file: web.pass
    output:
      dir: out/web
      copies:
        - { path: ../nginx/web.crt, content: cert }
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->state_dir, "/etc/certrotd/state");
  const auto& local = issuer::options_as<issuer::LocalIssuerOptions>(
      *config->issuers.at("ca").options);
  EXPECT_EQ(local.ca_cert, "/etc/certrotd/ca/ca.pem");
  EXPECT_EQ(local.ca_key, "/etc/certrotd/ca/ca.key");
  EXPECT_EQ(local.ca_key_passphrase_file, fs::path("/etc/certrotd/ca/pass"));
  const CredentialConfig& web = config->credentials[0];
  EXPECT_EQ(web.key_passphrase_file, fs::path("/etc/certrotd/web.pass"));
  EXPECT_EQ(web.output.dir, "/etc/certrotd/out/web");
  EXPECT_EQ(web.output.copies[0].path, "/etc/nginx/web.crt");
}

TEST(ConfigParse, ReadsEachSupportedKeyType) {
  const auto key_of = [](const std::string& key) {
    const auto config = parse(std::string(k_issuers) +
                              "credentials:\n  web:\n    issuer: ca\n"
                              "    sans: [\"DNS:web\"]\n    key: " +
                              key + "\n");
    EXPECT_TRUE(config) << config.error().message;
    return config ? config->credentials[0].key : x509::KeySpec{};
  };
  EXPECT_EQ(key_of("{ type: ec }"), (x509::KeySpec{x509::KeyType::ec, "P-256", 2048}));
  EXPECT_EQ(key_of("{ type: ec, curve: P-384 }"),
            (x509::KeySpec{x509::KeyType::ec, "P-384", 2048}));
  EXPECT_EQ(key_of("{ type: rsa }").rsa_bits, 2048);
  EXPECT_EQ(key_of("{ type: rsa, bits: 2048 }").type, x509::KeyType::rsa);
  EXPECT_EQ(key_of("{ type: rsa, bits: 3072 }").rsa_bits, 3072);
  EXPECT_EQ(key_of("{ type: rsa, bits: 4096 }").rsa_bits, 4096);
  EXPECT_EQ(key_of("{ type: ed25519 }").type, x509::KeyType::ed25519);
}

TEST(ConfigParse, ACredentialKeyReplacesTheDefaultKeyAsAWhole) {
  const auto config = parse(std::string(k_issuers) + R"(
defaults:
  key: { type: rsa, bits: 4096 }
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    key: { type: rsa }
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials[0].key.rsa_bits, 2048);
}

TEST(ConfigParse, ModesAcceptThreeOrFourOctalDigitsInQuotes) {
  for (const auto& [text, expected] : std::vector<std::pair<std::string, mode_t>>{
           {"\"0640\"", 0640}, {"'600'", 0600}, {"\"0400\"", 0400}, {"\"0777\"", 0777}}) {
    const auto config = parse(std::string(k_issuers) +
                              "credentials:\n  web:\n    issuer: ca\n"
                              "    sans: [\"DNS:web\"]\n    output: { mode: " +
                              text + " }\n");
    ASSERT_TRUE(config) << text << ": " << config.error().message;
    EXPECT_EQ(config->credentials[0].output.secret_mode, expected) << text;
  }
}

TEST(ConfigParse, SecretCopiesFollowTheOutputModeAndOwnerUnlessGivenTheirOwn) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    output:
      group: root
      mode: "0640"
      copies:
        - { path: /tls/web.key, content: key }
        - { path: /tls/web.pem, content: bundle, mode: "0600" }
        - { path: /tls/web.crt, content: cert }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& copies = config->credentials[0].output.copies;
  ASSERT_EQ(copies.size(), 3U);
  EXPECT_EQ(copies[0].mode, std::optional<mode_t>(0640));
  EXPECT_EQ(copies[0].owner.gid, std::optional<gid_t>(0));
  EXPECT_EQ(copies[0].owner.uid, std::nullopt);
  EXPECT_EQ(copies[1].mode, std::optional<mode_t>(0600));
  EXPECT_EQ(copies[2].mode, std::nullopt);
  EXPECT_EQ(copies[2].owner.gid, std::optional<gid_t>(0));
}

TEST(ConfigParse, EveryCopyContentIsAccepted) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    output:
      copies:
        - { path: a, content: cert }
        - { path: b, content: chain }
        - { path: c, content: fullchain }
        - { path: d, content: key }
        - { path: e, content: bundle }
        - { path: f, content: ca }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& copies = config->credentials[0].output.copies;
  ASSERT_EQ(copies.size(), 6U);
  EXPECT_EQ(copies[1].content, store::Content::chain);
  EXPECT_EQ(copies[4].content, store::Content::bundle);
  EXPECT_EQ(copies[5].content, store::Content::ca);
}

TEST(ConfigParse, IpSansAreStoredInCanonicalForm) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  web:
    issuer: ca
    sans: ["ip:2001:DB8:0:0::1", "dns:web"]
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials[0].request.sans[0], (x509::San{x509::SanType::ip, "2001:db8::1"}));
}

TEST(ConfigParse, ACommonNameAloneIsEnough) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  web: { issuer: ca, subject: { common_name: web } }
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->credentials[0].request.sans.empty());
}

TEST(ConfigParse, OnRotateIsAcceptedAsAnEmptyList) {
  EXPECT_EQ(errors_of(std::string(k_issuers) + R"(
credentials:
  web: { issuer: ca, sans: ["DNS:web"], on_rotate: [] }
)"),
            "<loaded without errors>");
}

TEST(ConfigParse, AnEmptyFileGivesTheDefaults) {
  const auto config = parse("");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->credentials.empty());
  EXPECT_TRUE(config->issuers.empty());
  EXPECT_EQ(config->state_dir, "/var/lib/certrotd");
}

TEST(ConfigParse, MarkPrintsFileLineAndColumn) {
  EXPECT_EQ((Mark{"a/config.yaml", 12, 5}.to_string()), "a/config.yaml:12:5");
}

}  // namespace
}  // namespace certrotd::config::test
