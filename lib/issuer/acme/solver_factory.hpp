// How a challenge solver's section of the configuration (`challenge: { dns-01: {...} }` under an
// acme issuer) becomes a solver: its reader checks the options at load and returns a factory,
// which the issuer calls when it is built.
#pragma once

#include <functional>
#include <memory>

#include "issuer/acme/challenge.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace certrotd::issuer::acme {

// What building a solver may use; all of it comes from the issuer's IssuerContext.
struct SolverContext {
  const Clock* clock = nullptr;
  Random* random = nullptr;
  // Waits between checks (dns-01 polling the nameserver); tests pass one that advances a clock.
  std::function<void(Millis)> sleep;
};

using SolverFactory =
    std::function<Result<std::shared_ptr<ChallengeSolver>>(const SolverContext& context)>;

}  // namespace certrotd::issuer::acme
