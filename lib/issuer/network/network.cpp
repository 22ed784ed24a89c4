#include "issuer/network/network.hpp"

#include "util/files.hpp"

namespace certrotd::issuer {

Result<std::vector<x509::Certificate>> load_anchors(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return fail(text.error());
  auto certs = x509::parse_certificates(*text);
  if (!certs) return fail(certs.error().wrap("cannot parse " + file.string()));
  return certs;
}

NetworkIssuer::NetworkIssuer(NetworkIssuerOptions options, NetworkDeps deps,
                             std::string ca_bundle_pem)
    : m_options(std::move(options)),
      m_deps(std::move(deps)),
      m_ca_bundle_pem(std::move(ca_bundle_pem)) {}

http::Request NetworkIssuer::base_request(std::string url) const {
  http::Request request;
  request.url = std::move(url);
  request.tls.ca_bundle_pem = m_ca_bundle_pem;
  request.connect_timeout = m_options.connect_timeout;
  request.total_timeout = m_options.timeout;
  return request;
}

Error NetworkIssuer::transport_error(const http::Failure& failure, const std::string& what) {
  return failure.to_error().wrap(what);
}

namespace {

// `what` says whose certificate it is ("the certificate of credential 'web'"); subject, issuer
// and serial let an operator find it when a server refuses it.
Result<http::ClientIdentity> to_identity(const std::vector<x509::Certificate>& chain,
                                         const x509::PrivateKey& key, const std::string& what) {
  auto key_pem = key.to_pkcs8_pem();
  if (!key_pem) return fail(key_pem.error());
  const x509::CertInfo& leaf = chain.front().info();
  return http::ClientIdentity{x509::x5t_s256(chain.front()), x509::to_pem(chain),
                              std::move(*key_pem),
                              what + " (subject " + leaf.subject + ", issuer " + leaf.issuer +
                                  ", serial " + leaf.serial + ")"};
}

}  // namespace

Result<std::optional<http::ClientIdentity>> NetworkIssuer::identity_from(
    const MtlsAuth& auth, const IssueRequest& request, bool& unusable, std::string_view role) {
  using Source = MtlsAuth::Source;
  unusable = false;
  const SystemTime now = m_deps.clock->wall_now();
  const auto usable = [&](const CurrentCredential& c) {
    return !c.chain.empty() && c.chain.front().info().not_after > now &&
           c.chain.front().info().not_before <= now + std::chrono::minutes(5);
  };
  switch (auth.source) {
    case Source::none: return std::optional<http::ClientIdentity>{};
    case Source::self:
      if (!request.current || !usable(*request.current)) {
        unusable = true;
        return std::optional<http::ClientIdentity>{};
      }
      return to_identity(request.current->chain, request.current->key,
                         "the certificate of credential '" + request.credential + "'");
    case Source::credential: {
      if (!m_deps.read_credential) return fail("no way to read credential " + auth.credential);
      auto other = m_deps.read_credential(auth.credential);
      if (!other) return fail(other.error().wrap("credential '" + auth.credential + "'"));
      if (!*other || !usable(**other)) {
        unusable = true;
        return std::optional<http::ClientIdentity>{};
      }
      return to_identity((*other)->chain, (*other)->key,
                         "the certificate of credential '" + auth.credential + "'");
    }
    case Source::files: {
      auto cert_text = read_file(auth.cert);
      if (!cert_text) return fail(cert_text.error());
      auto key_text = read_file(auth.key);
      if (!key_text) return fail(key_text.error());
      auto chain = x509::parse_certificates(*cert_text);
      if (!chain) return fail(chain.error().wrap("client certificate " + auth.cert.string()));
      auto key = x509::parse_private_key(*key_text);
      if (!key) return fail(key.error().wrap("client key " + auth.key.string()));
      if (!x509::key_matches(*key, chain->front())) {
        return fail("the client key does not match the client certificate", auth.key.string());
      }
      if (chain->front().info().not_after <= now) {
        unusable = true;
        return std::optional<http::ClientIdentity>{};
      }
      return to_identity(*chain, *key,
                         "the " + std::string(role) + " certificate " + auth.cert.string());
    }
  }
  return std::optional<http::ClientIdentity>{};
}

void NetworkIssuer::note_identity(const std::string& credential, const std::string& id) {
  std::string previous;
  {
    std::lock_guard lock(m_mutex);
    auto& last = m_last_identity[credential];
    if (last == id) return;
    previous = std::exchange(last, id);
  }
  if (previous.empty()) return;
  // The certificate changed (a rotation): nothing made with the old one may be reused.
  m_deps.transport->forget_identity(previous);
  if (m_deps.tokens) m_deps.tokens->forget_identity(previous);
}

Result<NetworkIssuer::Identity> NetworkIssuer::identity_for(const IssueRequest& request,
                                                            bool required) {
  bool unusable = false;
  auto primary = identity_from(m_options.mtls, request, unusable, "client");
  if (!primary) return fail(primary.error());
  if (*primary) {
    note_identity(request.credential, (*primary)->id);
    return Identity{std::move(*primary), false};
  }
  if (!unusable && !required) return Identity{};
  const std::string why =
      m_options.mtls.source == MtlsAuth::Source::self
          ? "the credential has no valid certificate to authenticate with (missing or expired)"
          : "the configured client certificate is missing or expired";
  if (!m_options.bootstrap) {
    return fail(why +
                " and no bootstrap auth is configured; place a valid certificate in the "
                "output folder or add bootstrap: to the issuer");
  }
  bool bootstrap_unusable = false;
  auto boot = identity_from(m_options.bootstrap->mtls, request, bootstrap_unusable, "bootstrap");
  if (!boot) return fail(boot.error().wrap("bootstrap"));
  if (bootstrap_unusable) return fail(why + ", and the bootstrap certificate is expired too");
  if (m_deps.warn) {
    m_deps.warn(request.credential,
                why + ": authenticating with the BOOTSTRAP " +
                    (*boot ? std::string("certificate") : std::string("client secret")) +
                    " instead");
  }
  if (*boot) note_identity(request.credential, (*boot)->id);
  return Identity{std::move(*boot), true};
}

}  // namespace certrotd::issuer
