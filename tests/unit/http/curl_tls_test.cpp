// CurlTransport against a real TLS server in this process (127.0.0.1, a port picked by the
// kernel, certificates made by the openssl CLI): what an operator reads when the server's
// certificate is for another host, or from a CA the issuer's bundle does not hold.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http/curl_transport.hpp"
#include "support/test_support.hpp"

namespace certrotd::http {
namespace {

using testing::read_text;
using testing::run_command;
using testing::TempDir;
using testing::write_text;

void openssl_ok(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// A root CA in DIR/NAME.{pem,key}.
void make_ca(const TempDir& dir, const std::string& name) {
  openssl_ok({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-subj", "/CN=" + name, "-days", "1", "-keyout", (dir / (name + ".key")).string(),
              "-out", (dir / (name + ".pem")).string(), "-addext",
              "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"});
}

// A server certificate DIR/NAME.{pem,key} for SANS (openssl syntax), signed by DIR/CA.
void make_server_cert(const TempDir& dir, const std::string& name, const std::string& ca,
                      const std::string& sans) {
  const std::string key = (dir / (name + ".key")).string();
  const std::string csr = (dir / (name + ".csr")).string();
  const std::string ext = (dir / (name + ".ext")).string();
  write_text(ext, "subjectAltName=" + sans + "\nextendedKeyUsage=serverAuth\n");
  openssl_ok({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-subj", "/CN=" + name, "-keyout", key, "-out", csr});
  openssl_ok({"x509", "-req", "-in", csr, "-CA", (dir / (ca + ".pem")).string(), "-CAkey",
              (dir / (ca + ".key")).string(), "-set_serial", "7", "-days", "1", "-extfile", ext,
              "-out", (dir / (name + ".pem")).string()});
}

constexpr std::string_view k_ok =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

// Accepts one connection, completes the handshake if the client does, answers `answer` to
// whatever comes and keeps the request's head. The poll bound only keeps a broken test from
// hanging; it is never waited out.
class OneConnectionTlsServer {
public:
  // `chunked`: the request body comes chunked, and the request is read to its last chunk.
  // `min_version`: the oldest TLS version the server accepts (0: OpenSSL's default).
  // `connections`: how many connections it accepts one after the other (TLS 1.2 sessions resume).
  OneConnectionTlsServer(const std::string& cert, const std::string& key,
                         std::string answer = std::string(k_ok), bool chunked = false,
                         int min_version = 0, int connections = 1)
      : m_answer(std::move(answer)), m_chunked(chunked), m_connections(connections) {
    m_ctx.reset(SSL_CTX_new(TLS_server_method()));
    if (min_version != 0) SSL_CTX_set_min_proto_version(m_ctx.get(), min_version);
    if (SSL_CTX_use_certificate_chain_file(m_ctx.get(), cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(m_ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("server certificate unusable");
    }
    m_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(m_listen, 1) != 0 ||
        getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  ~OneConnectionTlsServer() {
    join();
    close(m_listen);
  }
  int port() const { return m_port; }
  // The request as received (its first 4 KiB), once the destructor or join() has run.
  const std::string& request() const { return m_request; }
  // The negotiated protocol ("TLSv1.2") and the connection's tls-unique as the server sees it
  // (RFC 5929 §3.1: a full handshake's first Finished is the client's), after join().
  std::string version() const { return m_versions.empty() ? "" : m_versions.front(); }
  std::string tls_unique() const { return m_tls_unique.empty() ? "" : m_tls_unique.front(); }
  // Of each connection: its tls-unique value and whether it resumed a session.
  const std::vector<std::string>& tls_uniques() const { return m_tls_unique; }
  const std::vector<bool>& resumed() const { return m_resumed; }
  void join() {
    if (m_thread.joinable()) m_thread.join();
  }

private:
  void serve() {
    // A client that gives up closes the socket; a write to it must fail here with EPIPE rather
    // than end the test binary (SIGPIPE goes to the writing thread, where it stays blocked).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    for (int i = 0; i < m_connections; ++i) serve_one();
  }

  void serve_one() {
    pollfd p{m_listen, POLLIN, 0};
    if (poll(&p, 1, 30'000) != 1) return;
    const int fd = accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(m_ctx.get()), &SSL_free);
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) == 1) {
      m_versions.emplace_back(SSL_get_version(ssl.get()));
      const bool resumed = SSL_session_reused(ssl.get()) == 1;
      m_resumed.push_back(resumed);
      unsigned char finished[64];
      const std::size_t len = resumed ? SSL_get_finished(ssl.get(), finished, sizeof finished)
                                      : SSL_get_peer_finished(ssl.get(), finished, sizeof finished);
      m_tls_unique.emplace_back(reinterpret_cast<const char*>(finished),
                                std::min(len, sizeof finished));
      char buf[4096];
      std::string request;
      int n = SSL_read(ssl.get(), buf, sizeof buf);
      if (n > 0) request.assign(buf, static_cast<std::size_t>(n));
      while (n > 0 && m_chunked && request.find("\r\n0\r\n\r\n") == std::string::npos &&
             request.size() < 65536) {
        n = SSL_read(ssl.get(), buf, sizeof buf);
        if (n > 0) request.append(buf, static_cast<std::size_t>(n));
      }
      m_request += request;
      if (n > 0) {
        // Fails with EPIPE when the client gave up half-way (the header flood below).
        SSL_write(ssl.get(), m_answer.data(), static_cast<int>(m_answer.size()));
      }
      SSL_shutdown(ssl.get());
    }
    close(fd);
  }

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> m_ctx{nullptr, &SSL_CTX_free};
  std::string m_answer;
  bool m_chunked = false;
  int m_connections = 1;
  std::string m_request;
  std::vector<std::string> m_versions;
  std::vector<std::string> m_tls_unique;
  std::vector<bool> m_resumed;
  int m_listen = -1;
  int m_port = 0;
  std::thread m_thread;
};

class CurlTlsTest : public ::testing::Test {
protected:
  void SetUp() override {
    make_ca(m_dir, "ca");
    make_ca(m_dir, "other-ca");
  }

  HttpResult<Response> get(const std::string& server, const std::string& ca,
                           std::string answer = std::string(k_ok)) {
    OneConnectionTlsServer tls((m_dir / (server + ".pem")).string(),
                               (m_dir / (server + ".key")).string(), std::move(answer));
    auto transport = CurlTransport::create();
    EXPECT_TRUE(transport) << transport.error().what();
    Request request;
    request.url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/v1/sign";
    request.tls.ca_bundle_pem = read_text(m_dir / (ca + ".pem"));
    return (*transport)->perform(request);
  }

  // One request to a server for 127.0.0.1 that answers `answer`; `seen` gets the request.
  HttpResult<Response> exchange(Method method, const std::string& answer,
                                std::string* seen = nullptr) {
    make_server_cert(m_dir, "server", "ca", "IP:127.0.0.1");
    OneConnectionTlsServer tls((m_dir / "server.pem").string(), (m_dir / "server.key").string(),
                               answer);
    auto transport = CurlTransport::create();
    EXPECT_TRUE(transport) << transport.error().what();
    Request request;
    request.method = method;
    request.url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/acme/new-nonce";
    request.tls.ca_bundle_pem = read_text(m_dir / "ca.pem");
    auto response = (*transport)->perform(request);
    transport->reset();  // closes the connection, so a server still writing stops
    tls.join();
    if (seen != nullptr) *seen = tls.request();
    return response;
  }

  TempDir m_dir;
};

TEST_F(CurlTlsTest, AServerWithTheRightNameAndCaAnswers) {
  make_server_cert(m_dir, "server", "ca", "IP:127.0.0.1");
  auto response = get("server", "ca");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
}

// README: "Answers are capped at 1 MiB." The cap is the default of every request, so an issuer or
// token endpoint answering more is refused with a clear error instead of being buffered.
TEST_F(CurlTlsTest, AnAnswerOfTwoMebibytesIsRefusedAsTooLarge) {
  make_server_cert(m_dir, "server", "ca", "IP:127.0.0.1");
  const std::string body(2 << 20, 'x');
  auto response = get("server", "ca",
                      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\nConnection: close\r\n\r\n" + body);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::too_large) << response.error().message;
  EXPECT_EQ(response.error().message, "the body exceeds 1048576 bytes");
  EXPECT_FALSE(response.error().retryable());
}

TEST_F(CurlTlsTest, AnAnswerWithoutALengthIsCutAtOneMebibyteToo) {
  make_server_cert(m_dir, "server", "ca", "IP:127.0.0.1");
  auto response = get("server", "ca",
                      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(2 << 20, 'x'));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::too_large) << response.error().message;
}

TEST_F(CurlTlsTest, AnAnswerOfExactlyOneMebibyteIsAccepted) {
  make_server_cert(m_dir, "server", "ca", "IP:127.0.0.1");
  const std::string body(1 << 20, 'x');
  auto response = get("server", "ca",
                      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\nConnection: close\r\n\r\n" + body);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body.size(), body.size());
}

TEST_F(CurlTlsTest, ACertificateForAnotherHostIsANameMismatchThatNamesBothSides) {
  make_server_cert(m_dir, "server", "ca", "DNS:other.test.internal,DNS:www.other.test.internal");
  auto response = get("server", "ca");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::tls_name_mismatch) << response.error().message;
  const std::string& m = response.error().message;
  EXPECT_NE(m.find("'127.0.0.1'"), std::string::npos) << m;
  EXPECT_NE(m.find("DNS:other.test.internal, DNS:www.other.test.internal"), std::string::npos) << m;
  EXPECT_EQ(m.find("ca_bundle"), std::string::npos) << m;
}

TEST_F(CurlTlsTest, ACertificateFromAnotherCaIsAnUnknownCaNotANameMismatch) {
  make_server_cert(m_dir, "server", "other-ca", "IP:127.0.0.1");
  auto response = get("server", "ca");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::tls_unknown_ca) << response.error().message;
  EXPECT_NE(response.error().message.find("ca_bundle"), std::string::npos)
      << response.error().message;
}

TEST_F(CurlTlsTest, EveryLinkFieldArrivesInOrder) {
  auto response = exchange(Method::get,
                           "HTTP/1.1 200 OK\r\n"
                           "Content-Type: application/pem-certificate-chain\r\n"
                           "Link: <https://127.0.0.1/dir>;rel=\"index\"\r\n"
                           "link: <https://127.0.0.1/cert/1/alt/1>;rel=\"alternate\"\r\n"
                           "LINK: <https://127.0.0.1/cert/1/alt/2>;rel=\"alternate\"\r\n"
                           "Content-Length: 2\r\nConnection: close\r\n\r\nok");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->header_values("Link"),
            (std::vector<std::string>{"<https://127.0.0.1/dir>;rel=\"index\"",
                                      "<https://127.0.0.1/cert/1/alt/1>;rel=\"alternate\"",
                                      "<https://127.0.0.1/cert/1/alt/2>;rel=\"alternate\""}));
  EXPECT_EQ(response->header("link"), "<https://127.0.0.1/dir>;rel=\"index\"");
  EXPECT_EQ(response->media_type(), "application/pem-certificate-chain");
  EXPECT_EQ(response->body, "ok");
}

// RFC 8555 §7.2: newNonce answers HEAD with the nonce in a header. The answer announces a body
// it does not send, as HEAD answers do: a client that waited for one would fail.
TEST_F(CurlTlsTest, HeadSendsHeadAndReturnsTheHeadersWithoutABody) {
  std::string seen;
  auto response = exchange(Method::head,
                           "HTTP/1.1 200 OK\r\nReplay-Nonce: oFvnlFP1wIhRlYS2jTaXbA\r\n"
                           "Cache-Control: no-store\r\nContent-Length: 42\r\n\r\n",
                           &seen);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(seen.substr(0, seen.find("\r\n")), "HEAD /acme/new-nonce HTTP/1.1");
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("Replay-Nonce"), "oFvnlFP1wIhRlYS2jTaXbA");
  EXPECT_TRUE(response->body.empty());
}

TEST_F(CurlTlsTest, AFloodOfHeaderFieldsIsRefusedAtTheFieldLimit) {
  std::string flood = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 100'000; ++i) flood += "X-F" + std::to_string(i) + ": v\r\n";
  flood += "Content-Length: 2\r\n\r\nok";
  auto response = exchange(Method::get, flood);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::too_large);
  EXPECT_NE(response.error().message.find("exceed 128 fields or 65536 bytes"), std::string::npos)
      << response.error().message;
  EXPECT_FALSE(response.error().retryable());
}

TEST_F(CurlTlsTest, HeaderLinesBeyondTheByteLimitAreRefusedToo) {
  // Few fields, each below libcurl's own 100 KiB line limit, together above 64 KiB.
  std::string big = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 3; ++i)
    big += "X-Big" + std::to_string(i) + ": " + std::string(30'000, 'a') + "\r\n";
  big += "Content-Length: 2\r\n\r\nok";
  auto response = exchange(Method::get, big);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::too_large) << response.error().message;
}

TEST_F(CurlTlsTest, FieldsUpToTheLimitsArrive) {
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 126; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  many += "Content-Length: 2\r\n\r\nok";  // field 127, and 128 below
  many.insert(many.find("\r\n") + 2, "Date: Tue, 01 Dec 2026 12:00:00 GMT\r\n");
  auto response = exchange(Method::get, many);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->headers.size(), 128u);
  EXPECT_EQ(response->body, "ok");
}

std::string hex(std::string_view bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  for (const char byte : bytes) {
    const auto c = static_cast<unsigned char>(byte);
    out += k_digits[c >> 4];
    out += k_digits[c & 15];
  }
  return out;
}

class CurlLinkedBodyTest : public CurlTlsTest {
protected:
  void SetUp() override {
    CurlTlsTest::SetUp();
    make_server_cert(m_dir, "server", "ca", "IP:127.0.0.1");
  }
  // One POST whose body is made by `body` for the connection, to a server that accepts TLS
  // `min_version` or newer.
  HttpResult<Response> post(std::function<Result<std::string>(std::string_view)> body,
                            int min_version = 0) {
    OneConnectionTlsServer tls((m_dir / "server.pem").string(), (m_dir / "server.key").string(),
                               std::string(k_ok), true, min_version);
    auto transport = CurlTransport::create();
    EXPECT_TRUE(transport) << transport.error().what();
    Request request;
    request.method = Method::post;
    request.url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/est/simpleenroll";
    request.tls.ca_bundle_pem = read_text(m_dir / "ca.pem");
    request.body = "not this";
    request.body_for_connection = std::move(body);
    auto response = (*transport)->perform(request);
    transport->reset();
    tls.join();
    m_seen = tls.request();
    m_version = tls.version();
    m_server_tls_unique = tls.tls_unique();
    return response;
  }
  std::string m_seen;
  std::string m_version;
  std::string m_server_tls_unique;
};

// RFC 7030 §3.5 / RFC 5929 §3.1: the function sees the same Finished message the server
// sees, on a connection that is TLS 1.2 although both sides could do 1.3; the body it makes
// goes chunked (its size was not known when the head was made) and `body` does not.
TEST_F(CurlLinkedBodyTest, TheBodyIsMadeFromTheConnectionsTlsUniqueOverTls12) {
  std::string value;
  int calls = 0;
  auto response = post([&](std::string_view tls_unique) -> Result<std::string> {
    ++calls;
    value = tls_unique;
    return "linked to " + hex(tls_unique);
  });
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(m_version, "TLSv1.2");
  EXPECT_EQ(value.size(), 12u);  // TLS 1.2 verify_data (RFC 5246 §7.4.9)
  EXPECT_EQ(hex(value), hex(m_server_tls_unique));
  EXPECT_NE(m_seen.find("POST /est/simpleenroll HTTP/1.1\r\n"), std::string::npos) << m_seen;
  EXPECT_NE(m_seen.find("Transfer-Encoding: chunked"), std::string::npos) << m_seen;
  EXPECT_NE(m_seen.find("linked to " + hex(value)), std::string::npos) << m_seen;
  EXPECT_EQ(m_seen.find("not this"), std::string::npos) << m_seen;
}

// The answer closes the connection, so the second request needs a new one, which resumes the
// TLS 1.2 session of the first: its tls-unique is the server's Finished (RFC 5929 §3.1).
TEST_F(CurlLinkedBodyTest, AResumedSessionGivesTheValueTheServerSeesAndANewOne) {
  OneConnectionTlsServer tls((m_dir / "server.pem").string(), (m_dir / "server.key").string(),
                             std::string(k_ok), true, 0, 2);
  auto transport = CurlTransport::create();
  ASSERT_TRUE(transport);
  std::vector<std::string> values;
  Request request;
  request.method = Method::post;
  request.url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/est/simpleenroll";
  request.tls.ca_bundle_pem = read_text(m_dir / "ca.pem");
  request.body_for_connection = [&](std::string_view tls_unique) -> Result<std::string> {
    values.emplace_back(tls_unique);
    return std::string("csr");
  };
  auto first = (*transport)->perform(request);
  auto second = (*transport)->perform(request);
  transport->reset();
  tls.join();
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(tls.resumed(), (std::vector<bool>{false, true}));
  ASSERT_EQ(tls.tls_uniques().size(), 2u);
  EXPECT_EQ(hex(values[0]), hex(tls.tls_uniques()[0]));
  EXPECT_EQ(hex(values[1]), hex(tls.tls_uniques()[1]));
  EXPECT_NE(values[0], values[1]);
}

TEST_F(CurlLinkedBodyTest, WithoutABodyForTheConnectionTheSameServerNegotiatesTls13) {
  OneConnectionTlsServer tls((m_dir / "server.pem").string(), (m_dir / "server.key").string());
  auto transport = CurlTransport::create();
  ASSERT_TRUE(transport);
  Request request;
  request.method = Method::post;
  request.url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/est/simpleenroll";
  request.tls.ca_bundle_pem = read_text(m_dir / "ca.pem");
  request.body = "plain";
  auto response = (*transport)->perform(request);
  transport->reset();
  tls.join();
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(tls.version(), "TLSv1.3");
}

TEST_F(CurlLinkedBodyTest, AServerOfTls13OnlyIsATlsFailureAndTheFunctionIsNotCalled) {
  bool called = false;
  auto response = post(
      [&](std::string_view) -> Result<std::string> {
        called = true;
        return std::string("x");
      },
      TLS1_3_VERSION);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::tls_other) << response.error().message;
  EXPECT_FALSE(called);
}

TEST_F(CurlLinkedBodyTest, AFunctionThatFailsFailsTheRequestBeforeAnythingIsSent) {
  auto response = post(
      [](std::string_view) -> Result<std::string> { return fail("cannot sign the CSR"); });
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, FailureKind::tls_other);
  EXPECT_NE(response.error().message.find("cannot sign the CSR"), std::string::npos)
      << response.error().message;
  EXPECT_TRUE(m_seen.empty()) << m_seen;
}

}  // namespace
}  // namespace certrotd::http
