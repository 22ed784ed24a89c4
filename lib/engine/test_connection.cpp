#include "engine/test_connection.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <memory>

#include "engine/rotation.hpp"
#include "x509/handles.hpp"

namespace certrotd::engine {

namespace {

using SslCtxPtr = std::unique_ptr<SSL_CTX, x509::OpenSslDeleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, x509::OpenSslDeleter<SSL, SSL_free>>;

struct Target {
  std::string host;
  std::string port = "443";
  std::string path = "/";
};

Result<Target> parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.starts_with("https://")) rest = rest.substr(8);
  else if (rest.find("://") != std::string::npos) return fail("only https:// URLs are supported", url);
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
  return text.empty() ? "unknown TLS error" : text;
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

// Called on the client only when the server sends a CertificateRequest.
int on_cert_requested(SSL*, void* arg) {
  *static_cast<bool*>(arg) = true;
  return 1;
}

}  // namespace

Result<ConnectionReport> test_connection(const config::CredentialConfig& credential,
                                         const std::string& url) {
  auto target = parse_url(url);
  if (!target) return fail(target.error());
  const std::filesystem::path dir = credential.output.dir;

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return fail("cannot create a TLS context: " + ssl_errors());
  std::string passphrase;
  if (credential.key_passphrase_file) {
    auto pass = read_passphrase(*credential.key_passphrase_file);
    if (!pass) return fail(pass.error());
    passphrase = std::move(*pass);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), passphrase.data());
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
  bool requested = false;
  SSL_CTX_set_cert_cb(ctx.get(), &on_cert_requested, &requested);

  x509::BioPtr bio(BIO_new_connect((target->host + ":" + target->port).c_str()));
  if (!bio) return fail("cannot create a connection: " + ssl_errors());
  if (BIO_do_connect(bio.get()) <= 0) {
    return fail_retryable("cannot connect to " + target->host + ":" + target->port + ": " +
                          ssl_errors());
  }
  int fd = -1;
  BIO_get_fd(bio.get(), &fd);
  const timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return fail("cannot create a TLS connection: " + ssl_errors());
  SSL_set_bio(ssl.get(), bio.get(), bio.get());
  static_cast<void>(bio.release());  // owned by the SSL object now (freed by SSL_free)
  if (!is_ip(target->host)) {
    // SSL_set_tlsext_host_name() without the macro's old-style cast.
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(target->host.c_str()));
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (is_ip(target->host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, target->host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, target->host.c_str(), 0);
  }
  // Verify ourselves and report, instead of aborting the handshake on a bad server chain.
  SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_connect(ssl.get()) != 1) {
    return fail_retryable("TLS handshake with " + target->host + " failed: " + ssl_errors());
  }

  ConnectionReport report;
  report.protocol = SSL_get_version(ssl.get());
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get())) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      report.server_chain.push_back(name_of(X509_get_subject_name(cert)) + " (issuer: " +
                                    name_of(X509_get_issuer_name(cert)) + ")");
    }
  }
  const long verdict = SSL_get_verify_result(ssl.get());
  report.server_verified = verdict == X509_V_OK && !report.server_chain.empty();
  report.verification = X509_verify_cert_error_string(verdict);

  // In TLS 1.3 a server rejects a client certificate after the handshake: the first read fails.
  const std::string request = "HEAD " + target->path + " HTTP/1.1\r\nHost: " + target->host +
                              "\r\nConnection: close\r\n\r\n";
  bool answered = false;
  if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) > 0) {
    char buf[512];
    const int n = SSL_read(ssl.get(), buf, sizeof buf - 1);
    if (n > 0) {
      answered = true;
      std::string text(buf, static_cast<std::size_t>(n));
      report.response = text.substr(0, text.find_first_of("\r\n"));
    } else {
      report.response = "no answer: " + ssl_errors();
    }
  }
  report.client_cert_requested = requested;
  report.client_cert_accepted = requested && answered;
  return report;
}

}  // namespace certrotd::engine
