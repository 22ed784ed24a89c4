// `type: acme`: certificates from an ACME server (RFC 8555): Let's Encrypt, ZeroSSL, Google
// Trust Services, and the ACME endpoints of step-ca, Vault/OpenBao PKI or EJBCA.
//
// One account per issuer: its key is made on first use and kept, with the account URL, under
// <state_dir>/acme/<issuer>/ (0600, written atomically). An account whose URL was never written
// (a crash between newAccount and the file) is found again with onlyReturnExisting.
//
// `certrotd acme-key-change ISSUER` rolls the account key over (RFC 8555 §7.3.5): the new key is
// written to account.key.new (0600, atomically) before the request, and replaces account.key
// only after the server accepted it. A crash or a lost answer in between leaves both files; the
// next account() asks the server (onlyReturnExisting, signed by the new key) which one it holds
// and keeps that one.
//
// One rotation walks one order: newOrder (dns and ip identifiers from the SANs, `replaces` when
// the directory has renewalInfo) -> authorizations (valid ones skipped) -> one challenge each, by
// the configured preference -> finalize with the CSR -> download, with the alternate chain whose
// top certificate's issuer CN is `preferred_chain`. While authorizations are still pending the
// answer is NotYet with the order URL as issuer state, so a slow validation never holds a worker
// for long and a restart resumes the order (or starts a new one when it is gone).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "issuer/acme/challenges.hpp"
#include "issuer/acme/client.hpp"
#include "issuer/acme/jws.hpp"
#include "issuer/network/network.hpp"
#include "issuer/registry.hpp"

namespace certrotd::issuer {

struct AcmeEab {
  std::string kid;
  std::filesystem::path hmac_key_file;  // base64url MAC key; never logged
};

struct AcmeIssuerOptions : NetworkIssuerOptions {
  // NetworkIssuerOptions::url is the directory URL; ca_bundle, trust_anchors and the timeouts
  // mean what they mean for every network issuer (auth and bootstrap are not used).
  std::vector<std::string> contact;
  bool terms_of_service_agreed = false;
  std::optional<AcmeEab> eab;
  std::optional<std::string> profile;
  std::optional<std::string> preferred_chain;
  acme::AccountKeyType account_key = acme::AccountKeyType::es256;
  std::vector<acme::ChallengeConfig> challenges;  // in order of preference
};

struct AcmeDeps {
  std::shared_ptr<http::Transport> transport;
  const Clock* clock = nullptr;
  std::filesystem::path account_dir;                            // <state_dir>/acme/<issuer>
  std::vector<std::shared_ptr<acme::ChallengeSolver>> solvers;  // in order of preference
  // Waits between polls of one authorization or order (tests pass one that does not sleep).
  std::function<void(Millis)> sleep;
};

class AcmeIssuer final : public Issuer {
public:
  // How long one call waits for an authorization or a processing order before it answers
  // NotYet (authorizations) or a retryable error (an order past finalize, whose key this
  // rotation alone holds).
  static constexpr int k_polls = 20;

  static Result<std::unique_ptr<AcmeIssuer>> create(AcmeIssuerOptions options, AcmeDeps deps);
  std::string_view type() const override { return "acme"; }
  Result<IssuedCredential> issue(const IssueRequest& request) override;
  Result<IssueOutcome> issue_outcome(const IssueRequest& request) override;
  bool reports_renewal_info() const override;
  Result<RenewalInfo> renewal_info(const RenewalInfoRequest& request) override;
  bool can_revoke() const override { return true; }
  Result<void> revoke(const RevokeRequest& request) override;

  std::optional<std::uint64_t> requests_made() const override { return m_client.requests(); }
  // Rolls the account key over (RFC 8555 §7.3.5) and answers the new key's JWK thumbprint. Makes
  // the account first when there is none. Errors: the server offers no keyChange (config), or
  // refused it (the old key stays; permanent unless the problem is retryable); no answer
  // (retryable: the next account() finds out which key the server holds). Rotations in flight
  // with the old key may fail once and are retried with the new one.
  Result<std::string> change_account_key();

private:
  AcmeIssuer(AcmeIssuerOptions options, AcmeDeps deps, std::string ca_bundle_pem);

  struct Account {
    std::shared_ptr<const acme::AccountKey> key;
    std::string url;
  };
  Result<Account> account();
  Result<Account> register_account(const std::shared_ptr<const acme::AccountKey>& key);
  // After an interrupted key change (account.key.new left in `dir`): the key the server holds
  // becomes account.key and the other file goes. Called with m_account_mutex held.
  Result<void> recover_key_change(int dir);
  struct OpenOrder {
    std::string url;
    acme::Reply reply;
    // Every authorization was seen valid in this call: the order is ready (RFC 8555 §7.1.6)
    // though `reply` still says pending, and finalize goes ahead without fetching it again.
    bool authorized = false;
  };
  // The order kept in the issuer state while the server still has it pending or ready, or a
  // new one (`signer` changes when the account had to be found again).
  Result<OpenOrder> open_order(const IssueRequest& request, acme::Signer& signer);
  // Every authorization of a pending order; false: one is still pending after our polls.
  Result<bool> authorize_all(OpenOrder& order, const IssueRequest& request,
                             const acme::Signer& signer);
  // finalize with the CSR and the order polled until valid.
  Result<acme::Reply> finalize(const OpenOrder& order, const IssueRequest& request,
                               const acme::Signer& signer);
  struct Choice {
    std::shared_ptr<acme::ChallengeSolver> solver;
    std::string url;
  };
  // The first configured solver (in order of preference) that can answer one of `challenges`;
  // fills in the task's token and key authorization.
  Result<Choice> choose_challenge(const nlohmann::json& challenges, const acme::AccountKey& key,
                                  acme::ChallengeTask& task) const;
  // `refused` gets the problem type of a refusal.
  Result<acme::Reply> new_order(const IssueRequest& request, const acme::Signer& signer,
                                std::string& refused);
  // Drops the kept account (the server no longer knows it); the next account() finds or makes
  // one again.
  void forget_account();
  // true: the authorization is valid; false: still pending after our polls.
  Result<bool> authorize(const std::string& url, const IssueRequest& request,
                         const acme::Signer& signer);
  Result<acme::Reply> poll(const std::string& url, const acme::Signer& signer,
                           const std::string& what, const std::string& waiting_status);
  // finalize's POST; an orderNotReady refusal after `authorized` fetches the order until it is
  // ready and sends it once more.
  Result<acme::Reply> send_finalize(const OpenOrder& order, const nlohmann::json& payload,
                                    const acme::Signer& signer);
  Result<IssuedCredential> download(const std::string& url, const acme::Signer& signer);
  void pause(const acme::Reply& reply) const;

  AcmeIssuerOptions m_options;
  AcmeDeps m_deps;
  acme::Client m_client;
  std::mutex m_account_mutex;
  std::optional<Account> m_account;
  std::mutex m_key_change_mutex;  // one key change at a time
};

namespace acme {
// The ARI certificate identifier (RFC 9773 §4.1): base64url(AKI keyIdentifier) "."
// base64url(serial DER content octets); nullopt without an AKI key identifier.
std::optional<std::string> ari_cert_id(const x509::Certificate& cert);
// The issuer CN of the top (last) certificate of `chain` (preferred_chain compares it).
std::string top_issuer_cn(const std::vector<x509::Certificate>& chain);
}  // namespace acme

IssuerType acme_issuer_type();

}  // namespace certrotd::issuer
