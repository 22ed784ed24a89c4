#include "x509/sign.hpp"

#include <array>
#include <string>

#include <openssl/bn.h>
#include <openssl/err.h>

#include "x509/openssl_util.hpp"

namespace certrotd::x509 {

using detail::fail_openssl;

namespace {

// RFC 5280 section 4.1.2.2: positive, at most 20 octets. 128 random bits keep serials
// unpredictable (CA/Browser Forum asks for at least 64) and DER-encode in 16 or 17 octets.
Result<Asn1IntegerPtr> random_serial(Random& random) {
  std::array<unsigned char, 16> bytes{};
  for (std::size_t half = 0; half < 2; ++half) {
    std::uint64_t v = random.next_u64();
    for (std::size_t i = 0; i < 8; ++i) {
      bytes[half * 8 + 7 - i] = static_cast<unsigned char>(v & 0xff);
      v >>= 8;
    }
  }
  // Zero is not a valid serial; a generator returning 128 zero bits is broken, but stay valid.
  if (bytes == std::array<unsigned char, 16>{}) bytes.back() = 1;
  const BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn) return fail_openssl("cannot create a serial number");
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return fail_openssl("cannot encode the serial number");
  return serial;
}

// Adds an extension written in openssl.cnf syntax ("critical,CA:TRUE"), resolved against `ctx`
// for the values that refer to the subject or issuer (key identifiers).
Result<void> add_conf_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  const X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext) return fail_openssl(std::string("cannot build ") + OBJ_nid2sn(nid) + " " + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return fail_openssl(std::string("cannot add ") + OBJ_nid2sn(nid));
  }
  return {};
}

}  // namespace

Result<Certificate> sign_certificate(const SignOptions& options, Random& random) {
  const bool self_signed = options.issuer_cert == nullptr && options.issuer_key == nullptr;
  if (self_signed && options.self_key == nullptr) {
    return fail("sign: neither an issuer nor a key to self-sign with was given");
  }
  if (!self_signed && (options.issuer_cert == nullptr || options.issuer_key == nullptr)) {
    return fail("sign: the issuer needs both its certificate and its key");
  }
  const PrivateKey& signer = self_signed ? *options.self_key : *options.issuer_key;
  EVP_PKEY* subject_key = options.subject_public_key;
  if (subject_key == nullptr && self_signed) subject_key = options.self_key->get();
  if (subject_key == nullptr || signer.get() == nullptr) {
    return fail("sign: no subject public key");
  }
  if (!self_signed && !key_matches(*options.issuer_key, *options.issuer_cert)) {
    return fail("sign: the issuer key does not belong to the issuer certificate");
  }
  if (options.not_after <= options.not_before) {
    return fail("sign: notAfter must be later than notBefore");
  }

  ERR_clear_error();
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return fail_openssl("cannot allocate a certificate");
  }
  auto serial = random_serial(random);
  if (!serial) return fail(serial.error());
  if (X509_set_serialNumber(cert.get(), serial->get()) != 1) {
    return fail_openssl("cannot set the serial number");
  }
  auto subject = detail::build_name(options.request.subject);
  if (!subject) return fail(subject.error());
  if (X509_set_subject_name(cert.get(), subject->get()) != 1) {
    return fail_openssl("cannot set the subject");
  }
  const X509_NAME* issuer_name = self_signed ? subject->get()
                                             : X509_get_subject_name(options.issuer_cert->get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return fail_openssl("cannot set the issuer");
  }
  auto not_before = detail::to_asn1_time(options.not_before);
  if (!not_before) return fail(not_before.error());
  auto not_after = detail::to_asn1_time(options.not_after);
  if (!not_after) return fail(not_after.error());
  if (X509_set1_notBefore(cert.get(), not_before->get()) != 1 ||
      X509_set1_notAfter(cert.get(), not_after->get()) != 1) {
    return fail_openssl("cannot set the validity period");
  }
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return fail_openssl("cannot set the public key");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, self_signed ? cert.get() : options.issuer_cert->get(), cert.get(), nullptr,
                 nullptr, 0);
  if (X509V3_set_issuer_pkey(&ctx, signer.get()) != 1) {
    return fail_openssl("cannot set the issuer key for extensions");
  }

  std::string basic = options.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (options.is_ca && options.path_len) {
    if (*options.path_len < 0) return fail("sign: pathlen must not be negative");
    basic += ",pathlen:" + std::to_string(*options.path_len);
  }
  std::string key_usage = "critical,digitalSignature";
  if (options.is_ca) {
    key_usage = "critical,keyCertSign,cRLSign";
  } else if (EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA) {
    // RSA key transport (TLS 1.2 RSA key exchange) needs keyEncipherment; EC and EdDSA keys never
    // encrypt, so RFC 8813 / RFC 8410 forbid it for them.
    key_usage += ",keyEncipherment";
  }
  if (auto r = add_conf_extension(cert.get(), &ctx, NID_basic_constraints, basic); !r) {
    return fail(r.error());
  }
  if (auto r = add_conf_extension(cert.get(), &ctx, NID_key_usage, key_usage); !r) {
    return fail(r.error());
  }
  if (!options.request.usages.empty()) {
    auto usages = detail::build_extended_usages(options.request.usages);
    if (!usages) return fail(usages.error());
    if (X509_add1_ext_i2d(cert.get(), NID_ext_key_usage, usages->get(), 0, X509V3_ADD_DEFAULT) !=
        1) {
      return fail_openssl("cannot add extendedKeyUsage");
    }
  }
  if (!options.request.sans.empty()) {
    auto sans = detail::build_general_names(options.request.sans);
    if (!sans) return fail(sans.error());
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, sans->get(), 0, X509V3_ADD_DEFAULT) !=
        1) {
      return fail_openssl("cannot add subjectAltName");
    }
  }
  // The subject key identifier goes first: for a self-signed certificate the authority key
  // identifier is read back from it ("always", since OpenSSL 3 otherwise omits it for
  // self-signed certificates). An issuer without a subject key identifier (possible for an
  // imported CA) is named by issuer name and serial instead.
  if (auto r = add_conf_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash"); !r) {
    return fail(r.error());
  }
  if (auto r = add_conf_extension(cert.get(), &ctx, NID_authority_key_identifier,
                                  self_signed ? "keyid:always" : "keyid,issuer");
      !r) {
    return fail(r.error());
  }

  if (X509_sign(cert.get(), signer.get(), detail::digest_for(signer.get())) <= 0) {
    return fail_openssl("cannot sign the certificate");
  }
  ERR_clear_error();
  return Certificate(std::move(cert));
}

}  // namespace certrotd::x509
