// `certrotd test-connection NAME URL`: one TLS connection to URL presenting the credential's live
// certificate and key, to check before (or after) a rotation that a server accepts it.
//
// Whether the server accepted the certificate is decided from what it did, never from the
// handshake alone: many servers (nginx with `ssl_verify_client on|optional`, `openssl s_server
// -verify`) complete the handshake with any certificate and refuse it later, and in TLS 1.3 the
// server's verdict on the client's Certificate (RFC 8446 §4.4.2.4) only reaches the client after
// its handshake has finished, as an alert read with the first application data. So a request is
// always sent and its answer read before concluding.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace certrotd::cli {

enum class ClientCertVerdict {
  not_requested,  // the server sent no CertificateRequest
  accepted,       // the server answered the request normally
  rejected,       // an alert, or an HTTP answer that says the certificate was refused
  undetermined,   // neither: no answer and no alert (closed, reset, timed out)
};

std::string_view to_string(ClientCertVerdict verdict);

// What the server did, as seen by the client; filled by the I/O, read by decide_client_cert().
struct ServerBehaviour {
  bool cert_requested = false;  // a CertificateRequest arrived
  bool handshake_completed = false;
  // The first fatal alert the server sent (RFC 8446 §6 AlertDescription) and its name.
  std::optional<int> alert;
  std::string alert_name;  // "unknown CA", "certificate required"
  bool alert_after_handshake = false;
  std::string status_line;  // "HTTP/1.1 400 Bad Request"; empty: no answer
  int status = 0;           // from the status line; 0 when none
  std::string body;         // the start of the answer's body
  std::string no_answer;    // why no answer came, when none did
};

struct ClientCertDecision {
  ClientCertVerdict verdict = ClientCertVerdict::undetermined;
  std::string evidence;  // what decided it, in words
};

// The verdict on the client certificate, in this order: not requested; a fatal alert from the
// server (during or after the handshake) rejects; an HTTP 495/496, or nginx's 400 pages "The SSL
// certificate error" / "No required SSL certificate was sent", reject; any other HTTP answer
// accepts (a 403 is about authorisation, not about the certificate); nothing at all is
// undetermined.
ClientCertDecision decide_client_cert(const ServerBehaviour& behaviour);

struct ConnectionReport {
  std::string protocol;                   // "TLSv1.3"
  std::vector<std::string> server_chain;  // "subject (issuer: ...)", leaf first
  bool server_verified = false;           // chain to the credential's ca.pem or the system roots,
                                          // and the URL's host matches
  std::string verification;               // "ok", or why not (a host-name mismatch names the
                                          // expected name and the certificate's names)
  ServerBehaviour behaviour;
  ClientCertDecision client_cert;
};

// URL: https://host[:port][/path] (port 443 by default) or host:port. Sends `GET path` and reads
// the answer's status line and the start of its body. Errors: a bad URL, unusable credential
// files, no TCP connection, or a handshake that fails before the server asked for a client
// certificate (the message then says why, e.g. the server's alert). A handshake that fails after
// the server asked for the certificate is a report with a rejected certificate.
Result<ConnectionReport> test_connection(const config::CredentialConfig& credential,
                                         const std::string& url);

// Both checks passed: the server's chain and name verify, and the client certificate was not
// refused (accepted, or not asked for).
bool connection_passed(const ConnectionReport& report);

// The report as `test-connection` prints it: protocol, server chain, server verification, the
// client certificate verdict with its evidence, the answer's status line.
void print_connection_report(const ConnectionReport& report, std::ostream& out);

}  // namespace certrotd::cli
