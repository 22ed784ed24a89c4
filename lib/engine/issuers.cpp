#include "engine/issuers.hpp"

#include <variant>

#include "issuer/local.hpp"

namespace certrotd::engine {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

}  // namespace

Result<IssuerMap> build_issuers(const config::Config& config, const Clock& clock, Random& random) {
  IssuerMap issuers;
  for (const auto& [name, issuer_config] : config.issuers) {
    auto built = std::visit(
        Overloaded{[&](const issuer::LocalIssuerOptions& options)
                       -> Result<std::shared_ptr<issuer::Issuer>> {
          auto local = issuer::LocalIssuer::create(options, clock, random);
          if (!local) return fail(local.error());
          return std::shared_ptr<issuer::Issuer>(std::move(*local));
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
