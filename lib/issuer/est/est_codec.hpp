// The wire formats of EST (RFC 7030 as updated by RFC 8951; protocols.md §3.2, §3.5): bodies are
// base64 of DER whatever Content-Transfer-Encoding says, certificates come as a certs-only
// PKCS#7, /serverkeygen answers are multipart/mixed. Everything here reads leniently what servers
// in the field send and never quotes a body that may hold a key.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"
#include "x509/certificate.hpp"

namespace certrotd::issuer::est {

// A Content-Type split into its type ("multipart/mixed", lower-cased) and its parameters (names
// lower-cased, quoted values unquoted).
struct MediaType {
  std::string type;
  std::map<std::string, std::string> params;
};
MediaType parse_media_type(std::string_view header);

// The DER bytes of an EST body: base64 with any white space or CRLF in it (the normal case), raw
// DER (a body starting with 0x30) or PEM (`-----BEGIN`), as sloppy servers send them. Errors
// never quote the body.
Result<std::string> decode_body(std::string_view body);

// The certificates of a certs-only PKCS#7 (degenerate SignedData, RFC 5652 §5), in its order.
Result<std::vector<x509::Certificate>> parse_certs_only(std::string_view der);

// The base64 of the DER inside a PEM CSR, as /simpleenroll wants it.
Result<std::string> csr_body(std::string_view csr_pem);

// One part of a multipart/mixed body (RFC 2046 §5.1): its media type and its body.
struct Part {
  MediaType type;
  std::string body;
};
// At most `max_parts` parts; more, a missing closing delimiter or no parts at all are errors.
Result<std::vector<Part>> parse_multipart(std::string_view body, std::string_view boundary,
                                          std::size_t max_parts);

// A private key from the DER of a /serverkeygen key part: PKCS#8 as RFC 7030 §4.4.2 says, or a
// PKCS#1 RSA / SEC1 EC key labelled application/pkcs8, as real servers send. The DER is wiped.
Result<x509::PrivateKey> parse_key_der(std::string& der);

// Leaf first, then the rest of `certs` without self-signed roots: the leaf is the certificate
// whose public key is `public_key`, wherever the server put it. Error when none is.
Result<std::vector<x509::Certificate>> order_chain(std::vector<x509::Certificate> certs,
                                                   EVP_PKEY* public_key);

}  // namespace certrotd::issuer::est
