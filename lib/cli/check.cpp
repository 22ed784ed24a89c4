// `certrotd check`: the configuration as `run` would refuse it, the shipped unit's sandbox, and
// each credential's state from the files.
#include <algorithm>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/sandbox.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"

namespace certrotd::cli {

namespace {

// What the shipped unit (ProtectSystem=strict) would not let the daemon write, with the
// drop-in that allows it.
void print_sandbox_warnings(const config::Config& config, std::string_view unit_read_write_paths,
                            std::ostream& out) {
  std::vector<std::filesystem::path> writable;
  std::istringstream words{std::string(unit_read_write_paths)};
  for (std::string path; words >> path;) {
    // "-/path": ignored when missing; "+/path": outside the unit's other sandboxing.
    if (path.starts_with('-') || path.starts_with('+')) path.erase(0, 1);
    writable.emplace_back(path);
  }
  const auto report = check_sandbox(config, writable);
  for (const auto& warning : report.warnings) out << "warning: " << warning << "\n";
  if (report.missing.empty()) return;
  out << "  under the shipped unit, allow them with `systemctl edit certrotd`:\n";
  std::istringstream lines(read_write_paths_drop_in(report.missing));
  for (std::string line; std::getline(lines, line);) out << "    " << line << "\n";
}

// One line per credential, from the files; the exit code for their health.
int print_credential_states(const config::Config& config, const Clock& clock, std::ostream& out) {
  const SystemTime now = clock.wall_now();
  bool needs_attention = false;
  bool dependent_failed = false;
  for (const auto& s : engine::Engine::inspect(config, clock)) {
    needs_attention |= s.state == schedule::State::expired || s.failures > 0;
    dependent_failed |= std::any_of(s.dependents.begin(), s.dependents.end(),
                                    [](const notify::ActionOutcome& d) { return !d.ok; });
    out << padded(s.name, 24) << ' ' << padded(schedule::to_string(s.state), 12) << " not-after "
        << padded(when_text(s.cert ? std::optional(s.cert->not_after) : std::nullopt, now), 34)
        << " next-renewal " << when_text(s.next_attempt, now)
        << (s.last_error.empty() ? "" : "  last error: " + s.last_error) << "\n";
    // Run-time trouble of one credential: the daemon starts and retries it; say so, exit 0.
    if (!s.warning.empty()) out << "    warning: " << s.warning << "\n";
  }
  return health_exit(needs_attention, dependent_failed);
}

}  // namespace

int check(const Options& options, Context& context, engine::EventSink& events,
          std::string_view unit_read_write_paths) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  // Everything `run` refuses before it starts: the issuers' CA files and trust anchors.
  engine::EngineDeps deps{context.clock, context.random, events};
  deps.credentials_directory = context.credentials_directory;
  if (auto ok = engine::Engine::check(*config, deps); !ok) {
    return report_config_error(context.err, ok.error());
  }
  if (options.polkit_rule) {
    // The user of packaging/sysusers.d and the unit's User=.
    context.out << polkit_rule(*config, "certrotd");
    return 0;
  }
  context.out << options.config << ": OK, " << config->credentials.size() << " credentials, "
              << config->issuers.size() << " issuers\n";
  print_sandbox_warnings(*config, unit_read_write_paths, context.out);
  if (options.config_only) return 0;
  return print_credential_states(*config, context.clock, context.out);
}

}  // namespace certrotd::cli
