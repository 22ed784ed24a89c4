// `type: local` — an embedded CA that signs CSRs with a CA certificate and key on disk.
// Used for development, demos, tests and small private PKIs.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "issuer/issuer.hpp"
#include "issuer/registry.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"

namespace certrotd::issuer {

struct LocalIssuerOptions : IssuerOptions {
  std::filesystem::path ca_cert;  // the signing CA certificate (root or intermediate)
  std::filesystem::path ca_key;   // its key; may be encrypted PKCS#8
  std::optional<std::filesystem::path> ca_key_passphrase_file;
  // Extra certificates between the signing CA and the root, appended to issued chains, and the
  // trust anchors reported to credentials (ca.pem). When ca_cert is self-signed it is the anchor;
  // otherwise `roots` must name the root(s).
  std::optional<std::filesystem::path> chain;
  std::optional<std::filesystem::path> roots;
  Millis lifetime = std::chrono::hours(24);
  // notBefore = now - backdate, for clients whose clocks run a little behind; capped at 1/10 of
  // the lifetime so short-lived certificates keep most of their life.
  Millis backdate = std::chrono::minutes(1);

  std::optional<Millis> max_lifetime() const override { return lifetime; }
};

class LocalIssuer final : public Issuer {
public:
  // Loads and checks the CA material: the key matches the CA certificate, which is a CA
  // (basicConstraints CA:TRUE, keyCertSign).
  static Result<std::unique_ptr<LocalIssuer>> create(const LocalIssuerOptions& options,
                                                     const Clock& clock, Random& random);

  std::string_view type() const override { return "local"; }
  bool generates_keys() const override { return false; }

  // Signs the CSR (its self-signature is verified) with the requested names and usages.
  // Lifetime: the request's wish, capped at the configured lifetime.
  Result<IssuedCredential> issue(const IssueRequest& request) override;

private:
  LocalIssuer(LocalIssuerOptions options, const Clock& clock, Random& random);
  struct Material;
  LocalIssuerOptions m_options;
  const Clock& m_clock;
  Random& m_random;
  std::shared_ptr<const Material> m_material;
};

// The registry entry (local_type.cpp).
IssuerType local_issuer_type();

}  // namespace certrotd::issuer
