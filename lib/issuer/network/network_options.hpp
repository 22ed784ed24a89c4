// What the network issuers (http, cfssl, and the ACME, EST or Service Manager issuers to come)
// share besides NetworkIssuer: reading their common keys, the token settings, and turning an
// IssuerContext into NetworkDeps.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_client.hpp"
#include "issuer/network/network.hpp"
#include "issuer/registry.hpp"
#include "yaml/reader.hpp"

namespace certrotd::issuer {

// url, ca_bundle, trust_anchors, auth, bootstrap, connect_timeout, timeout.
std::vector<std::string> network_keys();

// Whether `bootstrap:` may name token settings (a client secret) besides an mTLS certificate.
enum class BootstrapToken { allowed, refused };

// Reads the network_keys() of the section `entry` (checked into `fields`) into `out`; `type`
// names the type in messages. false when something was wrong; every problem is reported.
// `url_key`: the name the type gives `url` (sap-service-manager's `sm_url`).
bool read_network_options(const yaml::Fields& fields, const yaml::Field& entry,
                          const yaml::Reader& reader, std::string_view type,
                          BootstrapToken bootstrap_token, NetworkIssuerOptions& out,
                          std::string_view url_key = "url");

// `token: { url, client_id, method, client_secret_file | client_secret_credential, scope,
// resource, extra_params }`; nullopt when something was wrong (reported).
std::optional<auth::TokenSettings> read_token(const yaml::Field& field, const yaml::Reader& reader);

// The transport, token client and clock of `context`, and the credential `mtls:
// credential:NAME` names; fails when that credential is not defined.
Result<NetworkDeps> network_deps(const NetworkIssuerOptions& options, const IssuerContext& context);

// A `client_secret_credential` becomes the file of that name under $CREDENTIALS_DIRECTORY.
Result<void> resolve_secret(std::optional<auth::TokenSettings>& token,
                            const IssuerContext& context);

// trust_anchors, or ca_bundle when that is not set: what a network issuer says about its own
// roots is never trusted.
Result<Anchors> network_anchors(const IssuerOptions& options);

}  // namespace certrotd::issuer
