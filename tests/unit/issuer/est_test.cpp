#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <deque>
#include <utility>

#include "issuer/est/est.hpp"
#include "issuer/est/est_codec.hpp"
#include "issuer/local/ca_init.hpp"
#include "issuer/local/local.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "util/encoding.hpp"
#include "util/files.hpp"
#include "x509/csr.hpp"
#include "x509/sign.hpp"

namespace certrotd::issuer {
namespace {

using namespace std::chrono_literals;
using testing::value_of;
using x509::SanType;

class EstTransport final : public http::Transport {
public:
  std::deque<http::Response> answers;
  std::vector<http::Request> requests;
  // The tls-unique value of each request with body_for_connection: 12 bytes, new for each
  // request as for each TLS 1.2 connection. Its body is what the function made of it.
  std::vector<std::string> tls_unique;
  // GET /csrattrs has answers of its own, 404 ("nothing asked") when none is queued, and is
  // not counted in `requests`.
  std::deque<http::Response> csrattrs;
  std::vector<http::Request> csrattrs_requests;

  http::HttpResult<http::Response> perform(const http::Request& request) override {
    if (request.url.ends_with("/csrattrs")) {
      csrattrs_requests.push_back(request);
      http::Response none;
      none.status = 404;
      if (csrattrs.empty()) return none;
      auto a = std::move(csrattrs.front());
      csrattrs.pop_front();
      return a;
    }
    requests.push_back(request);
    if (request.body_for_connection) {
      tls_unique.push_back("finished-" + std::to_string(100 + tls_unique.size()));
      auto body = request.body_for_connection(tls_unique.back());
      if (!body) {
        return tl::unexpected(http::Failure{
            http::FailureKind::tls_other, body.error().what(), request.url, 0, std::nullopt, {}});
      }
      requests.back().body = std::move(*body);
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

  void answer(long status, std::string body, std::string type,
              std::vector<std::pair<std::string, std::string>> more = {}) {
    http::Response r;
    r.status = status;
    r.headers.emplace_back("content-type", std::move(type));
    for (auto& h : more) r.headers.push_back(std::move(h));
    r.body = std::move(body);
    answers.push_back(std::move(r));
  }
  void answer_csrattrs(long status, std::string body) {
    http::Response r;
    r.status = status;
    r.headers.emplace_back("content-type", "application/csrattrs");
    r.body = std::move(body);
    csrattrs.push_back(std::move(r));
  }
};

// RFC 7030 §4.5.2's example: challengePassword, an EC key on secp384r1, the macAddress
// extension (1.3.6.1.1.1.1.22), ecdsa-with-SHA384.
constexpr std::string_view k_rfc7030_csrattrs =
    "MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==";

std::string header(const http::Request& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

// The DER of a certs-only PKCS#7 holding `certs`, as an EST server builds it.
std::string certs_only(const std::vector<x509::Certificate>& certs) {
  x509::Pkcs7Ptr p7(PKCS7_new());
  PKCS7_set_type(p7.get(), NID_pkcs7_signed);
  PKCS7_content_new(p7.get(), NID_pkcs7_data);
  for (const auto& c : certs) PKCS7_add_certificate(p7.get(), c.get());
  unsigned char* out = nullptr;
  const int len = i2d_PKCS7(p7.get(), &out);
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return der;
}

// The CSR of an EST request body (base64 DER).
x509::X509ReqPtr csr_of(const std::string& body) {
  const std::string der = value_of(est::decode_body(body));
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return x509::X509ReqPtr(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
}

std::string pem_of(const X509_REQ* req) {
  x509::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// The challengePassword of the CSR in an EST request body, or nullopt when it has none.
std::optional<std::string> challenge_password(const std::string& body) {
  auto req = csr_of(body);
  if (!req) return std::nullopt;
  const int at = X509_REQ_get_attr_by_NID(req.get(), NID_pkcs9_challengePassword, -1);
  if (at < 0) return std::nullopt;
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(req.get(), at), 0);
  if (value == nullptr || value->type != V_ASN1_UTF8STRING) return std::nullopt;
  const ASN1_STRING* text = value->value.utf8string;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<std::size_t>(ASN1_STRING_length(text)));
}

// Base64 with a CRLF every 64 characters, as RFC 7030 servers send it.
std::string wrapped(const std::string& der) {
  const std::string b64 = base64_encode(der);
  std::string out;
  for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\r\n";
  return out;
}

std::string key_der(const x509::PrivateKey& key) {
  const std::string pem = value_of(key.to_pkcs8_pem());
  std::string b64;
  for (std::size_t pos = pem.find('\n') + 1; pos < pem.size();) {
    const auto eol = pem.find('\n', pos);
    const std::string line = pem.substr(pos, eol - pos);
    if (line.starts_with("-----")) break;
    b64 += line;
    pos = eol + 1;
  }
  return value_of(base64_decode(b64));
}

class EstIssuerTest : public ::testing::Test {
protected:
  EstIssuerTest() {
    CaInitOptions ca;
    ca.dir = m_dir / "ca";
    m_ca = value_of(init_ca(ca, m_clock, m_random), "ca init");
    LocalIssuerOptions local;
    local.ca_cert = m_ca.ca_cert;
    local.ca_key = m_ca.ca_key;
    m_local = value_of(LocalIssuer::create(local, m_clock, m_random));
    m_transport = std::make_shared<EstTransport>();
    testing::write_text(m_dir / "pass", "s3cret-pass\n");
    testing::write_text(m_dir / "boot.pem", signed_for(request(m_boot_key)).to_pem());
    testing::write_text(m_dir / "boot.key", value_of(m_boot_key.to_pkcs8_pem()));
  }

  NetworkDeps deps() {
    NetworkDeps d;
    d.transport = m_transport;
    d.clock = &m_clock;
    d.warn = [this](const std::string& credential, const std::string& message) {
      m_warnings.push_back(credential + ": " + message);
    };
    return d;
  }

  EstIssuerOptions options() {
    EstIssuerOptions o;
    o.url = "https://est.example/.well-known/est/corp/";
    o.ca_bundle = m_ca.ca_cert;
    o.mtls.source = MtlsAuth::Source::self;
    BootstrapAuth boot;
    boot.mtls.source = MtlsAuth::Source::files;
    boot.mtls.cert = m_dir / "boot.pem";
    boot.mtls.key = m_dir / "boot.key";
    o.bootstrap = boot;
    return o;
  }
  EstIssuerOptions basic_options() {
    EstIssuerOptions o = options();
    o.bootstrap = BootstrapAuth{};
    o.basic = EstBasicAuth{"host42", m_dir / "pass"};
    return o;
  }

  IssueRequest request(const x509::PrivateKey& key, const std::string& cn = "web.example") {
    IssueRequest r;
    r.credential = "web";
    r.request = testing::named(cn, {{SanType::dns, cn}});
    r.csr_pem = value_of(x509::build_csr(key, r.request));
    return r;
  }
  x509::Certificate signed_for(const IssueRequest& r) {
    return value_of(m_local->issue(r)).chain.front();
  }
  CurrentCredential current(const std::string& cn = "web.example") {
    auto key = value_of(x509::generate_key(x509::KeySpec{}));
    return CurrentCredential{{signed_for(request(key, cn))}, key};
  }
  std::string raw_der_of(const IssueRequest& r) { return certs_only({signed_for(r)}); }
  x509::Certificate root() {
    return value_of(x509::parse_certificate(value_of(read_file(m_ca.ca_cert))));
  }

  testing::TempDir m_dir;
  ManualClock m_clock{testing::test_time()};
  SeededRandom m_random{12};
  CaInitResult m_ca;
  std::unique_ptr<LocalIssuer> m_local;
  std::shared_ptr<EstTransport> m_transport;
  std::vector<std::string> m_warnings;
  x509::PrivateKey m_key = value_of(x509::generate_key(x509::KeySpec{}));
  x509::PrivateKey m_boot_key = value_of(x509::generate_key(x509::KeySpec{}));
};

TEST_F(EstIssuerTest, ReenrollsOverMtlsWithTheLiveCertificate) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  IssueRequest r = request(m_key);
  r.current = current();
  // The server puts the root first and the leaf last: the leaf is found by its key.
  m_transport->answer(200, wrapped(certs_only({root(), signed_for(r)})),
                      "application/pkcs7-mime; smime-type=certs-only");
  auto outcome = value_of(issuer->issue_outcome(r));
  auto& issued = std::get<IssuedCredential>(outcome.answer);
  ASSERT_EQ(issued.chain.size(), 1u);  // the root is not part of the chain
  EXPECT_TRUE(x509::key_matches(m_key, issued.chain.front()));
  ASSERT_EQ(m_transport->requests.size(), 1u);
  const auto& post = m_transport->requests[0];
  EXPECT_EQ(post.url, "https://est.example/.well-known/est/corp/simplereenroll");
  ASSERT_TRUE(post.tls.client);
  EXPECT_EQ(post.tls.client->id, x509::x5t_s256(r.current->chain.front()));
  EXPECT_EQ(header(post, "Content-Type"), "application/pkcs10");
  EXPECT_EQ(header(post, "Content-Transfer-Encoding"), "base64");
  EXPECT_EQ(post.body, value_of(est::csr_body(*r.csr_pem)));
  EXPECT_TRUE(m_warnings.empty());
}

TEST_F(EstIssuerTest, FirstEnrollmentUsesTheBootstrapCertificateAndSaysSo) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  IssueRequest r = request(m_key);
  m_transport->answer(200, base64_encode(certs_only({signed_for(r)})), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  const auto& post = m_transport->requests.at(0);
  EXPECT_TRUE(post.url.ends_with("/simpleenroll"));
  ASSERT_TRUE(post.tls.client);
  EXPECT_NE(post.tls.client->description.find("bootstrap"), std::string::npos);
  ASSERT_EQ(m_warnings.size(), 1u);
  EXPECT_NE(m_warnings[0].find("BOOTSTRAP"), std::string::npos);
}

TEST_F(EstIssuerTest, AChangedNameGoesToSimpleenrollWithTheBootstrapAndTheLogSaysWhy) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  IssueRequest r = request(m_key, "new.example");
  r.current = current("web.example");
  m_transport->answer(200, base64_encode(certs_only({signed_for(r)})), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  const auto& post = m_transport->requests.at(0);
  EXPECT_TRUE(post.url.ends_with("/simpleenroll"));
  EXPECT_NE(post.tls.client->description.find("bootstrap"), std::string::npos);
  ASSERT_FALSE(m_warnings.empty());
  EXPECT_NE(m_warnings[0].find("common name 'new.example' differs"), std::string::npos);
}

TEST_F(EstIssuerTest, AnswersA401WithBasicOnlyWhenAskedAndNeverLogsThePassword) {
  auto issuer = value_of(EstIssuer::create(basic_options(), deps()));
  IssueRequest r = request(m_key);
  m_transport->answer(401, "who are you", "text/plain",
                      {{"www-authenticate", "Basic realm=\"est\""}});
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  ASSERT_EQ(m_transport->requests.size(), 2u);
  EXPECT_EQ(header(m_transport->requests[0], "Authorization"), "");
  EXPECT_FALSE(m_transport->requests[0].tls.client);
  EXPECT_EQ(header(m_transport->requests[1], "Authorization"),
            "Basic " + base64_encode(std::string("host42:s3cret-pass")));
  for (const auto& w : m_warnings) EXPECT_EQ(w.find("s3cret"), std::string::npos) << w;
}

TEST_F(EstIssuerTest, WithoutAnyClientCertificateBasicAloneAnswersThe401) {
  EstIssuerOptions o = basic_options();
  o.mtls.source = MtlsAuth::Source::none;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  m_transport->answer(401, "", "text/plain", {{"www-authenticate", "basic realm=est"}});
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  ASSERT_EQ(m_transport->requests.size(), 2u);
  EXPECT_EQ(header(m_transport->requests[1], "Authorization").rfind("Basic ", 0), 0u);
}

TEST_F(EstIssuerTest, A401WithoutBasicIsAnErrorWithTheServersText) {
  auto issuer = value_of(EstIssuer::create(basic_options(), deps()));
  m_transport->answer(401, "certificate required", "text/plain", {{"www-authenticate", "Bearer"}});
  auto outcome = issuer->issue_outcome(request(m_key));
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message.find("certificate required"), std::string::npos);
  EXPECT_EQ(m_transport->requests.size(), 1u);
}

TEST_F(EstIssuerTest, Accepted202IsNotYetAndTheStateSendsTheRetryToTheSamePlace) {
  auto issuer = value_of(EstIssuer::create(basic_options(), deps()));
  IssueRequest r = request(m_key);
  m_transport->answer(202, "", "text/plain", {{"retry-after", "7"}});
  auto outcome = value_of(issuer->issue_outcome(r));
  const auto* later = std::get_if<NotYet>(&outcome.answer);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->retry_after, Millis(7s));
  ASSERT_TRUE(outcome.state);
  EXPECT_EQ(*outcome.state, "simpleenroll bootstrap");

  // Asked again (after a restart the state comes from the state file), now with a certificate
  // the credential could renew with: the pending enrollment is still finished at /simpleenroll.
  r.state = outcome.state;
  r.current = current();
  m_transport->answer(401, "", "text/plain", {{"www-authenticate", "Basic"}});
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  auto done = value_of(issuer->issue_outcome(r));
  EXPECT_TRUE(std::holds_alternative<IssuedCredential>(done.answer));
  EXPECT_FALSE(done.state);
  EXPECT_TRUE(m_transport->requests.at(1).url.ends_with("/simpleenroll"));
}

TEST_F(EstIssuerTest, ServerErrorsAreRetryableAndCarryTheirText) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  m_transport->answer(503, "CA offline for maintenance\r\n", "text/plain", {{"retry-after", "30"}});
  auto outcome = issuer->issue_outcome(request(m_key));
  ASSERT_FALSE(outcome);
  EXPECT_TRUE(outcome.error().retryable());
  EXPECT_EQ(outcome.error().retry_after, Millis(30s));
  EXPECT_NE(outcome.error().message.find("CA offline"), std::string::npos);
}

TEST_F(EstIssuerTest, ACertificateForAnotherKeyIsRefused) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  auto other = value_of(x509::generate_key(x509::KeySpec{}));
  m_transport->answer(200, base64_encode(certs_only({signed_for(request(other))})),
                      "application/pkcs7-mime");
  auto outcome = issuer->issue_outcome(request(m_key));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().reason, Reason::invalid_answer);
  EXPECT_NE(outcome.error().message.find("another key"), std::string::npos);
}

TEST_F(EstIssuerTest, ServerkeygenReadsPkcs8AndPkcs1KeysInEitherOrder) {
  EstIssuerOptions o = options();
  o.server_generated_key = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  x509::KeySpec rsa;
  rsa.type = x509::KeyType::rsa;
  for (const auto& spec : {x509::KeySpec{}, rsa}) {
    auto server_key = value_of(x509::generate_key(spec));
    IssueRequest r = request(server_key);
    r.csr_pem.reset();
    r.key = spec;
    std::string der = key_der(server_key);
    std::string label = "application/pkcs8";
    if (spec.type == x509::KeyType::rsa) {
      // PKCS#1 inside, as some servers send it under the PKCS#8 label.
      unsigned char* out = nullptr;
      const int len = i2d_PrivateKey(server_key.get(), &out);
      ASSERT_GT(len, 0);
      der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
      OPENSSL_free(out);
    }
    const std::string body =
        "--est\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        wrapped(certs_only({signed_for(request(server_key))})) + "--est\r\nContent-Type: " + label +
        "\r\n\r\n" + wrapped(der) + "--est--\r\n";
    m_transport->answer(200, body, "multipart/mixed; boundary=\"est\"");
    auto outcome = value_of(issuer->issue_outcome(r));
    auto& issued = std::get<IssuedCredential>(outcome.answer);
    ASSERT_TRUE(issued.key);
    EXPECT_TRUE(x509::key_matches(*issued.key, issued.chain.front()));
    EXPECT_EQ(issued.key->spec(), spec);
    EXPECT_TRUE(m_transport->requests.back().url.ends_with("/serverkeygen"));
  }
}

TEST_F(EstIssuerTest, ACutMultipartAnswerIsRefused) {
  EstIssuerOptions o = options();
  o.server_generated_key = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.csr_pem.reset();
  m_transport->answer(200, "--est\r\nContent-Type: application/pkcs8\r\n\r\nMIIE",
                      "multipart/mixed; boundary=est");
  auto outcome = issuer->issue_outcome(r);
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().reason, Reason::invalid_answer);
  EXPECT_EQ(outcome.error().message.find("MIIE"), std::string::npos);
}

TEST_F(EstIssuerTest, TheCaBundleTakesTheRootsTheAnchorsCrossSignedOrPinnedAndNoOthers) {
  const SystemTime now = m_clock.wall_now();
  auto fresh = testing::make_root(m_random, now - 1h, now + 48h, "New Root");
  auto rogue = testing::make_root(m_random, now - 1h, now + 48h, "Rogue Root");
  auto pinned = testing::make_root(m_random, now - 1h, now + 48h, "Pinned Root");
  const x509::Certificate old = root();
  const auto old_key = value_of(x509::parse_private_key(value_of(read_file(m_ca.ca_key))));
  // NewWithOld (RFC 7030 §4.1.3): the new root's name and key, signed by the old root.
  x509::SignOptions sign;
  sign.subject_public_key = fresh.key.get();
  sign.request = testing::named("New Root");
  sign.not_before = now - 1h;
  sign.not_after = now + 48h;
  sign.is_ca = true;
  sign.issuer_cert = &old;
  sign.issuer_key = &old_key;
  const auto cross = value_of(x509::sign_certificate(sign, m_random));

  EstIssuerOptions o = options();
  o.trust_from_issuer = true;
  o.bootstrap_fingerprints = {pinned.cert.info().sha256_fingerprint};
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.current = current();
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  m_transport->answer(200,
                      base64_encode(certs_only({old, fresh.cert, cross, rogue.cert, pinned.cert})),
                      "application/pkcs7-mime");
  auto outcome = value_of(issuer->issue_outcome(r));
  const auto& ca = std::get<IssuedCredential>(outcome.answer).ca;
  ASSERT_EQ(ca.size(), 3u);
  EXPECT_TRUE(ca[0].same_as(old)) << "the configured anchor stays";
  EXPECT_TRUE(ca[1].same_as(fresh.cert));
  EXPECT_TRUE(ca[2].same_as(pinned.cert));
  const auto& get = m_transport->requests.at(1);
  EXPECT_TRUE(get.url.ends_with("/corp/cacerts"));
  EXPECT_FALSE(get.tls.client) << "/cacerts needs no client authentication";
  ASSERT_EQ(m_warnings.size(), 1u);
  EXPECT_NE(m_warnings[0].find("CN=Rogue Root"), std::string::npos) << m_warnings[0];
  EXPECT_NE(m_warnings[0].find(rogue.cert.info().sha256_fingerprint), std::string::npos);
}

TEST_F(EstIssuerTest, WhenCacertsFailsTheBundleKeepsTheAnchorsAndSaysWhy) {
  EstIssuerOptions o = options();
  o.trust_from_issuer = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.current = current();
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  m_transport->answer(503, "maintenance", "text/plain");
  auto outcome = value_of(issuer->issue_outcome(r));
  const auto& ca = std::get<IssuedCredential>(outcome.answer).ca;
  ASSERT_EQ(ca.size(), 1u);
  EXPECT_TRUE(ca[0].same_as(root()));
  ASSERT_EQ(m_warnings.size(), 1u);
  EXPECT_NE(m_warnings[0].find("keeps the trust anchors only"), std::string::npos);
}

TEST_F(EstIssuerTest, WithoutRefreshThereIsNoUpkeepAndWithItTheIssuanceNamesTheNext) {
  EstIssuerOptions o = options();
  o.trust_from_issuer = true;
  EXPECT_EQ(value_of(EstIssuer::create(o, deps()))->upkeep_mode(), UpkeepMode::none);
  o.trust_refresh = 24h;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  EXPECT_EQ(issuer->upkeep_mode(), UpkeepMode::when_due);
  IssueRequest r = request(m_key);
  r.current = current();
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  m_transport->answer(200, base64_encode(certs_only({root()})), "application/pkcs7-mime");
  auto outcome = value_of(issuer->issue_outcome(r));
  EXPECT_EQ(outcome.upkeep_after, Millis(24h)) << "/cacerts was just fetched";
}

TEST_F(EstIssuerTest, WhenCacertsFailsTheIssuanceLeavesTheRefreshWhereItWasScheduled) {
  EstIssuerOptions o = options();
  o.trust_from_issuer = true;
  o.trust_refresh = 24h;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.current = current();
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  m_transport->answer(503, "maintenance", "text/plain");
  auto outcome = value_of(issuer->issue_outcome(r));
  ASSERT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  EXPECT_FALSE(outcome.upkeep_after.has_value())
      << "the refresh that restores ca.pem must not wait a whole period";
}

TEST_F(EstIssuerTest, ARefreshAddsANewRootAndKeepsTheOldOneWhileTheLiveCertificateNeedsIt) {
  const SystemTime now = m_clock.wall_now();
  auto fresh = testing::make_root(m_random, now - 1h, now + 48h, "New Root");
  testing::write_text(m_dir / "anchors.pem", root().to_pem());
  EstIssuerOptions o = options();
  o.trust_from_issuer = true;
  o.trust_refresh = 1h;
  o.bootstrap_fingerprints = {fresh.cert.info().sha256_fingerprint};
  o.trust_anchors = m_dir / "anchors.pem";
  auto issuer = value_of(EstIssuer::create(o, deps()));
  UpkeepRequest u{"web", current(), {root()}, "kept", nullptr};

  // Nothing new: no change, and the state stays.
  m_transport->answer(200, base64_encode(certs_only({root()})), "application/pkcs7-mime");
  auto same = value_of(issuer->upkeep(u));
  EXPECT_FALSE(same.ca.has_value());
  EXPECT_TRUE(same.summary.empty());
  EXPECT_EQ(same.state, "kept");
  EXPECT_EQ(same.next, Millis(1h));

  // The rollover: the new root joins the old one.
  m_transport->answer(200, base64_encode(certs_only({root(), fresh.cert})),
                      "application/pkcs7-mime");
  auto added = value_of(issuer->upkeep(u));
  ASSERT_TRUE(added.ca.has_value());
  ASSERT_EQ(added.ca->size(), 2u);
  EXPECT_NE(added.summary.find("added root CN=New Root"), std::string::npos) << added.summary;

  // The server and trust_anchors drop the old root: it stays, the live certificate needs it.
  testing::write_text(m_dir / "anchors.pem", fresh.cert.to_pem());
  u.ca = *added.ca;
  m_transport->answer(200, base64_encode(certs_only({fresh.cert})), "application/pkcs7-mime");
  auto kept = value_of(issuer->upkeep(u));
  EXPECT_FALSE(kept.ca.has_value()) << kept.summary;

  // Once the live certificate chains to the new root, the old one goes.
  auto leaf = testing::issue_from(fresh, m_random,
                                  testing::named("web.example", {{SanType::dns, "web.example"}}),
                                  now - 1min, now + 24h);
  u.current = CurrentCredential{{leaf.cert}, leaf.key};
  m_transport->answer(200, base64_encode(certs_only({fresh.cert})), "application/pkcs7-mime");
  auto dropped = value_of(issuer->upkeep(u));
  ASSERT_TRUE(dropped.ca.has_value());
  ASSERT_EQ(dropped.ca->size(), 1u);
  EXPECT_TRUE(dropped.ca->front().same_as(fresh.cert));
  EXPECT_NE(dropped.summary.find("removed root"), std::string::npos) << dropped.summary;
}

TEST_F(EstIssuerTest, ARefreshThatCannotReachCacertsIsAnErrorAndChangesNothing) {
  EstIssuerOptions o = options();
  o.trust_from_issuer = true;
  o.trust_refresh = 1h;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  m_transport->answer(503, "maintenance", "text/plain");
  auto failed = issuer->upkeep(UpkeepRequest{"web", current(), {root()}, std::nullopt, nullptr});
  ASSERT_FALSE(failed.has_value());
  EXPECT_TRUE(failed.error().retryable());
  // Nothing live: nothing to refresh, and no request.
  const auto before = m_transport->requests.size();
  auto idle = value_of(issuer->upkeep(UpkeepRequest{"web", std::nullopt, {}, std::nullopt}));
  EXPECT_FALSE(idle.ca.has_value());
  EXPECT_EQ(m_transport->requests.size(), before);
}

// --- the codec on its own ---

// RFC 7030 §3.5: the CSR is signed again for the connection, with the same key and names and
// base64(tls-unique) as its challengePassword.
TEST_F(EstIssuerTest, LinkTlsUniquePutsTheConnectionsValueInTheCsrWithTheSameKeyAndNames) {
  EstIssuerOptions o = options();
  o.link_tls_unique = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.request.usages = {x509::ExtendedUsage::client_auth};
  r.csr_pem = value_of(x509::build_csr(m_key, r.request));
  r.csr_key = m_key;
  r.current = current();
  m_transport->answer(200, wrapped(certs_only({signed_for(r)})), "application/pkcs7-mime");
  auto outcome = value_of(issuer->issue_outcome(r));
  EXPECT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer));
  ASSERT_EQ(m_transport->requests.size(), 1u);
  const auto& post = m_transport->requests[0];
  EXPECT_TRUE(post.url.ends_with("/simplereenroll"));
  ASSERT_TRUE(post.body_for_connection);
  ASSERT_EQ(m_transport->tls_unique.size(), 1u);
  EXPECT_EQ(challenge_password(post.body), base64_encode(m_transport->tls_unique[0]));
  const auto sent = value_of(x509::parse_csr(pem_of(csr_of(post.body).get())));
  const auto engines = value_of(x509::parse_csr(*r.csr_pem));
  EXPECT_EQ(EVP_PKEY_eq(sent.public_key.get(), m_key.get()), 1);
  EXPECT_EQ(sent.request.subject, engines.request.subject);
  EXPECT_EQ(sent.request.sans, engines.request.sans);
  EXPECT_EQ(sent.request.usages, engines.request.usages);
  for (const auto& w : m_warnings) {
    EXPECT_EQ(w.find(base64_encode(m_transport->tls_unique[0])), std::string::npos) << w;
  }
}

TEST_F(EstIssuerTest, WithoutLinkTlsUniqueTheEnginesCsrGoesAsItIsWithoutAChallengePassword) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  IssueRequest r = request(m_key);
  r.csr_key = m_key;
  r.current = current();
  m_transport->answer(200, wrapped(certs_only({signed_for(r)})), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  const auto& post = m_transport->requests.at(0);
  EXPECT_FALSE(post.body_for_connection);
  EXPECT_TRUE(m_transport->tls_unique.empty());
  EXPECT_EQ(post.body, value_of(est::csr_body(*r.csr_pem)));
  EXPECT_FALSE(challenge_password(post.body));
}

TEST_F(EstIssuerTest, TheBasicAnswerToA401IsLinkedToItsOwnConnection) {
  EstIssuerOptions o = basic_options();
  o.link_tls_unique = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.csr_key = m_key;
  m_transport->answer(401, "", "text/plain", {{"www-authenticate", "Basic realm=\"est\""}});
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  ASSERT_EQ(m_transport->requests.size(), 2u);
  ASSERT_EQ(m_transport->tls_unique.size(), 2u);
  ASSERT_NE(m_transport->tls_unique[0], m_transport->tls_unique[1]);
  EXPECT_EQ(challenge_password(m_transport->requests[0].body),
            base64_encode(m_transport->tls_unique[0]));
  EXPECT_EQ(challenge_password(m_transport->requests[1].body),
            base64_encode(m_transport->tls_unique[1]));
  EXPECT_EQ(header(m_transport->requests[1], "Authorization").rfind("Basic ", 0), 0u);
}

TEST_F(EstIssuerTest, ServerkeygenLinksTheCsrOfItsThrowawayKey) {
  EstIssuerOptions o = options();
  o.server_generated_key = true;
  o.link_tls_unique = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  r.csr_pem.reset();
  m_transport->answer(500, "no", "text/plain");
  EXPECT_FALSE(issuer->issue_outcome(r));
  const auto& post = m_transport->requests.at(0);
  EXPECT_TRUE(post.url.ends_with("/serverkeygen"));
  ASSERT_EQ(m_transport->tls_unique.size(), 1u);
  EXPECT_EQ(challenge_password(post.body), base64_encode(m_transport->tls_unique[0]));
  const auto sent = value_of(x509::parse_csr(pem_of(csr_of(post.body).get())));
  EXPECT_EQ(sent.request.subject, r.request.subject);
  EXPECT_EQ(sent.request.sans, r.request.sans);
}

TEST_F(EstIssuerTest, LinkTlsUniqueWithoutTheKeyOfTheCsrIsAnErrorAndSendsNothing) {
  EstIssuerOptions o = options();
  o.link_tls_unique = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  IssueRequest r = request(m_key);
  auto outcome = issuer->issue_outcome(r);
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message.find("link_tls_unique"), std::string::npos);
  EXPECT_TRUE(m_transport->requests.empty());
  r.csr_key = m_boot_key;  // not the CSR's key
  EXPECT_FALSE(issuer->issue_outcome(r));
  EXPECT_TRUE(m_transport->requests.empty());
}

TEST_F(EstIssuerTest, TheKeyCsrattrsAsksForIsRequestedAndTheRestIsNamedOnce) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  const x509::KeySpec p384{x509::KeyType::ec, "P-384", 2048};
  auto key = value_of(x509::generate_key(p384));
  for (int round = 0; round < 2; ++round) {
    m_transport->answer_csrattrs(200, wrapped(value_of(base64_decode(k_rfc7030_csrattrs))));
    IssueRequest r = request(key);
    r.current = current();
    const auto asked = value_of(issuer->requested_key(r));
    ASSERT_TRUE(asked.has_value());
    EXPECT_EQ(asked->spec, p384);
    EXPECT_NE(asked->who.find("/csrattrs"), std::string::npos);
    r.csr_key = key;
    m_transport->answer(200, wrapped(certs_only({signed_for(r)})), "application/pkcs7-mime");
    ASSERT_TRUE(issuer->issue_outcome(r));
  }
  // One GET per enrollment: the one requested_key made is used by the enrollment.
  ASSERT_EQ(m_transport->csrattrs_requests.size(), 2u);
  EXPECT_EQ(m_transport->csrattrs_requests[0].url,
            "https://est.example/.well-known/est/corp/csrattrs");
  EXPECT_EQ(header(m_transport->csrattrs_requests[0], "Accept"), "application/csrattrs");
  EXPECT_FALSE(m_transport->csrattrs_requests[0].tls.client);
  ASSERT_EQ(m_warnings.size(), 1u) << "said once, not at each enrollment";
  const std::string& w = m_warnings[0];
  EXPECT_NE(w.find("the extension 1.3.6.1.1.1.1.22"), std::string::npos) << w;
  EXPECT_NE(w.find("challengePassword (certrotd sends one only with link_tls_unique)"),
            std::string::npos)
      << w;
  EXPECT_NE(w.find("1.2.840.10045.4.3.3"), std::string::npos) << w;
  EXPECT_EQ(w.find("key (the CSR's is"), std::string::npos) << "the key was honoured: " << w;
}

TEST_F(EstIssuerTest, WithLinkTlsUniqueTheChallengePasswordCsrattrsAsksForIsHonoured) {
  EstIssuerOptions o = options();
  o.link_tls_unique = true;
  auto issuer = value_of(EstIssuer::create(o, deps()));
  const x509::KeySpec p384{x509::KeyType::ec, "P-384", 2048};
  auto key = value_of(x509::generate_key(p384));
  m_transport->answer_csrattrs(200, wrapped(value_of(base64_decode(k_rfc7030_csrattrs))));
  IssueRequest r = request(key);
  r.current = current();
  ASSERT_TRUE(value_of(issuer->requested_key(r)).has_value());
  r.csr_key = key;
  m_transport->answer(200, wrapped(certs_only({signed_for(r)})), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  ASSERT_EQ(m_transport->tls_unique.size(), 1u);
  EXPECT_EQ(challenge_password(m_transport->requests.at(0).body),
            base64_encode(m_transport->tls_unique[0]));
  ASSERT_EQ(m_warnings.size(), 1u) << "the extension and the signature algorithm are still named";
  EXPECT_EQ(m_warnings[0].find("challengePassword"), std::string::npos) << m_warnings[0];
}

TEST_F(EstIssuerTest, ExtensionsCertrotdPutsInTheCsrAreSatisfiedAndAKeyItDidNotMakeIsNamed) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  // An RSA 3072 key and an extensionRequest naming keyUsage, subjectAltName and extKeyUsage
  // (RFC 7030 §4.5.2's OID form), as `openssl asn1parse -genconf` makes it.
  const auto der = value_of(
      base64_decode("MDEwEQYJKoZIhvcNAQEBMQQCAgwAMBwGCSqGSIb3DQEJDjEPBgNVHQ8GA1UdEQYDVR0l"));
  ASSERT_TRUE(est::parse_csrattrs(der));
  m_transport->answer_csrattrs(200, base64_encode(der));
  IssueRequest r = request(m_key);
  r.request.usages = {x509::ExtendedUsage::client_auth};
  r.csr_pem = value_of(x509::build_csr(m_key, r.request));
  r.csr_key = m_key;
  r.current = current();
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  // Without requested_key before it (a caller that made its key itself), the enrollment asks.
  ASSERT_TRUE(issuer->issue_outcome(r));
  ASSERT_EQ(m_transport->csrattrs_requests.size(), 1u);
  ASSERT_EQ(m_warnings.size(), 1u);
  const std::string& w = m_warnings[0];
  EXPECT_NE(w.find("an rsa 3072 key (the CSR's is ec P-256)"), std::string::npos) << w;
  EXPECT_NE(w.find("the extension 2.5.29.15"), std::string::npos) << w;
  EXPECT_EQ(w.find("2.5.29.17"), std::string::npos) << w;
  EXPECT_EQ(w.find("2.5.29.37"), std::string::npos) << w;
}

TEST_F(EstIssuerTest, NoAttributesAnswersAskForNothingAndSayNothing) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  m_transport->answer_csrattrs(204, "");
  m_transport->answer_csrattrs(404, "no csrattrs here");
  m_transport->answer_csrattrs(200, "\r\n");
  m_transport->answer_csrattrs(200, base64_encode(std::string("\x30\x00", 2)));
  for (int i = 0; i < 4; ++i) {
    IssueRequest r = request(m_key);
    r.current = current();
    EXPECT_FALSE(value_of(issuer->requested_key(r)).has_value()) << i;
    r.csr_key = m_key;
    m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
    ASSERT_TRUE(issuer->issue_outcome(r)) << i;
  }
  EXPECT_EQ(m_transport->csrattrs_requests.size(), 4u);
  EXPECT_TRUE(m_warnings.empty()) << m_warnings.front();
}

TEST_F(EstIssuerTest, ABrokenOrFailedCsrattrsIsAWarningAndTheEnrollmentGoesOn) {
  auto issuer = value_of(EstIssuer::create(options(), deps()));
  // A SEQUENCE that claims more than the body holds, then a server error.
  m_transport->answer_csrattrs(200, base64_encode(std::string("\x30\x05\x06\x03", 4)));
  m_transport->answer_csrattrs(500, "csrattrs backend down");
  for (int i = 0; i < 2; ++i) {
    IssueRequest r = request(m_key);
    r.current = current();
    EXPECT_FALSE(value_of(issuer->requested_key(r)).has_value()) << i;
    r.csr_key = m_key;
    m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
    auto outcome = value_of(issuer->issue_outcome(r));
    EXPECT_TRUE(std::holds_alternative<IssuedCredential>(outcome.answer)) << i;
  }
  ASSERT_EQ(m_warnings.size(), 2u);
  EXPECT_NE(m_warnings[0].find("csrattrs: an element longer than the body at byte 0"),
            std::string::npos)
      << m_warnings[0];
  EXPECT_NE(m_warnings[0].find("enrolling without the server's CSR attributes"), std::string::npos);
  EXPECT_NE(m_warnings[1].find("500"), std::string::npos) << m_warnings[1];
  EXPECT_EQ(m_transport->csrattrs_requests.size(), 2u) << "no second GET after a failed one";
}

TEST_F(EstIssuerTest, APendingRequestAndServerkeygenDoNotAskForCsrattrs) {
  auto issuer = value_of(EstIssuer::create(basic_options(), deps()));
  IssueRequest r = request(m_key);
  r.state = "simpleenroll bootstrap";
  r.csr_key = m_key;
  m_transport->answer(401, "", "text/plain", {{"www-authenticate", "Basic"}});
  m_transport->answer(200, raw_der_of(r), "application/pkcs7-mime");
  ASSERT_TRUE(issuer->issue_outcome(r));
  EXPECT_TRUE(m_transport->csrattrs_requests.empty());

  EstIssuerOptions o = options();
  o.server_generated_key = true;
  auto keygen = value_of(EstIssuer::create(o, deps()));
  EXPECT_FALSE(value_of(keygen->requested_key(request(m_key))).has_value());
  EXPECT_TRUE(m_transport->csrattrs_requests.empty());
}

TEST(EstCodec, DecodesBase64WithLineBreaksRawDerAndPem) {
  const std::string der = std::string("\x30\x03\x02\x01\x05", 5);
  EXPECT_EQ(value_of(est::decode_body(" MAMC\r\nAQU=\r\n")), der);
  EXPECT_EQ(value_of(est::decode_body("MAMCAQU")), der);  // padding dropped
  EXPECT_EQ(value_of(est::decode_body(der)), der);
  EXPECT_EQ(value_of(est::decode_body("-----BEGIN PKCS7-----\nMAMC\nAQU=\n-----END PKCS7-----\n")),
            der);
  EXPECT_FALSE(est::decode_body("<html>gateway</html>"));
  EXPECT_FALSE(est::decode_body(""));
}

TEST(EstCodec, ParsesMediaTypesWithParameters) {
  const auto t = est::parse_media_type("Multipart/Mixed ; Boundary=\"a;b\"; charset=x");
  EXPECT_EQ(t.type, "multipart/mixed");
  EXPECT_EQ(t.params.at("boundary"), "a;b");
  EXPECT_EQ(t.params.at("charset"), "x");
}

TEST(EstCodec, RefusesMultipartWithTooManyParts) {
  std::string body;
  for (int i = 0; i < 6; ++i) body += "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  body += "--b--\r\n";
  EXPECT_FALSE(est::parse_multipart(body, "b", 4));
  EXPECT_EQ(value_of(est::parse_multipart(body, "b", 6)).size(), 6u);
}

}  // namespace
}  // namespace certrotd::issuer
