// Turns the `issuers:` section into live Issuer objects.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "issuer/issuer.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace certrotd::engine {

using IssuerMap = std::map<std::string, std::shared_ptr<issuer::Issuer>>;

Result<IssuerMap> build_issuers(const config::Config& config, const Clock& clock, Random& random);

}  // namespace certrotd::engine
