#include "x509/verify.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "x509/openssl_util.hpp"

namespace certrotd::x509 {

using detail::fail_openssl;

Result<void> verify_chain(const Certificate& leaf, std::span<const Certificate> intermediates,
                          std::span<const Certificate> anchors, const VerifyOptions& options) {
  if (leaf.get() == nullptr) return fail("verify: no certificate");
  if (anchors.empty()) return fail("verify: no trust anchors");
  ERR_clear_error();

  const X509StorePtr store(X509_STORE_new());
  if (!store) return fail_openssl("cannot allocate a certificate store");
  for (const auto& anchor : anchors) {
    // The store takes its own reference.
    if (X509_STORE_add_cert(store.get(), anchor.get()) != 1) {
      return fail_openssl("cannot add trust anchor " + anchor.info().subject);
    }
  }
  const X509StackPtr untrusted(sk_X509_new_null());
  if (!untrusted) return fail_openssl("cannot allocate the intermediate list");
  for (const auto& cert : intermediates) {
    // The stack frees its entries, so it needs a reference of its own.
    if (X509_up_ref(cert.get()) != 1) return fail_openssl("cannot reference an intermediate");
    X509Ptr reference(cert.get());
    if (sk_X509_push(untrusted.get(), reference.get()) <= 0) {
      return fail_openssl("cannot add an intermediate");
    }
    // The stack owns this reference from here on.
    static_cast<void>(reference.release());
  }

  const X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) != 1) {
    return fail_openssl("cannot set up chain verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  const auto at = std::chrono::floor<Seconds>(options.at.time_since_epoch()).count();
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at));
  // RFC 5280 section 6.1: a trust anchor need not be self-signed. Pinning an intermediate as the
  // anchor must work, so the chain may stop at any configured anchor.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (options.purpose) {
    const int purpose = *options.purpose == ExtendedUsage::server_auth ? X509_PURPOSE_SSL_SERVER
                                                                       : X509_PURPOSE_SSL_CLIENT;
    if (X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
      return fail_openssl("cannot set the verification purpose");
    }
  }

  const int ok = X509_verify_cert(ctx.get());
  if (ok == 1) {
    ERR_clear_error();
    return {};
  }
  const int code = X509_STORE_CTX_get_error(ctx.get());
  if (code == X509_V_OK) {
    // Not a verdict about the chain: the verifier itself failed (allocation, bad input).
    return fail_openssl("certificate verification could not run");
  }
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  X509* failed = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string message = "certificate verification failed: ";
  message += X509_verify_cert_error_string(code);
  message += " at depth " + std::to_string(depth);
  if (failed != nullptr) {
    message += " (" + detail::name_to_string(X509_get_subject_name(failed)) + ")";
  }
  if (options.purpose && code == X509_V_ERR_INVALID_PURPOSE) {
    message += ", wanted " + to_string(*options.purpose);
  }
  detail::drain_errors();
  return fail(message);
}

}  // namespace certrotd::x509
