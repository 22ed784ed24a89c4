#include "engine/issuers.hpp"

#include "engine/rotation.hpp"

namespace certrotd::engine {

namespace {

// What building the issuer `name` may use: the process's network parts, the credentials that
// `mtls: credential:NAME` may name, and the event sink for loud notices.
issuer::IssuerContext context_for(const std::string& name, const config::Config& config,
                                  const Clock& clock, Random& random,
                                  const NetworkContext& network) {
  issuer::IssuerContext context;
  context.name = name;
  context.clock = &clock;
  context.random = &random;
  context.transport = network.transport;
  context.tokens = network.tokens;
  context.credentials_directory = network.credentials_directory;
  context.state_directory = config.state_dir;
  context.acme_socket = network.acme_socket;
  context.credential =
      [&config](const std::string& credential) -> std::optional<issuer::CredentialFiles> {
    const config::CredentialConfig* other = config.find_credential(credential);
    if (other == nullptr) return std::nullopt;
    return issuer::CredentialFiles(
        [other_config = *other]() -> Result<std::optional<issuer::CurrentCredential>> {
          auto live = read_live(other_config);
          if (!live) return fail(live.error());
          if (!*live) return std::optional<issuer::CurrentCredential>{};
          return std::optional<issuer::CurrentCredential>(
              issuer::CurrentCredential{std::move((*live)->chain), std::move((*live)->key)});
        });
  };
  if (EventSink* events = network.events) {
    context.warn = [events, name](const std::string& credential, const std::string& message) {
      events->emit(Event{
          EventKind::renewing, Severity::warning, credential, name, {}, std::nullopt, message});
    };
  }
  return context;
}

}  // namespace

Result<std::vector<x509::Certificate>> issuer_anchors(const config::IssuerConfig& issuer_config) {
  return issuer_config.kind->anchors(*issuer_config.options);
}

Result<std::vector<x509::Certificate>> import_anchors(const config::IssuerConfig& issuer_config) {
  if (!issuer_config.kind->import_anchors) return issuer_anchors(issuer_config);
  return issuer_config.kind->import_anchors(*issuer_config.options);
}

Result<IssuerMap> build_issuers(const config::Config& config, const Clock& clock, Random& random,
                                const NetworkContext& network) {
  IssuerMap issuers;
  // What IssuerContext::issuer finds: filled here, read-only once built. Weak, so that an issuer
  // holding the lookup keeps neither the others nor itself alive after a reload.
  auto lookup = std::make_shared<std::map<std::string, std::weak_ptr<issuer::Issuer>>>();
  for (const auto& [name, issuer_config] : config.issuers) {
    issuer::IssuerContext context = context_for(name, config, clock, random, network);
    context.issuer = [lookup](const std::string& other) -> std::shared_ptr<issuer::Issuer> {
      const auto it = lookup->find(other);
      return it == lookup->end() ? nullptr : it->second.lock();
    };
    auto built = issuer_config.kind->create(*issuer_config.options, context);
    if (!built) {
      return fail(built.error().wrap(issuer_config.mark.to_string() + ": issuer '" + name + "'"));
    }
    (*lookup)[name] = *built;
    issuers.emplace(name, std::move(*built));
  }
  return issuers;
}

}  // namespace certrotd::engine
