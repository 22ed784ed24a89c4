#include <gtest/gtest.h>

#include "issuer/cfssl/cfssl.hpp"
#include "issuer/est/est.hpp"
#include "issuer/http/http_issuer.hpp"
#include "unit/config/config_test_util.hpp"

namespace certrotd::config {
namespace {

using test::errors_of;

TEST(NetworkIssuerConfig, ReadsTheHttpIssuerShapeFromTheDocumentation) {
  const auto config = test::parse(R"(
issuers:
  corp-http:
    type: http
    url: https://pki.internal/v1/certificates
    ca_bundle: /etc/certrotd/ca-bundle.pem
    trust_anchors: /etc/certrotd/roots.pem
    timeout: 20s
    token:
      url: https://auth.internal/oauth/token
      client_id: host-42
      method: tls_client_auth
      scope: certs:issue
    auth: { mtls: self }
    bootstrap:
      token: { url: "https://auth.internal/oauth/token", client_id: boot, method: client_secret_post, client_secret_file: /etc/certrotd/secret }
    request: { csr_field: pkcs10 }
    response: { certificate: /data/cert, chain: /data/chain, key: /data/key }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& o = issuer::options_as<issuer::HttpIssuerOptions>(
      *config->issuers.at("corp-http").options);
  EXPECT_EQ(o.url, "https://pki.internal/v1/certificates");
  EXPECT_EQ(o.ca_bundle, "/etc/certrotd/ca-bundle.pem");
  EXPECT_EQ(o.trust_anchors, std::filesystem::path("/etc/certrotd/roots.pem"));
  EXPECT_EQ(o.timeout, Millis(std::chrono::seconds(20)));
  EXPECT_EQ(o.mtls.source, issuer::MtlsAuth::Source::self);
  ASSERT_TRUE(o.token);
  EXPECT_EQ(o.token->client_id, "host-42");
  EXPECT_EQ(o.token->method, auth::ClientAuthMethod::tls_client_auth);
  EXPECT_EQ(o.token->scope, "certs:issue");
  ASSERT_TRUE(o.bootstrap && o.bootstrap->token);
  EXPECT_EQ(o.bootstrap->token->method, auth::ClientAuthMethod::client_secret_post);
  EXPECT_EQ(o.csr_field, "pkcs10");
  EXPECT_EQ(o.certificate_pointer, "/data/cert");
  EXPECT_EQ(o.key_pointer, "/data/key");
}

TEST(NetworkIssuerConfig, ReadsTheResourceAndExtraTokenParamsInOrder) {
  const auto config = test::parse(R"(
issuers:
  corp-http:
    type: http
    url: https://pki.internal/v1/certificates
    ca_bundle: /etc/certrotd/ca-bundle.pem
    auth: { mtls: self }
    token:
      url: https://auth.internal/oauth/token
      client_id: host-42
      resource: https://pki.internal
      extra_params: { audience: "https://pki.internal/api", organization: org-7 }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& o = issuer::options_as<issuer::HttpIssuerOptions>(
      *config->issuers.at("corp-http").options);
  ASSERT_TRUE(o.token);
  EXPECT_EQ(o.token->resource, "https://pki.internal");
  using Params = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(o.token->extra_params,
            (Params{{"audience", "https://pki.internal/api"}, {"organization", "org-7"}}));
}

TEST(NetworkIssuerConfig, ExtraTokenParamsCannotReplaceWhatCertrotdSends) {
  EXPECT_EQ(errors_of(R"(
issuers:
  a:
    type: http
    url: https://pki.internal/x
    ca_bundle: /b.pem
    auth: { mtls: self }
    token:
      url: https://auth/token
      client_id: c
      extra_params: { scope: x, client_secret: hunter2, grant_type: password }
)"),
            "test.yaml:10:23: 'scope' has its own key in token; write scope: ... next to "
            "extra_params\n"
            "test.yaml:10:33: 'client_secret' is sent by certrotd itself (from client_id and "
            "method); remove it from extra_params\n"
            "test.yaml:10:57: 'grant_type' is sent by certrotd itself (from client_id and "
            "method); remove it from extra_params");
}

TEST(NetworkIssuerConfig, ReadsTheCfsslIssuerShapeFromTheDocumentation) {
  const auto config = test::parse(R"(
issuers:
  corp-cfssl:
    type: cfssl
    url: https://ca.internal:8888
    ca_bundle: /etc/certrotd/ca-bundle.pem
    profile: client
    auth: { mtls: "credential:host" }
    bootstrap: { mtls: { cert: /etc/certrotd/bootstrap.pem, key: /etc/certrotd/bootstrap.key } }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& o = issuer::options_as<issuer::CfsslIssuerOptions>(
      *config->issuers.at("corp-cfssl").options);
  EXPECT_EQ(o.profile, "client");
  EXPECT_EQ(o.mtls.source, issuer::MtlsAuth::Source::credential);
  EXPECT_EQ(o.mtls.credential, "host");
  ASSERT_TRUE(o.bootstrap);
  EXPECT_EQ(o.bootstrap->mtls.source, issuer::MtlsAuth::Source::files);
  EXPECT_EQ(o.bootstrap->mtls.key, "/etc/certrotd/bootstrap.key");
}

TEST(NetworkIssuerConfig, ReadsTheEstIssuerShapeWithABasicBootstrap) {
  const auto config = test::parse(R"(
issuers:
  corp-est:
    type: est
    url: https://est.corp.example:8443/.well-known/est/devices
    ca_bundle: /etc/certrotd/est-server-ca.pem
    trust_anchors: /etc/certrotd/roots.pem
    auth: { mtls: self }
    bootstrap: { basic: { username: host42, password_file: /run/credentials/est-pass } }
    server_generated_key: true
    trust: { from_issuer: true }
    bootstrap_fingerprints: ["AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89", "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"]
  est-cert:
    type: est
    url: https://est.corp.example/.well-known/est
    ca_bundle: /etc/certrotd/est-server-ca.pem
    bootstrap: { mtls: { cert: /etc/certrotd/bootstrap.pem, key: /etc/certrotd/bootstrap.key } }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& o = issuer::options_as<issuer::EstIssuerOptions>(
      *config->issuers.at("corp-est").options);
  EXPECT_EQ(o.url, "https://est.corp.example:8443/.well-known/est/devices");
  EXPECT_EQ(o.mtls.source, issuer::MtlsAuth::Source::self);
  ASSERT_TRUE(o.basic);
  EXPECT_EQ(o.basic->username, "host42");
  EXPECT_EQ(o.basic->password_file, "/run/credentials/est-pass");
  ASSERT_TRUE(o.bootstrap);  // the bootstrap path is taken, with no certificate
  EXPECT_EQ(o.bootstrap->mtls.source, issuer::MtlsAuth::Source::none);
  EXPECT_TRUE(o.server_generated_key);
  EXPECT_TRUE(o.generates_keys());
  EXPECT_TRUE(o.trust_from_issuer);
  const std::string pin =
      "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:"
      "67:89";
  EXPECT_EQ(o.bootstrap_fingerprints, (std::vector<std::string>{pin, pin}));
  const auto& c = issuer::options_as<issuer::EstIssuerOptions>(
      *config->issuers.at("est-cert").options);
  EXPECT_FALSE(c.basic);
  ASSERT_TRUE(c.bootstrap);
  EXPECT_EQ(c.bootstrap->mtls.source, issuer::MtlsAuth::Source::files);
  EXPECT_FALSE(c.server_generated_key);
  EXPECT_FALSE(c.trust_from_issuer);
}

TEST(NetworkIssuerConfig, ReadsTheEstTrustRefresh) {
  const auto config = test::parse(R"(
issuers:
  a:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    trust: { from_issuer: true, refresh: 24h }
  b:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    trust: { from_issuer: true }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& a = issuer::options_as<issuer::EstIssuerOptions>(*config->issuers.at("a").options);
  EXPECT_EQ(a.trust_refresh, Millis(std::chrono::hours(24)));
  const auto& b = issuer::options_as<issuer::EstIssuerOptions>(*config->issuers.at("b").options);
  EXPECT_FALSE(b.trust_refresh) << "without refresh: /cacerts with each enrollment only";
}

TEST(NetworkIssuerConfig, ReadsEstLinkTlsUniqueWhichIsOffByDefault) {
  const auto config = test::parse(R"(
issuers:
  a:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    link_tls_unique: true
  b:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(issuer::options_as<issuer::EstIssuerOptions>(*config->issuers.at("a").options)
                  .link_tls_unique);
  EXPECT_FALSE(issuer::options_as<issuer::EstIssuerOptions>(*config->issuers.at("b").options)
                   .link_tls_unique);
  EXPECT_EQ(errors_of(R"(
issuers:
  a:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    link_tls_unique: tls12
)"),
            "test.yaml:6:22: link_tls_unique must be true or false; write link_tls_unique: true");
}

TEST(NetworkIssuerConfig, RefusesBadEstTrustSettings) {
  EXPECT_EQ(errors_of(R"(
issuers:
  a:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    trust: { from_issuer: true, refresh: 24h }
    bootstrap_fingerprints: ["ab:cd"]
  b:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    bootstrap_fingerprints: ["abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"]
  c:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    trust: { refresh: 1h }
  d:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    trust: { from_issuer: true, refresh: 0s, every: 1h }
)"),
            "test.yaml:7:30: 'ab:cd' is no SHA-256 fingerprint; write the 64 hex digits of "
            "openssl x509 -noout -fingerprint -sha256\n"
            "test.yaml:12:5: bootstrap_fingerprints pins roots of /cacerts, which only trust: { "
            "from_issuer: true } reads; add trust: { from_issuer: true }, or remove "
            "bootstrap_fingerprints\n"
            "test.yaml:17:14: trust.refresh refreshes the roots of /cacerts, which only "
            "from_issuer: true reads; write trust: { from_issuer: true, refresh: 24h }, or remove "
            "refresh\n"
            "test.yaml:22:42: refresh must be at least 1s, got '0s'; write a longer duration, e.g. "
            "refresh: 1m\n"
            "test.yaml:22:46: unknown key 'every' in trust; the keys allowed here are: "
            "from_issuer, refresh");
}

TEST(NetworkIssuerConfig, RefusesBadEstBootstraps) {
  EXPECT_EQ(errors_of(R"(
issuers:
  a:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    bootstrap: { basic: { username: "h:42" , password_file: /p }, mtls: { cert: /c, key: /k } }
  b:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    bootstrap: { basic: { username: h42 } }
    server_generated_key: maybe
  c:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    bootstrap: { basic: { username: h42, password: hunter2, password_file: /p } }
  d:
    type: est
    url: https://est/.well-known/est
    ca_bundle: /b.pem
    bootstrap: { basic: { username: "h:42", password_file: /p } }
)"),
            "test.yaml:6:5: bootstrap names both mtls and basic; keep one: bootstrap: { basic: { "
            "username: ..., password_file: ... } }\n"
            "test.yaml:11:18: basic needs both username and password_file; write basic: { "
            "username: host42, password_file: /etc/certrotd/est-pass }\n"
            "test.yaml:12:27: server_generated_key must be true or false; write "
            "server_generated_key: true\n"
            "test.yaml:17:42: 'password' must not be written inline: the config file is no place "
            "for secrets; write password_file: /path instead, naming a file only certrotd can "
            "read\n"
            "test.yaml:22:37: the username must be non-empty and hold no ':'; write username: "
            "host42");
}

TEST(NetworkIssuerConfig, RefusesPlainHttpAndInlineSecrets) {
  EXPECT_EQ(errors_of(R"(
issuers:
  a:
    type: http
    url: http://pki.internal/x
    ca_bundle: /b.pem
    token: { url: "https://auth/token", client_id: c, method: client_secret_basic, client_secret: hunter2 }
)"),
            "test.yaml:4:10: the issuer url must be https://; write url: https://...; certrotd "
            "never sends credentials in clear text\n"
            "test.yaml:6:5: token method client_secret_basic needs a secret; write "
            "client_secret_file: /etc/certrotd/client-secret\n"
            "test.yaml:6:84: 'client_secret' must not be written inline: the config file is no "
            "place for secrets; write client_secret_file: /path instead, naming a file only "
            "certrotd can read");
}

TEST(NetworkIssuerConfig, MutualTlsTokenMethodsNeedACertificateAndNoSecret) {
  EXPECT_EQ(errors_of(R"(
issuers:
  a:
    type: http
    url: https://pki.internal/x
    ca_bundle: /b.pem
    token: { url: "https://auth/token", client_id: c, method: tls_client_auth }
  b:
    type: http
    url: https://pki.internal/x
    ca_bundle: /b.pem
    auth: { mtls: self }
    token: { url: "https://auth/token", client_id: c, method: tls_client_auht }
)"),
            "test.yaml:2:3: issuer 'a': token method tls_client_auth needs a client certificate; "
            "write auth: { mtls: self }\n"
            "test.yaml:12:63: unknown token method 'tls_client_auht'; write one of "
            "tls_client_auth, self_signed_tls_client_auth, client_secret_basic, "
            "client_secret_post");
}

TEST(NetworkIssuerConfig, NeedsUrlAndCaBundle) {
  EXPECT_EQ(errors_of("issuers:\n  a: { type: cfssl }\n"),
            "test.yaml:2:3: issuer 'a' of type cfssl needs url; write url: https://...\n"
            "test.yaml:2:3: issuer 'a' of type cfssl needs ca_bundle; write ca_bundle: "
            "/etc/certrotd/ca-bundle.pem");
}

}  // namespace
}  // namespace certrotd::config
