#include "issuer/acme/exec_solver.hpp"

#include "notify/runner.hpp"
#include "util/trusted_path.hpp"

namespace certrotd::issuer::acme {

namespace {

using yaml::Field;
using yaml::Reader;

constexpr std::string_view k_example =
    "exec: { command: [/usr/local/bin/acme-hook], timeout: 120s, type: dns-01 }";
constexpr const char* k_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Enough of a hook's output to say what went wrong in one log line.
constexpr std::size_t k_output_shown = 512;

// The hook's output for an error message: the key authorization blanked out (a hook that
// prints its environment must not put it into the journal), white space folded, cut short.
std::string shown_output(std::string output, const ChallengeTask& task) {
  if (!task.key_authorization.empty()) {
    for (std::size_t at = output.find(task.key_authorization); at != std::string::npos;
         at = output.find(task.key_authorization, at)) {
      output.replace(at, task.key_authorization.size(), "[key authorization]");
    }
  }
  std::string out;
  for (const char c : output) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > k_output_shown) out = out.substr(0, k_output_shown) + "...";
  return out;
}

std::optional<std::vector<std::string>> read_command(const Field& field, const Reader& reader) {
  const std::string instead = "write command: [/usr/local/bin/acme-hook, --zone, example.com]";
  if (field.value->is_scalar()) {
    reader.add(field.value_mark, "command must be a list of arguments (no shell is used)", instead);
    return std::nullopt;
  }
  const auto args = reader.string_list(field, instead);
  if (!args) return std::nullopt;
  if (args->empty()) {
    reader.add(field.value_mark, "command is empty", instead);
    return std::nullopt;
  }
  std::vector<std::string> command;
  for (const auto& arg : *args) command.push_back(arg.value);
  // A bare name is looked up in PATH when it runs; a path is judged now (and again then).
  if (command.front().find('/') != std::string::npos) {
    auto trusted = check_trusted_file(command.front(), PathTrust::of_this_process());
    if (!trusted && !trusted.error().retryable()) {
      reader.add(args->front().mark,
                 "exec hook " + command.front() + ": " + trusted.error().message,
                 "make the program and its folders owned by root and writable only by root");
      return std::nullopt;
    }
  }
  return command;
}

}  // namespace

std::vector<std::string> exec_solver_environment(const ChallengeTask& task, std::string_view type,
                                                 std::string_view phase) {
  return {k_path,
          "CERTROT_CREDENTIAL=" + task.credential,
          "CERTROT_ACME_PHASE=" + std::string(phase),
          "CERTROT_ACME_CHALLENGE=" + std::string(type),
          "CERTROT_ACME_DOMAIN=" + task.identifier,
          std::string("CERTROT_ACME_WILDCARD=") + (task.wildcard ? "1" : "0"),
          "CERTROT_ACME_TOKEN=" + task.token,
          "CERTROT_ACME_KEY_AUTHORIZATION=" + task.key_authorization,
          "CERTROT_ACME_TXT=" + task.dns_txt,
          "CERTROT_ACME_RECORD=_acme-challenge." + task.identifier + "."};
}

bool ExecSolver::can_solve(const ChallengeTask& task) const {
  if (m_options.type == "http-01") return !task.wildcard;
  return !task.ip;
}

Result<void> ExecSolver::present(const ChallengeTask& task) { return run(task, "present"); }

Result<void> ExecSolver::cleanup(const ChallengeTask& task) { return run(task, "cleanup"); }

Result<void> ExecSolver::run(const ChallengeTask& task, std::string_view phase) const {
  notify::ExecAction action{m_options.command, m_options.timeout};
  action.command.emplace_back(phase);
  std::string output;
  auto done = notify::run_command(action, exec_solver_environment(task, m_options.type, phase),
                                  m_clock, output);
  if (done) return {};
  Error e = done.error().wrap("exec hook " + std::string(phase) + " for " + task.identifier);
  const std::string shown = shown_output(std::move(output), task);
  if (!shown.empty()) e.message += "; its output: " + shown;
  return fail(e);
}

std::optional<ExecSolverOptions> read_exec_solver_options(const Field& field,
                                                          const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "challenge 'exec'",
                                    {"command", "timeout", "type"}, k_example);
  if (!fields) return std::nullopt;
  const Field* command = fields->get("command");
  if (!command) {
    reader.add(fields->mark(), "challenge 'exec' has no command",
               "write " + std::string(k_example));
    return std::nullopt;
  }
  ExecSolverOptions options;
  bool ok = true;
  if (auto argv = read_command(*command, reader)) {
    options.command = std::move(*argv);
  } else {
    ok = false;
  }
  yaml::read_if_present(
      *fields, "timeout",
      [&](const Field& f) { return reader.duration(f, Millis(std::chrono::seconds(1))); },
      options.timeout, ok);
  if (const Field* type = fields->get("type")) {
    auto text = reader.string(*type);
    if (text && (*text == "dns-01" || *text == "http-01")) {
      options.type = *text;
    } else {
      if (text) {
        reader.add(type->value_mark, "challenge type '" + *text + "' cannot be answered by a hook",
                   "write type: dns-01 or type: http-01");
      }
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return options;
}

SolverFactory read_exec_solver(const Field& field, const Reader& reader) {
  auto options = read_exec_solver_options(field, reader);
  if (!options) return {};
  return [options = std::move(*options)](
             const SolverContext& context) -> Result<std::shared_ptr<ChallengeSolver>> {
    return std::make_shared<ExecSolver>(options, *context.clock);
  };
}

}  // namespace certrotd::issuer::acme
