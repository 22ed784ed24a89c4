#include <gtest/gtest.h>

#include <deque>

#include "auth/token_client.hpp"
#include "support/test_support.hpp"
#include "util/encoding.hpp"

namespace certrotd::auth {
namespace {

using std::chrono::seconds;

// Answers from a queue and keeps every request it saw.
class FakeTransport final : public http::Transport {
public:
  std::deque<http::HttpResult<http::Response>> answers;
  std::vector<http::Request> requests;
  std::vector<std::string> forgotten;

  http::HttpResult<http::Response> perform(const http::Request& request) override {
    requests.push_back(request);
    if (answers.empty()) {
      return tl::unexpected(http::Failure{
          http::FailureKind::transport, "no answer queued", request.url, 0, std::nullopt, {}});
    }
    auto a = std::move(answers.front());
    answers.pop_front();
    return a;
  }
  void forget_identity(const std::string& id) override { forgotten.push_back(id); }

  void answer(long status, std::string body) {
    http::Response r;
    r.status = status;
    r.headers.emplace_back("content-type", "application/json");
    r.body = std::move(body);
    answers.emplace_back(std::move(r));
  }
};

std::string header(const http::Request& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

// An unsigned JWT carrying the given claims (the client never checks signatures).
std::string jwt(const std::string& claims) {
  std::string b64 = base64_encode(claims);
  for (char& c : b64) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "eyJhbGciOiJub25lIn0." + b64 + ".sig";
}

class TokenClientTest : public ::testing::Test {
protected:
  FakeTransport transport;
  ManualClock clock;
  TokenClient client{transport, clock};
  testing::TempDir dir;
  http::ClientIdentity identity{"x5t-A", "CHAIN", "KEY", {}};

  TokenSettings mtls_settings() {
    TokenSettings s;
    s.url = "https://auth.example/oauth/token";
    s.client_id = "sb-app!t1";
    s.method = ClientAuthMethod::tls_client_auth;
    s.scope = "certs:issue";
    return s;
  }
  TokenSettings secret_settings(ClientAuthMethod method) {
    testing::write_text(dir / "secret", "s3cr$t=\n");
    TokenSettings s = mtls_settings();
    s.method = method;
    s.client_secret_file = dir / "secret";
    return s;
  }
};

TEST_F(TokenClientTest, MutualTlsSendsTheClientIdAndTheCertificateButNoSecret) {
  transport.answer(200, R"({"access_token":"AT1","token_type":"bearer","expires_in":600})");
  auto token = client.token(mtls_settings(), "ROOTS", identity);
  ASSERT_TRUE(token) << token.error().what();
  EXPECT_EQ(token->value, "AT1");
  ASSERT_EQ(transport.requests.size(), 1u);
  const auto& r = transport.requests[0];
  EXPECT_EQ(r.body, "grant_type=client_credentials&scope=certs%3Aissue&client_id=sb-app%21t1");
  EXPECT_EQ(header(r, "Authorization"), "");
  ASSERT_TRUE(r.tls.client);
  EXPECT_EQ(r.tls.client->id, "x5t-A");
  EXPECT_EQ(r.tls.ca_bundle_pem, "ROOTS");
}

TEST_F(TokenClientTest, MutualTlsWithoutACertificateFailsBeforeSending) {
  auto token = client.token(mtls_settings(), "ROOTS", std::nullopt);
  ASSERT_FALSE(token);
  EXPECT_TRUE(transport.requests.empty());
}

TEST_F(TokenClientTest, BasicAuthFormEncodesBeforeBase64) {
  transport.answer(200, R"({"access_token":"AT1","token_type":"Bearer","expires_in":600})");
  auto token = client.token(secret_settings(ClientAuthMethod::client_secret_basic), "R",
                            std::nullopt);
  ASSERT_TRUE(token) << token.error().what();
  // base64("sb-app%21t1:s3cr%24t%3D")
  EXPECT_EQ(header(transport.requests[0], "Authorization"),
            "Basic " + base64_encode("sb-app%21t1:s3cr%24t%3D"));
  EXPECT_EQ(transport.requests[0].body.find("client_secret"), std::string::npos);
}

TEST_F(TokenClientTest, PostAuthPutsTheSecretInTheBody) {
  transport.answer(200, R"({"access_token":"AT1","token_type":"Bearer","expires_in":600})");
  auto token = client.token(secret_settings(ClientAuthMethod::client_secret_post), "R",
                            std::nullopt);
  ASSERT_TRUE(token) << token.error().what();
  EXPECT_NE(transport.requests[0].body.find("client_id=sb-app%21t1&client_secret=s3cr%24t%3D"),
            std::string::npos);
}

TEST_F(TokenClientTest, CachesUntilTheRefreshMarginThenFetchesAgain) {
  transport.answer(200, R"({"access_token":"AT1","token_type":"bearer","expires_in":600})");
  transport.answer(200, R"({"access_token":"AT2","token_type":"bearer","expires_in":600})");
  EXPECT_EQ(client.token(mtls_settings(), "R", identity)->value, "AT1");
  clock.advance(seconds(530));  // margin is max(60 s, 10 %) = 60 s: still cached
  EXPECT_EQ(client.token(mtls_settings(), "R", identity)->value, "AT1");
  clock.advance(seconds(20));
  EXPECT_EQ(client.token(mtls_settings(), "R", identity)->value, "AT2");
  EXPECT_EQ(transport.requests.size(), 2u);
}

TEST_F(TokenClientTest, CacheIsPerClientIdentityAndForgottenAfterRotation) {
  transport.answer(200, R"({"access_token":"AT1","token_type":"bearer","expires_in":600})");
  transport.answer(200, R"({"access_token":"AT2","token_type":"bearer","expires_in":600})");
  transport.answer(200, R"({"access_token":"AT3","token_type":"bearer","expires_in":600})");
  EXPECT_EQ(client.token(mtls_settings(), "R", identity)->value, "AT1");
  http::ClientIdentity other{"x5t-B", "C", "K", {}};
  EXPECT_EQ(client.token(mtls_settings(), "R", other)->value, "AT2");
  client.forget_identity("x5t-A");
  EXPECT_EQ(client.token(mtls_settings(), "R", identity)->value, "AT3");
  EXPECT_EQ(client.token(mtls_settings(), "R", other)->value, "AT2");
}

TEST_F(TokenClientTest, AnInvalidatedTokenIsObtainedAgainAndOnlyForThatIdentity) {
  transport.answer(200, R"({"access_token":"AT1","token_type":"bearer","expires_in":600})");
  transport.answer(200, R"({"access_token":"AT2","token_type":"bearer","expires_in":600})");
  transport.answer(200, R"({"access_token":"AT3","token_type":"bearer","expires_in":600})");
  const ClientCredentialsGrant grant(mtls_settings());
  const std::string ca = "R";
  const std::optional<http::ClientIdentity> mine = identity;
  const std::optional<http::ClientIdentity> other = http::ClientIdentity{"x5t-B", "C", "K", {}};
  EXPECT_EQ(client.token(TokenRequest{grant, mine, ca})->value, "AT1");
  EXPECT_EQ(client.token(TokenRequest{grant, other, ca})->value, "AT2");
  client.invalidate(TokenRequest{grant, mine, ca});  // the resource server answered 401
  EXPECT_EQ(client.token(TokenRequest{grant, mine, ca})->value, "AT3");
  EXPECT_EQ(client.token(TokenRequest{grant, other, ca})->value, "AT2");
  EXPECT_EQ(transport.requests.size(), 3u);
}

// A grant that is not OAuth2, as a Vault login or a token file would be: the client caches its
// tokens by the grant's key and the identity, and keeps the cnf rule for them too.
class CountingGrant final : public TokenGrant {
public:
  CountingGrant(std::string key, const Clock& clock) : m_key(std::move(key)), m_clock(clock) {}
  std::string cache_key() const override { return m_key; }
  std::string where() const override { return "file:/run/token"; }
  Result<BearerToken> obtain(http::Transport&, const Clock&, const TokenRequest&) const override {
    ++calls;
    if (fail_with) return fail(*fail_with);
    return BearerToken{m_key + "-" + std::to_string(calls), m_clock.wall_now() + seconds(3600),
                       bound_to};
  }
  mutable int calls = 0;
  std::optional<Error> fail_with;
  std::optional<std::string> bound_to;

private:
  std::string m_key;
  const Clock& m_clock;
};

TEST_F(TokenClientTest, CachesAnyGrantByItsKeyAndPassesItsErrorsOnUnchanged) {
  CountingGrant a("a", clock);
  CountingGrant b("b", clock);
  const std::string ca;
  const std::optional<http::ClientIdentity> none;
  EXPECT_EQ(client.token(TokenRequest{a, none, ca})->value, "a-1");
  EXPECT_EQ(client.token(TokenRequest{a, none, ca})->value, "a-1");
  EXPECT_EQ(client.token(TokenRequest{b, none, ca})->value, "b-1");
  clock.advance(seconds(3600 - 360));  // the margin is 10 % of an hour
  EXPECT_EQ(client.token(TokenRequest{a, none, ca})->value, "a-2");
  EXPECT_TRUE(transport.requests.empty());

  Error refused{ErrorKind::retryable, "sealed", "https://vault.example/v1/auth/cert/login",
                std::chrono::seconds(30), Reason::rate_limited};
  b.fail_with = refused;
  client.invalidate(TokenRequest{b, none, ca});
  auto token = client.token(TokenRequest{b, none, ca});
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().reason, Reason::rate_limited);
  EXPECT_TRUE(token.error().retryable());
  EXPECT_EQ(token.error().retry_after, std::optional<Millis>(seconds(30)));
}

TEST_F(TokenClientTest, RefusesAnyGrantsTokenBoundToAnotherCertificate) {
  CountingGrant grant("g", clock);
  grant.bound_to = "x5t-B";
  const std::string ca;
  const std::optional<http::ClientIdentity> mine = identity;
  auto token = client.token(TokenRequest{grant, mine, ca});
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().reason, Reason::invalid_answer);
  EXPECT_EQ(token.error().context, "file:/run/token");
  EXPECT_EQ(token.error().message.find("g-1"), std::string::npos);  // the token is not echoed
}

TEST_F(TokenClientTest, RefreshMarginIsBoundedByHalfTheLifetime) {
  EXPECT_EQ(TokenClient::refresh_margin(seconds(43200)), Millis(seconds(4320)));
  EXPECT_EQ(TokenClient::refresh_margin(seconds(300)), Millis(seconds(60)));
  EXPECT_EQ(TokenClient::refresh_margin(seconds(60)), Millis(seconds(30)));
}

TEST_F(TokenClientTest, InvalidClientIsPermanentAndSummarised) {
  transport.answer(401, R"({"error":"invalid_client","error_description":"Bad credentials"})");
  auto token = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(token);
  EXPECT_FALSE(token.error().retryable());
  EXPECT_NE(token.error().message.find("invalid_client: Bad credentials"), std::string::npos);
  EXPECT_EQ(token.error().reason, Reason::tls_client_rejected) << "who we are was refused";
}

TEST_F(TokenClientTest, OtherRefusalsAndBadAnswersHaveTheirOwnReasonClass) {
  transport.answer(400, R"({"error":"invalid_scope"})");
  transport.answer(200, R"(not json)");
  auto refused = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, Reason::http_status);
  auto malformed = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().reason, Reason::invalid_answer);
}

TEST_F(TokenClientTest, ExtraParamsFollowScopeAndResourceAndMakeAnotherToken) {
  TokenSettings s = mtls_settings();
  s.resource = "https://pki.example";
  s.extra_params = {{"audience", "https://pki.example/api"}, {"tenant", "t 1"}};
  transport.answer(200, R"({"access_token":"AT1","token_type":"bearer","expires_in":600})");
  ASSERT_TRUE(client.token(s, "R", identity));
  ASSERT_EQ(transport.requests.size(), 1u);
  EXPECT_EQ(transport.requests[0].body,
            "grant_type=client_credentials&scope=certs%3Aissue&resource=https%3A%2F%2Fpki.example"
            "&audience=https%3A%2F%2Fpki.example%2Fapi&tenant=t+1&client_id=sb-app%21t1");
  // Another audience is another token, not the cached one.
  s.extra_params[0].second = "https://other.example";
  transport.answer(200, R"({"access_token":"AT2","token_type":"bearer","expires_in":600})");
  auto other = client.token(s, "R", identity);
  ASSERT_TRUE(other) << other.error().what();
  EXPECT_EQ(other->value, "AT2");
}

TEST_F(TokenClientTest, ARefusedCertificateIsNamedInTheError) {
  identity.description =
      "the certificate of credential 'web' (subject CN=web, issuer CN=CA, "
      "serial 1f)";
  transport.answers.emplace_back(
      tl::unexpected(http::Failure{http::FailureKind::tls_client_cert_rejected,
                                   "tlsv13 alert certificate required",
                                   "https://auth.example/oauth/token",
                                   0,
                                   std::nullopt,
                                   {}}));
  auto refused = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("certificate required; presented the certificate of "
                                         "credential 'web' (subject CN=web, issuer CN=CA, serial "
                                         "1f)"),
            std::string::npos)
      << refused.error().message;

  transport.answer(401, R"({"error":"invalid_client","error_description":"no such client"})");
  auto invalid = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(invalid);
  EXPECT_NE(invalid.error().message.find("presented the certificate of credential 'web'"),
            std::string::npos)
      << invalid.error().message;

  // Server trouble is not about the certificate.
  transport.answer(503, "down");
  auto down = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().message.find("presented"), std::string::npos) << down.error().message;
}

TEST_F(TokenClientTest, ServerTroubleIsRetryable) {
  transport.answer(503, "<html>down</html>");
  auto token = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(token);
  EXPECT_TRUE(token.error().retryable());
}

TEST_F(TokenClientTest, RejectsMalformedAnswersWithoutEchoingTheToken) {
  transport.answer(200, R"({"access_token":"SECRET-AT","token_type":"mac"})");
  transport.answer(200, R"(not json)");
  transport.answer(200, R"({"token_type":"bearer"})");
  for (int i = 0; i < 3; ++i) {
    auto token = client.token(mtls_settings(), "R", identity);
    ASSERT_FALSE(token);
    EXPECT_NE(token.error().message.find("malformed"), std::string::npos);
    EXPECT_EQ(token.error().what().find("SECRET-AT"), std::string::npos);
  }
}

TEST_F(TokenClientTest, ReadsTheConfirmationClaimOfABoundToken) {
  transport.answer(200, R"({"access_token":")" + jwt(R"({"cnf":{"x5t#S256":"x5t-A"}})") +
                            R"(","token_type":"bearer","expires_in":60})");
  auto token = client.token(mtls_settings(), "R", identity);
  ASSERT_TRUE(token) << token.error().what();
  EXPECT_EQ(token->cnf_x5t_s256, "x5t-A");
}

TEST_F(TokenClientTest, RefusesATokenBoundToAnotherCertificate) {
  transport.answer(200, R"({"access_token":")" + jwt(R"({"cnf":{"x5t#S256":"x5t-OTHER"}})") +
                            R"(","token_type":"bearer","expires_in":60})");
  auto token = client.token(mtls_settings(), "R", identity);
  ASSERT_FALSE(token);
  EXPECT_NE(token.error().message.find("bound"), std::string::npos);
}

TEST_F(TokenClientTest, FallsBackToTheJwtExpiry) {
  const auto exp = std::chrono::system_clock::to_time_t(clock.wall_now()) + 120;
  transport.answer(200, R"({"access_token":")" + jwt(R"({"exp":)" + std::to_string(exp) + "}") +
                            R"(","token_type":"bearer"})");
  auto token = client.token(mtls_settings(), "R", identity);
  ASSERT_TRUE(token);
  EXPECT_EQ(token->expires_at, clock.wall_now() + seconds(120));
}

TEST_F(TokenClientTest, AMissingSecretFileNamesTheFile) {
  TokenSettings s = mtls_settings();
  s.method = ClientAuthMethod::client_secret_basic;
  s.client_secret_file = dir / "nope";
  auto token = client.token(s, "R", std::nullopt);
  ASSERT_FALSE(token);
  EXPECT_NE(token.error().what().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace certrotd::auth
