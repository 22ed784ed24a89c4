#include <gtest/gtest.h>

#include "issuer/sap_service_manager/sap_service_manager.hpp"
#include "unit/config/config_test_util.hpp"

namespace certrotd::config {
namespace {

using test::errors_of;

constexpr const char* k_btp = R"(
issuers:
  btp:
    type: sap-service-manager
    sm_url: https://service-manager.cfapps.eu10.hana.ondemand.com
    ca_bundle: /etc/ssl/certs/ca-certificates.crt
    token: { url: "https://mysub.authentication.cert.eu10.hana.ondemand.com/oauth/token",
             client_id: "sb-sm-xyz!b123", method: tls_client_auth }
    auth: { mtls: credential:sm }
    bootstrap: { token: { url: "https://mysub.authentication.eu10.hana.ondemand.com/oauth/token",
                          client_id: "sb-sm-xyz!b123", method: client_secret_post,
                          client_secret_file: /run/credentials/certrotd.service/sm-secret } }
  ca:
    type: local
    ca_cert: ca.pem
    ca_key: ca.key
)";

TEST(SapIssuerConfig, ReadsTheShapeOfTheIssue) {
  const auto config = test::parse(std::string(k_btp) + R"(credentials:
  sm:
    issuer: btp
    sap: { service_instance_id: 5a1b, name_prefix: host7 }
  eventmesh:
    issuer: btp
    sap: { service_instance_name: my-event-mesh, wrap: xsuaa,
           x509: { key-length: 4096, validity: 3, validity-type: DAYS }, retire_after: 2h,
           service_key: true }
    output: { dir: /var/lib/certrotd/live/eventmesh }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& o = issuer::options_as<issuer::SapIssuerOptions>(*config->issuers.at("btp").options);
  EXPECT_EQ(o.url, "https://service-manager.cfapps.eu10.hana.ondemand.com");
  EXPECT_EQ(o.token.client_id, "sb-sm-xyz!b123");
  EXPECT_EQ(o.mtls.source, issuer::MtlsAuth::Source::credential);
  EXPECT_EQ(o.mtls.credential, "sm");
  ASSERT_TRUE(o.bootstrap && o.bootstrap->token);
  EXPECT_EQ(o.bootstrap->token->method, auth::ClientAuthMethod::client_secret_post);

  const CredentialConfig* em = config->find_credential("eventmesh");
  ASSERT_TRUE(em && em->issuer_options);
  const auto& sap = issuer::credential_options_as<issuer::SapCredentialOptions>(
      *em->issuer_options);
  EXPECT_EQ(sap.service_instance_name, "my-event-mesh");
  EXPECT_EQ(sap.wrap, issuer::SapWrap::xsuaa);
  EXPECT_EQ(sap.key_length, 4096);
  EXPECT_EQ(sap.validity, 3);
  EXPECT_EQ(sap.retire_after, Millis(std::chrono::hours(2)));
  EXPECT_TRUE(sap.service_key);
  // The service makes the key: the credential expects exactly that one.
  EXPECT_EQ(em->key.type, x509::KeyType::rsa);
  EXPECT_EQ(em->key.rsa_bits, 4096);

  const CredentialConfig* sm = config->find_credential("sm");
  ASSERT_TRUE(sm && sm->issuer_options);
  const auto& sm_sap = issuer::credential_options_as<issuer::SapCredentialOptions>(
      *sm->issuer_options);
  EXPECT_EQ(sm_sap.service_instance_id, "5a1b");
  EXPECT_EQ(sm_sap.name_prefix, "host7");
  EXPECT_EQ(sm_sap.wrap, issuer::SapWrap::none);
  EXPECT_EQ(sm_sap.key_length, 2048);
  EXPECT_FALSE(sm_sap.retire_after);
  EXPECT_FALSE(sm_sap.service_key);
}

TEST(SapIssuerConfig, SapBelongsToItsIssuerTypeAndItsIssuerNeedsIt) {
  EXPECT_EQ(errors_of(std::string(k_btp) + R"(credentials:
  web:
    issuer: ca
    sans: ["DNS:web.example"]
    sap: { service_instance_id: 5a1b }
  em:
    issuer: btp
)"),
            "test.yaml:20:5: sap: applies to credentials of issuers of type "
            "sap-service-manager, and issuer 'ca' is of type local; remove sap:, or name an "
            "issuer of that type\n"
            "test.yaml:22:13: credential 'em' of issuer 'btp' (type sap-service-manager) needs "
            "sap:; write sap: { service_instance_name: my-event-mesh, wrap: xsuaa, x509: { "
            "key-length: 2048, validity: 7, validity-type: DAYS } }");
}

TEST(SapIssuerConfig, BadSapSettingsSayWhatToWrite) {
  EXPECT_EQ(errors_of(std::string(k_btp) + R"(credentials:
  a:
    issuer: btp
    sap: { wrap: uaa, x509: { key-length: 3072, validity-type: WEEKS } }
  b:
    issuer: btp
    sap: { service_instance_id: x, service_instance_name: y, retire: 1h }
)"),
            "test.yaml:19:5: sap: needs exactly one of service_instance_id and "
            "service_instance_name; write service_instance_name: <the instance's name> (looked "
            "up once), or service_instance_id: <its id>\n"
            "test.yaml:19:18: wrap 'uaa' is unknown; write wrap: xsuaa for services that "
            "delegate to XSUAA (Event Mesh, Audit Log), or wrap: none for an XSUAA or Service "
            "Manager instance\n"
            "test.yaml:19:43: key-length 3072 is not offered; write 2048, 4096 or 8192\n"
            "test.yaml:19:64: validity-type 'WEEKS' is unknown; write DAYS (or MONTHS, YEARS "
            "where the service offers them)\n"
            "test.yaml:22:5: sap: needs exactly one of service_instance_id and "
            "service_instance_name; write service_instance_name: <the instance's name> (looked "
            "up once), or service_instance_id: <its id>\n"
            "test.yaml:22:62: unknown key 'retire' in sap; the keys allowed here are: "
            "service_instance_id, service_instance_name, wrap, x509, name_prefix, retire_after, "
            "service_key, self_managed");
}

TEST(SapIssuerConfig, TheIssuerNeedsSmUrlCaBundleAndToken) {
  EXPECT_EQ(errors_of("issuers:\n  a: { type: sap-service-manager }\n"),
            "test.yaml:2:3: issuer 'a' of type sap-service-manager needs sm_url; write sm_url: "
            "https://...\n"
            "test.yaml:2:3: issuer 'a' of type sap-service-manager needs ca_bundle; write "
            "ca_bundle: /etc/certrotd/ca-bundle.pem\n"
            "test.yaml:2:3: issuer 'a' of type sap-service-manager needs token; write token: { "
            "url: https://<subdomain>.authentication.cert.<landscape>/oauth/token, client_id: "
            "<clientid of the Service Manager binding>, method: tls_client_auth }");
}

TEST(SapIssuerConfig, ASelfManagedIssuerMustBeAnIssuerOfTheConfiguration) {
  EXPECT_EQ(errors_of(std::string(k_btp) + R"(credentials:
  a:
    issuer: btp
    sans: ["DNS:a.example"]
    sap: { service_instance_id: x, self_managed: { issuer: cq } }
)"),
            "test.yaml:20:60: credential 'a' names issuer 'cq', which is not defined; define it "
            "under issuers:, or name one of the issuers there");
  EXPECT_TRUE(test::parse(std::string(k_btp) + R"(credentials:
  a:
    issuer: btp
    sans: ["DNS:a.example"]
    sap: { service_instance_id: x, self_managed: { issuer: ca } }
)"));
}

TEST(SapIssuerConfig, StagedActivationIsRefusedWithSayWhyAndWhatInstead) {
  EXPECT_EQ(errors_of(std::string(k_btp) + R"(credentials:
  a:
    issuer: btp
    sap: { service_instance_id: x }
    activation: { mode: staged, activate_after: 1h }
)"),
            "test.yaml:20:5: activation: staged does not work with a sap-service-manager issuer "
            "yet: its upkeep deletes the staged version's binding, which is newer than the live "
            "one, and activating it would make a certificate live that no longer gets a token; "
            "remove activation:, or write activation: { mode: immediate }; retire_after keeps "
            "the replaced binding usable while consumers move to the new one");
}

TEST(SapIssuerConfig, ALongNamePrefixIsRefused) {
  EXPECT_EQ(errors_of(std::string(k_btp) +
                      "credentials:\n  a:\n    issuer: btp\n"
                      "    sap: { service_instance_id: x, name_prefix: " +
                      std::string(65, 'p') + " }\n"),
            "test.yaml:19:49: name_prefix is 65 characters long, more than 64; write a shorter "
            "name_prefix: every binding name also carries the host name and a time, and "
            "certrotd keeps the names of the bindings it made in its state");
}

}  // namespace
}  // namespace certrotd::config
