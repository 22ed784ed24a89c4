// The seam every certificate source implements: the embedded local CA today, OAuth2/mTLS HTTP,
// CFSSL, EST, Vault and ACME later.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/clock.hpp"
#include "util/files.hpp"
#include "util/result.hpp"
#include "x509/certificate.hpp"
#include "x509/types.hpp"
#include "yaml/mark.hpp"

namespace certrotd::issuer {

// The credential being renewed, as it is on disk now. Network issuers authenticate with it
// (mTLS with the very certificate being replaced).
struct CurrentCredential {
  std::vector<x509::Certificate> chain;  // leaf first
  x509::PrivateKey key;
};

// What a credential tells its issuer under the key the issuer's type names (IssuerType::
// credential_key, e.g. `sap:`): each type derives its own and casts back with
// credential_options_as<T>().
class CredentialOptions {
public:
  virtual ~CredentialOptions() = default;
  // The key the issuer will make, when these options decide it (a server-generated RSA key of
  // `key-length` bits): loading sets the credential's `key` to it, so the answer validates.
  virtual std::optional<x509::KeySpec> key() const { return std::nullopt; }
  // Whether the credential must name a common_name or a SAN: false when the issuer decides the
  // names itself and certrotd has nothing to ask for.
  virtual bool needs_names() const { return true; }
  // Another issuer of the configuration these options name, and where.
  struct IssuerReference {
    std::string issuer;
    yaml::Mark mark;
  };
  // What the loader checks once every issuer is read: each must be an issuer of the
  // configuration (SAP's `self_managed: { issuer }`).
  virtual std::vector<IssuerReference> issuers_named() const { return {}; }
  // Why a credential with these options cannot have `activation: { mode: staged }`, and what
  // to write instead; nullopt when it can.
  struct Refusal {
    std::string what;
    std::string instead;
  };
  virtual std::optional<Refusal> refuses_staged() const { return std::nullopt; }

protected:
  CredentialOptions() = default;
  CredentialOptions(const CredentialOptions&) = default;
  CredentialOptions& operator=(const CredentialOptions&) = default;
  CredentialOptions(CredentialOptions&&) = default;
  CredentialOptions& operator=(CredentialOptions&&) = default;
};

// Another type's options here is a programming error: dynamic_cast throws std::bad_cast.
template <class T>
const T& credential_options_as(const CredentialOptions& options) {
  return dynamic_cast<const T&>(options);
}

struct IssueRequest {
  std::string credential;              // the credential's name, for logs and errors
  std::optional<std::string> csr_pem;  // unset: ask the issuer to generate the key
  x509::CertificateRequest request;    // what the CSR asks for (also sent as names)
  x509::KeySpec key;                   // for server-generated keys
  std::optional<Millis> lifetime;      // a wish; the issuer's own limit may win
  std::optional<CurrentCredential> current;
  // What this issuer kept for the credential with its last answer (IssueOutcome::state), also
  // across restarts: an ACME order URL, an EST pending request id. Unset when none is kept.
  std::optional<std::string> state = std::nullopt;
  // The credential's own settings for this issuer (its `credential_key` section); null when
  // the type names none.
  std::shared_ptr<const CredentialOptions> options = nullptr;
  // The key of csr_pem, set with it. An issuer whose server asks for more than the engine's CSR
  // holds (EST: the attributes of /csrattrs, the TLS-unique value of the connection that sends
  // it) signs a CSR of its own for the same key and names; the certificate must still certify
  // this key. Never logged, never sent.
  std::optional<x509::PrivateKey> csr_key = std::nullopt;
};

// When the issuer suggests renewing the certificate it issued (ACME ARI suggestedWindow, a
// Service Manager validity). lib/schedule decides what to make of it.
struct RenewalWindow {
  SystemTime start;
  SystemTime end;
  std::optional<std::string> explanation_url = std::nullopt;  // ARI's explanationURL, if any
};

struct IssuedCredential {
  std::vector<x509::Certificate> chain;  // leaf first, then intermediates (no root needed)
  std::optional<x509::PrivateKey> key;   // set when the issuer generated the key
  std::vector<x509::Certificate> ca;     // trust anchors the issuer vouches for, if it knows
  std::optional<RenewalWindow> renewal_window = std::nullopt;  // unset: renew by the policy
  // Files of the issuer's own that belong to this version (a SAP binding's binding.json):
  // installed with the PEM files, in the same atomic swap (store::CredentialFiles::extras).
  std::vector<NamedFile> files = {};
};

// "Not yet": the issuer took the request but has no certificate yet (an ACME order still
// processing, EST 202 with Retry-After). Not a failure: no backoff, no failure counted; the
// engine asks again after `retry_after` (clamped, see schedule::not_yet_delay).
struct NotYet {
  std::optional<Millis> retry_after;  // unset: the credential's backoff base
  std::string detail;                 // for the event ("order processing"); never secret
};

// Issuer-private state is at most this long; a longer one is refused as an invalid answer.
inline constexpr std::size_t k_max_issuer_state = 4096;

// The whole answer to one request.
struct IssueOutcome {
  std::variant<IssuedCredential, NotYet> answer;
  // What to keep for the credential and hand back in the next IssueRequest::state (persisted in
  // the state directory, never logged). Replaces what was kept; unset clears it. After an
  // error nothing is replaced, except that a permanent error clears it (a fresh start is what a
  // retry at the backoff cap needs).
  std::optional<std::string> state = std::nullopt;
  // For an issuer with upkeep (Issuer::upkeep_mode): when its upkeep is due after this
  // issuance (an EST refresh period from now, a replaced binding's retirement); unset: the
  // upkeep stays where it was scheduled.
  std::optional<Millis> upkeep_after = std::nullopt;
};

// Housekeeping an issuer does for a credential on a timer of its own, apart from renewals:
// refreshing the CA bundle (EST /cacerts), deleting replaced bindings (SAP Service Manager).
// The engine keeps the next time and the failures in a row in the state file, shares the
// credential's entry in the deadline heap, and runs one job of a credential at a time, so an
// upkeep never overlaps a rotation of the same credential.
enum class UpkeepMode {
  none,           // no upkeep (the default)
  when_due,       // first at start-up when nothing is scheduled yet, then when the issuer says
  also_at_start,  // besides, at every start-up (orphans a crash left behind)
};

struct UpkeepRequest {
  std::string credential;
  std::optional<CurrentCredential> current;  // the live credential; unset when none is live
  std::vector<x509::Certificate> ca;         // the roots of the live ca.pem (empty: none)
  std::optional<std::string> state;          // what the issuer kept (IssueOutcome::state)
  std::shared_ptr<const CredentialOptions> options = nullptr;  // as in IssueRequest
};

struct UpkeepOutcome {
  // The roots the live ca.pem is to hold from now on; unset: unchanged. A change is written
  // into the live version atomically and runs the on_rotate actions.
  std::optional<std::vector<x509::Certificate>> ca = std::nullopt;
  // What to keep from now on (replaces IssueOutcome::state); an issuer whose upkeep changes
  // nothing of it hands back UpkeepRequest::state. An error keeps what was kept.
  std::optional<std::string> state = std::nullopt;
  // When to call again; unset: not before an issuance names a time (IssueOutcome::upkeep_after).
  std::optional<Millis> next = std::nullopt;
  // What was done, for the event; empty when nothing changed (logged at debug level then).
  std::string summary = {};
};

// Errors from `issue` carry ErrorKind::retryable for transient trouble (network, 5xx, busy) and
// What an issuer says, on its own, about when to renew a live certificate (ACME ARI, RFC 9773).
struct RenewalInfoRequest {
  std::string credential;
  std::vector<x509::Certificate> chain;  // the live chain, leaf first
  std::optional<std::string> state;      // what the issuer kept for the credential
};

struct RenewalInfo {
  std::optional<RenewalWindow> window;  // unset: the issuer has no advice (renew by the policy)
  std::optional<std::string> explanation_url;  // shown in `status`
  // When to ask again (the answer's Retry-After), already clamped by the issuer.
  std::optional<Millis> retry_after;
};

enum class RevocationReason {
  unspecified = 0,
  key_compromise = 1,
  affiliation_changed = 3,
  superseded = 4,
  cessation_of_operation = 5,
};

struct RevokeRequest {
  std::string credential;
  std::vector<x509::Certificate> chain;  // the certificate to revoke first
  RevocationReason reason = RevocationReason::unspecified;
  std::optional<std::string> state;
};

// A kept version a rollback would make live again, as the issuer is asked about it.
struct RestoreRequest {
  std::string credential;
  std::string serial;                // the version's leaf, as x509::CertInfo keeps it
  std::optional<std::string> state;  // what the issuer kept for the credential
};

// ErrorKind::permanent for answers that will not change by themselves (rejected, misconfigured).
class Issuer {
public:
  virtual ~Issuer() = default;
  virtual std::string_view type() const = 0;
  // Whether this issuer generates keys itself (then `csr_pem` is not sent).
  virtual bool generates_keys() const { return false; }
  virtual Result<IssuedCredential> issue(const IssueRequest& request) = 0;
  // What the engine calls. Issuers that can answer "not yet" or keep state override it; the
  // default is issue(): a certificate, or an error, and no state kept.
  virtual Result<IssueOutcome> issue_outcome(const IssueRequest& request) {
    auto issued = issue(request);
    if (!issued) return tl::unexpected<Error>(std::move(issued.error()));
    return IssueOutcome{std::move(*issued)};
  }
  // The key a new CSR is to be made for when the issuer's server asks for one of its own (EST
  // /csrattrs, RFC 7030 §4.5); nullopt: the credential's `key:`. The engine asks before it makes
  // a key for a CSR (never when a kept pending request goes again, never when the issuer makes
  // the key), makes the key asked for instead of the configured one, says why, and validates
  // the certificate against it. `request` is the rotation's, without csr_pem and csr_key.
  // Advisory: an issuer that cannot tell answers nullopt rather than fail.
  struct RequestedKey {
    x509::KeySpec spec;
    std::string who;  // who asks, for the log: "the EST server (/csrattrs)"
  };
  virtual Result<std::optional<RequestedKey>> requested_key(const IssueRequest& /*request*/) {
    return std::optional<RequestedKey>{};
  }
  // Whether renewal_info() means anything: the engine then asks after each issuance, at start
  // and again after RenewalInfo::retry_after, and hands the window to lib/schedule.
  virtual bool reports_renewal_info() const { return false; }
  virtual Result<RenewalInfo> renewal_info(const RenewalInfoRequest& /*request*/) {
    return RenewalInfo{};
  }
  // Housekeeping on a timer of its own (see UpkeepRequest). Errors are retried with the
  // credential's backoff and never touch its certificate or its renewal.
  virtual UpkeepMode upkeep_mode() const { return UpkeepMode::none; }
  virtual Result<UpkeepOutcome> upkeep(const UpkeepRequest& request) {
    return UpkeepOutcome{std::nullopt, request.state};
  }
  // HTTPS requests this issuer made since it was built, for issuers that count them (ACME:
  // bench/acme compares them with the protocol minimum per issuance); nullopt for the others.
  // Thread-safe: the engine reads it on its loop thread while workers issue.
  virtual std::optional<std::uint64_t> requests_made() const { return std::nullopt; }
  // Whether a kept version may be made live again (`rollback`): an error saying why not when
  // the issuer knows its certificate is no longer accepted (its SAP binding was deleted).
  // Decided from the kept state alone, on the loop thread: no network. Default: it may.
  virtual Result<void> can_restore(const RestoreRequest& /*request*/) const { return {}; }
  // Whether `certrotd revoke` can go through this issuer.
  virtual bool can_revoke() const { return false; }
  virtual Result<void> revoke(const RevokeRequest& request) {
    return fail(Reason::config, "issuer type '" + std::string(type()) + "' cannot revoke",
                request.credential);
  }
};

}  // namespace certrotd::issuer
