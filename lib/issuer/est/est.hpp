// `type: est`: Enrollment over Secure Transport (RFC 7030, updated by RFC 8951; protocols.md §3).
//
// Which operation a rotation uses:
//   /simplereenroll  the credential renews itself over mTLS with its live certificate (auth:
//                    { mtls: self }) and asks for the same subject CN and SANs (§4.2.2);
//   /simpleenroll    the first enrollment, or a renewal whose configured names differ from the
//                    live certificate's (the server would refuse them on re-enroll), with the
//                    bootstrap auth: a bootstrap certificate or HTTP Basic (§3.2.3);
//   /serverkeygen    either of the above when server_generated_key is set (§4.4).
// 202 Accepted is "not yet" (§4.2.3): the operation is kept as issuer state, so the same request
// goes to the same place after Retry-After, also after a restart. HTTP Basic is sent only as the
// answer to a 401 that asks for it, and only from a server whose certificate the transport
// verified against ca_bundle (the transport never talks to an unverified one).
// With link_tls_unique (§3.5) each CSR is signed again for the connection that carries it, with
// the connection's tls-unique value (base64) as challengePassword; that connection is TLS 1.2.
// Before a CSR the engine makes, /csrattrs (§4.5) names the key type the server wants
// (requested_key); what else it asks for and certrotd cannot add is said once per credential.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "issuer/est/est_csrattrs.hpp"
#include "issuer/network/network.hpp"
#include "issuer/registry.hpp"

namespace certrotd::issuer {

// bootstrap: { basic: { username, password_file } }
struct EstBasicAuth {
  std::string username;
  std::filesystem::path password_file;  // read at each use; never logged
};

struct EstIssuerOptions : NetworkIssuerOptions {
  std::optional<EstBasicAuth> basic;  // the bootstrap auth instead of a certificate
  bool server_generated_key = false;  // /serverkeygen
  // link_tls_unique: the CSR's challengePassword is base64 of the connection's tls-unique
  // (RFC 7030 §3.5, RFC 5929 §3.1), and the connection is TLS 1.2 only.
  bool link_tls_unique = false;
  // trust: { from_issuer: true }: ca.pem holds the trust anchors and the roots of /cacerts
  // that a trust anchor cross-signed or that bootstrap_fingerprints pins (RFC 7030 §4.1.3,
  // §3.6.1); fetched with each enrollment, and every `trust.refresh` besides when it is set.
  bool trust_from_issuer = false;
  std::optional<Millis> trust_refresh;
  std::vector<std::string> bootstrap_fingerprints;  // SHA-256, lower-case hex with ':'

  bool generates_keys() const override { return server_generated_key; }
  bool names_roots() const override { return trust_from_issuer; }
};

class EstIssuer final : public NetworkIssuer {
public:
  static Result<std::unique_ptr<EstIssuer>> create(EstIssuerOptions options, NetworkDeps deps);
  std::string_view type() const override { return "est"; }
  bool generates_keys() const override { return m_est.server_generated_key; }
  Result<IssuedCredential> issue(const IssueRequest& request) override;
  Result<IssueOutcome> issue_outcome(const IssueRequest& request) override;
  // With trust: { from_issuer: true, refresh: P }: /cacerts every P, ca.pem rewritten when the
  // roots it vouches for changed. A root of the live ca.pem that the server and trust_anchors
  // dropped stays while the live certificate chains to it, so dependents never lose the root
  // their own certificate needs during a CA rollover.
  UpkeepMode upkeep_mode() const override {
    return m_est.trust_from_issuer && m_est.trust_refresh ? UpkeepMode::when_due : UpkeepMode::none;
  }
  Result<UpkeepOutcome> upkeep(const UpkeepRequest& request) override;
  // /csrattrs (RFC 7030 §4.5), fetched before the engine makes a key for a CSR: the key type
  // and size it names, if any. The answer is kept for the enrollment that follows, which says
  // once per credential what of it certrotd cannot honour (est_attributes.cpp).
  Result<std::optional<RequestedKey>> requested_key(const IssueRequest& request) override;

private:
  EstIssuer(EstIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem);
  struct Plan;
  Result<Plan> plan(const IssueRequest& request);
  // With `linked`, the body is made by it for each connection (link_tls_unique).
  Result<http::Response> post(
      const Plan& plan, const std::string& body,
      std::function<Result<std::string>(std::string_view tls_unique)> linked = {});
  Result<IssueOutcome> read_answer(const Plan& plan, const http::Response& response,
                                   EVP_PKEY* csr_key);
  std::string url(std::string_view operation) const;
  // The anchors and the /cacerts roots they vouch for (trust_from_issuer); `fetched` is false
  // when /cacerts (or the anchors) could not be read and `roots` holds the anchors at most.
  struct IssuerRoots {
    std::vector<x509::Certificate> roots;
    bool fetched = false;
  };
  IssuerRoots issuer_roots(const std::string& credential);
  // The roots of `offered` that `anchors` vouch for or bootstrap_fingerprints pins, after the
  // anchors; warns about the others.
  std::vector<x509::Certificate> accepted_roots(const std::vector<x509::Certificate>& anchors,
                                                const std::vector<x509::Certificate>& offered,
                                                const std::string& credential);
  Result<std::vector<x509::Certificate>> fetch_cacerts();
  // The server's CSR attributes: none for 204, 404 or an empty body; nullopt, with a warning,
  // when they could not be fetched or read (they are advisory: the enrollment goes on).
  std::optional<est::CsrAttrs> fetch_csrattrs(const std::string& credential);
  // Before an enrollment with the engine's CSR: warns about what the server asked for and the
  // CSR lacks, unless the same words were said for the credential before. Uses what
  // requested_key fetched, or fetches /csrattrs itself when it did not (not for a request
  // that went before and is pending: it was said then).
  void note_csrattrs(const IssueRequest& request);

  EstIssuerOptions m_est;
  // Shared by every credential of the issuer, on several workers at once.
  std::mutex m_attrs_mutex;
  std::map<std::string, std::optional<est::CsrAttrs>> m_attrs;  // credential -> kept answer
  std::map<std::string, std::set<std::string>> m_said;          // credential -> warnings given
};

// The registry entry (est_type.cpp).
IssuerType est_issuer_type();

}  // namespace certrotd::issuer
