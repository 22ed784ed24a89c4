// Turns the `issuers:` section into live Issuer objects.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/token_source.hpp"
#include "config/config.hpp"
#include "engine/events.hpp"
#include "http/transport.hpp"
#include "issuer/issuer.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace certrotd::engine {

using IssuerMap = std::map<std::string, std::shared_ptr<issuer::Issuer>>;

// What the network issuers share: one transport (connection pools) and one token cache for the
// whole process, kept across reloads.
struct NetworkContext {
  std::shared_ptr<http::Transport> transport;
  std::shared_ptr<auth::TokenSource> tokens;
  std::optional<std::filesystem::path> credentials_directory;
  EventSink* events = nullptr;  // for loud notices (bootstrap auth in use)
  int acme_socket = -1;         // the "acme" socket systemd passed (IssuerContext::acme_socket)
};

Result<IssuerMap> build_issuers(const config::Config& config, const Clock& clock, Random& random,
                                const NetworkContext& network);

// The roots an issuer's chains must verify to, from its registry entry: for a network issuer
// trust_anchors, or ca_bundle when that is not set. Empty for `local`, whose chains come with
// the roots of its own configuration.
Result<std::vector<x509::Certificate>> issuer_anchors(const config::IssuerConfig& issuer);

// The roots a chain imported by hand must verify to: the entry's import_anchors (the local CA's
// roots, or its own certificate when that is self-signed), else issuer_anchors().
Result<std::vector<x509::Certificate>> import_anchors(const config::IssuerConfig& issuer);

}  // namespace certrotd::engine
