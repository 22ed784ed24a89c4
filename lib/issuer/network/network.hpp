// What issuers that answer over HTTPS share (`http` and `cfssl` today, in their own folders): the
// TLS settings, the choice of client identity and bootstrap. Their common configuration keys are
// read by network_options.hpp.
//
// Who we are to the issuer (the TLS client certificate) is chosen per request:
//   mtls: self              the credential being renewed — it proves itself with the certificate
//                           it is about to replace;
//   mtls: credential:NAME   another managed credential (read from its live files at use time);
//   mtls: { cert, key }     files on disk (read at use time);
//   (no auth)               no client certificate.
// When that credential is missing or already expired it cannot prove anything; then, and only
// then, the `bootstrap` auth is used (a long-lived bootstrap cert/key, or a client secret for the
// token endpoint), and a warning says so every time.
//
// After the client certificate changes, pooled connections, TLS sessions and cached tokens of the
// old one are dropped (protocols.md §0, RFC 8705 §6.3).
//
// Trust: issued chains are verified by the engine against `trust_anchors` (default: ca_bundle);
// what a network issuer says about its own roots is never trusted.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/token_client.hpp"
#include "auth/token_source.hpp"
#include "http/transport.hpp"
#include "issuer/issuer.hpp"
#include "issuer/registry.hpp"

namespace certrotd::issuer {

struct MtlsAuth {
  enum class Source { none, self, credential, files };
  Source source = Source::none;
  std::string credential;      // Source::credential
  std::filesystem::path cert;  // Source::files: chain, leaf first
  std::filesystem::path key;   // Source::files: unencrypted key
};

struct BootstrapAuth {
  MtlsAuth mtls;                             // Source::files or none
  std::optional<auth::TokenSettings> token;  // token settings to use instead (a client secret)
};

struct NetworkIssuerOptions : IssuerOptions {
  std::string url;
  std::filesystem::path ca_bundle;                     // trusts the issuer's TLS server cert
  std::optional<std::filesystem::path> trust_anchors;  // roots issued chains must verify to
  MtlsAuth mtls;
  std::optional<BootstrapAuth> bootstrap;
  Millis connect_timeout = std::chrono::seconds(10);
  Millis timeout = std::chrono::seconds(60);
};

// What network issuers are given by whoever builds them.
struct NetworkDeps {
  std::shared_ptr<http::Transport> transport;
  std::shared_ptr<auth::TokenSource> tokens;
  const Clock* clock = nullptr;
  // Reads another managed credential's live files; nullopt when it has none yet.
  std::function<Result<std::optional<CurrentCredential>>(const std::string& name)> read_credential;
  // Loud notices (bootstrap in use); never secrets.
  std::function<void(const std::string& credential, const std::string& message)> warn;
};

// Loads the PEM roots of a trust_anchors / ca_bundle file.
Result<std::vector<x509::Certificate>> load_anchors(const std::filesystem::path& file);

// Shared by the network issuers: TLS material, identity choice, identity change tracking.
class NetworkIssuer : public Issuer {
public:
  const NetworkIssuerOptions& network_options() const { return m_options; }

protected:
  NetworkIssuer(NetworkIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem);

  struct Identity {
    std::optional<http::ClientIdentity> client;
    bool bootstrap = false;
  };
  // The client identity for this request (see the header comment). `required`: fail when there
  // is none rather than go without a client certificate.
  Result<Identity> identity_for(const IssueRequest& request, bool required);
  http::Request base_request(std::string url) const;
  // Wraps a transport failure and records it as the reason.
  static Error transport_error(const http::Failure& failure, const std::string& what);

  NetworkIssuerOptions m_options;
  NetworkDeps m_deps;
  std::string m_ca_bundle_pem;

private:
  // `role` names a certificate from files in messages: "client" or "bootstrap".
  Result<std::optional<http::ClientIdentity>> identity_from(const MtlsAuth& auth,
                                                            const IssueRequest& request,
                                                            bool& unusable, std::string_view role);
  void note_identity(const std::string& credential, const std::string& id);
  std::mutex m_mutex;
  std::map<std::string, std::string> m_last_identity;  // credential -> identity id
};

}  // namespace certrotd::issuer
