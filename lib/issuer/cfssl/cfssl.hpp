// `type: cfssl`: CloudFlare's CFSSL sign API over mTLS, or authsign with a shared HMAC key.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "issuer/network/network.hpp"
#include "issuer/registry.hpp"

namespace certrotd::issuer {

struct CfsslIssuerOptions : NetworkIssuerOptions {
  std::string profile;
  std::string label;
  std::optional<std::filesystem::path> auth_key_file;  // hex HMAC key: use /authsign
};

class CfsslIssuer final : public NetworkIssuer {
public:
  static Result<std::unique_ptr<CfsslIssuer>> create(CfsslIssuerOptions options, NetworkDeps deps);
  std::string_view type() const override { return "cfssl"; }
  Result<IssuedCredential> issue(const IssueRequest& request) override;

private:
  CfsslIssuer(CfsslIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem);
  CfsslIssuerOptions m_cfssl;
};

// The registry entry (cfssl_type.cpp).
IssuerType cfssl_issuer_type();

}  // namespace certrotd::issuer
