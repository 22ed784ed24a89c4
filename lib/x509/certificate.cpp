#include "x509/certificate.hpp"

#include <array>
#include <climits>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "util/encoding.hpp"
#include "util/strings.hpp"
#include "x509/openssl_util.hpp"

namespace certrotd::x509 {

using detail::fail_openssl;

namespace {

// Handed to every PEM reader: without a callback OpenSSL falls back to prompting on the
// terminal, which a daemon must never do.
struct PassphraseRequest {
  std::optional<std::string_view> passphrase;
  bool asked = false;
  bool too_long = false;
};

int passphrase_callback(char* buf, int size, int /*rwflag*/, void* user) {
  if (user == nullptr) return -1;
  auto* request = static_cast<PassphraseRequest*>(user);
  request->asked = true;
  if (!request->passphrase || size <= 0) return -1;
  const std::string_view pass = *request->passphrase;
  if (pass.size() > static_cast<std::size_t>(size)) {
    request->too_long = true;
    return -1;
  }
  std::memcpy(buf, pass.data(), pass.size());
  return static_cast<int>(pass.size());
}

bool is_no_start_line(unsigned long err) {
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

X509Ptr share(X509* cert) {
  if (cert != nullptr) X509_up_ref(cert);
  return X509Ptr(cert);
}

EvpPkeyPtr share(EVP_PKEY* key) {
  if (key != nullptr) EVP_PKEY_up_ref(key);
  return EvpPkeyPtr(key);
}

std::string octets_hex(const ASN1_OCTET_STRING* octets) {
  if (octets == nullptr) return {};
  return hex_encode(std::span<const std::uint8_t>(
      ASN1_STRING_get0_data(octets), static_cast<std::size_t>(ASN1_STRING_length(octets))));
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  const BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  const detail::OpenSslStringPtr hex(BN_bn2hex(bn.get()));
  if (!hex) return {};
  std::string text = to_lower(hex.get());
  std::string sign;
  if (!text.empty() && text.front() == '-') {
    sign = "-";
    text.erase(0, 1);
  }
  const auto first = text.find_first_not_of('0');
  text = first == std::string::npos ? "0" : text.substr(first);
  return sign + text;
}

CertInfo extract_info(X509* cert) {
  CertInfo info;
  if (cert == nullptr) return info;
  info.serial = serial_hex(X509_get0_serialNumber(cert));
  info.subject = detail::name_to_string(X509_get_subject_name(cert));
  info.issuer = detail::name_to_string(X509_get_issuer_name(cert));
  info.common_name = detail::subject_from_name(X509_get_subject_name(cert)).common_name;

  const GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (sans) info.sans = detail::sans_from_general_names(sans.get());
  const AsnObjectStackPtr usages(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  if (usages) info.usages = detail::usages_from_objects(usages.get());

  info.not_before = detail::from_asn1_time(X509_get0_notBefore(cert));
  info.not_after = detail::from_asn1_time(X509_get0_notAfter(cert));

  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &digest_len) == 1) {
    info.sha256_fingerprint = hex_encode(std::span(digest.data(), digest_len), ':');
  }
  info.subject_key_id = octets_hex(X509_get0_subject_key_id(cert));
  info.authority_key_id = octets_hex(X509_get0_authority_key_id(cert));
  info.is_ca = (X509_get_extension_flags(cert) & static_cast<std::uint32_t>(EXFLAG_CA)) != 0;
  if (const EVP_PKEY* key = X509_get0_pubkey(cert); key != nullptr) {
    info.public_key = detail::key_spec_of(key);
  }
  // Absent extensions leave "not found" entries behind; they are not errors.
  ERR_clear_error();
  return info;
}

}  // namespace

std::string normalize_pem(std::string_view text) {
  // Unescape and unify line ends first. PEM never contains a backslash, so a literal "\n" can only
  // be an escaped line break (JSON strings, SAP service keys, environment variables).
  std::string unescaped;
  unescaped.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == 'n' || text[i + 1] == 'r')) {
      if (text[i + 1] == 'n') unescaped += '\n';
      ++i;
    } else if (c == '\r') {
      if (i + 1 >= text.size() || text[i + 1] != '\n') unescaped += '\n';
    } else {
      unescaped += c;
    }
  }
  // Indentation (YAML block scalars) and trailing blanks are not part of PEM.
  std::string out;
  out.reserve(unescaped.size() + 1);
  for (const auto& line : split(unescaped, '\n')) {
    const auto begin = line.find_first_not_of(" \t");
    const auto end = line.find_last_not_of(" \t");
    if (begin != std::string::npos) out.append(line, begin, end - begin + 1);
    out += '\n';
  }
  // split() yields one more piece than there are separators; drop the line break it added.
  out.pop_back();
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

Certificate::Certificate(X509Ptr cert)
    : m_cert(std::move(cert)), m_info(extract_info(m_cert.get())) {}

Certificate::Certificate(const Certificate& other)
    : m_cert(share(other.m_cert.get())), m_info(other.m_info) {}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    m_cert = share(other.m_cert.get());
    m_info = other.m_info;
  }
  return *this;
}

std::string Certificate::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), m_cert.get()) != 1) {
    ERR_clear_error();
    return {};
  }
  return detail::bio_contents(bio.get());
}

std::string Certificate::to_der() const {
  const int len = i2d_X509(m_cert.get(), nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (i2d_X509(m_cert.get(), &p) != len) {
    ERR_clear_error();
    return {};
  }
  return out;
}

bool Certificate::same_as(const Certificate& other) const {
  const std::string der = to_der();
  return !der.empty() && der == other.to_der();
}

namespace {

// Reads the next certificate. An empty X509Ptr without error means the input has no more.
Result<X509Ptr> read_next_certificate(BIO* bio, std::size_t index) {
  PassphraseRequest refuse;
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, passphrase_callback, &refuse));
  if (cert) return cert;
  if (is_no_start_line(ERR_peek_last_error())) {
    ERR_clear_error();
    return X509Ptr();
  }
  return fail_openssl("certificate #" + std::to_string(index + 1) + " is malformed");
}

constexpr std::string_view k_no_certificate =
    "no certificate found (expected PEM with '-----BEGIN CERTIFICATE-----')";

}  // namespace

Result<std::vector<Certificate>> parse_certificates(std::string_view pem) {
  const std::string text = normalize_pem(pem);
  auto bio = detail::memory_bio(text);
  if (!bio) return fail(bio.error());
  ERR_clear_error();
  std::vector<Certificate> out;
  while (true) {
    auto cert = read_next_certificate(bio->get(), out.size());
    if (!cert) return fail(cert.error());
    if (!*cert) break;
    out.emplace_back(std::move(*cert));
  }
  if (out.empty()) return fail(std::string(k_no_certificate));
  return out;
}

Result<Certificate> parse_certificate(std::string_view pem) {
  const std::string text = normalize_pem(pem);
  auto bio = detail::memory_bio(text);
  if (!bio) return fail(bio.error());
  ERR_clear_error();
  auto cert = read_next_certificate(bio->get(), 0);
  if (!cert) return fail(cert.error());
  if (!*cert) return fail(std::string(k_no_certificate));
  return Certificate(std::move(*cert));
}

std::string to_pem(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += c.to_pem();
  return out;
}

PrivateKey::PrivateKey(EvpPkeyPtr key) : m_key(std::move(key)) {}

PrivateKey::PrivateKey(const PrivateKey& other) : m_key(share(other.m_key.get())) {}

PrivateKey& PrivateKey::operator=(const PrivateKey& other) {
  if (this != &other) m_key = share(other.m_key.get());
  return *this;
}

KeySpec PrivateKey::spec() const { return detail::key_spec_of(m_key.get()); }

Result<std::string> PrivateKey::to_pkcs8_pem(std::optional<std::string_view> passphrase) const {
  if (passphrase && passphrase->empty()) {
    return fail("refusing to encrypt a private key with an empty passphrase");
  }
  if (passphrase && passphrase->size() > static_cast<std::size_t>(INT_MAX)) {
    return fail("passphrase too long");
  }
  auto bio = detail::output_bio();
  if (!bio) return fail(bio.error());
  // AES-256-CBC under PBES2; OpenSSL 3 derives the key with PBKDF2-HMAC-SHA256.
  const EVP_CIPHER* cipher = passphrase ? EVP_aes_256_cbc() : nullptr;
  // With a passphrase no callback may be set (OpenSSL would prefer it over the given string);
  // without one nothing is encrypted, and the refusing callback guards against a prompt.
  PassphraseRequest refuse;
  const int ok = PEM_write_bio_PKCS8PrivateKey(
      bio->get(), m_key.get(), cipher, passphrase ? passphrase->data() : nullptr,
      passphrase ? static_cast<int>(passphrase->size()) : 0,
      passphrase ? nullptr : passphrase_callback, passphrase ? nullptr : &refuse);
  if (ok != 1) return fail_openssl("cannot encode the private key as PKCS#8");
  return detail::bio_contents(bio->get());
}

std::string PrivateKey::public_key_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), m_key.get()) != 1) {
    ERR_clear_error();
    return {};
  }
  return detail::bio_contents(bio.get());
}

Result<PrivateKey> parse_private_key(std::string_view pem,
                                     std::optional<std::string_view> passphrase) {
  const std::string text = normalize_pem(pem);
  // OpenSSL's decoders report a missing key only as "unsupported"; say what was expected.
  if (text.find("PRIVATE KEY-----") == std::string::npos) {
    return fail(
        "no private key found (expected PEM with '-----BEGIN PRIVATE KEY-----', "
        "'ENCRYPTED PRIVATE KEY', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY')");
  }
  auto bio = detail::memory_bio(text);
  if (!bio) return fail(bio.error());
  ERR_clear_error();
  PassphraseRequest request{passphrase};
  // PEM_read_bio_PrivateKey decodes PKCS#8 (plain and encrypted), PKCS#1 "RSA PRIVATE KEY" and
  // SEC1 "EC PRIVATE KEY", and skips blocks of other types such as "EC PARAMETERS".
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, passphrase_callback, &request));
  if (key) {
    ERR_clear_error();
    return PrivateKey(std::move(key));
  }
  if (request.asked && !passphrase) {
    detail::drain_errors();
    return fail("the private key is encrypted and no passphrase was given");
  }
  if (request.too_long) {
    detail::drain_errors();
    return fail("the passphrase is too long");
  }
  if (request.asked) {
    return fail_openssl("cannot decrypt the private key (wrong passphrase?)");
  }
  return fail_openssl("cannot parse the private key");
}

Result<PrivateKey> generate_key(const KeySpec& spec) {
  const char* algorithm = nullptr;
  switch (spec.type) {
    case KeyType::ec:
      if (spec.curve != "P-256" && spec.curve != "P-384") {
        return fail("unsupported EC curve '" + spec.curve + "' (use P-256 or P-384)");
      }
      algorithm = "EC";
      break;
    case KeyType::rsa:
      if (spec.rsa_bits != 2048 && spec.rsa_bits != 3072 && spec.rsa_bits != 4096) {
        return fail("unsupported RSA key size " + std::to_string(spec.rsa_bits) +
                    " (use 2048, 3072 or 4096)");
      }
      algorithm = "RSA";
      break;
    case KeyType::ed25519: algorithm = "ED25519"; break;
  }
  if (algorithm == nullptr) return fail("unsupported key type");
  ERR_clear_error();
  const EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) {
    return fail_openssl("cannot set up " + to_string(spec) + " key generation");
  }
  if (spec.type == KeyType::ec && EVP_PKEY_CTX_set_group_name(ctx.get(), spec.curve.c_str()) != 1) {
    return fail_openssl("cannot select curve " + spec.curve);
  }
  if (spec.type == KeyType::rsa &&
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), spec.rsa_bits) != 1) {
    return fail_openssl("cannot select RSA key size");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    return fail_openssl("cannot generate a " + to_string(spec) + " key");
  }
  // The new PrivateKey owns the generated key.
  return PrivateKey(EvpPkeyPtr(raw));
}

bool key_matches(const PrivateKey& key, const Certificate& cert) {
  const EVP_PKEY* public_key = X509_get0_pubkey(cert.get());
  const bool same = public_key != nullptr && key.get() != nullptr &&
                    EVP_PKEY_eq(public_key, key.get()) == 1;
  // A type mismatch leaves an error entry; it only means "no".
  ERR_clear_error();
  return same;
}

std::string x5t_s256(const Certificate& cert) {
  const std::string der = cert.to_der();
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (der.empty() ||
      EVP_Digest(der.data(), der.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return base64url_encode(std::span<const std::uint8_t>(digest.data(), len));
}

}  // namespace certrotd::x509
