#include "engine/issuers.hpp"

#include <variant>

#include "engine/rotation.hpp"
#include "issuer/local/local.hpp"
#include "issuer/network/network.hpp"

namespace certrotd::engine {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// Aggregate deduction makes this guide redundant in C++20, but clang (and so clang-tidy) before
// 17 does not implement it.
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Fills in what the network issuers need from the rest of the configuration: the credential
// named by `mtls: credential:NAME`, and secrets under $CREDENTIALS_DIRECTORY.
Result<issuer::NetworkDeps> network_deps(const config::Config& config,
                                         const issuer::NetworkIssuerOptions& options,
                                         const std::string& issuer_name, const Clock& clock,
                                         const NetworkContext& network) {
  issuer::NetworkDeps deps;
  deps.transport = network.transport;
  deps.tokens = network.tokens;
  deps.clock = &clock;
  if (!deps.transport) return fail("no HTTP transport available");
  if (options.mtls.source == issuer::MtlsAuth::Source::credential) {
    const config::CredentialConfig* other = config.find_credential(options.mtls.credential);
    if (other == nullptr) {
      return fail("auth.mtls names credential '" + options.mtls.credential +
                  "', which is not defined");
    }
    deps.read_credential =
        [other_config = *other](
            const std::string&) -> Result<std::optional<issuer::CurrentCredential>> {
      auto live = read_live(other_config);
      if (!live) return fail(live.error());
      if (!*live) return std::optional<issuer::CurrentCredential>{};
      return std::optional<issuer::CurrentCredential>(
          issuer::CurrentCredential{std::move((*live)->chain), std::move((*live)->key)});
    };
  }
  if (EventSink* events = network.events) {
    deps.warn = [events, issuer_name](const std::string& credential, const std::string& message) {
      events->emit(Event{EventKind::renewing,
                         Severity::warning,
                         credential,
                         issuer_name,
                         {},
                         std::nullopt,
                         message});
    };
  }
  return deps;
}

Result<void> resolve_secret(std::optional<auth::TokenSettings>& token,
                            const NetworkContext& network) {
  if (!token || token->client_secret_credential.empty()) return {};
  if (!network.credentials_directory) {
    return fail("token.client_secret_credential '" + token->client_secret_credential +
                "' needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=), which is not set");
  }
  token->client_secret_file = *network.credentials_directory / token->client_secret_credential;
  return {};
}

}  // namespace

Result<std::vector<x509::Certificate>> issuer_anchors(const config::IssuerConfig& issuer_config) {
  return std::visit(
      Overloaded{[](const issuer::LocalIssuerOptions&) -> Result<std::vector<x509::Certificate>> {
                   return std::vector<x509::Certificate>{};
                 },
                 [](const issuer::NetworkIssuerOptions& options)
                     -> Result<std::vector<x509::Certificate>> {
                   auto anchors = issuer::load_anchors(
                       options.trust_anchors.value_or(options.ca_bundle));
                   if (!anchors) return fail(anchors.error().wrap("trust_anchors"));
                   return anchors;
                 }},
      issuer_config.options);
}

Result<IssuerMap> build_issuers(const config::Config& config, const Clock& clock, Random& random,
                                const NetworkContext& network) {
  IssuerMap issuers;
  for (const auto& entry : config.issuers) {
    // Named references, not a structured binding: clang before 16 cannot capture bindings in
    // the lambdas below.
    const std::string& name = entry.first;
    const config::IssuerConfig& issuer_config = entry.second;
    auto built = std::visit(
        Overloaded{
            [&](const issuer::LocalIssuerOptions& options)
                -> Result<std::shared_ptr<issuer::Issuer>> {
              auto local = issuer::LocalIssuer::create(options, clock, random);
              if (!local) return fail(local.error());
              return std::shared_ptr<issuer::Issuer>(std::move(*local));
            },
            [&](issuer::HttpIssuerOptions options) -> Result<std::shared_ptr<issuer::Issuer>> {
              if (auto r = resolve_secret(options.token, network); !r) return fail(r.error());
              if (options.bootstrap) {
                if (auto r = resolve_secret(options.bootstrap->token, network); !r) {
                  return fail(r.error());
                }
              }
              auto deps = network_deps(config, options, name, clock, network);
              if (!deps) return fail(deps.error());
              auto http = issuer::HttpIssuer::create(std::move(options), std::move(*deps));
              if (!http) return fail(http.error());
              return std::shared_ptr<issuer::Issuer>(std::move(*http));
            },
            [&](const issuer::CfsslIssuerOptions& options)
                -> Result<std::shared_ptr<issuer::Issuer>> {
              auto deps = network_deps(config, options, name, clock, network);
              if (!deps) return fail(deps.error());
              auto cfssl = issuer::CfsslIssuer::create(options, std::move(*deps));
              if (!cfssl) return fail(cfssl.error());
              return std::shared_ptr<issuer::Issuer>(std::move(*cfssl));
            }},
        issuer_config.options);
    if (!built) {
      return fail(built.error().wrap(issuer_config.mark.to_string() + ": issuer '" + name + "'"));
    }
    issuers.emplace(name, std::move(*built));
  }
  return issuers;
}

}  // namespace certrotd::engine
