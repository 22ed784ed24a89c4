#include "cli/test_connection.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "engine/rotation.hpp"
#include "util/errno_text.hpp"
#include "util/secret.hpp"
#include "x509/certificate.hpp"
#include "x509/handles.hpp"

namespace certrotd::cli {

namespace {

using SslCtxPtr = std::unique_ptr<SSL_CTX, x509::OpenSslDeleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, x509::OpenSslDeleter<SSL, SSL_free>>;

// Enough for a status line, headers and the start of an error page; more is never needed.
constexpr std::size_t k_max_answer = 16 * 1024;
constexpr std::size_t k_body_kept = 1024;

struct Target {
  std::string host;
  std::string port = "443";
  std::string path = "/";
};

Result<Target> parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.starts_with("https://"))
    rest = rest.substr(8);
  else if (rest.find("://") != std::string::npos)
    return fail("only https:// URLs are supported", url);
  Target t;
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    t.path = rest.substr(slash);
    rest.resize(slash);
  }
  if (rest.starts_with("[")) {  // [::1]:8443
    const auto close = rest.find(']');
    if (close == std::string::npos) return fail("unbalanced [ in host", url);
    t.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') t.port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    t.host = rest.substr(0, colon);
    t.port = rest.substr(colon + 1);
  } else {
    t.host = rest;
  }
  if (t.host.empty() || t.port.empty()) return fail("no host or port", url);
  return t;
}

std::string ssl_errors() {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

// Why an SSL_connect/SSL_read/SSL_write returned `ret`, in words. The error queue is often empty
// (a timeout, a reset, a plain close); then errno or the kind of end says it.
std::string io_failure(SSL* ssl, int ret, int saved_errno) {
  const int code = SSL_get_error(ssl, ret);
  std::string queued = ssl_errors();
  if (!queued.empty()) return queued;
  switch (code) {
    case SSL_ERROR_ZERO_RETURN: return "the server closed the connection (close_notify)";
    case SSL_ERROR_SYSCALL:
      if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) return "no answer within 10 s";
      if (saved_errno != 0) return errno_text(saved_errno);
      return "the server closed the connection without close_notify";
    default: return "TLS error " + std::to_string(code);
  }
}

std::string name_of(const X509_NAME* name) {
  x509::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Called on the client only when the server sends a CertificateRequest.
int on_cert_requested(SSL*, void* arg) {
  static_cast<ServerBehaviour*>(arg)->cert_requested = true;
  return 1;
}

// Records the first fatal alert the server sends. close_notify is the orderly end, not a verdict.
void on_info(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT) return;
  auto* behaviour = static_cast<ServerBehaviour*>(SSL_get_ex_data(ssl, 0));
  const int level = ret >> 8;
  const int description = ret & 0xff;
  if (behaviour == nullptr || behaviour->alert || description == SSL_AD_CLOSE_NOTIFY ||
      level != SSL3_AL_FATAL) {
    return;
  }
  behaviour->alert = description;
  behaviour->alert_name = SSL_alert_desc_string_long(ret);
  behaviour->alert_after_handshake = behaviour->handshake_completed;
}

Result<SslCtxPtr> client_context(const config::CredentialConfig& credential,
                                 std::optional<Secret>& passphrase) {
  const std::filesystem::path dir = credential.output.dir;
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return fail("cannot create a TLS context: " + ssl_errors());
  if (credential.key_passphrase_file) {
    auto pass = read_secret_file(*credential.key_passphrase_file, "key passphrase file");
    if (!pass) return fail(pass.error());
    passphrase = std::move(*pass);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), passphrase->data());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), (dir / "fullchain.pem").c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), (dir / "key.pem").c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail("cannot use the credential's files: " + ssl_errors(), dir.string());
  }
  // The credential's own anchors first (an internal CA), then the system's.
  SSL_CTX_load_verify_locations(ctx.get(), (dir / "ca.pem").c_str(), nullptr);
  SSL_CTX_set_default_verify_paths(ctx.get());
  ERR_clear_error();
  return ctx;
}

Result<SslPtr> open_connection(SSL_CTX* ctx, const Target& target, ServerBehaviour& behaviour) {
  x509::BioPtr bio(BIO_new_connect((target.host + ":" + target.port).c_str()));
  if (!bio) return fail("cannot create a connection: " + ssl_errors());
  if (BIO_do_connect(bio.get()) <= 0) {
    return fail_retryable("cannot connect to " + target.host + ":" + target.port + ": " +
                          ssl_errors());
  }
  int fd = -1;
  BIO_get_fd(bio.get(), &fd);
  const timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return fail("cannot create a TLS connection: " + ssl_errors());
  SSL_set_bio(ssl.get(), bio.get(), bio.get());
  static_cast<void>(bio.release());  // owned by the SSL object now (freed by SSL_free)
  SSL_set_ex_data(ssl.get(), 0, &behaviour);
  SSL_set_info_callback(ssl.get(), &on_info);
  SSL_set_cert_cb(ssl.get(), &on_cert_requested, &behaviour);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (is_ip(target.host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str());
  } else {
    // SSL_set_tlsext_host_name() without the macro's old-style cast.
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(target.host.c_str()));
    X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), 0);
  }
  // Verify ourselves and report, instead of aborting the handshake on a bad server chain.
  SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
  return ssl;
}

// "the certificate is for DNS:a, IP:b": the names a host-name mismatch is about.
std::string names_in(X509* leaf) {
  X509_up_ref(leaf);
  const x509::Certificate cert{x509::X509Ptr(leaf)};  // holds the reference taken above
  std::string names;
  for (const auto& san : cert.info().sans) {
    names += (names.empty() ? "" : ", ") + x509::to_string(san);
  }
  if (names.empty() && !cert.info().common_name.empty()) {
    names = "CN=" + cert.info().common_name + " (no subjectAltName)";
  }
  return names.empty() ? "no names" : names;
}

void read_server_certificate(SSL* ssl, const Target& target, ConnectionReport& report) {
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      report.server_chain.push_back(name_of(X509_get_subject_name(cert)) +
                                    " (issuer: " + name_of(X509_get_issuer_name(cert)) + ")");
    }
  }
  const long verdict = SSL_get_verify_result(ssl);
  report.server_verified = verdict == X509_V_OK && !report.server_chain.empty();
  report.verification = X509_verify_cert_error_string(verdict);
  if (report.server_chain.empty()) {
    report.verification = "the server sent no certificate";
  } else if (verdict == X509_V_ERR_HOSTNAME_MISMATCH || verdict == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    X509* leaf = sk_X509_value(SSL_get_peer_cert_chain(ssl), 0);
    report.verification = "host name mismatch: the certificate is for " + names_in(leaf) +
                          ", not " + target.host;
  }
}

void parse_answer(const std::string& answer, ServerBehaviour& behaviour) {
  behaviour.status_line = answer.substr(0, answer.find_first_of("\r\n"));
  // "HTTP/1.1 400 Bad Request": the three digits after the first space.
  if (behaviour.status_line.starts_with("HTTP/")) {
    const auto space = behaviour.status_line.find(' ');
    if (space != std::string::npos && space + 4 <= behaviour.status_line.size()) {
      const std::string code = behaviour.status_line.substr(space + 1, 3);
      if (code.find_first_not_of("0123456789") == std::string::npos) {
        behaviour.status = std::stoi(code);
      }
    }
  }
  if (const auto end = answer.find("\r\n\r\n"); end != std::string::npos) {
    behaviour.body = answer.substr(end + 4, k_body_kept);
  }
}

// Sends the request and reads the answer up to its end, k_max_answer bytes or a timeout. Only a
// GET is understood by every server (`openssl s_server -www` ignores HEAD and waits for more),
// and reading is what brings a TLS 1.3 server's post-handshake alert in.
void exchange(SSL* ssl, const Target& target, ServerBehaviour& behaviour) {
  const std::string request = "GET " + target.path + " HTTP/1.1\r\nHost: " + target.host +
                              "\r\nUser-Agent: certrotd-test-connection\r\nAccept: */*\r\n"
                              "Connection: close\r\n\r\n";
  std::string write_failure;
  errno = 0;
  if (const int n = SSL_write(ssl, request.data(), static_cast<int>(request.size())); n <= 0) {
    // Read anyway: the reason (an alert) may already be waiting.
    write_failure = io_failure(ssl, n, errno);
  }
  std::string answer;
  char buf[4096];
  while (answer.size() < k_max_answer) {
    errno = 0;
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      if (answer.empty()) {
        behaviour.no_answer = write_failure.empty() ? io_failure(ssl, n, errno) : write_failure;
      }
      break;
    }
    answer.append(buf, static_cast<std::size_t>(n));
    const auto end = answer.find("\r\n\r\n");
    if (end != std::string::npos && answer.size() - end - 4 >= k_body_kept) break;
  }
  if (!answer.empty()) parse_answer(answer, behaviour);
}

}  // namespace

std::string_view to_string(ClientCertVerdict verdict) {
  switch (verdict) {
    case ClientCertVerdict::not_requested: return "not requested by the server";
    case ClientCertVerdict::accepted: return "accepted";
    case ClientCertVerdict::rejected: return "rejected";
    case ClientCertVerdict::undetermined: return "undetermined";
  }
  return "?";
}

ClientCertDecision decide_client_cert(const ServerBehaviour& b) {
  using V = ClientCertVerdict;
  if (!b.cert_requested) {
    return {V::not_requested, "the server sent no CertificateRequest"};
  }
  if (b.alert) {
    return {V::rejected, "the server sent the TLS alert '" + b.alert_name + "' (" +
                             std::to_string(*b.alert) + ") " +
                             (b.alert_after_handshake
                                  ? "after the handshake, with the first read (TLS 1.3 reports a "
                                    "refused certificate this way)"
                                  : "during the handshake")};
  }
  // nginx answers a certificate it did not verify with its 495/496 statuses turned into 400
  // pages (ngx_http_request.c, "SSL certificate error"); other servers may send 495/496 as is.
  if (b.status == 495 || b.status == 496) {
    const char* meaning = b.status == 495 ? "SSL Certificate Error" : "SSL Certificate Required";
    return {V::rejected, "the server answered " + b.status_line + " (" + meaning + ")"};
  }
  for (const std::string_view page :
       {"The SSL certificate error", "No required SSL certificate was sent"}) {
    if (b.status == 400 && contains(b.body, page)) {
      return {V::rejected, "the server answered " + b.status_line + " with the page '" +
                               std::string(page) + "' (nginx: the certificate did not verify)"};
    }
  }
  if (!b.status_line.empty()) {
    return {V::accepted, "the server completed the handshake and answered " + b.status_line};
  }
  return {V::undetermined, "no answer and no alert from the server" +
                               (b.no_answer.empty() ? std::string() : " (" + b.no_answer + ")")};
}

Result<ConnectionReport> test_connection(const config::CredentialConfig& credential,
                                         const std::string& url) {
  auto target = parse_url(url);
  if (!target) return fail(target.error());
  std::optional<Secret> passphrase;  // the TLS context reads it while loading the key
  auto ctx = client_context(credential, passphrase);
  if (!ctx) return fail(ctx.error());

  ConnectionReport report;
  auto ssl = open_connection(ctx->get(), *target, report.behaviour);
  if (!ssl) return fail(ssl.error());
  errno = 0;
  if (const int r = SSL_connect(ssl->get()); r != 1) {
    const std::string why = io_failure(ssl->get(), r, errno);
    // Before the CertificateRequest the server cannot have judged our certificate.
    if (!report.behaviour.cert_requested) {
      return fail_retryable("TLS handshake with " + target->host + " failed: " + why);
    }
    report.behaviour.no_answer = "the handshake failed: " + why;
  } else {
    report.behaviour.handshake_completed = true;
    exchange(ssl->get(), *target, report.behaviour);
  }
  report.protocol = SSL_get_version(ssl->get());
  read_server_certificate(ssl->get(), *target, report);
  report.client_cert = decide_client_cert(report.behaviour);
  return report;
}

bool connection_passed(const ConnectionReport& report) {
  const ClientCertVerdict v = report.client_cert.verdict;
  return report.server_verified &&
         (v == ClientCertVerdict::accepted || v == ClientCertVerdict::not_requested);
}

void print_connection_report(const ConnectionReport& report, std::ostream& out) {
  out << "protocol:            " << report.protocol << "\n";
  out << "server chain:\n";
  for (std::size_t i = 0; i < report.server_chain.size(); ++i) {
    out << "  " << i << " " << report.server_chain[i] << "\n";
  }
  out << "server verification: " << report.verification << "\n";
  out << "client certificate:  " << to_string(report.client_cert.verdict) << "\n";
  out << "  evidence:          " << report.client_cert.evidence << "\n";
  if (!report.behaviour.status_line.empty()) {
    out << "response:            " << report.behaviour.status_line << "\n";
  } else if (!report.behaviour.no_answer.empty()) {
    out << "response:            none: " << report.behaviour.no_answer << "\n";
  }
}

}  // namespace certrotd::cli
