// `type: cfssl` in the configuration: its keys, its factory and its roots.
#include "issuer/cfssl/cfssl.hpp"
#include "issuer/network/network_options.hpp"

namespace certrotd::issuer {

namespace {

using yaml::Field;
using yaml::Reader;

constexpr std::string_view k_cfssl_example =
    "corp-cfssl: { type: cfssl, url: https://ca.internal:8888, ca_bundle: "
    "/etc/certrotd/ca-bundle.pem, auth: { mtls: self } }";

std::vector<std::string> cfssl_keys() {
  std::vector<std::string> keys = network_keys();
  for (const char* k : {"profile", "label", "auth_key_file"}) keys.emplace_back(k);
  return keys;
}

std::shared_ptr<const IssuerOptions> read_cfssl(const Field& entry, const Reader& reader) {
  const auto fields = issuer_fields(entry, reader, cfssl_keys(), k_cfssl_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<CfsslIssuerOptions>();
  bool ok = read_network_options(*fields, entry, reader, "cfssl", BootstrapToken::refused,
                                 *options);
  const auto string = [&](const Field& f) { return reader.string(f); };
  yaml::read_if_present(*fields, "profile", string, options->profile, ok);
  yaml::read_if_present(*fields, "label", string, options->label, ok);
  yaml::read_if_present(
      *fields, "auth_key_file", [&](const Field& f) { return reader.path(f); },
      options->auth_key_file, ok);
  if (!ok) return nullptr;
  return options;
}

Result<std::shared_ptr<Issuer>> create_cfssl(const IssuerOptions& options,
                                             const IssuerContext& context) {
  const auto& cfssl = options_as<CfsslIssuerOptions>(options);
  auto deps = network_deps(cfssl, context);
  if (!deps) return fail(deps.error());
  auto issuer = CfsslIssuer::create(cfssl, std::move(*deps));
  if (!issuer) return fail(issuer.error());
  return std::shared_ptr<Issuer>(std::move(*issuer));
}

}  // namespace

IssuerType cfssl_issuer_type() {
  return IssuerType{"cfssl", true, read_cfssl, create_cfssl, network_anchors, {}};
}

}  // namespace certrotd::issuer
