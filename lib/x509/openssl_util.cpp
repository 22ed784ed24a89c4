#include "x509/openssl_util.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <ctime>

#include <openssl/err.h>
#include <openssl/objects.h>

namespace certrotd::x509::detail {

std::string drain_errors() {
  std::vector<std::string> reasons;
  while (true) {
    const char* data = nullptr;
    int flags = 0;
    const unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
    if (code == 0) break;
    std::string reason;
    if (const char* text = ERR_reason_error_string(code); text != nullptr) {
      reason = text;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      reason = buf;
    }
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      reason += std::string(" (") + data + ")";
    }
    // Decoders push the same reason once per attempted format; once is enough to read.
    if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end()) {
      reasons.push_back(std::move(reason));
    }
  }
  std::string out;
  for (const auto& r : reasons) {
    if (!out.empty()) out += "; ";
    out += r;
  }
  return out;
}

tl::unexpected<Error> fail_openssl(const std::string& what) {
  const std::string reasons = drain_errors();
  return fail(reasons.empty() ? what : what + ": " + reasons);
}

Result<BioPtr> memory_bio(std::string_view data) {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) {
    return fail("input too large (" + std::to_string(data.size()) + " bytes)");
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) return fail_openssl("cannot create a memory BIO");
  return bio;
}

Result<BioPtr> output_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return fail_openssl("cannot create a memory BIO");
  return bio;
}

std::string bio_contents(BIO* bio) {
  std::string out(BIO_ctrl_pending(bio), '\0');
  if (out.empty()) return out;
  const int n = BIO_read(bio, out.data(), static_cast<int>(out.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

KeySpec key_spec_of(const EVP_PKEY* key) {
  KeySpec spec;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      spec.type = KeyType::rsa;
      spec.rsa_bits = EVP_PKEY_get_bits(key);
      return spec;
    case EVP_PKEY_ED25519: spec.type = KeyType::ed25519; return spec;
    case EVP_PKEY_EC: {
      spec.type = KeyType::ec;
      char group[80] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) {
        ERR_clear_error();
        spec.curve = "unknown";
        return spec;
      }
      const std::string name(group, len);
      if (name == "prime256v1" || name == "P-256") {
        spec.curve = "P-256";
      } else if (name == "secp384r1" || name == "P-384") {
        spec.curve = "P-384";
      } else if (name == "secp521r1" || name == "P-521") {
        spec.curve = "P-521";
      } else {
        spec.curve = name;
      }
      return spec;
    }
    default:
      // KeySpec has no "other" type; an algorithm certrotd cannot generate shows up as an EC spec
      // whose curve is the algorithm name, which never equals a configured spec.
      spec.type = KeyType::ec;
      spec.curve = EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown";
      return spec;
  }
}

const EVP_MD* digest_for(const EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) {
    return nullptr;  // RFC 8410: EdDSA signs the message itself, no separate digest
  }
  return EVP_sha256();
}

namespace {

// The subject attributes besides CN, with their OpenSSL ids; single-valued ones (C, ST, L) keep
// only the first value read from a name, O and OU every value.
struct AttributeNid {
  Subject::Attribute attribute;
  int nid;
  const char* label;
  bool repeats;
};
constexpr AttributeNid k_attribute_nids[] = {
    {Subject::Attribute::country, NID_countryName, "C", false},
    {Subject::Attribute::state, NID_stateOrProvinceName, "ST", false},
    {Subject::Attribute::locality, NID_localityName, "L", false},
    {Subject::Attribute::organization, NID_organizationName, "O", true},
    {Subject::Attribute::organizational_unit, NID_organizationalUnitName, "OU", true},
};

const AttributeNid& nid_of(Subject::Attribute attribute) {
  for (const auto& entry : k_attribute_nids) {
    if (entry.attribute == attribute) return entry;
  }
  return k_attribute_nids[0];  // unreachable: every attribute is in the table
}

}  // namespace

Result<X509NamePtr> build_name(const Subject& subject) {
  X509NamePtr name(X509_NAME_new());
  if (!name) return fail_openssl("cannot allocate a name");
  const auto add = [&](int nid, const char* label, const std::string& value) -> Result<void> {
    if (value.empty()) return {};
    if (value.size() > static_cast<std::size_t>(INT_MAX)) return fail("subject value too long");
    if (X509_NAME_add_entry_by_NID(name.get(), nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return fail_openssl(std::string("invalid subject ") + label + " '" + value + "'");
    }
    return {};
  };
  for (const auto& [attribute, value] : subject.attributes) {  // already in C, ST, L, O, OU order
    const AttributeNid& entry = nid_of(attribute);
    if (auto r = add(entry.nid, entry.label, value); !r) return fail(r.error());
  }
  if (auto r = add(NID_commonName, "CN", subject.common_name); !r) return fail(r.error());
  return name;
}

namespace {

std::string asn1_string_utf8(const ASN1_STRING* value) {
  unsigned char* raw = nullptr;
  const int len = ASN1_STRING_to_UTF8(&raw, value);
  if (len < 0) {
    ERR_clear_error();
    return {};
  }
  // ASN1_STRING_to_UTF8 allocated `raw`; the guard frees it.
  const OpenSslStringPtr owned(reinterpret_cast<char*>(raw));
  return std::string(owned.get(), static_cast<std::size_t>(len));
}

std::string ia5_text(const ASN1_STRING* value) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

}  // namespace

Subject subject_from_name(const X509_NAME* name) {
  Subject subject;
  const int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    const std::string value = asn1_string_utf8(X509_NAME_ENTRY_get_data(entry));
    if (nid == NID_commonName) {
      if (subject.common_name.empty()) subject.common_name = value;
      continue;
    }
    for (const auto& known : k_attribute_nids) {
      if (known.nid != nid) continue;
      if (known.repeats || subject.value(known.attribute).empty()) {
        subject.add(known.attribute, value);
      }
    }
  }
  return subject;
}

std::string name_to_string(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) {
    ERR_clear_error();
    return {};
  }
  // RFC 2253, but UTF-8 kept as is rather than escaped byte by byte.
  const unsigned long flags = XN_FLAG_RFC2253 & ~static_cast<unsigned long>(ASN1_STRFLGS_ESC_MSB);
  if (X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) {
    ERR_clear_error();
    return {};
  }
  return bio_contents(bio.get());
}

Result<GeneralNamesPtr> build_general_names(const std::vector<San>& sans) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return fail_openssl("cannot allocate subjectAltName");
  for (const auto& san : sans) {
    GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) return fail_openssl("cannot allocate subjectAltName");
    if (san.type == SanType::ip) {
      ASN1_OCTET_STRING* address = a2i_IPADDRESS(san.value.c_str());
      if (address == nullptr) return fail_openssl("invalid IP address '" + san.value + "'");
      // `name` owns the address from here on.
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address);
    } else {
      if (san.value.size() > static_cast<std::size_t>(INT_MAX)) return fail("SAN too long");
      Asn1StringPtr text(ASN1_IA5STRING_new());
      if (!text ||
          ASN1_STRING_set(text.get(), san.value.data(), static_cast<int>(san.value.size())) != 1) {
        return fail_openssl("cannot encode SAN '" + to_string(san) + "'");
      }
      const int type = san.type == SanType::dns   ? GEN_DNS
                       : san.type == SanType::uri ? GEN_URI
                                                  : GEN_EMAIL;
      // `name` owns the string from here on.
      GENERAL_NAME_set0_value(name.get(), type, text.release());
    }
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return fail_openssl("cannot add SAN '" + to_string(san) + "'");
    }
    // `names` owns the entry from here on.
    static_cast<void>(name.release());
  }
  return names;
}

std::vector<San> sans_from_general_names(const GENERAL_NAMES* names) {
  std::vector<San> out;
  const int count = sk_GENERAL_NAME_num(names);
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    void* value = GENERAL_NAME_get0_value(name, &type);
    switch (type) {
      case GEN_DNS:
        out.push_back({SanType::dns, ia5_text(static_cast<const ASN1_STRING*>(value))});
        break;
      case GEN_URI:
        out.push_back({SanType::uri, ia5_text(static_cast<const ASN1_STRING*>(value))});
        break;
      case GEN_EMAIL:
        out.push_back({SanType::email, ia5_text(static_cast<const ASN1_STRING*>(value))});
        break;
      case GEN_IPADD: {
        const auto* octets = static_cast<const ASN1_OCTET_STRING*>(value);
        const int len = ASN1_STRING_length(octets);
        const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : AF_UNSPEC;
        char text[INET6_ADDRSTRLEN] = {};
        if (family != AF_UNSPEC &&
            ::inet_ntop(family, ASN1_STRING_get0_data(octets), text, sizeof text) != nullptr) {
          out.push_back({SanType::ip, text});
        }
        break;
      }
      default: break;
    }
  }
  return out;
}

Result<AsnObjectStackPtr> build_extended_usages(const std::vector<ExtendedUsage>& usages) {
  AsnObjectStackPtr objects(sk_ASN1_OBJECT_new_null());
  if (!objects) return fail_openssl("cannot allocate extendedKeyUsage");
  std::vector<ExtendedUsage> seen;
  for (const auto usage : usages) {
    if (std::find(seen.begin(), seen.end(), usage) != seen.end()) continue;
    seen.push_back(usage);
    const int nid = usage == ExtendedUsage::server_auth ? NID_server_auth : NID_client_auth;
    // OBJ_nid2obj returns a static built-in object; ASN1_OBJECT_free leaves those alone, so the
    // stack's pop_free is harmless for it.
    if (sk_ASN1_OBJECT_push(objects.get(), OBJ_nid2obj(nid)) <= 0) {
      return fail_openssl("cannot add extended key usage");
    }
  }
  return objects;
}

std::vector<ExtendedUsage> usages_from_objects(const STACK_OF(ASN1_OBJECT) * objects) {
  std::vector<ExtendedUsage> out;
  const int count = sk_ASN1_OBJECT_num(objects);
  for (int i = 0; i < count; ++i) {
    const int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(objects, i));
    if (nid == NID_server_auth) out.push_back(ExtendedUsage::server_auth);
    if (nid == NID_client_auth) out.push_back(ExtendedUsage::client_auth);
  }
  return out;
}

SystemTime from_asn1_time(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return SystemTime{};
  }
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

Result<Asn1TimePtr> to_asn1_time(SystemTime time) {
  const auto seconds = std::chrono::floor<Seconds>(time.time_since_epoch()).count();
  // UTCTime through 2049, GeneralizedTime after, as RFC 5280 section 4.1.2.5 requires.
  Asn1TimePtr out(ASN1_TIME_set(nullptr, static_cast<std::time_t>(seconds)));
  if (!out) return fail_openssl("cannot encode time");
  return out;
}

}  // namespace certrotd::x509::detail
