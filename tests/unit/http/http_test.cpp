#include <gtest/gtest.h>

#include "http/curl_transport.hpp"
#include "http/transport.hpp"

namespace certrotd::http {
namespace {

using std::chrono::seconds;

const SystemTime k_now = std::chrono::system_clock::from_time_t(784111777);  // 1994-11-06 08:49:37

TEST(RetryAfter, ReadsDeltaSeconds) {
  EXPECT_EQ(parse_retry_after("120", k_now), Millis(seconds(120)));
  EXPECT_EQ(parse_retry_after(" 7 ", k_now), Millis(seconds(7)));
}

TEST(RetryAfter, ReadsAnHttpDateRelativeToNow) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", k_now), Millis(seconds(120)));
}

TEST(RetryAfter, ClampsToOneSecondAndOneHour) {
  EXPECT_EQ(parse_retry_after("0", k_now), Millis(seconds(1)));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", k_now), Millis(seconds(1)));
  EXPECT_EQ(parse_retry_after("86400", k_now), Millis(std::chrono::hours(1)));
  EXPECT_EQ(parse_retry_after("99999999999999999999999", k_now), Millis(std::chrono::hours(1)));
}

TEST(RetryAfter, IgnoresGarbage) {
  EXPECT_FALSE(parse_retry_after("", k_now));
  EXPECT_FALSE(parse_retry_after("soon", k_now));
  EXPECT_FALSE(parse_retry_after("-5", k_now));
}

TEST(ExpectSuccess, PassesTwoHundreds) {
  Response r;
  r.status = 201;
  EXPECT_TRUE(expect_success(r, "https://ca/x", k_now));
}

TEST(ExpectSuccess, ServerErrorsAreRetryableAndCarryRetryAfter) {
  Response r;
  r.status = 503;
  r.headers.emplace_back("retry-after", "30");
  r.headers.emplace_back("content-type", "application/json");
  r.body = R"({"error":"temporarily_unavailable","error_description":"busy"})";
  auto f = expect_success(r, "https://ca/sign?token=abc", k_now);
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.error().retryable());
  EXPECT_EQ(f.error().retry_after, Millis(seconds(30)));
  EXPECT_EQ(f.error().url, "https://ca/sign");
  const Error e = f.error().to_error();
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(e.retry_after, Millis(seconds(30)));
  EXPECT_NE(e.message.find("status 503: temporarily_unavailable: busy"), std::string::npos);
}

TEST(ExpectSuccess, ClientErrorsArePermanentButTooManyRequestsIsNot) {
  Response r;
  r.status = 401;
  r.body = R"({"error":"invalid_client","error_description":"Bad credentials"})";
  auto f = expect_success(r, "https://auth/token", k_now);
  ASSERT_FALSE(f);
  EXPECT_FALSE(f.error().retryable());
  EXPECT_EQ(f.error().body_summary, "invalid_client: Bad credentials");
  r.status = 429;
  EXPECT_TRUE(expect_success(r, "https://auth/token", k_now).error().retryable());
}

TEST(ExpectSuccess, ErrorsCarryTheirReasonClass) {
  Response r;
  r.status = 400;
  EXPECT_EQ(expect_success(r, "https://ca/x", k_now).error().to_error().reason,
            Reason::http_status);
  r.status = 429;
  EXPECT_EQ(expect_success(r, "https://ca/x", k_now).error().to_error().reason,
            Reason::rate_limited);
  r.status = 503;
  EXPECT_EQ(expect_success(r, "https://ca/x", k_now).error().to_error().reason, Reason::http_status)
      << "503 without Retry-After is an outage, not a rate limit";
  r.headers.emplace_back("retry-after", "30");
  EXPECT_EQ(expect_success(r, "https://ca/x", k_now).error().to_error().reason,
            Reason::rate_limited);
  const auto reason_of = [](FailureKind kind) {
    Failure f;
    f.kind = kind;
    return f.to_error().reason;
  };
  EXPECT_EQ(reason_of(FailureKind::timeout), Reason::network);
  EXPECT_EQ(reason_of(FailureKind::tls_unknown_ca), Reason::tls_server);
  EXPECT_EQ(reason_of(FailureKind::tls_client_cert_rejected), Reason::tls_client_rejected);
  EXPECT_EQ(reason_of(FailureKind::malformed), Reason::invalid_answer);
  EXPECT_EQ(to_string(Reason::tls_client_rejected), "tls-client-rejected");
}

TEST(ExpectSuccess, RedirectsAreReportedNotFollowed) {
  Response r;
  r.status = 302;
  r.headers.emplace_back("location", "https://elsewhere.example/login?secret=1");
  auto f = expect_success(r, "https://auth/token", k_now);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("redirects are not followed"), std::string::npos);
  EXPECT_EQ(f.error().message.find("secret=1"), std::string::npos);
}

TEST(SummarizeBody, CutsLongAndBinaryBodies) {
  const std::string body(1000, 'x');
  EXPECT_EQ(summarize_body(body, "text/html").size(), 203u);
  EXPECT_EQ(summarize_body(std::string("a\x01\x02z"), ""), "a  z");
  EXPECT_EQ(summarize_body("", ""), "(empty body)");
  EXPECT_EQ(summarize_body(R"({"error":"BadRequest","description":"no"})", "application/json"),
            "BadRequest: no");
}

TEST(FormEncoding, FollowsRfc6749AppendixB) {
  EXPECT_EQ(form_encode("sb-app!t12|x"), "sb-app%21t12%7Cx");
  EXPECT_EQ(form_encode("a b$=+/"), "a+b%24%3D%2B%2F");
  EXPECT_EQ(form_body({{"grant_type", "client_credentials"}, {"scope", "a b"}}),
            "grant_type=client_credentials&scope=a+b");
}

TEST(Response, MediaTypeDropsParameters) {
  Response r;
  r.headers.emplace_back("content-type", "Application/JSON; charset=utf-8");
  EXPECT_EQ(r.media_type(), "application/json");
}

TEST(Response, HeaderGivesTheFirstValueOfANameInAnyCaseAndHeaderValuesAllOfThem) {
  Response r;
  r.headers = {{"link", "<https://ca/a>;rel=\"alternate\""},
               {"replay-nonce", "n1"},
               {"link", "<https://ca/dir>;rel=\"index\", <https://ca/b>;rel=\"alternate\""}};
  EXPECT_EQ(r.header("Link"), "<https://ca/a>;rel=\"alternate\"");
  EXPECT_EQ(r.header("REPLAY-NONCE"), "n1");
  EXPECT_EQ(r.header("location"), std::nullopt);
  EXPECT_EQ(r.header_values("LINK"),
            (std::vector<std::string>{
                "<https://ca/a>;rel=\"alternate\"",
                "<https://ca/dir>;rel=\"index\", <https://ca/b>;rel=\"alternate\""}));
  EXPECT_TRUE(r.header_values("retry-after").empty());
}

TEST(CurlTransport, RefusesPlainHttp) {
  auto transport = CurlTransport::create();
  ASSERT_TRUE(transport);
  Request request;
  request.url = "http://127.0.0.1:1/";
  auto r = (*transport)->perform(request);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::transport);
  EXPECT_NE(r.error().message.find("https"), std::string::npos);
}

TEST(CurlTransport, ConnectionRefusedIsARetryableTransportError) {
  auto transport = CurlTransport::create();
  ASSERT_TRUE(transport);
  Request request;
  request.url = "https://127.0.0.1:1/";
  request.connect_timeout = seconds(2);
  auto r = (*transport)->perform(request);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::transport);
  EXPECT_TRUE(r.error().retryable());
}

}  // namespace
}  // namespace certrotd::http
