#include "x509/csr.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "x509/openssl_util.hpp"

namespace certrotd::x509 {

using detail::fail_openssl;

namespace {

// Adds one extension (ownership of the encoded value stays with the caller's structure).
Result<void> push_extension(STACK_OF(X509_EXTENSION) * extensions, int nid, void* value) {
  X509ExtensionPtr ext(X509V3_EXT_i2d(nid, 0, value));
  if (!ext) return fail_openssl(std::string("cannot encode ") + OBJ_nid2sn(nid));
  if (sk_X509_EXTENSION_push(extensions, ext.get()) <= 0) {
    return fail_openssl(std::string("cannot add ") + OBJ_nid2sn(nid));
  }
  // The stack owns the extension from here on.
  static_cast<void>(ext.release());
  return {};
}

int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return -1; }

// PKCS#9 challengePassword, a DirectoryString of at most ub-challenge-password characters.
Result<void> add_challenge_password(X509_REQ* req, const std::string& password) {
  if (password.size() > k_max_challenge_password) {
    return fail("the challengePassword has " + std::to_string(password.size()) +
                " bytes, more than the " + std::to_string(k_max_challenge_password) +
                " PKCS#9 allows");
  }
  if (X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                reinterpret_cast<const unsigned char*>(password.data()),
                                static_cast<int>(password.size())) != 1) {
    return fail_openssl("cannot add the CSR challengePassword");
  }
  return {};
}

}  // namespace

Result<std::string> build_csr(const PrivateKey& key, const CertificateRequest& request,
                              const CsrExtras& extras) {
  if (key.get() == nullptr) return fail("cannot build a CSR without a key");
  ERR_clear_error();
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return fail_openssl("cannot allocate a CSR");
  }
  auto name = detail::build_name(request.subject);
  if (!name) return fail(name.error());
  if (X509_REQ_set_subject_name(req.get(), name->get()) != 1) {
    return fail_openssl("cannot set the CSR subject");
  }
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return fail_openssl("cannot set the CSR public key");
  }

  ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
  if (!extensions) return fail_openssl("cannot allocate CSR extensions");
  if (!request.sans.empty()) {
    auto sans = detail::build_general_names(request.sans);
    if (!sans) return fail(sans.error());
    if (auto r = push_extension(extensions.get(), NID_subject_alt_name, sans->get()); !r) {
      return fail(r.error());
    }
  }
  if (!request.usages.empty()) {
    auto usages = detail::build_extended_usages(request.usages);
    if (!usages) return fail(usages.error());
    if (auto r = push_extension(extensions.get(), NID_ext_key_usage, usages->get()); !r) {
      return fail(r.error());
    }
  }
  if (sk_X509_EXTENSION_num(extensions.get()) > 0 &&
      X509_REQ_add_extensions(req.get(), extensions.get()) != 1) {
    return fail_openssl("cannot add the CSR extension request");
  }
  if (extras.challenge_password) {
    if (auto r = add_challenge_password(req.get(), *extras.challenge_password); !r) {
      return fail(r.error());
    }
  }

  if (X509_REQ_sign(req.get(), key.get(), detail::digest_for(key.get())) <= 0) {
    return fail_openssl("cannot sign the CSR");
  }
  auto bio = detail::output_bio();
  if (!bio) return fail(bio.error());
  if (PEM_write_bio_X509_REQ(bio->get(), req.get()) != 1) {
    return fail_openssl("cannot encode the CSR");
  }
  return detail::bio_contents(bio->get());
}

Result<ParsedCsr> parse_csr(std::string_view pem) {
  const std::string text = normalize_pem(pem);
  auto bio = detail::memory_bio(text);
  if (!bio) return fail(bio.error());
  ERR_clear_error();
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio->get(), nullptr, refuse_passphrase, nullptr));
  if (!req) {
    return fail_openssl("not a PEM certificate signing request");
  }
  EvpPkeyPtr public_key(X509_REQ_get_pubkey(req.get()));
  if (!public_key) return fail_openssl("the CSR's public key cannot be decoded");
  if (X509_REQ_verify(req.get(), public_key.get()) != 1) {
    return fail_openssl("the CSR's signature does not verify");
  }

  ParsedCsr parsed;
  parsed.request.subject = detail::subject_from_name(X509_REQ_get_subject_name(req.get()));
  const ExtensionStackPtr extensions(X509_REQ_get_extensions(req.get()));
  if (extensions) {
    const int san_index = X509v3_get_ext_by_NID(extensions.get(), NID_subject_alt_name, -1);
    if (san_index >= 0) {
      const GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
          X509V3_EXT_d2i(sk_X509_EXTENSION_value(extensions.get(), san_index))));
      if (!sans) return fail_openssl("the CSR's subjectAltName cannot be decoded");
      parsed.request.sans = detail::sans_from_general_names(sans.get());
    }
    const int eku_index = X509v3_get_ext_by_NID(extensions.get(), NID_ext_key_usage, -1);
    if (eku_index >= 0) {
      const AsnObjectStackPtr usages(static_cast<EXTENDED_KEY_USAGE*>(
          X509V3_EXT_d2i(sk_X509_EXTENSION_value(extensions.get(), eku_index))));
      if (!usages) return fail_openssl("the CSR's extendedKeyUsage cannot be decoded");
      parsed.request.usages = detail::usages_from_objects(usages.get());
    }
  }
  ERR_clear_error();
  parsed.req = std::move(req);
  parsed.public_key = std::move(public_key);
  return parsed;
}

namespace {

// The DER of the CSR's CertificationRequestInfo (what its signature covers).
std::optional<std::string> request_info_der(X509_REQ* req) {
  unsigned char* der = nullptr;
  const int length = i2d_re_X509_REQ_tbs(req, &der);
  const OpenSslBytesPtr owned(der);
  if (length <= 0 || der == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
}

}  // namespace

bool same_request(std::string_view a_pem, std::string_view b_pem) {
  auto a = parse_csr(a_pem);
  auto b = parse_csr(b_pem);
  if (!a || !b) return false;
  const auto a_info = request_info_der(a->req.get());
  const auto b_info = request_info_der(b->req.get());
  return a_info && b_info && *a_info == *b_info;
}

}  // namespace certrotd::x509
