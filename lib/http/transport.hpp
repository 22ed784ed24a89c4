// HTTP(S) for network issuers and token endpoints, behind a small interface so that unit tests
// inject failures and integration tests use real servers.
//
// The contract every Transport keeps:
//  - HTTPS only, TLS 1.2 or newer; the peer certificate and host name are always verified, and
//    only against `Request::tls.ca_bundle_pem` (the issuer's own bundle, never the system store).
//    There is no switch to turn verification off.
//  - The client identity (certificate chain + key) comes from memory; nothing is written to disk.
//  - Redirects are never followed: a redirect could carry the client certificate or an
//    Authorization header to another host. A 3xx is returned like any other status.
//  - Bodies larger than `max_response_bytes` are cut off and reported as `Failure::too_large`;
//    so are responses with more than `max_header_fields` header fields or more than
//    `max_header_bytes` of header lines, so a hostile server cannot make us hold without bound.
//  - Connections and TLS sessions are reused only between requests with the same CA bundle and
//    the same client identity, so a renewed certificate never rides on a connection (or a resumed
//    session) that was authenticated with the old one (RFC 8705 §6.3; protocols.md §0).
//  - A request with `body_for_connection` goes over TLS 1.2 only, and its connections and
//    sessions are never shared with requests without one.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::http {

// A client certificate chain and its key, PEM, held in memory only. `id` names the identity for
// connection pooling (the leaf's x5t#S256 is a good choice): two requests share connections only
// when their ids are equal.
struct ClientIdentity {
  std::string id;
  std::string chain_pem;  // leaf first, then intermediates (sent in the handshake)
  std::string key_pem;    // unencrypted PKCS#8 or traditional PEM; never logged
  // Which certificate this is, for messages: "the bootstrap certificate (subject CN=..., issuer
  // CN=..., serial 1f...)". Empty: not said.
  std::string description;
};

struct TlsOptions {
  std::string ca_bundle_pem;  // the only roots the server certificate may chain to
  std::optional<ClientIdentity> client;
};

// head: the status and headers only (ACME newNonce, RFC 8555 §7.2). del: DELETE (Service Manager
// bindings), without a body.
enum class Method { get, post, head, del };

struct Request {
  Method method = Method::get;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value
  std::string body;  // never logged: token, sign and issue bodies carry secrets
  // Set (POST only): the body depends on the connection that carries it, and `body` is not sent.
  // Called once the connection is up and before the request goes out, with the connection's
  // tls-unique value (RFC 5929 §3.1: the first Finished message of its latest handshake, 12
  // bytes in TLS 1.2), so that EST can link the CSR to it (RFC 7030 §3.5). TLS 1.3 has no
  // tls-unique, so such a request is made with TLS 1.2 only. No value to give, or an error of
  // the function, fails the request as FailureKind::tls_other; it is never sent without it. The
  // value is not secret but is never logged either.
  std::function<Result<std::string>(std::string_view tls_unique)> body_for_connection;
  TlsOptions tls;
  Millis connect_timeout = std::chrono::seconds(10);
  Millis total_timeout = std::chrono::seconds(60);
  std::size_t max_response_bytes = std::size_t{1} << 20;  // 1 MiB
  // ACME, Vault and OAuth2 answers carry 5 to 20 fields in a few hundred bytes; a proxy or a
  // load balancer adds a few more. Interim responses (100 Continue) count on their own.
  std::size_t max_header_fields = 128;
  std::size_t max_header_bytes = std::size_t{64} << 10;  // 64 KiB, status line included
};

struct Response {
  long status = 0;
  // Every field in the order received, names lower-cased (the transport does it), a name as
  // often as the server sent it (ACME sends several `Link` fields).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // empty for Method::head

  // The first value of the field, or nullopt. `name` in any case.
  std::optional<std::string> header(std::string_view name) const;
  // Every value of the field in the order received (RFC 9110 §5.3: one per field line, not
  // split at commas, which a Link or a Set-Cookie value may hold). `name` in any case.
  std::vector<std::string> header_values(std::string_view name) const;
  // The media type without parameters, lower-cased ("application/json").
  std::string media_type() const;
};

// Why a request did not produce a usable answer.
enum class FailureKind {
  transport,                 // DNS, connect refused, reset, proxy trouble
  timeout,                   // connect or total timeout
  tls_unknown_ca,            // the server certificate does not chain to ca_bundle
  tls_name_mismatch,         // the server certificate is not for the URL's host
  tls_client_cert_rejected,  // the server refused our client certificate
  tls_other,                 // any other handshake problem (protocol version, local cert)
  http_status,               // the server answered with a non-success status
  too_large,                 // the body exceeded max_response_bytes
  malformed,                 // the answer is not what the protocol promises
};

std::string_view to_string(FailureKind kind);

struct Failure {
  FailureKind kind = FailureKind::transport;
  std::string message;                // short and safe to log (no secrets, bodies summarised)
  std::string url;                    // without query string
  long status = 0;                    // for http_status
  std::optional<Millis> retry_after;  // from Retry-After, clamped
  std::string body_summary;           // for http_status: error/error_description or a prefix

  // Transient trouble (network, timeouts, 5xx, 429, 408) is retryable; the rest is permanent.
  bool retryable() const;
  // As a certrotd::Error: "<kind>: <message>" with the URL as context.
  Error to_error() const;
};

template <typename T>
using HttpResult = tl::expected<T, Failure>;

class Transport {
public:
  virtual ~Transport() = default;
  // Performs one request. Any HTTP status is a Response; a Failure means no usable answer came.
  virtual HttpResult<Response> perform(const Request& request) = 0;
  // Drops pooled connections and TLS sessions made with this client identity (after a rotation).
  virtual void forget_identity(const std::string& identity_id) = 0;
};

// A failure of a request made with `client` names that certificate when the failure may be about
// it: the TLS handshake refused it, or the server answered 401, 403 or `invalid_client`. Without
// a client identity, or for other failures, it is returned as it is.
Failure naming_presented(Failure failure, const std::optional<ClientIdentity>& client);

// Turns a non-2xx Response into a Failure (with Retry-After and a summarised body); passes 2xx.
HttpResult<Response> expect_success(Response response, const std::string& url, SystemTime now);

// Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, relative to `now`. The result is
// clamped to [1 s, 1 h]: a server must not make us hammer it, nor stall a renewal for a day.
std::optional<Millis> parse_retry_after(std::string_view value, SystemTime now);

// A short, log-safe summary of an error body: OAuth2 `error`/`error_description`, a
// `{"error":..,"description":..}` object, or the first 200 printable characters.
std::string summarize_body(std::string_view body, std::string_view media_type);

// The URL without its query string and fragment, for messages.
std::string redact_url(std::string_view url);

// RFC 6749 Appendix B form encoding (application/x-www-form-urlencoded, space as '+').
std::string form_encode(std::string_view value);
std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace certrotd::http
