#include "issuer/est/est_csrattrs.hpp"

#include <cstdint>

namespace certrotd::issuer::est {

namespace {

constexpr std::uint8_t k_tag_integer = 0x02;
constexpr std::uint8_t k_tag_oid = 0x06;
constexpr std::uint8_t k_tag_sequence = 0x30;
constexpr std::uint8_t k_tag_set = 0x31;

// The OIDs certrotd understands, dotted.
constexpr std::string_view k_challenge_password = "1.2.840.113549.1.9.7";
constexpr std::string_view k_extension_request = "1.2.840.113549.1.9.14";
constexpr std::string_view k_ec_public_key = "1.2.840.10045.2.1";
constexpr std::string_view k_rsa_encryption = "1.2.840.113549.1.1.1";
constexpr std::string_view k_ed25519 = "1.3.101.112";
constexpr std::string_view k_prime256v1 = "1.2.840.10045.3.1.7";
constexpr std::string_view k_secp384r1 = "1.3.132.0.34";
// ecdsa-with-SHA256 and sha256WithRSAEncryption: how certrotd signs anyway.
constexpr std::string_view k_ecdsa_sha256 = "1.2.840.10045.4.3.2";
constexpr std::string_view k_rsa_sha256 = "1.2.840.113549.1.1.11";

// One DER element: its tag and contents, where it began (for errors) and where its contents
// begin, both as offsets into the whole body.
struct Tlv {
  std::uint8_t tag = 0;
  std::string_view value;
  std::size_t offset = 0;
  std::size_t value_offset = 0;
};

// Reads DER elements off the front of a view of the body, never past its end.
class Reader {
public:
  Reader(std::string_view data, std::size_t base) : m_data(data), m_base(base) {}
  bool empty() const { return m_pos == m_data.size(); }

  Result<Tlv> next() {
    const std::size_t start = m_pos;
    if (m_data.size() - m_pos < 2) return bad(start, "a truncated element");
    const auto tag = static_cast<std::uint8_t>(m_data[m_pos++]);
    if ((tag & 0x1f) == 0x1f) return bad(start, "a multi-byte tag");
    std::size_t length = static_cast<std::uint8_t>(m_data[m_pos++]);
    if (length & 0x80) {
      const std::size_t count = length & 0x7f;
      // 0x80 is BER's indefinite length, which DER forbids; 4 bytes cover any bounded body.
      if (count == 0 || count > 4) return bad(start, "a length DER does not allow");
      if (m_data.size() - m_pos < count) return bad(start, "a truncated length");
      length = 0;
      for (std::size_t i = 0; i < count; ++i) {
        length = (length << 8) | static_cast<std::uint8_t>(m_data[m_pos++]);
      }
    }
    if (length > m_data.size() - m_pos) return bad(start, "an element longer than the body");
    Tlv out{tag, m_data.substr(m_pos, length), m_base + start, m_base + m_pos};
    m_pos += length;
    return out;
  }

private:
  tl::unexpected<Error> bad(std::size_t at, std::string_view what) const {
    return fail(Reason::invalid_answer,
                "csrattrs: " + std::string(what) + " at byte " + std::to_string(m_base + at));
  }

  std::string_view m_data;
  std::size_t m_base;
  std::size_t m_pos = 0;
};

// A reader of the contents of a constructed element.
Reader inside(const Tlv& tlv) { return Reader(tlv.value, tlv.value_offset); }

// The dotted form of an OID's contents; nullopt when it is not a well-formed one.
std::optional<std::string> dotted(std::string_view der) {
  if (der.empty() || (static_cast<std::uint8_t>(der.back()) & 0x80)) return std::nullopt;
  std::string out;
  std::uint64_t arc = 0;
  bool first = true;
  for (const char c : der) {
    const auto byte = static_cast<std::uint8_t>(c);
    if (arc == 0 && byte == 0x80) return std::nullopt;  // a leading zero group
    if (arc > (std::uint64_t{1} << 56)) return std::nullopt;
    arc = (arc << 7) | (byte & 0x7f);
    if (byte & 0x80) continue;
    if (first) {
      const std::uint64_t top = arc < 80 ? arc / 40 : 2;
      out = std::to_string(top) + "." + std::to_string(arc - top * 40);
      first = false;
    } else {
      out += "." + std::to_string(arc);
    }
    arc = 0;
  }
  return out;
}

Result<std::string> read_oid(Reader& reader, std::string_view what) {
  auto tlv = reader.next();
  if (!tlv) return fail(tlv.error());
  auto oid = tlv->tag == k_tag_oid ? dotted(tlv->value) : std::nullopt;
  if (!oid) {
    return fail(Reason::invalid_answer, "csrattrs: " + std::string(what) + " at byte " +
                                            std::to_string(tlv->offset) +
                                            " is not an object identifier");
  }
  return std::move(*oid);
}

// A non-negative INTEGER of at most four bytes.
std::optional<int> small_integer(std::string_view der) {
  if (der.empty() || der.size() > 4 || (static_cast<std::uint8_t>(der[0]) & 0x80)) {
    return std::nullopt;
  }
  int value = 0;
  for (const char c : der) value = (value << 8) | static_cast<std::uint8_t>(c);
  return value;
}

// An OID on its own: a key type, challengePassword or a signature algorithm.
void read_lone_oid(CsrAttrs& out, const std::string& oid) {
  if (oid == k_challenge_password) {
    out.challenge_password = true;
  } else if (oid == k_ec_public_key) {
    out.key = x509::KeySpec{x509::KeyType::ec, "P-256", 2048};
  } else if (oid == k_rsa_encryption) {
    out.key = x509::KeySpec{x509::KeyType::rsa, "P-256", 2048};
  } else if (oid == k_ed25519) {
    out.key = x509::KeySpec{x509::KeyType::ed25519, "P-256", 2048};
  } else if (oid != k_ecdsa_sha256 && oid != k_rsa_sha256) {
    out.unsupported.push_back(oid);
  }
}

// The values of an extensionRequest: extension OIDs, or Extensions with their extnIDs.
Result<void> read_extension_request(CsrAttrs& out, Reader& values) {
  while (!values.empty()) {
    auto value = values.next();
    if (!value) return fail(value.error());
    if (value->tag == k_tag_oid) {
      auto oid = dotted(value->value);
      if (!oid) return fail(Reason::invalid_answer, "csrattrs: a bad extension OID");
      out.extensions.push_back(std::move(*oid));
      continue;
    }
    if (value->tag != k_tag_sequence) {
      return fail(Reason::invalid_answer, "csrattrs: an extensionRequest value at byte " +
                                              std::to_string(value->offset) +
                                              " is neither an OID nor Extensions");
    }
    Reader extensions = inside(*value);
    while (!extensions.empty()) {
      auto extension = extensions.next();
      if (!extension) return fail(extension.error());
      if (extension->tag != k_tag_sequence) {
        return fail(Reason::invalid_answer, "csrattrs: an Extension at byte " +
                                                std::to_string(extension->offset) +
                                                " is not a SEQUENCE");
      }
      Reader fields = inside(*extension);
      auto oid = read_oid(fields, "an extnID");
      if (!oid) return fail(oid.error());
      out.extensions.push_back(std::move(*oid));
      if (out.extensions.size() > k_max_csrattrs_entries) {
        return fail(Reason::invalid_answer, "csrattrs: more extensions than certrotd reads");
      }
    }
  }
  return {};
}

// An Attribute: key type with its parameter, or an extensionRequest; the rest is unsupported.
Result<void> read_attribute(CsrAttrs& out, Reader& attribute) {
  auto type = read_oid(attribute, "an attribute type");
  if (!type) return fail(type.error());
  auto set = attribute.next();
  if (!set) return fail(set.error());
  if (set->tag != k_tag_set || set->value.empty()) {
    return fail(Reason::invalid_answer, "csrattrs: the values of " + *type + " at byte " +
                                            std::to_string(set->offset) +
                                            " are not a non-empty SET");
  }
  Reader values = inside(*set);
  if (*type == k_extension_request) return read_extension_request(out, values);
  auto first = values.next();
  if (!first) return fail(first.error());
  if (*type == k_ec_public_key && first->tag == k_tag_oid) {
    const auto curve = dotted(first->value).value_or("?");
    if (curve == k_prime256v1 || curve == k_secp384r1) {
      out.key = x509::KeySpec{x509::KeyType::ec, curve == k_prime256v1 ? "P-256" : "P-384", 2048};
      return {};
    }
    out.unsupported.push_back(*type + " " + curve);
    return {};
  }
  if (*type == k_rsa_encryption && first->tag == k_tag_integer) {
    const auto bits = small_integer(first->value);
    if (bits && (*bits == 2048 || *bits == 3072 || *bits == 4096)) {
      out.key = x509::KeySpec{x509::KeyType::rsa, "P-256", *bits};
      return {};
    }
    out.unsupported.push_back(*type + " " + (bits ? std::to_string(*bits) : "?") + " bits");
    return {};
  }
  if (*type == k_challenge_password) {
    out.challenge_password = true;
    return {};
  }
  out.unsupported.push_back(*type);
  return {};
}

}  // namespace

Result<CsrAttrs> parse_csrattrs(std::string_view der) {
  CsrAttrs out;
  if (der.empty()) return out;
  if (der.size() > k_max_csrattrs) {
    return fail(Reason::invalid_answer,
                "csrattrs: the answer is longer than " + std::to_string(k_max_csrattrs) + " bytes");
  }
  Reader body(der, 0);
  auto outer = body.next();
  if (!outer) return fail(outer.error());
  if (outer->tag != k_tag_sequence || !body.empty()) {
    return fail(Reason::invalid_answer, "csrattrs: the answer is not one SEQUENCE");
  }
  Reader entries = inside(*outer);
  std::size_t count = 0;
  while (!entries.empty()) {
    if (++count > k_max_csrattrs_entries) {
      return fail(Reason::invalid_answer,
                  "csrattrs: more than " + std::to_string(k_max_csrattrs_entries) + " entries");
    }
    auto entry = entries.next();
    if (!entry) return fail(entry.error());
    if (entry->tag == k_tag_oid) {
      auto oid = dotted(entry->value);
      if (!oid) return fail(Reason::invalid_answer, "csrattrs: a bad object identifier");
      read_lone_oid(out, *oid);
      continue;
    }
    if (entry->tag != k_tag_sequence) {
      return fail(Reason::invalid_answer, "csrattrs: the entry at byte " +
                                              std::to_string(entry->offset) +
                                              " is neither an OID nor an Attribute");
    }
    Reader attribute = inside(*entry);
    if (auto r = read_attribute(out, attribute); !r) return fail(r.error());
  }
  return out;
}

}  // namespace certrotd::issuer::est
