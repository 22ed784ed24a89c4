// Carries out a credential's `on_rotate:` actions, in order, after a successful swap.
//
// An action that fails is retried with backoff (the credential's own backoff base and cap) up to
// `attempts` times; the outcome of each action is reported either way. Nothing here ever touches
// the credential's files: a failing dependent never undoes a swap, the new credential is valid.
// Runs on a rotation worker thread and may block there for up to the actions' timeouts plus the
// retry delays; the event loop never waits for it.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "notify/action.hpp"
#include "notify/bus.hpp"
#include "util/result.hpp"

namespace certrotd::notify {

// What the actions are told about the rotation (exec actions get it as environment variables).
struct RotationFacts {
  std::string credential;
  std::filesystem::path dir;  // the output folder with cert.pem, key.pem, ...
  std::string old_serial;     // empty for a first issuance
  std::string new_serial;
  std::string not_after;  // RFC 3339
  // For a credential's `notify:` actions: the expiry threshold crossed ("expiring", "critical",
  // "expired"); empty after a rotation.
  std::string threshold = {};
};

struct RetryPolicy {
  int attempts = 3;
  Millis base = std::chrono::seconds(1);
  Millis cap = std::chrono::seconds(30);
};

struct ActionOutcome {
  std::string action;  // describe(action)
  bool ok = false;
  int attempts = 0;
  std::string detail;  // "job done", the last error, or an exec's exit status
  std::string output;  // an exec's stdout and stderr (the last attempt's, at most 4 KiB)
};

struct RunnerDeps {
  BusConnector& bus;
  const Clock& clock;  // for exec timeouts
  // Waits between attempts; tests pass one that records instead of sleeping.
  std::function<void(Millis)> sleep;
  // Called before each retry with the failure, so it is logged as it happens.
  std::function<void(const std::string& action, int attempt, const Error& error, Millis delay)>
      on_retry;
};

class ActionRunner {
public:
  explicit ActionRunner(RunnerDeps deps) : m_deps(std::move(deps)) {}

  std::vector<ActionOutcome> run(const std::vector<Action>& actions, const RotationFacts& facts,
                                 const RetryPolicy& retry) const;

  // One attempt of one action: the success detail, or the error.
  Result<std::string> run_once(const Action& action, const RotationFacts& facts,
                               std::string& output) const;

private:
  RunnerDeps m_deps;
};

// The environment an exec action runs with (no other variable is passed through):
// PATH, CERTROT_CREDENTIAL, CERTROT_DIR, CERTROT_CERT, CERTROT_KEY, CERTROT_CHAIN,
// CERTROT_FULLCHAIN, CERTROT_BUNDLE, CERTROT_CA, CERTROT_OLD_SERIAL, CERTROT_NEW_SERIAL,
// CERTROT_NOT_AFTER; for `notify:` actions (threshold set) also CERTROT_THRESHOLD and
// CERTROT_SERIAL (the live certificate's, as CERTROT_NEW_SERIAL).
std::vector<std::string> exec_environment(const RotationFacts& facts);

// Sends `signal` to the process whose pid is in `pidfile`. A pidfile naming no live process is
// an error ("stale pidfile").
Result<std::string> signal_pidfile(const SignalAction& action);

// Runs the command with `env`, output captured (first 4 KiB kept), killed (its whole process
// group, whatever it started there included) when the timeout passes by `clock`. It has finished
// when it exited and closed its output; success only on exit status 0.
Result<std::string> run_command(const ExecAction& action, const std::vector<std::string>& env,
                                const Clock& clock, std::string& output);

}  // namespace certrotd::notify
