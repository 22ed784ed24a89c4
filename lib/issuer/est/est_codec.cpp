#include "issuer/est/est_codec.hpp"

#include <openssl/crypto.h>
#include <openssl/pkcs7.h>

#include <cctype>

#include "util/encoding.hpp"
#include "util/strings.hpp"
#include "x509/handles.hpp"

namespace certrotd::issuer::est {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string without_space(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (!is_space(c)) out += c;
  }
  return out;
}

// The base64 between the PEM markers of the first block.
std::optional<std::string_view> pem_payload(std::string_view pem) {
  const auto begin = pem.find("-----BEGIN");
  if (begin == std::string_view::npos) return std::nullopt;
  const auto body = pem.find('\n', begin);
  const auto end = pem.find("-----END", begin);
  if (body == std::string_view::npos || end == std::string_view::npos || end < body) {
    return std::nullopt;
  }
  return pem.substr(body + 1, end - body - 1);
}

Result<std::string> lenient_base64(std::string_view text) {
  std::string compact = without_space(text);
  // A server that drops the padding still means the same bytes.
  while (compact.size() % 4 != 0) compact += '=';
  auto der = base64_decode(compact);
  if (!der) return fail(Reason::invalid_answer, "the body is neither base64 nor DER");
  return der;
}

std::string unquote(std::string_view value) {
  value = trim(value);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

// The header block of a part: its Content-Type (the rest, such as Content-Transfer-Encoding, is
// ignored, RFC 8951 §2).
MediaType part_type(std::string_view headers) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    auto eol = headers.find('\n', pos);
    if (eol == std::string_view::npos) eol = headers.size();
    const std::string_view line = trim(headers.substr(pos, eol - pos));
    const auto colon = line.find(':');
    if (colon != std::string_view::npos &&
        to_lower(trim(line.substr(0, colon))) == "content-type") {
      return parse_media_type(line.substr(colon + 1));
    }
    pos = eol + 1;
  }
  // RFC 2046 §5.1.1: a part without Content-Type is text/plain.
  return MediaType{"text/plain", {}};
}

}  // namespace

MediaType parse_media_type(std::string_view header) {
  MediaType out;
  std::size_t pos = header.find(';');
  out.type = to_lower(trim(header.substr(0, pos)));
  while (pos != std::string_view::npos) {
    const std::size_t start = pos + 1;
    // A quoted value may hold a ';' (a boundary such as "a;b").
    std::size_t end = start;
    bool quoted = false;
    while (end < header.size() && (quoted || header[end] != ';')) {
      if (header[end] == '"') quoted = !quoted;
      ++end;
    }
    const std::string_view param = header.substr(start, end - start);
    const auto eq = param.find('=');
    if (eq != std::string_view::npos) {
      out.params[to_lower(trim(param.substr(0, eq)))] = unquote(param.substr(eq + 1));
    }
    pos = end < header.size() ? end : std::string_view::npos;
  }
  return out;
}

Result<std::string> decode_body(std::string_view body) {
  const std::string_view text = trim(body);
  if (text.empty()) return fail(Reason::invalid_answer, "the body is empty");
  if (static_cast<unsigned char>(text.front()) == 0x30) return std::string(body);  // raw DER
  if (text.starts_with("-----BEGIN")) {
    const auto payload = pem_payload(text);
    if (!payload) return fail(Reason::invalid_answer, "the body is PEM without an END line");
    return lenient_base64(*payload);
  }
  return lenient_base64(text);
}

Result<std::vector<x509::Certificate>> parse_certs_only(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  x509::Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (!p7) return fail(Reason::invalid_answer, "the body is not a PKCS#7 structure");
  if (PKCS7_type_is_signed(p7.get()) == 0 || p7->d.sign == nullptr) {
    return fail(Reason::invalid_answer, "the PKCS#7 is not certs-only SignedData");
  }
  STACK_OF(X509)* certs = p7->d.sign->cert;
  std::vector<x509::Certificate> out;
  for (int i = 0; certs != nullptr && i < sk_X509_num(certs); ++i) {
    X509* cert = sk_X509_value(certs, i);
    X509_up_ref(cert);  // the PKCS#7 keeps its reference; this one belongs to the Certificate
    out.emplace_back(x509::X509Ptr(cert));
  }
  if (out.empty()) return fail(Reason::invalid_answer, "the PKCS#7 holds no certificate");
  return out;
}

Result<std::string> csr_body(std::string_view csr_pem) {
  const auto payload = pem_payload(csr_pem);
  if (!payload) return fail("the CSR is not PEM");
  return without_space(*payload);
}

Result<std::vector<Part>> parse_multipart(std::string_view body, std::string_view boundary,
                                          std::size_t max_parts) {
  if (boundary.empty()) return fail(Reason::invalid_answer, "multipart/mixed without a boundary");
  const std::string delimiter = "--" + std::string(boundary);
  std::vector<Part> parts;
  auto at = body.find(delimiter);
  while (at != std::string_view::npos) {
    std::size_t after = at + delimiter.size();
    if (body.substr(after, 2) == "--")
      return parts.empty() ? fail(Reason::invalid_answer, "multipart/mixed without parts")
                           : Result<std::vector<Part>>(parts);
    const auto next = body.find(delimiter, after);
    if (next == std::string_view::npos) break;
    if (parts.size() == max_parts) {
      return fail(Reason::invalid_answer,
                  "multipart/mixed with more than " + std::to_string(max_parts) + " parts");
    }
    const std::string_view part = body.substr(after, next - after);
    // Headers end at the first empty line (CRLF CRLF, or LF LF from lax servers).
    auto split = part.find("\r\n\r\n");
    std::size_t skip = 4;
    if (const auto lf = part.find("\n\n"); lf != std::string_view::npos && lf < split) {
      split = lf;
      skip = 2;
    }
    if (split == std::string_view::npos) {
      return fail(Reason::invalid_answer, "a multipart part without a header block");
    }
    parts.push_back(Part{part_type(part.substr(0, split)), std::string(part.substr(split + skip))});
    at = next;
  }
  return fail(Reason::invalid_answer, "multipart/mixed without its closing delimiter (cut off?)");
}

Result<x509::PrivateKey> parse_key_der(std::string& der) {
  std::string b64 = base64_encode(der);
  OPENSSL_cleanse(der.data(), der.size());
  std::optional<x509::PrivateKey> key;
  for (const char* label : {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}) {
    std::string pem = std::string("-----BEGIN ") + label + "-----\n" + b64 + "\n-----END " + label +
                      "-----\n";
    auto parsed = x509::parse_private_key(pem);
    OPENSSL_cleanse(pem.data(), pem.size());
    if (parsed) {
      key = std::move(*parsed);
      break;
    }
  }
  OPENSSL_cleanse(b64.data(), b64.size());
  if (!key) return fail(Reason::invalid_answer, "the key part is no PKCS#8, PKCS#1 or SEC1 key");
  return std::move(*key);
}

Result<std::vector<x509::Certificate>> order_chain(std::vector<x509::Certificate> certs,
                                                   EVP_PKEY* public_key) {
  std::vector<x509::Certificate> out;
  for (auto it = certs.begin(); it != certs.end(); ++it) {
    if (EVP_PKEY_eq(X509_get0_pubkey(it->get()), public_key) == 1) {
      out.push_back(*it);
      certs.erase(it);
      break;
    }
  }
  if (out.empty()) {
    return fail(Reason::invalid_answer,
                "no certificate in the answer is for the requested key (a certificate for "
                "another key?)");
  }
  for (auto& cert : certs) {
    // A root in the answer is not part of the chain to present; roots come from trust_anchors.
    if (X509_check_issued(cert.get(), cert.get()) == X509_V_OK) continue;
    out.push_back(std::move(cert));
  }
  return out;
}

}  // namespace certrotd::issuer::est
