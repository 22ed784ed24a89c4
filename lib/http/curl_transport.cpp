#include "http/curl_transport.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace certrotd::http {

namespace {

struct Sink {
  std::string body;
  std::size_t cap = 0;
  bool overflow = false;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t header_bytes = 0;  // of the current response, status line included
  std::size_t max_header_fields = 0;
  std::size_t max_header_bytes = 0;
  bool too_many_headers = false;
};

extern "C" size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body.size() + n > sink->cap) {
    sink->overflow = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

extern "C" size_t write_header(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    sink->headers.clear();  // a new response (after 100 Continue or a proxy CONNECT)
    sink->header_bytes = 0;
  }
  sink->header_bytes += n;
  if (sink->header_bytes > sink->max_header_bytes) {
    sink->too_many_headers = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || line.starts_with("HTTP/")) return n;
  if (sink->headers.size() >= sink->max_header_fields) {
    sink->too_many_headers = true;
    return 0;
  }
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  sink->headers.emplace_back(std::move(name), std::string(value));
  return n;
}

// A request whose body depends on its connection runs on TLS 1.2 only: its handles (and so their
// connections and session caches) form pools of their own.
std::string pool_key_of(const Request& request) {
  const std::string id = request.tls.client ? request.tls.client->id : std::string("-");
  const char* linked = request.body_for_connection ? "tls1.2-linked\n" : "";
  return linked + id + '\n' + request.tls.ca_bundle_pem;
}

// The body of a request with body_for_connection, made once the connection is up.
struct LinkedBody {
  CURL* handle = nullptr;
  const Request* request = nullptr;
  std::string body;
  std::size_t sent = 0;
  std::optional<std::string> error;  // why there is no body; safe to log
};

// RFC 5929 §3.1: the first Finished message of the connection's latest handshake, the client's
// in a full handshake and the server's in an abbreviated (resumed) one. Only TLS 1.2 has one.
std::optional<std::string> tls_unique_of(CURL* h, std::string& why) {
  const curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr ||
      info->backend != CURLSSLBACKEND_OPENSSL || info->internals == nullptr) {
    why = "libcurl does not expose the OpenSSL connection";
    return std::nullopt;
  }
  // With CURLSSLBACKEND_OPENSSL and CURLINFO_TLS_SSL_PTR, `internals` is the connection's SSL*.
  const SSL* ssl = static_cast<const SSL*>(info->internals);
  if (SSL_version(ssl) != TLS1_2_VERSION) {
    why = std::string("the connection uses ") + SSL_get_version(ssl) + ", not TLS 1.2";
    return std::nullopt;
  }
  unsigned char finished[EVP_MAX_MD_SIZE] = {};
  const std::size_t n = SSL_session_reused(ssl) == 1
                            ? SSL_get_peer_finished(ssl, finished, sizeof finished)
                            : SSL_get_finished(ssl, finished, sizeof finished);
  if (n == 0 || n > sizeof finished) {
    why = "the handshake's Finished message is not available";
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(finished), n);
}

extern "C" int make_linked_body(void* user, char* /*primary_ip*/, char* /*local_ip*/,
                                int /*primary_port*/, int /*local_port*/) {
  auto* linked = static_cast<LinkedBody*>(user);
  // Called again when libcurl retries on a new connection: that one has its own value.
  linked->body.clear();
  linked->sent = 0;
  std::string why;
  auto value = tls_unique_of(linked->handle, why);
  if (!value) {
    linked->error = "no tls-unique value for the request's connection: " + why;
    return CURL_PREREQFUNC_ABORT;
  }
  auto body = linked->request->body_for_connection(*value);
  if (!body) {
    linked->error = "the body for the request's connection: " + body.error().what();
    return CURL_PREREQFUNC_ABORT;
  }
  linked->body = std::move(*body);
  linked->error.reset();
  return CURL_PREREQFUNC_OK;
}

extern "C" size_t read_linked_body(char* buffer, size_t size, size_t count, void* user) {
  auto* linked = static_cast<LinkedBody*>(user);
  const size_t n = linked->body.copy(buffer, size * count, linked->sent);
  linked->sent += n;
  return n;
}

// libcurl rewinds the body to send it again (on a new connection after a reused one had closed;
// the prereq callback then makes the body for that connection).
extern "C" int seek_linked_body(void* user, curl_off_t offset, int origin) {
  auto* linked = static_cast<LinkedBody*>(user);
  if (origin != SEEK_SET || offset != 0) return CURL_SEEKFUNC_CANTSEEK;
  linked->sent = 0;
  return CURL_SEEKFUNC_OK;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// libcurl with OpenSSL checks the host name itself, after a chain that verified, and then leaves
// CURLINFO_SSL_VERIFYRESULT at its initial "unspecified" value (not X509_V_OK): the verify result
// alone cannot tell a wrong name from an untrusted chain. Its messages name the target host
// ("... does not match target host name '...'"); OpenSSL's own check (newer libcurl) reports
// X509_V_ERR_HOSTNAME_MISMATCH.
bool is_name_mismatch(long verify, std::string_view detail) {
  return verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH ||
         contains(detail, "target host name") ||
         contains(detail, "unable to obtain common name from peer certificate");
}

// The host part of an https:// URL, as the certificate must name it.
std::string host_of(std::string_view url) {
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  url = url.substr(0, url.find_first_of("/?#"));
  if (url.starts_with("[")) return std::string(url.substr(1, url.find(']') - 1));
  return std::string(url.substr(0, url.rfind(':')));
}

// The subjectAltName of the server's leaf certificate, from libcurl's certificate info (filled
// before its host-name check fails), or the subject when it has none.
std::string server_names(CURL* h) {
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &info) != CURLE_OK || info == nullptr ||
      info->num_of_certs < 1) {
    return "other names";
  }
  std::string subject;
  for (const curl_slist* field = info->certinfo[0]; field != nullptr; field = field->next) {
    const std::string_view text(field->data);
    constexpr std::string_view k_san = "X509v3 Subject Alternative Name:";
    if (text.starts_with(k_san)) return std::string(text.substr(k_san.size()));
    if (text.starts_with("Subject:")) {
      subject = std::string(text.substr(8)) + " (no subjectAltName)";
    }
  }
  return subject.empty() ? "other names" : subject;
}

// Maps libcurl's result to a typed failure. The TLS reasons matter to operators: "unknown CA"
// means ca_bundle is wrong, "client certificate rejected" means the server does not trust the
// credential (or it expired), "name mismatch" means the URL names the wrong host.
Failure classify(CURL* h, CURLcode code, const char* errbuf, const Request& request) {
  Failure f;
  f.url = redact_url(request.url);
  const std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(code);
  f.message = detail;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: f.kind = FailureKind::timeout; return f;
    case CURLE_PEER_FAILED_VERIFICATION: {
      long verify = 0;
      curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &verify);
      if (is_name_mismatch(verify, detail)) {
        f.kind = FailureKind::tls_name_mismatch;
        f.message = "host name mismatch: the server certificate is for " + server_names(h) +
                    ", not for '" + host_of(request.url) + "' (" + detail + ")";
      } else {
        f.kind = FailureKind::tls_unknown_ca;
        f.message = std::string(X509_verify_cert_error_string(verify)) +
                    " (the server certificate does not verify against the issuer's ca_bundle)";
      }
      return f;
    }
    case CURLE_SSL_CERTPROBLEM:
      f.kind = FailureKind::tls_other;
      f.message = "the client certificate or key cannot be used: " + detail;
      return f;
    default: break;
  }
  // The server's refusal of our certificate arrives as a TLS alert: during the handshake in TLS
  // 1.2, after it (on the first read) in TLS 1.3.
  const bool alert = contains(detail, "alert");
  if (alert && (contains(detail, "certificate") || contains(detail, "unknown ca") ||
                contains(detail, "handshake failure") || contains(detail, "access denied"))) {
    f.kind = FailureKind::tls_client_cert_rejected;
    f.message = detail + (request.tls.client ? " (the server refused our client certificate)"
                                             : " (the server requires a client certificate)");
    return f;
  }
  if (code == CURLE_SSL_CONNECT_ERROR || code == CURLE_SSL_CACERT_BADFILE ||
      code == CURLE_SSL_CIPHER || code == CURLE_SSL_ENGINE_INITFAILED) {
    f.kind = FailureKind::tls_other;
    return f;
  }
  if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT) {
    f.kind = FailureKind::transport;
    f.message = detail + " (only https:// URLs are allowed)";
    return f;
  }
  f.kind = FailureKind::transport;
  return f;
}

template <typename T>
bool set(CURL* h, CURLoption option, T value) {
  return curl_easy_setopt(h, option, value) == CURLE_OK;
}

// The body comes from `linked` once the connection is up, chunked (its size is not known when
// the request head is made); TLS 1.2 only, HTTP/1.1 (chunked transfer coding is HTTP/1.1's).
bool set_linked_body(CURL* h, LinkedBody& linked) {
  const long tls12_only = static_cast<int>(CURL_SSLVERSION_TLSv1_2) |
                          static_cast<int>(CURL_SSLVERSION_MAX_TLSv1_2);
  return set(h, CURLOPT_POST, 1L) && set(h, CURLOPT_SSLVERSION, tls12_only) &&
         set(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)) &&
         set(h, CURLOPT_PREREQFUNCTION, make_linked_body) && set(h, CURLOPT_PREREQDATA, &linked) &&
         set(h, CURLOPT_READFUNCTION, read_linked_body) && set(h, CURLOPT_READDATA, &linked) &&
         set(h, CURLOPT_SEEKFUNCTION, seek_linked_body) && set(h, CURLOPT_SEEKDATA, &linked);
}

// GET is libcurl's default after curl_easy_reset. The body of a POST is not copied: it lives in
// `request` until perform() returns.
bool set_method(CURL* h, const Request& request, LinkedBody& linked) {
  switch (request.method) {
    case Method::get: return true;
    case Method::post:
      if (request.body_for_connection) return set_linked_body(h, linked);
      return set(h, CURLOPT_POST, 1L) &&
             set(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size())) &&
             set(h, CURLOPT_POSTFIELDS, request.body.c_str());
    case Method::head: return set(h, CURLOPT_NOBODY, 1L);
    case Method::del: return set(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  return false;
}

bool append_header(CurlSlist& list, const char* line) {
  curl_slist* appended = curl_slist_append(list.get(), line);
  if (appended == nullptr) return false;
  (void)list.release();  // curl_slist_append returned the head, owned by `list` again
  list.reset(appended);
  return true;
}

Failure too_large(const Request& request, const Sink& sink) {
  const std::string what = sink.too_many_headers
                               ? "the response headers exceed " +
                                     std::to_string(request.max_header_fields) + " fields or " +
                                     std::to_string(request.max_header_bytes) + " bytes"
                               : "the body exceeds " + std::to_string(request.max_response_bytes) +
                                     " bytes";
  return Failure{FailureKind::too_large, what, redact_url(request.url), 0, std::nullopt, {}};
}

}  // namespace

CurlTransport::CurlTransport(std::size_t max_idle_handles) : m_max_idle(max_idle_handles) {}

CurlTransport::~CurlTransport() = default;

Result<std::unique_ptr<CurlTransport>> CurlTransport::create(std::size_t max_idle_handles) {
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if (info == nullptr || info->version_num < 0x074d00) {
    return fail("libcurl 7.77 or newer is required (in-memory client certificates)");
  }
  if ((info->features & CURL_VERSION_SSL) == 0) return fail("libcurl has no TLS support");
  return std::unique_ptr<CurlTransport>(new CurlTransport(max_idle_handles));
}

CurlEasy CurlTransport::take(const std::string& pool_key) {
  std::lock_guard lock(m_mutex);
  const auto it = std::find_if(m_idle.begin(), m_idle.end(),
                               [&](const Idle& idle) { return idle.pool_key == pool_key; });
  if (it == m_idle.end()) return CurlEasy(curl_easy_init());
  CurlEasy handle = std::move(it->handle);
  m_idle.erase(it);
  return handle;
}

void CurlTransport::give_back(std::string pool_key, std::string identity_id, CurlEasy handle) {
  std::lock_guard lock(m_mutex);
  m_idle.push_front(Idle{std::move(pool_key), std::move(identity_id), std::move(handle)});
  while (m_idle.size() > m_max_idle) m_idle.pop_back();
}

void CurlTransport::forget_identity(const std::string& identity_id) {
  std::lock_guard lock(m_mutex);
  m_idle.remove_if([&](const Idle& idle) { return idle.identity_id == identity_id; });
}

HttpResult<Response> CurlTransport::perform(const Request& request) {
  const std::string pool_key = pool_key_of(request);
  CurlEasy easy = take(pool_key);
  CURL* h = easy.get();
  if (h == nullptr) {
    return tl::unexpected(Failure{FailureKind::transport,
                                  "curl_easy_init failed",
                                  redact_url(request.url),
                                  0,
                                  std::nullopt,
                                  {}});
  }
  // A pooled handle keeps its connections and session cache; everything per request is reset.
  curl_easy_reset(h);

  Sink sink;
  sink.cap = request.max_response_bytes;
  sink.max_header_fields = request.max_header_fields;
  sink.max_header_bytes = request.max_header_bytes;
  char errbuf[CURL_ERROR_SIZE] = {};

  curl_blob ca{const_cast<char*>(request.tls.ca_bundle_pem.data()),
               request.tls.ca_bundle_pem.size(), CURL_BLOB_COPY};
  bool ok = set(h, CURLOPT_URL, request.url.c_str()) && set(h, CURLOPT_PROTOCOLS_STR, "https") &&
            set(h, CURLOPT_FOLLOWLOCATION, 0L) && set(h, CURLOPT_NOSIGNAL, 1L) &&
            set(h, CURLOPT_ERRORBUFFER, errbuf) &&
            set(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)) &&
            set(h, CURLOPT_SSL_VERIFYPEER, 1L) && set(h, CURLOPT_SSL_VERIFYHOST, 2L) &&
            set(h, CURLOPT_CAINFO_BLOB, &ca) &&
            // Only the issuer's bundle: no system store, no default CA path.
            set(h, CURLOPT_CAINFO, static_cast<char*>(nullptr)) &&
            set(h, CURLOPT_CAPATH, static_cast<char*>(nullptr)) &&
            set(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count())) &&
            set(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout.count())) &&
            set(h, CURLOPT_MAXFILESIZE_LARGE,
                static_cast<curl_off_t>(request.max_response_bytes)) &&
            set(h, CURLOPT_WRITEFUNCTION, write_body) && set(h, CURLOPT_WRITEDATA, &sink) &&
            set(h, CURLOPT_HEADERFUNCTION, write_header) && set(h, CURLOPT_HEADERDATA, &sink) &&
            set(h, CURLOPT_USERAGENT, "certrotd/" CERTROTD_VERSION) &&
            set(h, CURLOPT_TCP_KEEPALIVE, 1L) &&
            // The server certificate's names, for a host-name mismatch message; filled only on
            // a new handshake, a few kilobytes of text.
            set(h, CURLOPT_CERTINFO, 1L);
  // The blob copies are taken by libcurl at setopt time (CURL_BLOB_COPY), so the key lives only
  // in our string and libcurl's own memory, never in a file.
  std::string identity_id;
  if (ok && request.tls.client) {
    const ClientIdentity& id = *request.tls.client;
    identity_id = id.id;
    curl_blob cert{const_cast<char*>(id.chain_pem.data()), id.chain_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(id.key_pem.data()), id.key_pem.size(), CURL_BLOB_COPY};
    ok = set(h, CURLOPT_SSLCERT_BLOB, &cert) && set(h, CURLOPT_SSLCERTTYPE, "PEM") &&
         set(h, CURLOPT_SSLKEY_BLOB, &key) && set(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  LinkedBody linked{h, &request, {}, 0, std::nullopt};
  ok = ok && set_method(h, request, linked);
  CurlSlist headers;
  for (const auto& [name, value] : request.headers) {
    const std::string line = name + ": " + value;
    curl_slist* appended = curl_slist_append(headers.get(), line.c_str());
    if (appended == nullptr) {
      ok = false;
      break;
    }
    // curl_slist_append returns the list head, which we own through `headers` again.
    (void)headers.release();
    headers.reset(appended);
  }
  if (ok && request.method == Method::post) {
    // No "Expect: 100-continue" round trip for our small bodies.
    curl_slist* appended = curl_slist_append(headers.get(), "Expect:");
    if (appended != nullptr) {
      (void)headers.release();  // the head is owned by `headers` again below
      headers.reset(appended);
    }
  }
  if (ok && request.method == Method::post && request.body_for_connection) {
    ok = append_header(headers, "Transfer-Encoding: chunked");
  }
  if (ok && headers) ok = set(h, CURLOPT_HTTPHEADER, headers.get());
  if (!ok) {
    return tl::unexpected(Failure{FailureKind::transport,
                                  "libcurl refused an option (TLS 1.2, in-memory certificates)",
                                  redact_url(request.url),
                                  0,
                                  std::nullopt,
                                  {}});
  }

  const CURLcode code = curl_easy_perform(h);
  // Drop the header list from the handle before it is freed, in case the handle is reused.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  if (code != CURLE_OK) {
    Failure failure;
    if (sink.overflow || sink.too_many_headers || code == CURLE_FILESIZE_EXCEEDED) {
      failure = too_large(request, sink);
    } else if (linked.error) {
      failure = Failure{
          FailureKind::tls_other, *linked.error, redact_url(request.url), 0, std::nullopt, {}};
    } else {
      failure = classify(h, code, errbuf, request);
    }
    // A handle that failed mid-transfer may hold a half-used connection: do not pool it.
    return tl::unexpected(std::move(failure));
  }
  Response response;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  response.headers = std::move(sink.headers);
  response.body = std::move(sink.body);
  give_back(pool_key, identity_id, std::move(easy));
  return response;
}

}  // namespace certrotd::http
