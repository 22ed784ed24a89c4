// `certrotd status`: the running daemon's view when one answers on the bus, otherwise the
// files' (and then nothing is scheduling renewals, which the header says).
#include <sysexits.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "config/config.hpp"
#include "control/server.hpp"
#include "engine/engine.hpp"
#include "util/instance_lock.hpp"

namespace certrotd::cli {

namespace {

// Without a daemon nothing is scheduling: the next renewal is when one would be due, not a
// countdown.
enum class Scheduling { live, from_files };

std::optional<SystemTime> time_of(const nlohmann::json& v) {
  const std::string text = v.get<std::string>();
  if (text.empty()) return std::nullopt;
  std::tm tm{};
  if (!::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string next_renewal_text(std::optional<SystemTime> next, SystemTime now,
                              Scheduling scheduling) {
  if (scheduling == Scheduling::live) return when_text(next, now);
  return next ? format_rfc3339(*next) + " (due, not scheduled)" : "-";
}

// The issuer's renewal window (ACME ARI) and when it is asked next; nothing for issuers that
// report none.
void print_renewal_info(const nlohmann::json& s, SystemTime now, std::ostream& out) {
  if (const auto w = s.find("renewal_window"); w != s.end()) {
    out << "    renewal window: " << (*w)["start"].get<std::string>() << " to "
        << (*w)["end"].get<std::string>();
    const std::string chosen = (*w)["chosen"].get<std::string>();
    out << (chosen.empty() ? std::string(" (not used)") : ", renewing at " + chosen) << "\n";
    const std::string url = (*w)["explanation_url"].get<std::string>();
    if (!url.empty()) out << "    explanation: " << url << "\n";
  }
  if (const auto next = s.find("renewal_info_next"); next != s.end()) {
    out << "    renewal info: issuer asked again " << when_text(time_of(*next), now) << "\n";
  }
}

// The staged version's line: its serial and notAfter, and when it goes live and why (or when a
// fresh one replaces it, when it is too close to its own expiry to wait).
void print_staged(const nlohmann::json& staged, SystemTime now, std::ostream& out) {
  out << "    staged: serial " << staged["serial"].get<std::string>() << ", not-after "
      << when_text(time_of(staged["not_after"]), now);
  if (staged.contains("replace_at")) {
    out << ", too close to its own expiry to wait for " << staged["activate_why"].get<std::string>()
        << ": replaced by a fresh one " << when_text(time_of(staged["replace_at"]), now) << "\n";
    return;
  }
  out << ", activates " << when_text(time_of(staged["activate_at"]), now) << " ("
      << staged["activate_why"].get<std::string>() << ")\n";
}

void print_status_table(const nlohmann::json& status, SystemTime now, Scheduling scheduling,
                        std::ostream& out) {
  for (const auto& s : status) {
    const auto next = time_of(s["next_renewal"]);
    out << padded(s["name"].get<std::string>(), 24) << ' '
        << padded(s["state"].get<std::string>(), 12) << " not-after "
        << padded(when_text(time_of(s["not_after"]), now), 34) << " next-renewal "
        << next_renewal_text(next, now, scheduling) << "\n";
    if (!s["last_error"].get<std::string>().empty()) {
      out << "    last error: " << s["last_error"].get<std::string>() << "\n";
    }
    if (s.contains("warning")) out << "    warning: " << s["warning"].get<std::string>() << "\n";
    // Only while an issuer holds a request (EST 202 Accepted); an older daemon lacks the field.
    if (s.value("pending", false)) {
      out << "    pending: the issuer holds the request; asking again at the next renewal\n";
    }
    // Only for issuers that name the roots of ca.pem (EST trust.from_issuer).
    if (s.contains("ca_roots")) {
      for (const auto& r : s["ca_roots"]) {
        out << "    ca root: " << r["subject"].get<std::string>() << ", not-after "
            << when_text(time_of(r["not_after"]), now) << "\n";
      }
    }
    // Only for `key: { reuse: true }`, so other credentials' lines read as before. An older
    // daemon's answer lacks the fields.
    if (s.value("key_reuse", false)) {
      const int renewals = s.value("key_renewals", 0);
      out << "    key: reused, renewed " << renewals << (renewals == 1 ? " time" : " times")
          << " since it was generated\n";
    }
    print_renewal_info(s, now, out);
    if (s.contains("staged")) print_staged(s["staged"], now, out);
    for (const auto& d : s["dependents"]) {
      out << "    " << padded(d["ok"].get<bool>() ? "ok" : "FAILED", 6) << ' '
          << d["action"].get<std::string>() << ": " << d["detail"].get<std::string>() << "\n";
    }
  }
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

// Unknown names: the same message and exit code whether the daemon or the files answered.
int report_unknown(const std::vector<std::string>& unknown, const std::string& config,
                   std::ostream& err) {
  for (const auto& name : unknown) {
    err << "certrotd status: no credential named '" << name << "' in " << config << "\n";
  }
  return EX_USAGE;
}

// The credentials `names` (all when empty) from the files, in the order asked.
std::string status_from_files(config::Config& config, const std::vector<std::string>& names,
                              std::vector<std::string>& unknown, const Clock& clock) {
  if (!names.empty()) {
    std::vector<config::CredentialConfig> wanted;
    for (const auto& name : names) {
      if (const auto* c = config.find_credential(name)) {
        wanted.push_back(*c);
      } else {
        unknown.push_back(name);
      }
    }
    config.credentials = std::move(wanted);
  }
  return control::status_json(engine::Engine::inspect(config, clock));
}

// What is shown: a header line and the JSON array, from the daemon or the files.
struct Answer {
  std::string header;
  std::string json;
  Scheduling scheduling = Scheduling::live;
};

// The daemon's answer; an exit code when it must not be shown.
std::variant<Answer, int> from_daemon(const Options& options, control::ControlClient::Status answer,
                                      std::ostream& err) {
  // Some certrotd owns the bus name; it need not be the one running this configuration.
  if (options.config_given && !options.any_daemon && !same_file(options.config, answer.config)) {
    err << "certrotd status: the certrotd on the " << options.bus << " bus (PID " << answer.pid
        << ") runs " << answer.config << ", not " << options.config
        << "; use --any-daemon to see its credentials anyway\n";
    return EX_UNAVAILABLE;
  }
  if (!answer.unknown.empty()) return report_unknown(answer.unknown, answer.config, err);
  return Answer{"certrotd PID " + std::to_string(answer.pid) + " running " + answer.config,
                std::move(answer.json), Scheduling::live};
}

std::variant<Answer, int> from_files(const Options& options, Context& context) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  std::vector<std::string> unknown;
  auto json = status_from_files(*config, options.names, unknown, context.clock);
  if (!unknown.empty()) return report_unknown(unknown, options.config, context.err);
  const auto holder = InstanceLock::holder(config->state_dir);
  return Answer{
      "no certrotd answers on the " + options.bus + " bus" +
          (holder
               ? " (PID " + std::to_string(*holder) + " holds " + config->state_dir.string() + ")"
               : std::string()) +
          ": figures from the files of " + options.config + "; nothing is scheduling renewals",
      std::move(json), Scheduling::from_files};
}

int show(const Options& options, const Answer& answer, Context& context) {
  const auto parsed = nlohmann::json::parse(answer.json);
  bool needs_attention = false;
  bool dependent_failed = false;
  for (const auto& s : parsed) {
    needs_attention |= s["state"] == "expired" || s["failures"].get<int>() > 0;
    for (const auto& d : s["dependents"]) dependent_failed |= !d["ok"].get<bool>();
  }
  if (options.json) {
    context.out << parsed.dump(2) << "\n";
  } else {
    context.out << answer.header << "\n";
    print_status_table(parsed, context.clock.wall_now(), answer.scheduling, context.out);
  }
  return health_exit(needs_attention, dependent_failed);
}

}  // namespace

int status(const Options& options, const control::ControlClient& daemon, Context& context) {
  auto answer = daemon.status(options.names);
  std::variant<Answer, int> shown = 0;
  if (answer) {
    shown = from_daemon(options, std::move(*answer), context.err);
  } else if (!answer.error().retryable()) {
    context.err << "certrotd status: " << answer.error().what() << "\n";
    return EX_UNAVAILABLE;
  } else {
    shown = from_files(options, context);
  }
  if (const int* code = std::get_if<int>(&shown)) return *code;
  return show(options, std::get<Answer>(shown), context);
}

}  // namespace certrotd::cli
