// What an EST server asks to find in the CSR: the answer of /csrattrs (RFC 7030 §4.5, clarified
// by RFC 9908), the DER of
//   CsrAttrs  ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
//   AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
//   Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET SIZE (1..MAX) OF ANY }
// read with a bounded reader of its own (at most k_max_csrattrs bytes and
// k_max_csrattrs_entries entries; nothing is trusted about lengths), sorted into what certrotd
// can honour and what it cannot. The enrollment uses it in est_attributes.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"
#include "x509/types.hpp"

namespace certrotd::issuer::est {

inline constexpr std::size_t k_max_csrattrs = std::size_t{16} << 10;
inline constexpr std::size_t k_max_csrattrs_entries = 64;

struct CsrAttrs {
  // A key type asked for: id-ecPublicKey with its curve (P-256, P-384), rsaEncryption with its
  // size (RFC 9908 §3.3: an INTEGER value), id-Ed25519; alone, the type's default.
  std::optional<x509::KeySpec> key;
  bool challenge_password = false;  // PKCS#9 challengePassword (1.2.840.113549.1.9.7)
  // The extensions an extensionRequest names, as dotted OIDs: an OID value (RFC 7030 §4.5.2) or
  // the extnID of each Extension of an Extensions value (RFC 9908 §3.2).
  std::vector<std::string> extensions;
  // Everything else, dotted, for one log line: other attributes, signature algorithms other than
  // SHA-256 ones (certrotd signs with SHA-256), curves and sizes certrotd does not make.
  std::vector<std::string> unsupported;
};

// An empty body is "no attributes" (as 204 and 404 are, for the caller). Errors never quote the
// body; they name the offset of the first byte that is wrong.
Result<CsrAttrs> parse_csrattrs(std::string_view der);

}  // namespace certrotd::issuer::est
