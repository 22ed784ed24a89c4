#include "engine/pending_request.hpp"

#include <openssl/crypto.h>

#include "store/state_file.hpp"
#include "x509/csr.hpp"

namespace certrotd::engine {

namespace {

store::StateFiles state_files(const CredentialPlan& plan) {
  return store::StateFiles(plan.generation->state_dir);
}

constexpr std::string_view k_csr_begin = "-----BEGIN CERTIFICATE REQUEST-----";

// The key and CSR of a kept text, or nullopt when it is not what keep_pending wrote.
std::optional<PendingRequest> parse_pending(std::string_view text,
                                            std::optional<std::string_view> passphrase) {
  const auto csr_at = text.find(k_csr_begin);
  if (csr_at == std::string_view::npos) return std::nullopt;
  auto key = x509::parse_private_key(text.substr(0, csr_at), passphrase);
  if (!key) return std::nullopt;
  return PendingRequest{std::move(*key), std::string(text.substr(csr_at))};
}

// Whether `pending` asks for what a request built now from the configuration would.
bool still_wanted(const CredentialPlan& plan, const PendingRequest& pending,
                  const std::function<bool(const x509::KeySpec&)>& also_wanted) {
  if (pending.key.spec() != plan.config.key && (!also_wanted || !also_wanted(pending.key.spec()))) {
    return false;
  }
  auto rebuilt = x509::build_csr(pending.key, plan.config.request);
  return rebuilt && x509::same_request(*rebuilt, pending.csr_pem);
}

}  // namespace

Result<std::optional<PendingRequest>> resume_pending(
    const CredentialPlan& plan, std::optional<std::string_view> passphrase,
    const std::function<bool(const x509::KeySpec&)>& also_wanted) {
  const store::StateFiles files = state_files(plan);
  auto text = files.load_pending(plan.config.name);
  if (!text) return fail(text.error().wrap("cannot read the pending request"));
  if (!*text) return std::optional<PendingRequest>{};
  auto pending = parse_pending((*text)->view(), passphrase);
  if (pending && still_wanted(plan, *pending, also_wanted)) return pending;
  // Not ours any more: what is asked now goes as a new request.
  if (auto removed = files.remove_pending(plan.config.name); !removed) {
    return fail(removed.error().wrap("cannot remove the outdated pending request"));
  }
  return std::optional<PendingRequest>{};
}

Result<void> keep_pending(const CredentialPlan& plan, const PendingRequest& pending,
                          std::optional<std::string_view> passphrase) {
  auto key_pem = pending.key.to_pkcs8_pem(passphrase);
  if (!key_pem) return fail(key_pem.error());
  // One allocation of the final size, and the key's own copy wiped: appending to the key's
  // string could move it and free the old buffer with the unencrypted key still in it.
  std::string text;
  text.reserve(key_pem->size() + pending.csr_pem.size());
  text.append(*key_pem).append(pending.csr_pem);
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  auto saved = state_files(plan).save_pending(plan.config.name, text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!saved) return fail(saved.error().wrap("cannot keep the pending request"));
  return {};
}

Result<void> forget_pending(const CredentialPlan& plan) {
  return state_files(plan).remove_pending(plan.config.name);
}

}  // namespace certrotd::engine
