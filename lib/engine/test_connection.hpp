// `certrotd test-connection NAME URL`: one TLS handshake to URL presenting the credential's live
// certificate and key, to check before (or after) a rotation that a server accepts it.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace certrotd::engine {

struct ConnectionReport {
  std::string protocol;                     // "TLSv1.3"
  std::vector<std::string> server_chain;    // "subject (issuer: ...)", leaf first
  bool server_verified = false;             // chain to the credential's ca.pem or the system roots,
                                            // and the URL's host matches
  std::string verification;                 // OpenSSL's verdict, "ok" when verified
  bool client_cert_requested = false;
  bool client_cert_accepted = false;        // requested, sent, and the connection stayed up
  std::string response;                     // the first line the server answered to a HEAD request
};

// URL: https://host[:port][/path] (port 443 by default) or host:port. Errors: a bad URL, unusable
// credential files, a connection or handshake that fails (the message then says why, e.g. the
// server's alert).
Result<ConnectionReport> test_connection(const config::CredentialConfig& credential,
                                         const std::string& url);

}  // namespace certrotd::engine
