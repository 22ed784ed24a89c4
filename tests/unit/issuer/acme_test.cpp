#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ecdsa.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "issuer/acme/acme.hpp"
#include "issuer/acme/http01.hpp"
#include "issuer/local/ca_init.hpp"
#include "issuer/local/local.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "util/encoding.hpp"
#include "util/rfc3339.hpp"
#include "x509/csr.hpp"

namespace certrotd::issuer {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::value_of;

// A decoded JWS request as the fake server sees it.
struct Seen {
  std::string url;
  json header;
  std::string payload;  // decoded; "" for POST-as-GET
  json body;            // the flattened JWS as sent
};

Seen decode(const http::Request& request) {
  Seen s;
  s.url = request.url;
  if (request.method != http::Method::post) return s;
  const auto body = json::parse(request.body);
  s.body = body;
  s.header = json::parse(value_of(base64url_decode(body["protected"].get<std::string>())));
  s.payload = value_of(base64url_decode(body["payload"].get<std::string>()));
  return s;
}

// An ACME server in memory: each URL answers through a handler; every answer carries a fresh
// Replay-Nonce, and the nonce of each signed request is checked against those handed out.
class FakeAcme final : public http::Transport {
public:
  using Handler = std::function<http::Response(const Seen&)>;
  std::map<std::string, Handler> routes;
  std::vector<Seen> seen;
  int bad_nonces = 0;  // refuse this many signed requests with badNonce
  // URLs whose answer is lost on the way back (reset): the route still runs.
  std::set<std::string> lost_answers;
  std::vector<std::string> used_nonces;
  json directory = {{"newNonce", "https://ca.test/nonce"},
                    {"newAccount", "https://ca.test/account"},
                    {"newOrder", "https://ca.test/order"},
                    {"revokeCert", "https://ca.test/revoke"}};

  http::HttpResult<http::Response> perform(const http::Request& request) override {
    Seen s = decode(request);
    seen.push_back(s);
    http::Response r;
    if (request.url == "https://ca.test/dir") {
      r = json_answer(200, directory);
    } else if (request.url == "https://ca.test/nonce") {
      r.status = 200;
    } else if (request.method == http::Method::post && bad_nonces > 0) {
      --bad_nonces;
      r = problem(400, "badNonce", "stale");
    } else if (auto it = routes.find(request.url); it != routes.end()) {
      if (request.method == http::Method::post) used_nonces.push_back(s.header.value("nonce", ""));
      r = it->second(s);
      if (lost_answers.count(request.url) != 0) {
        return tl::unexpected(http::Failure{
            http::FailureKind::transport, "connection reset", request.url, 0, std::nullopt, {}});
      }
    } else {
      r = problem(404, "malformed", "no such thing");
    }
    r.headers.emplace_back("replay-nonce", "n" + std::to_string(++m_nonce));
    return r;
  }
  void forget_identity(const std::string&) override {}

  static http::Response json_answer(long status, const json& body,
                                    std::optional<std::string> location = std::nullopt) {
    http::Response r;
    r.status = status;
    r.headers.emplace_back("content-type", "application/json");
    if (location) r.headers.emplace_back("location", *location);
    r.body = body.dump();
    return r;
  }
  static http::Response problem(long status, const std::string& type, const std::string& detail,
                                json extra = json::object()) {
    json body = {{"type", "urn:ietf:params:acme:error:" + type}, {"detail", detail}};
    body.update(extra);
    http::Response r;
    r.status = status;
    r.headers.emplace_back("content-type", "application/problem+json");
    r.body = body.dump();
    return r;
  }
  std::vector<Seen> to(const std::string& url) const {
    std::vector<Seen> out;
    for (const auto& s : seen) {
      if (s.url == url) out.push_back(s);
    }
    return out;
  }

private:
  int m_nonce = 0;
};

// A solver that records what it was asked and answers as told.
class RecordingSolver final : public acme::ChallengeSolver {
public:
  std::vector<std::string> presented;
  std::vector<std::string> cleaned;
  bool fail_present = false;
  std::string_view type() const override { return "http-01"; }
  bool can_solve(const acme::ChallengeTask& task) const override { return !task.wildcard; }
  Result<void> present(const acme::ChallengeTask& task) override {
    presented.push_back(task.identifier + " " + task.key_authorization);
    if (fail_present) return fail_retryable("port taken");
    return {};
  }
  Result<void> cleanup(const acme::ChallengeTask& task) override {
    cleaned.push_back(task.identifier);
    return {};
  }
};

// Verifies an ES256 JWS signature given as r||s against the key.
bool verifies_es256(const x509::PrivateKey& key, const std::string& input,
                    const std::string& raw_sig) {
  if (raw_sig.size() != 64) return false;
  x509::EcdsaSigPtr sig(ECDSA_SIG_new());
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw_sig.data());
  ECDSA_SIG_set0(sig.get(), BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  x509::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get());
  const int ok = EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(len),
                                  reinterpret_cast<const unsigned char*>(input.data()),
                                  input.size());
  OPENSSL_free(der);
  return ok == 1;
}

TEST(AcmeJws, Es256SignaturesAreRAndSConcatenatedAndVerify) {
  const auto key = value_of(acme::AccountKey::generate(acme::AccountKeyType::es256));
  const json header = {{"alg", "ES256"}, {"nonce", "n1"}, {"url", "https://ca.test/x"}};
  const auto jws = json::parse(value_of(acme::sign_jws(key, header, R"({"a":1})")));
  const std::string input = jws["protected"].get<std::string>() + "." +
                            jws["payload"].get<std::string>();
  const std::string sig = value_of(base64url_decode(jws["signature"].get<std::string>()));
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(verifies_es256(key.key(), input, sig));
  EXPECT_EQ(value_of(base64url_decode(jws["payload"].get<std::string>())), R"({"a":1})");
}

TEST(AcmeJws, ThumbprintIsOverTheSortedRequiredMembers) {
  const auto key = value_of(acme::AccountKey::generate(acme::AccountKeyType::es256));
  const json& jwk = key.jwk();
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + jwk["x"].get<std::string>() +
                                R"(","y":")" + jwk["y"].get<std::string>() + R"("})";
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  EXPECT_EQ(key.thumbprint(), base64url_encode(std::span<const std::uint8_t>(digest, 32)));
  EXPECT_EQ(acme::key_authorization("tok", key), "tok." + key.thumbprint());
  EXPECT_EQ(value_of(base64url_decode(jwk["x"].get<std::string>())).size(), 32u);
}

TEST(AcmeJws, Rs256KeysGiveAnRsaJwk) {
  const auto key = value_of(acme::AccountKey::generate(acme::AccountKeyType::rs256));
  EXPECT_EQ(key.alg(), "RS256");
  EXPECT_EQ(key.jwk()["kty"], "RSA");
  EXPECT_EQ(key.jwk()["e"], "AQAB");
  const auto again = value_of(acme::AccountKey::from_pem(value_of(key.key().to_pkcs8_pem())));
  EXPECT_EQ(again.thumbprint(), key.thumbprint());
}

TEST(AcmeJws, ExternalAccountBindingIsHs256OverTheAccountJwk) {
  const auto key = value_of(acme::AccountKey::generate(acme::AccountKeyType::es256));
  const auto eab = value_of(
      acme::external_account_binding(key, "kid-1", "secret", "https://ca.test/account"));
  const auto header = json::parse(value_of(base64url_decode(eab["protected"].get<std::string>())));
  EXPECT_EQ(header, (json{{"alg", "HS256"}, {"kid", "kid-1"}, {"url", "https://ca.test/account"}}));
  EXPECT_EQ(json::parse(value_of(base64url_decode(eab["payload"].get<std::string>()))), key.jwk());
  const std::string input = eab["protected"].get<std::string>() + "." +
                            eab["payload"].get<std::string>();
  unsigned char mac[32];
  std::size_t mac_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, "secret", 6,
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
            &mac_len);
  EXPECT_EQ(eab["signature"], base64url_encode(std::span<const std::uint8_t>(mac, mac_len)));
}

// RFC 9773 §4.1's worked example: AKI 69:88:5B:..., serial 0x0087654321.
TEST(AcmeAri, CertIdFollowsTheRfcExample) {
  auto key = value_of(x509::generate_key(x509::KeySpec{}));
  x509::X509Ptr cert(X509_new());
  x509::BignumPtr serial(nullptr);
  BIGNUM* raw = nullptr;
  BN_hex2bn(&raw, "87654321");
  serial.reset(raw);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  const std::string aki_hex = "69885b6b87464041e1b37b847ba0ae2cde01c8d4";
  const std::string aki = value_of(hex_decode(aki_hex));
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  akid->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(akid->keyid, reinterpret_cast<const unsigned char*>(aki.data()),
                        static_cast<int>(aki.size()));
  X509_add1_ext_i2d(cert.get(), NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT);
  AUTHORITY_KEYID_free(akid);
  X509_set_pubkey(cert.get(), key.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_sign(cert.get(), key.get(), EVP_sha256());
  const x509::Certificate c(std::move(cert));
  EXPECT_EQ(acme::ari_cert_id(c), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
}

TEST(AcmeProblems, RateLimitedAndServerInternalAreRetryableTheRestPermanent) {
  http::Response r = FakeAcme::problem(429, "rateLimited", "too many certificates");
  r.headers.emplace_back("retry-after", "120");
  const Error limited = acme::problem_error(r, "ACME newOrder", testing::test_time());
  EXPECT_TRUE(limited.retryable());
  EXPECT_EQ(limited.reason, Reason::rate_limited);
  EXPECT_EQ(limited.retry_after, Millis(120s));
  EXPECT_NE(limited.message.find("rateLimited: too many certificates"), std::string::npos);

  EXPECT_TRUE(
      acme::problem_error(FakeAcme::problem(500, "serverInternal", "x"), "w", testing::test_time())
          .retryable());
  EXPECT_TRUE(
      acme::problem_error(FakeAcme::problem(503, "malformed", "x"), "w", testing::test_time())
          .retryable());
  const Error rejected = acme::problem_error(
      FakeAcme::problem(
          403, "rejectedIdentifier", "policy forbids",
          {{"subproblems",
            json::array({{{"type", "urn:ietf:params:acme:error:caa"},
                          {"detail", "CAA forbids"},
                          {"identifier", {{"type", "dns"}, {"value", "a.test"}}}}})}}),
      "ACME newOrder", testing::test_time());
  EXPECT_FALSE(rejected.retryable());
  EXPECT_NE(rejected.message.find("rejectedIdentifier: policy forbids (a.test: caa: CAA forbids)"),
            std::string::npos)
      << rejected.message;
}

class AcmeIssuerTest : public ::testing::Test {
protected:
  AcmeIssuerTest() {
    CaInitOptions ca;
    ca.dir = m_dir / "ca";
    m_ca = value_of(init_ca(ca, m_clock, m_random), "ca init");
    LocalIssuerOptions local;
    local.ca_cert = m_ca.ca_cert;
    local.ca_key = m_ca.ca_key;
    m_local = value_of(LocalIssuer::create(local, m_clock, m_random));
    m_fake = std::make_shared<FakeAcme>();
    m_solver = std::make_shared<RecordingSolver>();
    route_account();
    route_order();
  }

  std::unique_ptr<AcmeIssuer> issuer(AcmeIssuerOptions options = {}) {
    options.url = "https://ca.test/dir";
    options.ca_bundle = m_ca.ca_cert;
    AcmeDeps deps;
    deps.transport = m_fake;
    deps.clock = &m_clock;
    deps.account_dir = m_dir / "state" / "acme" / "le";
    deps.solvers = {m_solver};
    deps.sleep = [this](Millis wait) {
      m_slept.push_back(wait);
      if (m_validates_while_waiting && m_authz_status == "pending") {
        m_authz_status = "valid";
        m_order_status = "ready";
      }
    };
    return value_of(AcmeIssuer::create(std::move(options), std::move(deps)));
  }

  IssueRequest request() {
    IssueRequest r;
    r.credential = "web";
    r.request = testing::named(
        "web.example", {{x509::SanType::dns, "web.example"}, {x509::SanType::ip, "192.0.2.7"}});
    r.csr_pem = value_of(x509::build_csr(m_key, r.request));
    return r;
  }

  void route_account() {
    m_fake->routes["https://ca.test/account"] = [this](const Seen& s) {
      const auto payload = json::parse(s.payload);
      if (payload.value("onlyReturnExisting", false) && !m_account_exists) {
        return FakeAcme::problem(400, "accountDoesNotExist", "no account for this key");
      }
      m_account_exists = true;
      return FakeAcme::json_answer(m_account_exists ? 200 : 201, {{"status", "valid"}},
                                   "https://ca.test/acct/1");
    };
  }

  // One order, two authorizations: a.valid already (reused), b pending until its challenge.
  void route_order() {
    m_fake->routes["https://ca.test/order"] = [this](const Seen&) {
      m_order_status = m_authz_status = "pending";  // a fresh order
      return FakeAcme::json_answer(201, order("pending"), "https://ca.test/o/1");
    };
    m_fake->routes["https://ca.test/o/1"] = [this](const Seen&) {
      return FakeAcme::json_answer(200, order(m_order_status));
    };
    m_fake->routes["https://ca.test/authz/a"] = [](const Seen&) {
      return FakeAcme::json_answer(
          200, {{"status", "valid"}, {"identifier", {{"type", "dns"}, {"value", "web.example"}}}});
    };
    m_fake->routes["https://ca.test/authz/b"] = [this](const Seen&) {
      return FakeAcme::json_answer(
          200,
          {{"status", m_authz_status},
           {"identifier", {{"type", "ip"}, {"value", "192.0.2.7"}}},
           {"challenges",
            json::array(
                {{{"type", "dns-01"}, {"url", "https://ca.test/ch/dns"}, {"token", "T1"}},
                 {{"type", "http-01"}, {"url", "https://ca.test/ch/http"}, {"token", "T2"}}})}});
    };
    m_fake->routes["https://ca.test/ch/http"] = [this](const Seen&) {
      if (m_validates) {
        m_authz_status = "valid";
        m_order_status = "ready";
      }
      return FakeAcme::json_answer(200, {{"status", "processing"}});
    };
    m_fake->routes["https://ca.test/o/1/finalize"] = [this](const Seen& s) {
      m_csr = json::parse(s.payload).value("csr", "");
      m_order_status = "valid";
      return FakeAcme::json_answer(200, order("processing"));
    };
    m_fake->routes["https://ca.test/cert/1"] = [this](const Seen&) {
      http::Response r;
      r.status = 200;
      r.headers.emplace_back("content-type", "application/pem-certificate-chain");
      r.body = m_chain_pem;
      return r;
    };
  }

  static json order(const std::string& status) {
    json o = {{"status", status},
              {"identifiers", json::array()},
              {"authorizations", {"https://ca.test/authz/a", "https://ca.test/authz/b"}},
              {"finalize", "https://ca.test/o/1/finalize"}};
    if (status == "valid") o["certificate"] = "https://ca.test/cert/1";
    return o;
  }

  std::string signed_chain(const IssueRequest& r) {
    return x509::to_pem(value_of(m_local->issue(r)).chain);
  }

  testing::TempDir m_dir;
  ManualClock m_clock{testing::test_time()};
  SeededRandom m_random{5};
  CaInitResult m_ca;
  std::unique_ptr<LocalIssuer> m_local;
  std::shared_ptr<FakeAcme> m_fake;
  std::shared_ptr<RecordingSolver> m_solver;
  x509::PrivateKey m_key = value_of(x509::generate_key(x509::KeySpec{}));
  std::vector<Millis> m_slept;
  bool m_account_exists = false;
  bool m_validates = true;
  bool m_validates_while_waiting = false;  // the CA validates during our first wait
  std::string m_authz_status = "pending";
  std::string m_order_status = "pending";
  std::string m_csr;
  std::string m_chain_pem;
};

TEST_F(AcmeIssuerTest, IssuesThroughAWholeOrderSkippingValidAuthorizations) {
  auto acme = issuer();
  const auto req = request();
  m_chain_pem = signed_chain(req);
  auto outcome = value_of(acme->issue_outcome(req));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  EXPECT_FALSE(outcome.state);
  EXPECT_TRUE(x509::key_matches(m_key, std::get<IssuedCredential>(outcome.answer).chain.front()));
  // This directory has no renewalInfo: no ARI window, and none is claimed.
  EXPECT_FALSE(std::get<IssuedCredential>(outcome.answer).renewal_window);
  EXPECT_FALSE(acme->reports_renewal_info());

  // newAccount: jwk, no kid, and no contact or terms when not configured.
  const auto accounts = m_fake->to("https://ca.test/account");
  ASSERT_EQ(accounts.size(), 2u);
  EXPECT_TRUE(accounts[1].header.contains("jwk"));
  EXPECT_FALSE(accounts[1].header.contains("kid"));
  EXPECT_EQ(json::parse(accounts[1].payload), json::object());
  // newOrder: kid, dns and ip identifiers.
  const auto orders = m_fake->to("https://ca.test/order");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].header["kid"], "https://ca.test/acct/1");
  EXPECT_FALSE(orders[0].header.contains("jwk"));
  EXPECT_EQ(
      json::parse(orders[0].payload)["identifiers"],
      json::parse(R"([{"type":"dns","value":"web.example"},{"type":"ip","value":"192.0.2.7"}])"));
  // Only the pending authorization was solved, with http-01, and cleaned up.
  ASSERT_EQ(m_solver->presented.size(), 1u);
  EXPECT_TRUE(m_solver->presented[0].starts_with("192.0.2.7 T2."));
  EXPECT_EQ(m_solver->cleaned, std::vector<std::string>{"192.0.2.7"});
  // The challenge got {}, the fetches the empty payload (POST-as-GET).
  EXPECT_EQ(m_fake->to("https://ca.test/ch/http")[0].payload, "{}");
  EXPECT_EQ(m_fake->to("https://ca.test/cert/1")[0].payload, "");
  // The CSR is DER, base64url.
  EXPECT_FALSE(m_csr.empty());
  EXPECT_EQ(m_csr.find_first_of("+/="), std::string::npos);
  // Every nonce is used once.
  auto nonces = m_fake->used_nonces;
  std::sort(nonces.begin(), nonces.end());
  EXPECT_EQ(std::adjacent_find(nonces.begin(), nonces.end()), nonces.end());
}

TEST_F(AcmeIssuerTest, AnIssuanceMakesTheProtocolMinimumOfRequests) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));  // the directory, a nonce and the account
  // A CA validates while we wait, never the instant it accepts the challenge.
  m_validates = false;
  m_validates_while_waiting = true;
  m_fake->seen.clear();
  const std::uint64_t before = acme->requests_made().value_or(0);
  auto outcome = value_of(acme->issue_outcome(request()));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  // newOrder, the reused authorization, the pending one, its challenge, one fetch of it after
  // a wait, finalize, one fetch of the order, the certificate. No newNonce (each answer left
  // one), no fetch of the order between its last authorization and finalize.
  std::vector<std::string> urls;
  for (const auto& s : m_fake->seen) urls.push_back(s.url);
  EXPECT_EQ(urls,
            (std::vector<std::string>{"https://ca.test/order", "https://ca.test/authz/a",
                                      "https://ca.test/authz/b", "https://ca.test/ch/http",
                                      "https://ca.test/authz/b", "https://ca.test/o/1/finalize",
                                      "https://ca.test/o/1", "https://ca.test/cert/1"}));
  EXPECT_EQ(acme->requests_made().value_or(0) - before, urls.size());
}

TEST_F(AcmeIssuerTest, DropsKeptNoncesOlderThanTheBoundAndAsksForAFreshOne) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  // Fresh ones are used: no newNonce.
  m_clock.advance(acme::Client::k_nonce_max_age - 1min);
  m_fake->seen.clear();
  (void)value_of(acme->issue_outcome(request()));
  EXPECT_TRUE(m_fake->to("https://ca.test/nonce").empty());
  // After an idle spell the whole pool is stale: one newNonce before the first signed POST,
  // and the answers' nonces serve the rest.
  m_clock.advance(acme::Client::k_nonce_max_age + 1s);
  m_fake->seen.clear();
  (void)value_of(acme->issue_outcome(request()));
  EXPECT_EQ(m_fake->to("https://ca.test/nonce").size(), 1u);
  ASSERT_FALSE(m_fake->seen.empty());
  EXPECT_EQ(m_fake->seen[0].url, "https://ca.test/nonce");
}

TEST_F(AcmeIssuerTest, FinalizesAgainOnceTheOrderIsReadyAfterOrderNotReady) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  int refusals = 1;
  m_fake->routes["https://ca.test/o/1/finalize"] = [&](const Seen&) {
    if (refusals-- > 0) return FakeAcme::problem(403, "orderNotReady", "not ready yet");
    m_order_status = "valid";
    return FakeAcme::json_answer(200, order("valid"));
  };
  auto outcome = value_of(acme->issue_outcome(request()));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  EXPECT_EQ(m_fake->to("https://ca.test/o/1/finalize").size(), 2u);
  EXPECT_EQ(m_fake->to("https://ca.test/o/1").size(), 1u);  // fetched once, between the two
}

TEST_F(AcmeIssuerTest, KeepsTheAccountKeyPrivateAndReusesTheAccount) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  struct stat st {};
  ASSERT_EQ(stat((m_dir / "state/acme/le/account.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(json::parse(testing::read_text(m_dir / "state/acme/le/account.json"))["url"],
            "https://ca.test/acct/1");
  // A new process with the same state asks no newAccount.
  m_fake->seen.clear();
  auto again = issuer();
  (void)value_of(again->issue_outcome(request()));
  EXPECT_TRUE(m_fake->to("https://ca.test/account").empty());
}

TEST_F(AcmeIssuerTest, FindsTheAccountAgainWhenItsUrlWasNeverWritten) {
  {
    auto acme = issuer();
    m_chain_pem = signed_chain(request());
    (void)value_of(acme->issue_outcome(request()));
  }
  // As after a crash between newAccount and writing the file: the key is there, the URL not.
  ASSERT_EQ(unlink((m_dir / "state/acme/le/account.json").c_str()), 0);
  m_fake->seen.clear();
  auto acme = issuer();
  (void)value_of(acme->issue_outcome(request()));
  const auto accounts = m_fake->to("https://ca.test/account");
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_EQ(json::parse(accounts[0].payload), (json{{"onlyReturnExisting", true}}));
}

TEST_F(AcmeIssuerTest, MakesTheAccountAgainWhenTheServerNoLongerKnowsIt) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  // The CA was reset: the kept account URL means nothing to it any more.
  m_account_exists = false;
  bool forgotten = true;
  m_fake->routes["https://ca.test/order"] = [this, &forgotten](const Seen& s) {
    if (forgotten && s.header.value("kid", "") == "https://ca.test/acct/1") {
      forgotten = false;
      return FakeAcme::problem(400, "accountDoesNotExist", "unknown account");
    }
    m_order_status = m_authz_status = "pending";
    return FakeAcme::json_answer(201, order("pending"), "https://ca.test/o/1");
  };
  m_fake->seen.clear();
  auto outcome = value_of(acme->issue_outcome(request()));
  EXPECT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  EXPECT_EQ(m_fake->to("https://ca.test/account").size(), 2u);  // onlyReturnExisting, then new
  EXPECT_EQ(m_fake->to("https://ca.test/order").size(), 2u);
}

TEST_F(AcmeIssuerTest, SendsContactAndTermsOnlyWhenConfigured) {
  AcmeIssuerOptions options;
  options.contact = {"mailto:ops@example.com"};
  options.terms_of_service_agreed = true;
  auto acme = issuer(options);
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  const auto accounts = m_fake->to("https://ca.test/account");
  EXPECT_EQ(json::parse(accounts.back().payload),
            (json{{"contact", {"mailto:ops@example.com"}}, {"termsOfServiceAgreed", true}}));
}

TEST_F(AcmeIssuerTest, RetriesBadNonceWithTheFreshNonceBounded) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  m_fake->bad_nonces = 3;
  EXPECT_TRUE(acme->issue_outcome(request()));

  auto other = issuer();
  m_fake->bad_nonces = acme::Client::k_bad_nonce_retries + 1;
  auto refused = other->issue_outcome(request());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("badNonce"), std::string::npos);
  EXPECT_EQ(refused.error().kind, ErrorKind::retryable)
      << "retried after the backoff, not given up";
}

TEST_F(AcmeIssuerTest, AnswersNotYetWithTheOrderWhileTheAuthorizationIsPending) {
  auto acme = issuer();
  m_validates = false;
  auto outcome = value_of(acme->issue_outcome(request()));
  ASSERT_TRUE(std::holds_alternative<NotYet>(outcome.answer));
  ASSERT_TRUE(outcome.state);
  EXPECT_EQ(json::parse(*outcome.state)["order"], "https://ca.test/o/1");
  EXPECT_EQ(m_solver->cleaned.size(), 1u);  // cleaned up also when still pending
  // The next ask resumes that order instead of making a new one.
  m_validates = true;
  auto req = request();
  req.state = outcome.state;
  m_chain_pem = signed_chain(req);
  auto done = value_of(acme->issue_outcome(req));
  EXPECT_TRUE(std::holds_alternative<IssuedCredential>(done.answer));
  EXPECT_EQ(m_fake->to("https://ca.test/order").size(), 1u);
}

TEST_F(AcmeIssuerTest, CleansUpAfterAFailedPresentAndReportsIt) {
  auto acme = issuer();
  m_solver->fail_present = true;
  auto refused = acme->issue_outcome(request());
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().retryable());
  EXPECT_NE(refused.error().message.find("port taken"), std::string::npos);
  EXPECT_EQ(m_solver->cleaned.size(), 1u);
  EXPECT_TRUE(m_fake->to("https://ca.test/ch/http").empty());
}

TEST_F(AcmeIssuerTest, PicksTheAlternateChainWhoseTopIssuerIsPreferred) {
  CaInitOptions alt;
  alt.dir = m_dir / "alt";
  alt.common_name = "Alt Root";
  const auto alt_ca = value_of(init_ca(alt, m_clock, m_random), "alt ca");
  const auto req = request();
  m_chain_pem = signed_chain(req);
  const std::string alternate = m_chain_pem + testing::read_text(alt_ca.ca_cert);
  m_fake->routes["https://ca.test/cert/1"] = [this](const Seen&) {
    http::Response r;
    r.status = 200;
    r.headers.emplace_back("content-type", "application/pem-certificate-chain");
    r.headers.emplace_back("link", "<https://ca.test/dir>;rel=\"index\"");
    r.headers.emplace_back("link", "<https://ca.test/cert/1/alt>;rel=\"alternate\"");
    r.body = m_chain_pem;
    return r;
  };
  m_fake->routes["https://ca.test/cert/1/alt"] = [alternate](const Seen&) {
    http::Response r;
    r.status = 200;
    r.headers.emplace_back("content-type", "application/pem-certificate-chain");
    r.body = alternate;
    return r;
  };
  AcmeIssuerOptions options;
  options.preferred_chain = "Alt Root";
  auto acme = issuer(options);
  auto outcome = value_of(acme->issue_outcome(req));
  const auto& chain = std::get<IssuedCredential>(outcome.answer).chain;
  EXPECT_EQ(acme::top_issuer_cn(chain), "Alt Root");
  EXPECT_EQ(m_fake->to("https://ca.test/cert/1/alt").size(), 1u);

  // Without a preference the default chain stays and no alternate is fetched.
  m_fake->seen.clear();
  auto plain = issuer();
  auto kept = value_of(plain->issue_outcome(request()));
  EXPECT_NE(acme::top_issuer_cn(std::get<IssuedCredential>(kept.answer).chain), "Alt Root");
  EXPECT_TRUE(m_fake->to("https://ca.test/cert/1/alt").empty());
}

TEST_F(AcmeIssuerTest, RefusesAProfileTheDirectoryDoesNotList) {
  AcmeIssuerOptions options;
  options.profile = "shortlived";
  m_fake->directory["meta"] = {{"profiles", {{"classic", "90 days"}}}};
  auto acme = issuer(options);
  auto refused = acme->issue_outcome(request());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, Reason::config);
  EXPECT_NE(refused.error().message.find("'shortlived' is not offered"), std::string::npos);
  EXPECT_NE(refused.error().message.find("classic"), std::string::npos);

  m_fake->directory["meta"]["profiles"]["shortlived"] = "6 days";
  auto listed = issuer(options);
  m_chain_pem = signed_chain(request());
  (void)value_of(listed->issue_outcome(request()));
  EXPECT_EQ(json::parse(m_fake->to("https://ca.test/order").back().payload)["profile"],
            "shortlived");
}

TEST_F(AcmeIssuerTest, ReadsTheRenewalWindowAndSendsReplaces) {
  m_fake->directory["renewalInfo"] = "https://ca.test/ari";
  auto acme = issuer();
  auto req = request();
  m_chain_pem = signed_chain(req);
  const auto live = value_of(x509::parse_certificates(m_chain_pem));
  const std::string id = *acme::ari_cert_id(live.front());
  m_fake->routes["https://ca.test/ari/" + id] = [](const Seen&) {
    auto r = FakeAcme::json_answer(
        200,
        {{"suggestedWindow", {{"start", "2080-01-02T04:00:00Z"}, {"end", "2080-01-03T04:00:00Z"}}},
         {"explanationURL", "https://ca.test/why"}});
    r.headers.emplace_back("retry-after", "21600");
    return r;
  };
  EXPECT_TRUE(acme->reports_renewal_info());
  const auto info = value_of(acme->renewal_info(RenewalInfoRequest{"web", live, std::nullopt}));
  ASSERT_TRUE(info.window);
  EXPECT_EQ(info.window->start, value_of(parse_rfc3339("2080-01-02T04:00:00Z")));
  EXPECT_EQ(info.explanation_url, "https://ca.test/why");
  EXPECT_EQ(info.retry_after, Millis(1h));  // clamped

  // A renewal names the certificate it replaces; alreadyReplaced: once more without it.
  req.current = CurrentCredential{live, m_key};
  int tries = 0;
  m_fake->routes["https://ca.test/order"] = [&tries](const Seen& s) {
    if (++tries == 1 && json::parse(s.payload).contains("replaces")) {
      return FakeAcme::problem(409, "alreadyReplaced", "replaced already");
    }
    return FakeAcme::json_answer(201, order("pending"), "https://ca.test/o/1");
  };
  auto outcome = value_of(acme->issue_outcome(req));
  const auto orders = m_fake->to("https://ca.test/order");
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_EQ(json::parse(orders[0].payload)["replaces"], id);
  EXPECT_FALSE(json::parse(orders[1].payload).contains("replaces"));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
}

TEST_F(AcmeIssuerTest, InvalidWindowsCountAsNoAdvice) {
  m_fake->directory["renewalInfo"] = "https://ca.test/ari/";
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  const auto live = value_of(x509::parse_certificates(m_chain_pem));
  m_fake->routes["https://ca.test/ari/" + *acme::ari_cert_id(live.front())] = [](const Seen&) {
    return FakeAcme::json_answer(
        200, {{"suggestedWindow",
               {{"start", "2080-01-03T04:00:00Z"}, {"end", "2080-01-02T04:00:00Z"}}}});
  };
  const auto info = value_of(acme->renewal_info(RenewalInfoRequest{"web", live, std::nullopt}));
  EXPECT_FALSE(info.window);
}

TEST_F(AcmeIssuerTest, RevokesWithTheAccountKeyAndTheReason) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  const auto live = value_of(x509::parse_certificates(m_chain_pem));
  m_fake->routes["https://ca.test/revoke"] = [](const Seen&) {
    return FakeAcme::json_answer(200, json::object());
  };
  ASSERT_TRUE(acme->revoke(RevokeRequest{"web", live, RevocationReason::superseded, std::nullopt}));
  const auto revoked = m_fake->to("https://ca.test/revoke");
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(revoked[0].header["kid"], "https://ca.test/acct/1");
  const auto payload = json::parse(revoked[0].payload);
  EXPECT_EQ(payload["reason"], 4);
  EXPECT_EQ(payload["certificate"], base64url_encode(live.front().to_der()));
}

// Whether a flattened JWS is signed (ES256) by `key`.
bool signed_by(const json& jws, const acme::AccountKey& key) {
  const std::string input = jws["protected"].get<std::string>() + "." +
                            jws["payload"].get<std::string>();
  return verifies_es256(key.key(), input,
                        value_of(base64url_decode(jws["signature"].get<std::string>())));
}

acme::AccountKey key_in(const std::filesystem::path& file) {
  return value_of(acme::AccountKey::from_pem(testing::read_text(file)));
}

class AcmeKeyChangeTest : public AcmeIssuerTest {
protected:
  AcmeKeyChangeTest() {
    m_fake->directory["keyChange"] = "https://ca.test/key-change";
    // The server knows the account by the key it holds for it: onlyReturnExisting finds it
    // only with that key, and a key change replaces it.
    m_fake->routes["https://ca.test/account"] = [this](const Seen& s) {
      const std::string by = s.header.value("jwk", json()).dump();
      if (json::parse(s.payload).value("onlyReturnExisting", false) && by != m_held) {
        return FakeAcme::problem(400, "accountDoesNotExist", "no account for this key");
      }
      m_held = by;
      return FakeAcme::json_answer(200, {{"status", "valid"}}, "https://ca.test/acct/1");
    };
    m_fake->routes["https://ca.test/key-change"] = [this](const Seen& s) {
      if (m_refuse_change) return FakeAcme::problem(409, "malformed", "that key is in use");
      m_held = json::parse(value_of(
          base64url_decode(json::parse(s.payload)["protected"].get<std::string>())))["jwk"]
                   .dump();
      return FakeAcme::json_answer(200, {{"status", "valid"}});
    };
  }
  std::filesystem::path file(const char* name) const { return m_dir / "state/acme/le" / name; }

  std::string m_held;  // the JWK the server holds for the account
  bool m_refuse_change = false;
};

TEST_F(AcmeKeyChangeTest, RollsTheKeyOverAndSignsWithTheNewOneAfterwards) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  const auto old_key = key_in(file("account.key"));

  const std::string thumbprint = value_of(acme->change_account_key());

  const auto new_key = key_in(file("account.key"));
  EXPECT_EQ(new_key.thumbprint(), thumbprint);
  EXPECT_NE(new_key.thumbprint(), old_key.thumbprint());
  struct stat st {};
  ASSERT_EQ(stat(file("account.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(file("account.key.new")));
  // RFC 8555 §7.3.5: the outer JWS by the old key with kid; the inner one by the new key with
  // jwk, url and no nonce, over the account URL and the old key.
  const auto changes = m_fake->to("https://ca.test/key-change");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].header["kid"], "https://ca.test/acct/1");
  EXPECT_FALSE(changes[0].header.contains("jwk"));
  EXPECT_TRUE(signed_by(changes[0].body, old_key));
  const json inner = json::parse(changes[0].payload);
  const json inner_header = json::parse(
      value_of(base64url_decode(inner["protected"].get<std::string>())));
  EXPECT_EQ(inner_header["url"], "https://ca.test/key-change");
  EXPECT_EQ(inner_header["jwk"], new_key.jwk());
  EXPECT_FALSE(inner_header.contains("nonce"));
  EXPECT_FALSE(inner_header.contains("kid"));
  EXPECT_TRUE(signed_by(inner, new_key));
  EXPECT_EQ(json::parse(value_of(base64url_decode(inner["payload"].get<std::string>()))),
            (json{{"account", "https://ca.test/acct/1"}, {"oldKey", old_key.jwk()}}));

  // The next order is signed by the new key, with no new account asked for.
  m_fake->seen.clear();
  (void)value_of(acme->issue_outcome(request()));
  const auto orders = m_fake->to("https://ca.test/order");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_TRUE(signed_by(orders[0].body, new_key));
  EXPECT_TRUE(m_fake->to("https://ca.test/account").empty());
}

TEST_F(AcmeKeyChangeTest, KeepsTheOldKeyWhenTheServerRefuses) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  const std::string before = testing::read_text(file("account.key"));
  m_refuse_change = true;
  auto changed = acme->change_account_key();
  ASSERT_FALSE(changed);
  EXPECT_NE(changed.error().message.find("malformed: that key is in use"), std::string::npos)
      << changed.error().message;
  EXPECT_EQ(testing::read_text(file("account.key")), before);
  EXPECT_FALSE(std::filesystem::exists(file("account.key.new")));
  m_fake->seen.clear();
  (void)value_of(acme->issue_outcome(request()));
  EXPECT_TRUE(signed_by(m_fake->to("https://ca.test/order").at(0).body,
                        value_of(acme::AccountKey::from_pem(before))));
}

// The server took the new key but its answer never came: the same issuer asks again which key
// the account has before it signs anything more.
TEST_F(AcmeKeyChangeTest, AfterALostAnswerTheSameIssuerAsksWhichKeyTheServerHolds) {
  auto acme = issuer();
  m_chain_pem = signed_chain(request());
  (void)value_of(acme->issue_outcome(request()));
  const auto old_key = key_in(file("account.key"));
  m_fake->lost_answers.insert("https://ca.test/key-change");
  auto changed = acme->change_account_key();
  ASSERT_FALSE(changed);
  ASSERT_TRUE(std::filesystem::exists(file("account.key.new"))) << "the key the server may hold";
  const auto next = key_in(file("account.key.new"));
  EXPECT_EQ(key_in(file("account.key")).thumbprint(), old_key.thumbprint());

  m_fake->lost_answers.clear();
  m_fake->seen.clear();
  (void)value_of(acme->issue_outcome(request()));
  const auto asked = m_fake->to("https://ca.test/account");
  ASSERT_FALSE(asked.empty()) << "the cached account (old key) was used";
  EXPECT_TRUE(json::parse(asked[0].payload).value("onlyReturnExisting", false));
  EXPECT_EQ(asked[0].header["jwk"], next.jwk());
  EXPECT_FALSE(std::filesystem::exists(file("account.key.new")));
  EXPECT_EQ(key_in(file("account.key")).thumbprint(), next.thumbprint());
  EXPECT_TRUE(signed_by(m_fake->to("https://ca.test/order").at(0).body, next));
}

TEST_F(AcmeKeyChangeTest, RefusesAServerWithoutKeyChange) {
  m_fake->directory.erase("keyChange");
  auto acme = issuer();
  auto changed = acme->change_account_key();
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().reason, Reason::config);
  EXPECT_NE(changed.error().message.find("offers no keyChange"), std::string::npos);
}

// As after a crash (or a lost answer) between the request and the swap of the files: both
// keys are on disk and the next start asks the server which one it holds.
TEST_F(AcmeKeyChangeTest, AfterAnInterruptedChangeKeepsTheKeyTheServerHolds) {
  {
    auto acme = issuer();
    m_chain_pem = signed_chain(request());
    (void)value_of(acme->issue_outcome(request()));
  }
  const std::string old_pem = testing::read_text(file("account.key"));
  const auto next = value_of(acme::AccountKey::generate(acme::AccountKeyType::es256));
  const std::string next_pem = value_of(next.key().to_pkcs8_pem());
  testing::write_text(file("account.key.new"), next_pem);

  // The server never saw the change: the new key goes, the old one signs.
  {
    m_fake->seen.clear();
    auto acme = issuer();
    (void)value_of(acme->issue_outcome(request()));
    EXPECT_FALSE(std::filesystem::exists(file("account.key.new")));
    EXPECT_EQ(testing::read_text(file("account.key")), old_pem);
    EXPECT_TRUE(signed_by(m_fake->to("https://ca.test/order").at(0).body,
                          value_of(acme::AccountKey::from_pem(old_pem))));
  }
  // The server took it: the new key becomes account.key and signs.
  testing::write_text(file("account.key.new"), next_pem);
  m_held = next.jwk().dump();
  m_fake->seen.clear();
  auto acme = issuer();
  (void)value_of(acme->issue_outcome(request()));
  EXPECT_FALSE(std::filesystem::exists(file("account.key.new")));
  EXPECT_EQ(testing::read_text(file("account.key")), next_pem);
  EXPECT_TRUE(signed_by(m_fake->to("https://ca.test/order").at(0).body, next));
}

// A plain HTTP/1.0 GET to 127.0.0.1:port; the status line and body.
std::string http_get(unsigned short port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "connect failed";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: a.test\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buffer[1024];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
  close(fd);
  return out;
}

TEST(AcmeHttp01, AnswersOnlyTokensInFlight) {
  acme::Http01Responder responder("127.0.0.1", 0, Fd());
  acme::ChallengeTask task;
  task.identifier = "a.test";
  task.token = "tok_en-1";
  task.key_authorization = "tok_en-1.thumb";
  ASSERT_TRUE(responder.present(task));
  const unsigned short port = responder.bound_port();
  ASSERT_NE(port, 0);
  const std::string hit = http_get(port, "/.well-known/acme-challenge/tok_en-1");
  EXPECT_NE(hit.find("200"), std::string::npos);
  EXPECT_TRUE(hit.ends_with("tok_en-1.thumb"));
  EXPECT_NE(http_get(port, "/.well-known/acme-challenge/other").find("404"), std::string::npos);
  EXPECT_NE(http_get(port, "/").find("404"), std::string::npos);
  ASSERT_TRUE(responder.cleanup(task));
  EXPECT_NE(http_get(port, "/.well-known/acme-challenge/tok_en-1").find("404"), std::string::npos);
}

TEST(AcmeHttp01, ReportsAPortThatIsTaken) {
  acme::Http01Responder first("127.0.0.1", 0, Fd());
  acme::ChallengeTask task;
  task.token = "t";
  task.key_authorization = "t.k";
  ASSERT_TRUE(first.present(task));
  acme::Http01Responder second("127.0.0.1", first.bound_port(), Fd());
  auto taken = second.present(task);
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error().retryable());
  EXPECT_NE(taken.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos);
}

TEST(AcmeHttp01, RefusesTokensThatAreNotBase64url) {
  testing::TempDir dir;
  acme::WebrootSolver webroot(dir.path());
  acme::ChallengeTask task;
  task.token = "../../etc/passwd";
  task.key_authorization = "x";
  EXPECT_FALSE(webroot.present(task));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / ".well-known"));
}

TEST(AcmeHttp01, WebrootWritesAndRemovesTheTokenFile) {
  testing::TempDir dir;
  acme::WebrootSolver webroot(dir.path());
  acme::ChallengeTask task;
  task.token = "abc";
  task.key_authorization = "abc.thumb";
  ASSERT_TRUE(webroot.present(task));
  const auto file = dir.path() / ".well-known/acme-challenge/abc";
  EXPECT_EQ(testing::read_text(file), "abc.thumb");
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_TRUE(webroot.cleanup(task));
  EXPECT_FALSE(std::filesystem::exists(file));
}

}  // namespace
}  // namespace certrotd::issuer
