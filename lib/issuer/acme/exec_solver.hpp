// A challenge answered by a program of the operator's (a DNS provider's CLI, a script that
// writes to a web root on another host):
//
//   challenge:
//     exec: { command: ["/usr/local/bin/acme-hook", "--zone", "example.com"], timeout: 120s,
//             type: dns-01 }
//
// present() runs the command with "present" appended as its last argument, cleanup() with
// "cleanup" (so a hook written as `hook PHASE` sees the phase as its first argument), both with
// the environment below and nothing else inherited. The hook must return only once the answer is
// visible to the CA (for dns-01: once its DNS provider serves the record). It runs through
// lib/notify's process runner: no shell, its own process group killed whole at the timeout,
// output captured and bounded.
#pragma once

#include <string>
#include <vector>

#include "issuer/acme/challenge.hpp"
#include "issuer/acme/challenges.hpp"
#include "yaml/reader.hpp"

namespace certrotd::issuer::acme {

struct ExecSolverOptions {
  std::vector<std::string> command;  // argv; command[0] an absolute path or found in PATH
  Millis timeout = std::chrono::seconds(60);
  std::string type = "dns-01";  // the challenge type it answers: dns-01 or http-01
};

// The hook's environment for `phase` ("present" or "cleanup"): PATH, CERTROT_CREDENTIAL,
// CERTROT_ACME_PHASE, CERTROT_ACME_CHALLENGE (the type), CERTROT_ACME_DOMAIN (the identifier,
// without a wildcard's "*."), CERTROT_ACME_WILDCARD ("1" or "0"), CERTROT_ACME_TOKEN,
// CERTROT_ACME_KEY_AUTHORIZATION, CERTROT_ACME_TXT (the dns-01 record's value) and
// CERTROT_ACME_RECORD ("_acme-challenge.<domain>.").
std::vector<std::string> exec_solver_environment(const ChallengeTask& task, std::string_view type,
                                                 std::string_view phase);

class ExecSolver final : public ChallengeSolver {
public:
  ExecSolver(ExecSolverOptions options, const Clock& clock)
      : m_options(std::move(options)), m_clock(clock) {}

  std::string_view type() const override { return m_options.type; }
  // dns-01: any name, no IP address; http-01: no wildcard.
  bool can_solve(const ChallengeTask& task) const override;
  // Errors (retryable): the hook not starting, exiting non-zero, killed at the timeout; the
  // message names the hook, the phase and the identifier and carries the start of its output,
  // with the key authorization blanked out.
  Result<void> present(const ChallengeTask& task) override;
  Result<void> cleanup(const ChallengeTask& task) override;

private:
  Result<void> run(const ChallengeTask& task, std::string_view phase) const;

  ExecSolverOptions m_options;
  const Clock& m_clock;
};

// Reads `exec: {...}` (the Field under `challenge:`); problems go to the reader. nullopt when
// something was wrong.
std::optional<ExecSolverOptions> read_exec_solver_options(const yaml::Field& field,
                                                          const yaml::Reader& reader);
// The same, as the factory the acme issuer's challenge table keeps; empty when something was
// wrong.
SolverFactory read_exec_solver(const yaml::Field& field, const yaml::Reader& reader);

}  // namespace certrotd::issuer::acme
