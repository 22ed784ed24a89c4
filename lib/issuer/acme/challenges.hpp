// The challenge types `challenge:` may name, one table entry each: the name, a reader of its
// YAML value and a factory for its ChallengeSolver. An issuer's `challenge:` is an ordered
// mapping, so the order written is the order of preference. http-01 is registered here; another
// type is one more line in challenge_types().
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "issuer/acme/challenge.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"
#include "yaml/reader.hpp"

namespace certrotd::issuer::acme {

// One challenge type's settings as its reader made them; each type derives its own.
class ChallengeOptions {
public:
  virtual ~ChallengeOptions() = default;

protected:
  ChallengeOptions() = default;
  ChallengeOptions(const ChallengeOptions&) = default;
  ChallengeOptions& operator=(const ChallengeOptions&) = default;
};

// What building a solver may use; all of it from the issuer's IssuerContext.
struct SolverContext {
  const Clock* clock = nullptr;
  Random* random = nullptr;
  // Waits between checks (dns-01 polling the nameserver); tests pass one that advances a clock.
  std::function<void(Millis)> sleep;
  std::string issuer;  // the issuer's name, for messages
  // A listening socket the service manager passed (socket activation, name "acme"); -1: none.
  // The solver duplicates it: the caller keeps its own.
  int activated_socket = -1;
};

// What a reader that checks its options at load hands back: the solver to build later
// (dns-01, exec).
using SolverFactory =
    std::function<Result<std::shared_ptr<ChallengeSolver>>(const SolverContext& context)>;

struct ChallengeType {
  std::string name;  // "http-01"
  // Reads the value of `challenge.<name>`; nullptr when wrong (every problem reported).
  std::function<std::shared_ptr<const ChallengeOptions>(const yaml::Field& field,
                                                        const yaml::Reader& reader)>
      read;
  std::function<Result<std::shared_ptr<ChallengeSolver>>(const ChallengeOptions& options,
                                                         const SolverContext& context)>
      create;
};

// The challenge types of this build, in no particular order (the configuration orders them).
std::vector<ChallengeType> challenge_types();

// One configured challenge: its type's entry and what its reader made.
struct ChallengeConfig {
  ChallengeType type;
  std::shared_ptr<const ChallengeOptions> options;
};

// Reads `challenge:` (an ordered mapping of type -> settings); nullopt when something was wrong.
std::optional<std::vector<ChallengeConfig>> read_challenges(const yaml::Field& field,
                                                            const yaml::Reader& reader);

}  // namespace certrotd::issuer::acme
