// `type: sap-service-manager`: SAP BTP x509 credentials as Service Manager bindings
// (protocols.md §2). Each rotation creates a new binding of the credential's service instance
// with x509 parameters, waits for the asynchronous operation, and hands back the binding's
// certificate and key. Service Manager is called with a Bearer token from XSUAA's
// client_credentials grant: over mTLS with the Service Manager binding's own certificate (a
// certrotd credential too, `auth: { mtls: credential:sm }`), or, while that one does not exist
// yet, with the bootstrap client secret.
//
// What is kept between calls (IssueOutcome::state, JSON, persisted by the engine): the binding
// being created (id, name, operation URL), so a restart goes on polling instead of creating a
// second one, and the bindings this credential was given (id, serial, notAfter), so the ones
// that never became live (a crash between create and install) are deleted at start and before
// the next create, and the replaced ones once their time is up (Issuer::upkeep); and the last
// bindings it deleted (id, name, serial), so that a rollback to their certificates is refused
// (can_restore).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/token_client.hpp"
#include "issuer/network/network.hpp"
#include "issuer/registry.hpp"
#include "nlohmann/json_fwd.hpp"

namespace certrotd::issuer {

struct SapIssuerOptions : NetworkIssuerOptions {
  // url (NetworkIssuerOptions) is `sm_url`, the Service Manager base URL without /v1.
  auth::TokenSettings token;  // <certurl>/oauth/token with tls_client_auth
  std::string host;           // in binding names and labels; empty: the machine's host name

  bool generates_keys() const override { return true; }
};

// How a credential's parameters are wrapped: XSUAA itself takes them as they are, services that
// delegate to XSUAA (Event Mesh, Audit Log, ...) under "xsuaa" (protocols.md §2.5).
enum class SapWrap { none, xsuaa };

// `self_managed:` (protocols.md §2.5): the certificate comes from another issuer of the
// configuration, for a key made here; each binding is created with its certificate only, and
// `certificate-pinning: true`. (With pinning off SAP keeps one binding per subject and issuer
// DN and accepts renewed certificates without a new binding: then that other issuer alone
// rotates the credential, no Service Manager call needed.)
struct SapSelfManaged {
  std::string issuer;  // its name under `issuers:`
};

// `sap:` of one credential.
struct SapCredentialOptions final : CredentialOptions {
  std::string service_instance_id;    // or looked up once by name
  std::string service_instance_name;  // exactly one of the two is set
  SapWrap wrap = SapWrap::none;
  int key_length = 2048;  // x509.key-length (bits)
  int validity = 7;       // x509.validity
  std::string validity_type = "DAYS";
  std::string name_prefix = "certrotd";
  // How long a replaced binding stays; unset: until the replaced certificate expires, at most
  // k_default_retire after the swap.
  std::optional<Millis> retire_after;
  // service_key: the binding's whole credentials object, key included, as service-key.json
  // (mode of key.pem) for apps that read service keys; binding.json is written always.
  bool service_key = false;
  // Unset: the service makes key and certificate (the x509 parameters above).
  std::optional<SapSelfManaged> self_managed;
  yaml::Mark self_managed_issuer_mark;  // where self_managed names its issuer

  // Service-managed: RSA of key-length bits. Self-managed: the credential's own `key:`.
  std::optional<x509::KeySpec> key() const override;
  // Self-managed certificates carry the names the credential asks the other issuer for.
  bool needs_names() const override { return self_managed.has_value(); }
  std::vector<IssuerReference> issuers_named() const override;
  // Upkeep keeps only the live binding and the ones it replaced: the staged version's newer
  // binding would be deleted before it went live.
  std::optional<Refusal> refuses_staged() const override;
};

inline constexpr Millis k_default_retire = std::chrono::hours(1);
// The longest name_prefix: with the host name and the time a binding name stays near 150
// characters, so the state (4 KiB) holds a pending binding and a few given ones whatever else.
inline constexpr std::size_t k_max_name_prefix = 64;

class SapServiceManagerIssuer final : public NetworkIssuer {
public:
  // `issuers` finds the issuer of a self-managed credential (IssuerContext::issuer).
  static Result<std::unique_ptr<SapServiceManagerIssuer>> create(
      SapIssuerOptions options, NetworkDeps deps,
      std::function<std::shared_ptr<Issuer>(const std::string&)> issuers = {});
  std::string_view type() const override { return "sap-service-manager"; }
  bool generates_keys() const override { return true; }
  Result<IssuedCredential> issue(const IssueRequest& request) override;
  Result<IssueOutcome> issue_outcome(const IssueRequest& request) override;
  // Deletes the replaced bindings whose retire_after is over and the orphans of a crash
  // (created, never installed) on a timer of their own and at every start, never the live
  // version's binding; the deleted ones are kept in the state ("retired": id, name, serial, and
  // `at`, when it was deleted).
  UpkeepMode upkeep_mode() const override { return UpkeepMode::also_at_start; }
  Result<UpkeepOutcome> upkeep(const UpkeepRequest& request) override;
  // Refused for a version whose binding this credential's state records as retired.
  Result<void> can_restore(const RestoreRequest& request) const override;

private:
  SapServiceManagerIssuer(SapIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem,
                          std::function<std::shared_ptr<Issuer>(const std::string&)> issuers);

  struct Call;   // one authenticated Service Manager session
  struct Round;  // one issue_outcome or upkeep: the call, the credential's settings, its state
  Result<Call> open(const IssueRequest& request);
  // One Service Manager request: any HTTP status is a Response.
  Result<http::Response> send(Call& call, http::Method method, const std::string& path,
                              std::string body);
  // A Service Manager refusal as an operator reads it (401, 403, 409, 422, 429, 5xx, ...).
  Error refused(const http::Response& response, Call& call, const std::string& what);
  Result<std::string> instance_id(Call& call, const SapCredentialOptions& sap);
  // Deletes the labelled bindings of the credential that are neither live nor in their grace
  // period (orphans of a crash, replaced ones whose time is up).
  Result<void> clean_up(Round& round);
  // The ids of the bindings labelled for this host and credential, every page.
  Result<std::vector<std::string>> labelled(Round& round);
  // Moves the binding whose certificate is the live one from `doomed` to `keep` when the state
  // does not know it.
  Result<void> spare_live(Round& round, std::set<std::string>& keep,
                          std::vector<std::string>& doomed);
  Result<IssueOutcome> create_binding(Round& round);
  // Self-managed: key here, certificate from the other issuer, binding with the certificate.
  Result<IssueOutcome> create_self_managed(Round& round, nlohmann::json body);
  // The certificate of the other issuer for a key made here (IssuedCredential::key set).
  Result<IssuedCredential> self_managed_certificate(const Round& round);
  // The `credentials` of the binding just created for a self-managed certificate.
  Result<nlohmann::json> self_managed_credentials(Round& round, const std::string& id,
                                                  const std::string& name);
  Result<IssueOutcome> poll(Round& round);
  Result<IssueOutcome> read_binding(Round& round, const std::string& id, const std::string& name);

  SapIssuerOptions m_sap;
  std::mutex m_instances_mutex;
  std::map<std::string, std::string> m_instance_ids;  // service_instance_name -> id
  std::function<std::shared_ptr<Issuer>(const std::string&)> m_issuers;
};

// What a version of a SAP credential carries besides the PEM files.
inline constexpr std::string_view k_binding_file = "binding.json";
inline constexpr std::string_view k_service_key_file = "service-key.json";

// The binding's credentials without what is secret (binding.json, world-readable like cert.pem):
// at any depth, members whose name (any case) ends with `key` (but `verificationkey`, a public
// key) or `token`, or holds `secret` or `password`, go, and `certificate` too (cert.pem holds
// it); so does any string holding "PRIVATE KEY", and URLs lose their `user:password@`.
// Everything else stays as Service Manager sent it.
nlohmann::json public_binding_fields(const nlohmann::json& credentials);

// The binding name for a rotation at `now`: "<prefix>-<host>-<YYYYMMDDTHHMMSSZ>", the host
// lower-cased and reduced to letters, digits and '-'.
std::string sap_binding_name(std::string_view prefix, std::string_view host, SystemTime now);

// The issuer section and the `sap:` of credentials (sap_type.cpp).
IssuerType sap_service_manager_issuer_type();

}  // namespace certrotd::issuer
