#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "issuer/cfssl/cfssl.hpp"
#include "issuer/http/http_issuer.hpp"
#include "issuer/local/ca_init.hpp"
#include "issuer/local/local.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "x509/csr.hpp"

namespace certrotd::issuer {
namespace {

using namespace std::chrono_literals;
using testing::value_of;
using x509::SanType;

class FakeTransport final : public http::Transport {
public:
  std::deque<http::Response> answers;
  std::vector<http::Request> requests;
  std::vector<std::string> forgotten;
  std::optional<http::FailureKind> fail_next;  // the next request fails this way

  http::HttpResult<http::Response> perform(const http::Request& request) override {
    requests.push_back(request);
    if (const auto kind = std::exchange(fail_next, std::nullopt)) {
      return tl::unexpected(
          http::Failure{*kind, "tlsv1 alert unknown ca", request.url, 0, std::nullopt, {}});
    }
    if (answers.empty()) {
      return tl::unexpected(http::Failure{
          http::FailureKind::timeout, "no answer queued", request.url, 0, std::nullopt, {}});
    }
    auto a = std::move(answers.front());
    answers.pop_front();
    return a;
  }
  void forget_identity(const std::string& id) override { forgotten.push_back(id); }

  void answer(long status, std::string body, std::string type = "application/json") {
    http::Response r;
    r.status = status;
    r.headers.emplace_back("content-type", std::move(type));
    r.body = std::move(body);
    answers.push_back(std::move(r));
  }
  void token() { answer(200, R"({"access_token":"AT","token_type":"Bearer","expires_in":600})"); }
};

std::string header(const http::Request& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

std::string one_line(std::string pem) {
  std::string out;
  for (char c : pem) {
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class NetworkIssuerTest : public ::testing::Test {
protected:
  NetworkIssuerTest() {
    CaInitOptions ca;
    ca.dir = m_dir / "ca";
    m_ca = value_of(init_ca(ca, m_clock, m_random), "ca init");
    LocalIssuerOptions local;
    local.ca_cert = m_ca.ca_cert;
    local.ca_key = m_ca.ca_key;
    m_local = value_of(LocalIssuer::create(local, m_clock, m_random));
    m_transport = std::make_shared<FakeTransport>();
    m_tokens = std::make_shared<auth::TokenClient>(*m_transport, m_clock);
    testing::write_text(m_dir / "secret", "boot-secret\n");
  }

  NetworkDeps deps() {
    NetworkDeps d;
    d.transport = m_transport;
    d.tokens = m_tokens;
    d.clock = &m_clock;
    d.warn = [this](const std::string& credential, const std::string& message) {
      m_warnings.push_back(credential + ": " + message);
    };
    return d;
  }

  HttpIssuerOptions http_options() {
    HttpIssuerOptions o;
    o.url = "https://pki.example/v1/certificates";
    o.ca_bundle = m_ca.ca_cert;
    o.mtls.source = MtlsAuth::Source::self;
    auth::TokenSettings t;
    t.url = "https://auth.example/token";
    t.client_id = "host-42";
    t.method = auth::ClientAuthMethod::tls_client_auth;
    o.token = t;
    return o;
  }

  // A CSR for web.example and, signed by the CA, the certificate the issuer would return.
  IssueRequest request(std::optional<CurrentCredential> current = {}) {
    IssueRequest r;
    r.credential = "web";
    r.request = testing::named("web.example", {{SanType::dns, "web.example"}});
    r.csr_pem = value_of(x509::build_csr(m_key, r.request));
    r.current = std::move(current);
    return r;
  }
  x509::Certificate signed_for(const IssueRequest& r) {
    return value_of(m_local->issue(r)).chain.front();
  }
  CurrentCredential current() {
    auto key = value_of(x509::generate_key(x509::KeySpec{}));
    IssueRequest r = request();
    r.csr_pem = value_of(x509::build_csr(key, r.request));
    return CurrentCredential{{signed_for(r)}, key};
  }

  testing::TempDir m_dir;
  ManualClock m_clock{testing::test_time()};
  SeededRandom m_random{9};
  CaInitResult m_ca;
  std::unique_ptr<LocalIssuer> m_local;
  std::shared_ptr<FakeTransport> m_transport;
  std::shared_ptr<auth::TokenClient> m_tokens;
  std::vector<std::string> m_warnings;
  x509::PrivateKey m_key = value_of(x509::generate_key(x509::KeySpec{}));
};

TEST_F(NetworkIssuerTest, RenewsOverMtlsWithTheCurrentCertificateAndABearerToken) {
  auto issuer = value_of(HttpIssuer::create(http_options(), deps()));
  const CurrentCredential now = current();
  IssueRequest r = request(now);
  m_transport->token();
  m_transport->answer(200,
                      nlohmann::json{{"certificate", one_line(signed_for(r).to_pem())}}.dump());
  auto issued = issuer->issue(r);
  ASSERT_TRUE(issued) << issued.error().what();
  ASSERT_EQ(issued->chain.size(), 1u);
  EXPECT_TRUE(x509::key_matches(m_key, issued->chain.front()));
  EXPECT_TRUE(issued->ca.empty());  // anchors come from configuration, never from the issuer

  ASSERT_EQ(m_transport->requests.size(), 2u);
  const auto& token = m_transport->requests[0];
  const auto& post = m_transport->requests[1];
  const std::string x5t = x509::x5t_s256(now.chain.front());
  ASSERT_TRUE(token.tls.client && post.tls.client);
  EXPECT_EQ(token.tls.client->id, x5t);
  EXPECT_EQ(post.tls.client->id, x5t);
  EXPECT_EQ(header(post, "Authorization"), "Bearer AT");
  EXPECT_EQ(nlohmann::json::parse(post.body).at("csr"), *r.csr_pem);
  EXPECT_TRUE(m_warnings.empty());
}

TEST_F(NetworkIssuerTest, BootstrapsAMissingCredentialWithTheSecretAndSaysSo) {
  HttpIssuerOptions o = http_options();
  BootstrapAuth boot;
  auth::TokenSettings t = *o.token;
  t.client_id = "bootstrap";
  t.method = auth::ClientAuthMethod::client_secret_basic;
  t.client_secret_file = m_dir / "secret";
  boot.token = t;
  o.bootstrap = boot;
  auto issuer = value_of(HttpIssuer::create(o, deps()));
  IssueRequest r = request();
  m_transport->token();
  m_transport->answer(200, signed_for(r).to_pem(), "application/pem-certificate-chain");
  auto issued = issuer->issue(r);
  ASSERT_TRUE(issued) << issued.error().what();
  ASSERT_EQ(m_warnings.size(), 1u);
  EXPECT_NE(m_warnings[0].find("BOOTSTRAP client secret"), std::string::npos);
  EXPECT_EQ(m_warnings[0].find("boot-secret"), std::string::npos);
  EXPECT_FALSE(m_transport->requests[0].tls.client);
  EXPECT_EQ(header(m_transport->requests[0], "Authorization").rfind("Basic ", 0), 0u);
}

TEST_F(NetworkIssuerTest, WithoutACredentialOrBootstrapItExplainsWhatToDo) {
  auto issuer = value_of(HttpIssuer::create(http_options(), deps()));
  auto issued = issuer->issue(request());
  ASSERT_FALSE(issued);
  EXPECT_NE(issued.error().message.find("no bootstrap auth is configured"), std::string::npos);
  EXPECT_TRUE(m_transport->requests.empty());
}

TEST_F(NetworkIssuerTest, AnExpiredCredentialCannotProveItself) {
  auto issuer = value_of(HttpIssuer::create(http_options(), deps()));
  const CurrentCredential old = current();
  m_clock.advance(48h);
  auto issued = issuer->issue(request(old));
  ASSERT_FALSE(issued);
  EXPECT_NE(issued.error().message.find("missing or expired"), std::string::npos);
}

TEST_F(NetworkIssuerTest, ANewCertificateDropsConnectionsAndTokensOfTheOldOne) {
  auto issuer = value_of(HttpIssuer::create(http_options(), deps()));
  const CurrentCredential first = current();
  const CurrentCredential second = current();
  IssueRequest r1 = request(first);
  m_transport->token();
  m_transport->answer(200, nlohmann::json{{"certificate", signed_for(r1).to_pem()}}.dump());
  ASSERT_TRUE(issuer->issue(r1));
  IssueRequest r2 = request(second);
  m_transport->token();  // a new token: the cached one belonged to the old certificate
  m_transport->answer(200, nlohmann::json{{"certificate", signed_for(r2).to_pem()}}.dump());
  ASSERT_TRUE(issuer->issue(r2));
  EXPECT_EQ(m_transport->forgotten, std::vector<std::string>{x509::x5t_s256(first.chain.front())});
  EXPECT_EQ(m_transport->requests.size(), 4u);
}

TEST_F(NetworkIssuerTest, ATokenRefusedWith401IsNotPresentedAgain) {
  auto issuer = value_of(HttpIssuer::create(http_options(), deps()));
  IssueRequest r = request(current());
  m_transport->token();
  m_transport->answer(401, R"({"error":"invalid_token"})");
  auto refused = issuer->issue(r);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, Reason::http_status);
  m_transport->answer(200, R"({"access_token":"AT2","token_type":"Bearer","expires_in":600})");
  m_transport->answer(200, nlohmann::json{{"certificate", signed_for(r).to_pem()}}.dump());
  ASSERT_TRUE(issuer->issue(r));
  ASSERT_EQ(m_transport->requests.size(), 4u);
  EXPECT_EQ(m_transport->requests[2].url, "https://auth.example/token");
  EXPECT_EQ(header(m_transport->requests[3], "Authorization"), "Bearer AT2");
}

TEST_F(NetworkIssuerTest, ARefusedClientCertificateIsNamedWithSubjectIssuerAndSerial) {
  HttpIssuerOptions o = http_options();
  o.token.reset();
  auto issuer = value_of(HttpIssuer::create(o, deps()));
  const CurrentCredential now = current();
  const x509::CertInfo& leaf = now.chain.front().info();
  m_transport->fail_next = http::FailureKind::tls_client_cert_rejected;
  auto refused = issuer->issue(request(now));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("unknown ca; presented the certificate of credential "
                                         "'web' (subject " +
                                         leaf.subject + ", issuer " + leaf.issuer + ", serial " +
                                         leaf.serial + ")"),
            std::string::npos)
      << refused.error().message;

  // Other trouble is not about the certificate.
  m_transport->fail_next = http::FailureKind::timeout;
  auto timeout = issuer->issue(request(now));
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error().message.find("presented"), std::string::npos)
      << timeout.error().message;
}

TEST_F(NetworkIssuerTest, ARefusedBootstrapCertificateIsNamedAsTheBootstrap) {
  const CurrentCredential boot = current();
  testing::write_text(m_dir / "boot.pem", boot.chain.front().to_pem());
  testing::write_text(m_dir / "boot.key", value_of(boot.key.to_pkcs8_pem()));
  CfsslIssuerOptions o;
  o.url = "https://cfssl.example:8888";
  o.ca_bundle = m_ca.ca_cert;
  o.mtls.source = MtlsAuth::Source::self;
  BootstrapAuth bootstrap;
  bootstrap.mtls.source = MtlsAuth::Source::files;
  bootstrap.mtls.cert = m_dir / "boot.pem";
  bootstrap.mtls.key = m_dir / "boot.key";
  o.bootstrap = bootstrap;
  auto issuer = value_of(CfsslIssuer::create(o, deps()));
  m_transport->fail_next = http::FailureKind::tls_client_cert_rejected;
  auto refused = issuer->issue(request());  // no current certificate: the bootstrap one is used
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("presented the bootstrap certificate " +
                                         (m_dir / "boot.pem").string() + " (subject " +
                                         boot.chain.front().info().subject + ", issuer " +
                                         boot.chain.front().info().issuer + ", serial " +
                                         boot.chain.front().info().serial + ")"),
            std::string::npos)
      << refused.error().message;
}

TEST_F(NetworkIssuerTest, BadAnswersAreReportedClearly) {
  HttpIssuerOptions o = http_options();
  http::Response r;
  r.status = 200;
  r.headers.emplace_back("content-type", "text/html");
  r.body = "<html>hi</html>";
  auto e = parse_issue_response(r, o, false);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("not JSON"), std::string::npos);
  r.headers.emplace_back("content-type", "application/json");
  r.body = R"({"cert":"x"})";
  e = parse_issue_response(r, o, false);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("no certificate string at /certificate"), std::string::npos);
  r.body = R"({"certificate":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"})";
  EXPECT_FALSE(parse_issue_response(r, o, false));
}

TEST_F(NetworkIssuerTest, ReadsAServerGeneratedKeyAndChainByPointer) {
  HttpIssuerOptions o = http_options();
  o.certificate_pointer = "/credentials/certificate";
  o.chain_pointer = "/credentials/chain";
  o.key_pointer = "/credentials/key";
  IssueRequest req = request();
  const std::string root = testing::read_text(m_ca.ca_cert);
  http::Response r;
  r.status = 200;
  r.headers.emplace_back("content-type", "application/json");
  r.body = nlohmann::json{{"credentials",
                           {{"certificate", one_line(signed_for(req).to_pem())},
                            {"chain", {root}},
                            {"key", one_line(value_of(m_key.to_pkcs8_pem()))}}}}
               .dump();
  auto issued = parse_issue_response(r, o, true);
  ASSERT_TRUE(issued) << issued.error().what();
  EXPECT_EQ(issued->chain.size(), 2u);
  ASSERT_TRUE(issued->key);
  EXPECT_TRUE(x509::key_matches(*issued->key, issued->chain.front()));
}

TEST_F(NetworkIssuerTest, CfsslSignsWithHostsAndProfile) {
  CfsslIssuerOptions o;
  o.url = "https://ca.example:8888/";
  o.ca_bundle = m_ca.ca_cert;
  o.mtls.source = MtlsAuth::Source::self;
  o.profile = "client";
  auto issuer = value_of(CfsslIssuer::create(o, deps()));
  IssueRequest r = request(current());
  m_transport->answer(
      200, nlohmann::json{{"success", true}, {"result", {{"certificate", signed_for(r).to_pem()}}}}
               .dump());
  auto issued = issuer->issue(r);
  ASSERT_TRUE(issued) << issued.error().what();
  const auto& post = m_transport->requests.at(0);
  EXPECT_EQ(post.url, "https://ca.example:8888/api/v1/cfssl/sign");
  const auto body = nlohmann::json::parse(post.body);
  EXPECT_EQ(body.at("hosts"), nlohmann::json::array({"web.example"}));
  EXPECT_EQ(body.at("profile"), "client");
  EXPECT_TRUE(post.tls.client);
}

TEST_F(NetworkIssuerTest, CfsslErrorsAndAuthsign) {
  CfsslIssuerOptions o;
  o.url = "https://ca.example:8888";
  o.ca_bundle = m_ca.ca_cert;
  testing::write_text(m_dir / "authkey", "0123456789abcdef0123456789abcdef\n");
  o.auth_key_file = m_dir / "authkey";
  auto issuer = value_of(CfsslIssuer::create(o, deps()));
  m_transport->answer(400, R"({"success":false,"errors":[{"code":2000,"message":"bad CSR"}]})");
  auto issued = issuer->issue(request());
  ASSERT_FALSE(issued);
  EXPECT_NE(issued.error().message.find("cfssl sign refused: bad CSR"), std::string::npos);
  const auto& post = m_transport->requests.at(0);
  EXPECT_EQ(post.url, "https://ca.example:8888/api/v1/cfssl/authsign");
  const auto body = nlohmann::json::parse(post.body);
  EXPECT_TRUE(body.contains("token"));
  EXPECT_TRUE(body.contains("request"));
}

}  // namespace
}  // namespace certrotd::issuer
