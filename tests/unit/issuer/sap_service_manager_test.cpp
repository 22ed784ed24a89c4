#include <gtest/gtest.h>

#include <openssl/pem.h>

#include <deque>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "issuer/sap_service_manager/sap_service_manager.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "x509/csr.hpp"
#include "x509/sign.hpp"

namespace certrotd::issuer {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::value_of;

class Recorder final : public http::Transport {
public:
  std::deque<http::Response> answers;
  std::vector<http::Request> requests;
  int tokens = 0;

  http::HttpResult<http::Response> perform(const http::Request& request) override {
    requests.push_back(request);
    // The token endpoint answers on its own: the token client caches, and tests queue only
    // what Service Manager says.
    if (request.url.find("/oauth/token") != std::string::npos) {
      ++tokens;
      http::Response r;
      r.status = 200;
      r.headers.emplace_back("content-type", "application/json");
      r.body = R"({"access_token":"AT","token_type":"bearer","expires_in":600})";
      return r;
    }
    if (answers.empty()) {
      return tl::unexpected(http::Failure{
          http::FailureKind::timeout, "no answer queued", request.url, 0, std::nullopt, {}});
    }
    auto a = std::move(answers.front());
    answers.pop_front();
    return a;
  }
  void forget_identity(const std::string&) override {}

  void answer(long status, std::string body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Response r;
    r.status = status;
    r.headers = std::move(headers);
    r.headers.emplace_back("content-type", "application/json");
    r.body = std::move(body);
    answers.push_back(std::move(r));
  }
  void no_bindings() { answer(200, R"({"num_items":0,"items":[]})"); }
};

std::string pkcs1(const x509::PrivateKey& key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey_traditional(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string one_line(const std::string& pem) {
  std::string out;
  for (const char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

class SapIssuerTest : public ::testing::Test {
protected:
  SapIssuerTest() {
    testing::write_text(m_dir / "bundle.pem", m_root.cert.to_pem());
    m_tokens = std::make_shared<auth::TokenClient>(*m_transport, m_clock);
    m_sap->service_instance_id = "inst-1";
  }

  std::unique_ptr<SapServiceManagerIssuer> issuer(bool with_bootstrap = false) {
    SapIssuerOptions o;
    o.url = "https://sm.example/";
    o.ca_bundle = m_dir / "bundle.pem";
    o.host = "Web-01.example";
    o.mtls.source = MtlsAuth::Source::self;
    o.token.url = "https://sub.authentication.cert.example/oauth/token";
    o.token.client_id = "sb-sm!b1";
    if (with_bootstrap) {
      BootstrapAuth boot;
      auth::TokenSettings t;
      t.url = "https://sub.authentication.example/oauth/token";
      t.client_id = "sb-sm!b1";
      t.method = auth::ClientAuthMethod::client_secret_post;
      t.client_secret_file = m_dir / "secret";
      testing::write_text(m_dir / "secret", "s3cr3t\n");
      boot.token = t;
      o.bootstrap = boot;
    }
    NetworkDeps d;
    d.transport = m_transport;
    d.tokens = m_tokens;
    d.clock = &m_clock;
    d.warn = [this](const std::string& c, const std::string& m) {
      m_notes.push_back(c + ": " + m);
    };
    return value_of(SapServiceManagerIssuer::create(o, d));
  }

  testing::KeyPair leaf(const std::string& cn = "sb-eventmesh!b2") {
    return testing::issue_from(m_root, m_random, testing::named(cn), m_clock.wall_now() - 1min,
                               m_clock.wall_now() + 24h * 7, false,
                               x509::KeySpec{x509::KeyType::rsa, "P-256", 2048});
  }
  std::string binding(const std::string& id, const testing::KeyPair& pair, bool nested = false) {
    json creds = {{"credential-type", "x509"},
                  {"clientid", "sb-eventmesh!b2"},
                  {"certurl", "https://sub.authentication.cert.example"},
                  // Copies of service keys often carry the two characters \ n for a line break.
                  {"certificate", nested ? pair.cert.to_pem() + m_root.cert.to_pem()
                                         : one_line(pair.cert.to_pem() + m_root.cert.to_pem())},
                  {"key", pkcs1(pair.key)}};
    if (nested) creds = {{"uaa", creds}, {"messaging", json::array()}};
    return json{{"id", id}, {"name", "n"}, {"credentials", creds}}.dump();
  }
  IssueRequest request(std::optional<std::string> state = std::nullopt,
                       std::optional<CurrentCredential> current = std::nullopt) {
    IssueRequest r;
    r.credential = "eventmesh";
    r.options = m_sap;
    r.state = std::move(state);
    r.current = std::move(current);
    if (!r.current) r.current = CurrentCredential{{m_live.cert}, m_live.key};
    return r;
  }
  const http::Request& sent(std::size_t i) const { return m_transport->requests.at(i); }

  testing::TempDir m_dir;
  ManualClock m_clock{testing::test_time()};
  SeededRandom m_random{13};
  testing::KeyPair m_root = testing::make_root(m_random, testing::test_time() - 24h,
                                               testing::test_time() + 24h * 365);
  testing::KeyPair m_live = leaf("sb-sm!b1");
  std::shared_ptr<Recorder> m_transport = std::make_shared<Recorder>();
  std::shared_ptr<auth::TokenClient> m_tokens;
  std::shared_ptr<SapCredentialOptions> m_sap = std::make_shared<SapCredentialOptions>();
  std::vector<std::string> m_notes;
};

TEST_F(SapIssuerTest, BindingNamesCarryPrefixCleanHostAndUtcTime) {
  EXPECT_EQ(sap_binding_name("certrotd", "Web_01.Example", testing::test_time()),
            "certrotd-web-01-example-20251218T070000Z");
}

TEST_F(SapIssuerTest, CreatesABindingSynchronouslyAndReadsItsCertificateAndPkcs1Key) {
  auto sm = issuer();
  const auto pair = leaf();
  m_sap->wrap = SapWrap::xsuaa;
  m_transport->no_bindings();
  m_transport->answer(201, R"({"id":"b-1","name":"x"})");
  m_transport->answer(200, binding("b-1", pair, true));
  auto outcome = value_of(sm->issue_outcome(request()));
  auto* issued = std::get_if<IssuedCredential>(&outcome.answer);
  ASSERT_TRUE(issued);
  ASSERT_EQ(issued->chain.size(), 2u);
  ASSERT_TRUE(issued->key);
  EXPECT_TRUE(x509::key_matches(*issued->key, issued->chain.front()));

  ASSERT_EQ(m_transport->requests.size(), 4u);
  // The token over mTLS with the current certificate, then every call with the Bearer token.
  EXPECT_EQ(sent(0).url, "https://sub.authentication.cert.example/oauth/token");
  ASSERT_TRUE(sent(0).tls.client);
  EXPECT_TRUE(testing::contains(sent(1).url, "/v1/service_bindings?labelQuery="));
  const http::Request& post = sent(2);
  EXPECT_EQ(post.url, "https://sm.example/v1/service_bindings?async=true");
  EXPECT_EQ(post.method, http::Method::post);
  const json body = json::parse(post.body);
  EXPECT_EQ(body["name"], "certrotd-web-01-example-20251218T070000Z");
  EXPECT_EQ(body["service_instance_id"], "inst-1");
  EXPECT_EQ(body["labels"]["managed_by"], json::array({"certrotd"}));
  EXPECT_EQ(body["labels"]["credential"], json::array({"eventmesh"}));
  EXPECT_EQ(body["labels"]["host"], json::array({"Web-01.example"}));
  EXPECT_EQ(body["parameters"]["xsuaa"]["x509"]["key-length"], 2048);
  EXPECT_EQ(body["parameters"]["xsuaa"]["credential-type"], "x509");
  EXPECT_EQ(sent(3).url, "https://sm.example/v1/service_bindings/b-1");
  for (std::size_t i = 1; i < 4; ++i) {
    bool bearer = false;
    for (const auto& [n, v] : sent(i).headers)
      bearer = bearer || (n == "Authorization" && v == "Bearer AT");
    EXPECT_TRUE(bearer) << i;
  }
  ASSERT_TRUE(outcome.state);
  EXPECT_TRUE(testing::contains(*outcome.state, "\"b-1\""));
}

TEST_F(SapIssuerTest, BindingJsonHoldsTheNonSecretFieldsAndTheServiceKeyOnlyWhenAskedFor) {
  const json creds = {
      {"credential-type", "x509"},
      {"clientid", "sb-x!b2"},
      {"clientsecret", "VERYSECRET"},
      {"certurl", "https://sub.authentication.cert.example"},
      {"xsappname", "x!b2"},
      {"identityzone", "sub"},
      {"certificate", "-----BEGIN CERTIFICATE-----"},
      {"key", "-----BEGIN RSA PRIVATE KEY-----"},
      {"private_key", "PK-VALUE"},
      {"apikey", "APIKEY-VALUE"},
      {"access_token", "ACCESS-VALUE"},
      {"verificationkey", "-----BEGIN PUBLIC KEY-----"},
      {"signing", "-----BEGIN EC PRIVATE KEY-----\nAAAA"},
      {"pems", {"-----BEGIN PRIVATE KEY-----\nBBBB"}},
      {"uri", "postgres://admin:DBPASS@db.example:5432/app?x=1"},
      {"url", "https://api.example/v1"},
      {"messaging",
       {{{"oa2", {{"clientid", "c"}, {"clientSecret", "S2"}, {"tokenendpoint", "t"}}},
         {"password", "P"}}}}};
  const json pub = public_binding_fields(creds);
  EXPECT_EQ(pub["clientid"], "sb-x!b2");
  EXPECT_EQ(pub["certurl"], "https://sub.authentication.cert.example");
  EXPECT_EQ(pub["xsappname"], "x!b2");
  EXPECT_EQ(pub["identityzone"], "sub");
  EXPECT_EQ(pub["messaging"][0]["oa2"]["tokenendpoint"], "t");
  EXPECT_EQ(pub["verificationkey"], "-----BEGIN PUBLIC KEY-----") << "a public key stays";
  EXPECT_EQ(pub["uri"], "postgres://db.example:5432/app?x=1");
  EXPECT_EQ(pub["url"], "https://api.example/v1");
  EXPECT_TRUE(pub["pems"].empty());
  const std::string text = pub.dump();
  for (const char* secret : {"VERYSECRET", "S2", "\"P\"", "PRIVATE KEY", "BEGIN CERTIFICATE",
                             "PK-VALUE", "APIKEY-VALUE", "ACCESS-VALUE", "DBPASS", "admin"}) {
    EXPECT_FALSE(testing::contains(text, secret)) << secret;
  }

  auto sm = issuer();
  const auto pair = leaf();
  const auto issue = [&] {
    m_transport->answers.clear();
    m_transport->no_bindings();
    m_transport->answer(201, R"({"id":"b-1"})");
    m_transport->answer(200, binding("b-1", pair));
    auto outcome = value_of(sm->issue_outcome(request()));
    return std::get<IssuedCredential>(std::move(outcome.answer)).files;
  };
  auto files = issue();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].name, "binding.json");
  EXPECT_FALSE(files[0].secret);
  const json written = json::parse(files[0].content);
  EXPECT_EQ(written["clientid"], "sb-eventmesh!b2");
  EXPECT_FALSE(written.contains("key"));

  m_sap->service_key = true;
  files = issue();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[1].name, "service-key.json");
  EXPECT_TRUE(files[1].secret);
  const json key = json::parse(files[1].content);
  EXPECT_EQ(key["key"], pkcs1(pair.key));
  EXPECT_EQ(key["clientid"], "sb-eventmesh!b2");
}

// The issuer of a self-managed credential: signs the CSR it is given with the test root.
class SigningIssuer final : public Issuer {
public:
  SigningIssuer(const testing::KeyPair& root, Random& random, SystemTime now)
      : m_root(root), m_random(random), m_now(now) {}
  std::string_view type() const override { return "signing"; }
  Result<IssuedCredential> issue(const IssueRequest& request) override {
    csrs.push_back(request.csr_pem.value_or(""));
    auto csr = x509::parse_csr(csrs.back());
    if (!csr) return fail(csr.error());
    x509::SignOptions sign;
    sign.subject_public_key = csr->public_key.get();
    sign.request = csr->request;
    sign.not_before = m_now;
    sign.not_after = m_now + std::chrono::hours(24);
    sign.issuer_cert = &m_root.cert;
    sign.issuer_key = &m_root.key;
    auto cert = x509::sign_certificate(sign, m_random);
    if (!cert) return fail(cert.error());
    IssuedCredential out;
    out.chain.push_back(std::move(*cert));
    return out;
  }
  std::vector<std::string> csrs;

private:
  const testing::KeyPair& m_root;
  Random& m_random;
  SystemTime m_now;
};

TEST_F(SapIssuerTest, ASelfManagedBindingGetsTheOtherIssuersCertificateAndNeverTheKey) {
  auto signer = std::make_shared<SigningIssuer>(m_root, m_random, m_clock.wall_now());
  SapIssuerOptions o;
  o.url = "https://sm.example";
  o.ca_bundle = m_dir / "bundle.pem";
  o.host = "h";
  o.mtls.source = MtlsAuth::Source::self;
  o.token.url = "https://sub.authentication.cert.example/oauth/token";
  NetworkDeps d;
  d.transport = m_transport;
  d.tokens = m_tokens;
  d.clock = &m_clock;
  auto sm = value_of(SapServiceManagerIssuer::create(
      o, d, [&](const std::string& name) -> std::shared_ptr<Issuer> {
        return name == "ca" ? signer : nullptr;
      }));
  m_sap->self_managed = SapSelfManaged{"ca"};
  m_sap->service_key = true;
  IssueRequest r = request();
  r.request = testing::named("app.example", {x509::San{x509::SanType::dns, "app.example"}});
  r.key = x509::KeySpec{};
  m_transport->no_bindings();
  m_transport->answer(201, R"({"id":"b-s"})");
  m_transport->answer(
      200,
      R"({"id":"b-s","credentials":{"credential-type":"x509","clientid":"sb-s","certificate-pinning":true}})");
  auto outcome = value_of(sm->issue_outcome(r));
  auto* issued = std::get_if<IssuedCredential>(&outcome.answer);
  ASSERT_TRUE(issued);
  ASSERT_EQ(signer->csrs.size(), 1u);
  ASSERT_TRUE(issued->key);
  EXPECT_TRUE(x509::key_matches(*issued->key, issued->chain.front()));

  const http::Request& post = sent(2);
  EXPECT_EQ(post.url, "https://sm.example/v1/service_bindings?async=false");
  EXPECT_FALSE(testing::contains(post.body, "PRIVATE KEY")) << "the key never leaves the host";
  const json body = json::parse(post.body);
  EXPECT_EQ(body["parameters"]["x509"]["certificate"], issued->chain.front().to_pem());
  EXPECT_EQ(body["parameters"]["x509"]["certificate-pinning"], true);
  EXPECT_FALSE(body["parameters"]["x509"].contains("key-length"));
  // The service key has the local key next to the certificate, as a service-managed one would.
  ASSERT_EQ(issued->files.size(), 2u);
  const json key = json::parse(issued->files[1].content);
  EXPECT_TRUE(testing::contains(key["key"].get<std::string>(), "PRIVATE KEY"));
  EXPECT_EQ(key["clientid"], "sb-s");
  EXPECT_TRUE(testing::contains(*outcome.state, "b-s"));

  // An issuer that is not there is a configuration error, not a retry.
  m_sap->self_managed = SapSelfManaged{"nope"};
  m_transport->no_bindings();
  auto missing = sm->issue_outcome(r);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().reason, Reason::config);
}

TEST_F(SapIssuerTest, An202IsPolledThroughItsOperationAcrossCallsWithRetryAfter) {
  auto sm = issuer();
  m_transport->no_bindings();
  m_transport->answer(202, "{}",
                      {{"location", "/v1/service_bindings/b-7/operations/op-1"},
                       {"retry-after", "Thu, 18 Dec 2025 07:00:30 GMT"}});
  auto first = value_of(sm->issue_outcome(request()));
  auto* later = std::get_if<NotYet>(&first.answer);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->retry_after, Millis(30s));
  ASSERT_TRUE(first.state);

  // The state survives a restart: a new issuer goes on polling instead of creating another.
  auto restarted = issuer();
  m_transport->requests.clear();
  m_transport->answer(200, R"({"state":"in progress","type":"CREATE"})", {{"retry-after", "5"}});
  auto second = value_of(restarted->issue_outcome(request(first.state)));
  ASSERT_TRUE(std::holds_alternative<NotYet>(second.answer));
  EXPECT_EQ(std::get<NotYet>(second.answer).retry_after, Millis(5s));
  EXPECT_EQ(sent(m_transport->requests.size() - 1).url,
            "https://sm.example/v1/service_bindings/b-7/operations/op-1");

  const auto pair = leaf();
  m_transport->answer(200, R"({"state":"Succeeded","resource_id":"b-7"})");
  m_transport->answer(200, binding("b-7", pair));
  auto third = value_of(restarted->issue_outcome(request(second.state)));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(third.answer));
  EXPECT_FALSE(testing::contains(*third.state, "pending"));
}

TEST_F(SapIssuerTest, EachRefusalSaysWhatAnOperatorCanDo) {
  auto sm = issuer();
  const auto attempt = [&](long status, std::vector<std::pair<std::string, std::string>> h = {}) {
    m_transport->answers.clear();
    m_transport->no_bindings();
    m_transport->answer(status, R"({"error":"X","description":"said by SM"})", std::move(h));
    auto r = sm->issue_outcome(request());
    EXPECT_FALSE(r);
    return r ? Error{} : r.error();
  };
  Error e = attempt(403);
  EXPECT_FALSE(e.retryable());
  EXPECT_TRUE(testing::contains(e.message, "subaccount.service_binding.manage")) << e.message;
  e = attempt(409);
  EXPECT_TRUE(e.retryable());
  EXPECT_TRUE(testing::contains(e.message, "name is taken")) << e.message;
  e = attempt(422, {{"retry-after", "20"}});
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(e.retry_after, Millis(20s));
  EXPECT_TRUE(testing::contains(e.message, "another operation")) << e.message;
  e = attempt(429, {{"retry-after", "Thu, 18 Dec 2025 07:02:00 GMT"}});
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(e.retry_after, Millis(120s));
  EXPECT_EQ(e.reason, Reason::rate_limited);
  e = attempt(503);
  EXPECT_TRUE(e.retryable());
  EXPECT_TRUE(testing::contains(e.message, "said by SM")) << e.message;
  e = attempt(401);
  EXPECT_TRUE(e.retryable());
  EXPECT_TRUE(testing::contains(e.message, "refused the token")) << e.message;
}

TEST_F(SapIssuerTest, AFailedOperationAndABindingWithoutCertificateAreExplained) {
  auto sm = issuer();
  const std::string pending =
      R"({"pending":{"id":"b-9","name":"n9","operation":"/v1/service_bindings/b-9/operations/o"},"given":[]})";
  m_transport->answer(
      200,
      R"({"state":"failed","errors":[{"error":"BrokerError","description":"validity 40 exceeds 30 days"}]})");
  auto failed = sm->issue_outcome(request(pending));
  ASSERT_FALSE(failed);
  EXPECT_FALSE(failed.error().retryable());
  EXPECT_TRUE(testing::contains(failed.error().message, "validity 40 exceeds 30 days"));

  m_transport->no_bindings();
  m_transport->answer(201, R"({"id":"b-10"})");
  m_transport->answer(
      200,
      R"({"id":"b-10","credentials":{"credential-type":"binding-secret","clientid":"c","clientsecret":"VERYSECRET"}})");
  auto secret = sm->issue_outcome(request());
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error().reason, Reason::invalid_answer);
  EXPECT_TRUE(testing::contains(secret.error().message, "credential-type binding-secret"));
  EXPECT_FALSE(testing::contains(secret.error().message, "VERYSECRET"));
}

TEST_F(SapIssuerTest, OrphansAndExpiredReplacementsAreDeletedBeforeCreatingButNotTheLiveOne) {
  auto sm = issuer();
  const auto old = leaf();
  const std::string live_serial = m_live.cert.info().serial;
  const auto at = [](SystemTime t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  const SystemTime now = m_clock.wall_now();
  // b-old was replaced 30 minutes ago (still in its hour), b-live is live, b-new never was.
  const std::string state = R"({"given":[{"id":"b-old","serial":")" + old.cert.info().serial +
                            R"(","not_after":)" + at(now + 24h) + R"(,"issued_at":)" +
                            at(now - 48h) + R"(},{"id":"b-live","serial":")" + live_serial +
                            R"(","not_after":)" + at(now + 24h) + R"(,"issued_at":)" +
                            at(now - 30min) + R"(},{"id":"b-new","serial":"0abc","not_after":)" +
                            at(now + 24h) + R"(,"issued_at":)" + at(now - 1min) + "}]}";
  m_transport->answer(200, R"({"items":[{"id":"b-old"},{"id":"b-live"}],"token":"p2"})");
  m_transport->answer(200, R"({"items":[{"id":"b-new"},{"id":"b-lost"}]})");
  m_transport->answer(200, "{}");
  m_transport->answer(404, R"({"error":"NotFound"})");
  m_transport->answer(201, R"({"id":"b-next"})");
  m_transport->answer(200, binding("b-next", leaf()));
  auto outcome = value_of(sm->issue_outcome(request(state)));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  std::vector<std::string> deleted;
  for (const auto& r : m_transport->requests) {
    if (r.method == http::Method::del) deleted.push_back(r.url);
  }
  EXPECT_EQ(deleted, (std::vector<std::string>{
                         "https://sm.example/v1/service_bindings/b-new?async=false",
                         "https://sm.example/v1/service_bindings/b-lost?async=false"}));
  EXPECT_TRUE(testing::contains(sent(2).url, "token=p2"));
  const std::string given = json::parse(*outcome.state)["given"].dump();
  EXPECT_FALSE(testing::contains(given, "b-new"));
  EXPECT_TRUE(testing::contains(given, "b-old"));
  EXPECT_TRUE(testing::contains(json::parse(*outcome.state)["retired"].dump(), "b-new"));

  // Forty minutes later the replaced one's hour is up.
  m_clock.advance(40min);
  m_transport->requests.clear();
  m_transport->answer(200, R"({"items":[{"id":"b-old"},{"id":"b-live"}]})");
  m_transport->answer(200, "{}");
  m_transport->answer(201, R"({"id":"b-n2"})");
  m_transport->answer(200, binding("b-n2", leaf()));
  auto second = value_of(sm->issue_outcome(request(state)));
  deleted.clear();
  for (const auto& r : m_transport->requests) {
    if (r.method == http::Method::del) deleted.push_back(r.url);
  }
  EXPECT_EQ(deleted,
            (std::vector<std::string>{"https://sm.example/v1/service_bindings/b-old?async=false"}));

  // A rollback to the version of b-old is refused now, with why; the live one's is not.
  auto refused = sm->can_restore(RestoreRequest{"eventmesh", old.cert.info().serial, second.state});
  ASSERT_FALSE(refused);
  EXPECT_FALSE(refused.error().retryable());
  EXPECT_TRUE(testing::contains(refused.error().message, "b-old")) << refused.error().message;
  EXPECT_TRUE(testing::contains(refused.error().message, "was deleted")) << refused.error().message;
  EXPECT_TRUE(sm->can_restore(RestoreRequest{"eventmesh", live_serial, second.state}));
  // Before the deletion it was still allowed.
  EXPECT_TRUE(sm->can_restore(RestoreRequest{"eventmesh", old.cert.info().serial, outcome.state}));
}

TEST_F(SapIssuerTest, UpkeepDeletesTheReplacedBindingWhenItsTimeIsUpAndRecordsIt) {
  auto sm = issuer();
  EXPECT_EQ(sm->upkeep_mode(), UpkeepMode::also_at_start) << "orphans go at every start";
  m_sap->retire_after = 10min;
  const auto old = leaf();
  const auto at = [](SystemTime t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  const SystemTime now = m_clock.wall_now();
  // b-old was replaced 4 minutes ago by b-live; b-lost was created and never installed.
  const std::string state = R"({"given":[{"id":"b-old","name":"n-old","serial":")" +
                            old.cert.info().serial + R"(","not_after":)" + at(now + 24h) +
                            R"(,"issued_at":)" + at(now - 48h) + R"(},{"id":"b-live","serial":")" +
                            m_live.cert.info().serial + R"(","not_after":)" + at(now + 24h) +
                            R"(,"issued_at":)" + at(now - 4min) + "}]}";
  const auto deletions = [&] {
    std::vector<std::string> out;
    for (const auto& r : m_transport->requests) {
      if (r.method == http::Method::del) out.push_back(r.url);
    }
    return out;
  };
  UpkeepRequest u{"eventmesh", CurrentCredential{{m_live.cert}, m_live.key}, {}, state, m_sap};
  m_transport->answer(200, R"({"items":[{"id":"b-old"},{"id":"b-live"},{"id":"b-lost"}]})");
  m_transport->answer(200, "{}");
  auto first = value_of(sm->upkeep(u));
  EXPECT_EQ(deletions(),
            (std::vector<std::string>{"https://sm.example/v1/service_bindings/b-lost?async=false"}))
      << "the orphan goes, the replaced one is in its grace period, the live one stays";
  EXPECT_EQ(first.next, Millis(6min)) << "called again when b-old's retire_after is up";
  EXPECT_TRUE(testing::contains(first.summary, "b-lost")) << first.summary;

  m_clock.advance(6min);
  m_transport->requests.clear();
  u.state = first.state;
  m_transport->answer(200, R"({"items":[{"id":"b-old"},{"id":"b-live"}]})");
  m_transport->answer(200, "{}");
  auto second = value_of(sm->upkeep(u));
  EXPECT_EQ(deletions(),
            (std::vector<std::string>{"https://sm.example/v1/service_bindings/b-old?async=false"}));
  EXPECT_FALSE(second.next.has_value()) << "nothing left to retire: not before the next issuance";
  const json kept = json::parse(*second.state);
  ASSERT_TRUE(kept.contains("retired"));
  json retired = kept["retired"].back();
  retired.erase("at");
  EXPECT_EQ(retired, (json{{"id", "b-old"}, {"name", "n-old"}, {"serial", old.cert.info().serial}}))
      << "a rollback to b-old's version can be refused";
  EXPECT_EQ(kept["given"].size(), 1u);

  // A binding being created is never listed away under the rotation that waits for it.
  m_transport->requests.clear();
  u.state = R"({"pending":{"id":"","name":"n","operation":"/v1/service_bindings/x/operations/1"}})";
  auto waiting = value_of(sm->upkeep(u));
  EXPECT_TRUE(m_transport->requests.empty());
  EXPECT_EQ(waiting.state, u.state);
}

TEST_F(SapIssuerTest, AnIssuanceSaysWhenTheBindingItReplacesIsDue) {
  auto sm = issuer();
  m_sap->retire_after = 2min;
  m_transport->no_bindings();
  m_transport->answer(201, R"({"id":"b-next"})");
  m_transport->answer(200, binding("b-next", leaf()));
  auto outcome = value_of(sm->issue_outcome(request()));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  EXPECT_EQ(outcome.upkeep_after, Millis(2min));
  m_sap->retire_after.reset();
  m_transport->no_bindings();
  m_transport->answer(201, R"({"id":"b-n2"})");
  m_transport->answer(200, binding("b-n2", leaf()));
  auto later = value_of(sm->issue_outcome(request()));
  EXPECT_EQ(later.upkeep_after, Millis(1h)) << "the default: at most an hour after the swap";
}

TEST_F(SapIssuerTest, WithoutStateTheLiveBindingIsFoundByItsCertificateAndSpared) {
  auto sm = issuer();
  const auto other = leaf();
  m_transport->answer(200, R"({"items":[{"id":"b-orphan"},{"id":"b-live"}]})");
  m_transport->answer(200, binding("b-orphan", other));
  m_transport->answer(200, binding("b-live", m_live));
  m_transport->answer(200, "{}");
  m_transport->answer(201, R"({"id":"b-next"})");
  m_transport->answer(200, binding("b-next", leaf()));
  auto outcome = value_of(sm->issue_outcome(request()));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  std::vector<std::string> deleted;
  for (const auto& r : m_transport->requests) {
    if (r.method == http::Method::del) deleted.push_back(r.url);
  }
  EXPECT_EQ(
      deleted,
      (std::vector<std::string>{"https://sm.example/v1/service_bindings/b-orphan?async=false"}));
  EXPECT_TRUE(testing::contains(*outcome.state, "b-live"));
}

TEST_F(SapIssuerTest, WithoutACertificateTheBootstrapSecretGetsTheToken) {
  auto sm = issuer(true);
  IssueRequest r = request();
  r.current.reset();
  m_transport->no_bindings();
  m_transport->answer(201, R"({"id":"b-1"})");
  m_transport->answer(200, binding("b-1", leaf()));
  auto outcome = value_of(sm->issue_outcome(r));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  EXPECT_EQ(sent(0).url, "https://sub.authentication.example/oauth/token");
  EXPECT_FALSE(sent(0).tls.client);
  EXPECT_TRUE(testing::contains(sent(0).body, "client_secret=s3cr3t"));
  ASSERT_FALSE(m_notes.empty());
  EXPECT_TRUE(testing::contains(m_notes.front(), "BOOTSTRAP"));
}

TEST_F(SapIssuerTest, EachReplacedBindingsGraceStartsWithTheSwapThatReplacedIt) {
  auto sm = issuer();
  m_sap->retire_after = 10min;
  const auto at = [](SystemTime t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  const SystemTime now = m_clock.wall_now();
  // b-a was replaced by b-b 20 minutes ago (its 10 minutes are up), b-b by b-live 4 minutes ago.
  const auto given = [&](const std::string& id, const std::string& serial, SystemTime issued) {
    return R"({"id":")" + id + R"(","serial":")" + serial + R"(","not_after":)" + at(now + 24h) +
           R"(,"issued_at":)" + at(issued) + "}";
  };
  const std::string state = R"({"given":[)" + given("b-a", "0a", now - 48h) + "," +
                            given("b-b", "0b", now - 20min) + "," +
                            given("b-live", m_live.cert.info().serial, now - 4min) + "]}";
  UpkeepRequest u{"eventmesh", CurrentCredential{{m_live.cert}, m_live.key}, {}, state, m_sap};
  m_transport->answer(200, R"({"items":[{"id":"b-a"},{"id":"b-b"},{"id":"b-live"}]})");
  m_transport->answer(200, "{}");
  auto outcome = value_of(sm->upkeep(u));
  std::vector<std::string> deleted;
  for (const auto& r : m_transport->requests) {
    if (r.method == http::Method::del) deleted.push_back(r.url);
  }
  EXPECT_EQ(deleted,
            (std::vector<std::string>{"https://sm.example/v1/service_bindings/b-a?async=false"}));
  EXPECT_EQ(outcome.next, Millis(6min)) << "b-b's 10 minutes from its own replacement";
}

TEST_F(SapIssuerTest, TheStateDropsTheOldestRetiredBindingsToStayWithinItsCap) {
  auto sm = issuer();
  m_sap->name_prefix = std::string(64, 'p');
  const auto at = [](SystemTime t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  const SystemTime now = m_clock.wall_now();
  std::string retired;
  for (int i = 0; i < 8; ++i) {
    if (i > 0) retired += ",";
    retired += R"({"id":"b-r)" + std::to_string(i) + R"(","name":")" + std::string(400, 'n') +
               R"(","serial":"0)" + std::to_string(i) + R"(","at":)" + at(now - 1h) + "}";
  }
  const std::string state = R"({"given":[{"id":"b-live","name":")" + std::string(200, 'n') +
                            R"(","serial":")" + m_live.cert.info().serial + R"(","not_after":)" +
                            at(now + 24h) + R"(,"issued_at":)" + at(now - 1h) +
                            R"(}],"retired":[)" + retired + "]}";
  ASSERT_GT(state.size(), 3000u);
  m_transport->answer(200, R"({"items":[{"id":"b-live"}]})");
  m_transport->answer(201, R"({"id":"b-next"})");
  m_transport->answer(200, binding("b-next", leaf()));
  auto outcome = value_of(sm->issue_outcome(request(state)));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  ASSERT_TRUE(outcome.state);
  EXPECT_LE(outcome.state->size(), k_max_issuer_state);
  const json kept = json::parse(*outcome.state);
  const std::string given = kept["given"].dump();
  EXPECT_TRUE(testing::contains(given, "b-live"));
  EXPECT_TRUE(testing::contains(given, "b-next"));
  const std::string gone = kept["retired"].dump();
  EXPECT_FALSE(testing::contains(gone, "\"b-r0\"")) << "the oldest retired went first";
  EXPECT_TRUE(testing::contains(gone, "\"b-r7\"")) << "the newest retired stays";
}

}  // namespace
}  // namespace certrotd::issuer
