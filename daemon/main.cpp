// certrotd: keeps short-lived x509 credentials fresh.
//
// This file only parses arguments, wires real implementations (clock, randomness, logger, event
// loop, signals) and calls into lib/. Every rule lives in lib/.
#include <malloc.h>
#include <signal.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "engine/control.hpp"
#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "engine/journal.hpp"
#include "engine/sandbox.hpp"
#include "engine/service.hpp"
#include "engine/test_connection.hpp"
#include "issuer/local/ca_init.hpp"
#include "metrics/metrics.hpp"
#include "notify/bus.hpp"
#include "notify/control.hpp"
#include "notify/runner.hpp"
#include "store/credential_store.hpp"
#include "unit_paths.hpp"
#include "util/duration.hpp"
#include "util/files.hpp"
#include "util/instance_lock.hpp"

namespace {

using namespace certrotd;

constexpr const char* k_default_config = "/etc/certrotd/config.yaml";

struct Options {
  std::string config = k_default_config;
  std::string log_level = "info";
  std::string ca_dir;
  bool ca_intermediate = false;
  bool ca_force = false;
  std::string credential;
  std::string bus = "system";  // where the control interface lives (and is looked for)
  std::string log_target = "auto";
  bool json = false;
  std::vector<std::string> names;
  std::string url;
  std::string import_cert;
  std::string import_key;
  std::string import_chain;
  bool config_given = false;  // --config on the command line, not the default
  bool any_daemon = false;
  bool config_only = false;  // check: the configuration only, not the credentials' state
  bool polkit_rule = false;  // check: print the polkit rule for the on_rotate units instead
  bool wait = false;
  std::string timeout = "5m";
};

notify::BusKind bus_of(const Options& options) {
  return options.bus == "user" ? notify::BusKind::user : notify::BusKind::system;
}

// journald when our stderr is connected to it (systemd sets JOURNAL_STREAM to the device and
// inode of that stream), so structured fields reach it; a terminal or a pipe gets plain lines.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) == stream;
}

engine::Severity severity_of(const std::string& level) {
  if (level == "trace" || level == "debug") return engine::Severity::debug;
  if (level == "warn" || level == "warning") return engine::Severity::warning;
  if (level == "error" || level == "err" || level == "critical") return engine::Severity::error;
  return engine::Severity::info;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& level, bool journal) {
  if (journal) {
    auto logger = spdlog::systemd_logger_mt("certrotd", "certrotd");
    logger->set_level(spdlog::level::from_str(level));
    return logger;
  }
  auto logger = spdlog::stderr_color_mt("certrotd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  return logger;
}

// Bad configuration: the sysexits.h code systemd and operators know (EX_CONFIG = 78).
int report_config_error(const Error& error) {
  std::cerr << error.what() << "\n";
  return EX_CONFIG;
}

struct Daemon {
  RealClock clock;
  SystemRandom random;
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<engine::EventSink> events;
  std::unique_ptr<metrics::Metrics> metrics;      // null without a metrics: section
  std::unique_ptr<engine::EventSink> all_events;  // events and metrics, when there are metrics
  notify::SdBusConnector bus;
  std::unique_ptr<notify::ActionRunner> actions;
  std::string config_path;
  std::unique_ptr<engine::Service> service;
  std::unique_ptr<engine::ControlServer> control;  // destroyed before the service
};

// Another certrotd holds the state directory: EX_TEMPFAIL (75), since starting again once it has
// stopped will work. A lock file that cannot be created at all: EX_CANTCREAT (73).
int report_lock_error(const char* command, const Error& error) {
  std::cerr << "certrotd " << command << ": " << error.what() << "\n";
  return error.retryable() ? EX_TEMPFAIL : EX_CANTCREAT;
}

// What the daemon's refusal means for the exit code: a name it does not know is a usage error,
// as it is when the files answer.
int daemon_refusal(const char* command, const Error& error) {
  std::cerr << "certrotd " << command << ": " << error.what() << "\n";
  return error.reason == Reason::config ? EX_USAGE : EX_UNAVAILABLE;
}

// What `run` takes from its event loop. SIGUSR1's and SIGHUP's default action is to terminate,
// so one sent while the daemon is still loading its configuration (about 13 ms at 10,000
// credentials, more on a busy machine) killed it: they are blocked first thing in main() and
// stay pending until sd_event_add_signal() picks them up. Exec hooks are spawned with an empty
// mask (lib/notify/runner.cpp).
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  return set;
}

int on_stop_signal(sd_event_source*, const signalfd_siginfo* info, void* userdata) {
  auto* d = static_cast<Daemon*>(userdata);
  d->logger->info("received {}, stopping", strsignal(static_cast<int>(info->ssi_signo)));
  sd_notify(0, "STOPPING=1");
  d->service->shutdown();
  return 0;
}

// SIGHUP and `certrotd reload` (over D-Bus): the same reload, told to the service manager.
Result<void> reload(Daemon& d) {
  sd_notify(0, "RELOADING=1");
  d.logger->info("reloading configuration from {}", d.config_path);
  auto done = d.service->reload_file(d.config_path);
  if (done) d.logger->info("configuration reloaded: {} credentials", d.service->engine().size());
  if (d.metrics) {
    const engine::Engine& engine = d.service->engine();
    if (done) d.metrics->retain([&engine](const auto& name) { return engine.output_dir(name); });
    d.metrics->config_loaded(done.has_value(), d.clock.wall_now());
  }
  // The rejection itself is a reload-rejected event, and STATUS= (sent from on_change) shows it.
  sd_notifyf(0, "READY=1\nSTATUS=%s", d.service->status_line().c_str());
  return done;
}

int on_reload_signal(sd_event_source*, const signalfd_siginfo*, void* userdata) {
  (void)reload(*static_cast<Daemon*>(userdata));
  return 0;
}

int on_rotate_signal(sd_event_source*, const signalfd_siginfo*, void* userdata) {
  auto* d = static_cast<Daemon*>(userdata);
  d->logger->info("SIGUSR1: rotating every credential now");
  (void)d->service->rotate({});
  return 0;
}

int run(const Options& options) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  // Before anything touches an output folder: a second daemon must not even recover them.
  auto lock = InstanceLock::acquire(config->state_dir, ::getpid());
  if (!lock) return report_lock_error("run", lock.error());

  // The handled signals are blocked since main() began (see handled_signals): they wait for
  // the event loop's signalfd, and every thread started from here inherits the mask.
  Daemon d;
  const bool journal = options.log_target == "journal" ||
                       (options.log_target == "auto" && stderr_is_journal());
  d.logger = make_logger(options.log_level, journal);
  if (journal) {
    d.events = std::make_unique<engine::JournalEventSink>(severity_of(options.log_level));
  } else {
    d.events = std::make_unique<engine::LogEventSink>(d.logger);
  }
  d.actions = std::make_unique<notify::ActionRunner>(notify::RunnerDeps{
      d.bus, [](Millis delay) { std::this_thread::sleep_for(delay); },
      [&d](const std::string& action, int attempt, const Error& error, Millis delay) {
        d.logger->warn("{}: attempt {} failed: {}; retrying in {}", action, attempt, error.what(),
                       format_duration(delay));
      }});
  d.config_path = options.config;

  sd_event* raw_loop = nullptr;
  if (int r = sd_event_default(&raw_loop); r < 0) {
    d.logger->critical("cannot create the event loop: {}", strerror(-r));
    return EX_OSERR;
  }
  engine::SdEventPtr loop(raw_loop);  // owned here; sources below are owned by the loop

  // Changes to metrics: need a restart; a reload keeps the exporters it started with.
  auto metrics = metrics::Metrics::create(
      config->metrics, loop.get(), d.clock, CERTROTD_VERSION,
      [&d](const Error& error) { d.logger->warn("metrics textfile: {}", error.what()); });
  if (!metrics) {
    d.logger->critical("cannot start: {}", metrics.error().what());
    return EX_UNAVAILABLE;
  }
  d.metrics = std::move(*metrics);
  if (d.metrics) {
    d.all_events = std::make_unique<engine::FanOutEventSink>(
        std::vector<engine::EventSink*>{d.events.get(), &d.metrics->sink()});
  }
  engine::EngineDeps deps{d.clock, d.random, d.all_events ? *d.all_events : *d.events,
                          d.actions.get()};
  // systemd's LoadCredential= puts secrets here; lib/ reads no environment, so pass it in.
  if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY")) {
    deps.credentials_directory = credentials;
  }
  auto engine = engine::Engine::create(*config, deps);
  if (!engine) return report_config_error(engine.error());
  *config = config::Config{};  // the engine keeps its own copy; this one would only cost memory
  auto service = engine::Service::create(loop.get(), std::move(*engine));
  if (!service) {
    d.logger->critical("cannot start: {}", service.error().what());
    return EX_OSERR;
  }
  d.service = std::move(*service);
  d.service->on_change([&d] { sd_notifyf(0, "STATUS=%s", d.service->status_line().c_str()); });
  if (d.metrics) d.metrics->config_loaded(true, d.clock.wall_now());

  const struct {
    int signal;
    sd_event_signal_handler_t handler;
  } signal_handlers[] = {{SIGTERM, on_stop_signal},
                         {SIGINT, on_stop_signal},
                         {SIGHUP, on_reload_signal},
                         {SIGUSR1, on_rotate_signal}};
  for (const auto& [signal, handler] : signal_handlers) {
    // A daemon that cannot hear SIGTERM must not start at all.
    if (int r = sd_event_add_signal(loop.get(), nullptr, signal, handler, &d); r < 0) {
      d.logger->critical("cannot handle {}: {}", strsignal(signal), strerror(-r));
      return EX_OSERR;
    }
  }
  // Pings the service manager's watchdog from the loop, when WatchdogSec= is set.
  sd_event_set_watchdog(loop.get(), 1);

  // yaml-cpp builds a node per scalar: with 10,000 credentials the parse leaves about 50 MB
  // free but still mapped. Hand it back before settling down to sleep.
  ::malloc_trim(0);
  d.logger->info("certrotd {} running with {} credentials from {}", CERTROTD_VERSION,
                 d.service->engine().size(), options.config);
  engine::ControlOptions control_options{
      std::filesystem::absolute(options.config).lexically_normal().string(), ::getpid(),
      [&d] { return reload(d); },
      // An answer about every credential is one-off work: at 10,000 it is 2.4 MB of JSON
      // and its copy in the D-Bus message. Nothing leaks (heaptrack), but glibc kept the
      // freed pages: 5 MB more RSS after the first `certrotd status` without this, none with.
      [] { ::malloc_trim(0); }};
  if (auto control = engine::ControlServer::create(loop.get(), bus_of(options), *d.service,
                                                   std::move(control_options));
      control) {
    d.control = std::move(*control);
  } else {
    // Rotations do not need it; only `certrotd status/rotate/rollback` do.
    d.logger->warn("control interface unavailable: {}", control.error().what());
  }
  sd_notifyf(0, "READY=1\nSTATUS=%s", d.service->status_line().c_str());
  const int r = sd_event_loop(loop.get());
  d.control.reset();
  d.service.reset();
  d.metrics.reset();  // its timer and HTTP thread go before the loop
  if (r < 0) {
    d.logger->critical("event loop failed: {}", strerror(-r));
    return EX_SOFTWARE;
  }
  d.logger->info("stopped");
  return 0;
}

std::string when_text(std::optional<SystemTime> t, SystemTime now) {
  if (!t) return "-";
  const auto delta = std::chrono::duration_cast<Millis>(*t - now);
  const std::string rel = delta.count() >= 0 ? "in " + format_duration(delta)
                                             : format_duration(-delta) + " ago";
  return engine::format_time(*t) + " (" + rel + ")";
}

// What `status` and `check` exit with when the configuration is fine but a credential is not,
// so monitoring scripts can test them like `systemctl is-failed`: 1 when a credential is
// expired or its last renewal failed, otherwise 2 when an on_rotate action failed.
constexpr int k_exit_needs_attention = 1;
constexpr int k_exit_dependent_failed = 2;

int health_exit(bool needs_attention, bool dependent_failed) {
  if (needs_attention) return k_exit_needs_attention;
  return dependent_failed ? k_exit_dependent_failed : 0;
}

// What the shipped unit (ProtectSystem=strict) would not let the daemon write, with the
// drop-in that allows it. Its ReadWritePaths= are compiled in from systemd/certrotd.service.
void print_sandbox_warnings(const config::Config& config) {
  std::vector<std::filesystem::path> writable;
  std::istringstream words(k_unit_read_write_paths);
  for (std::string path; words >> path;) {
    // "-/path": ignored when missing; "+/path": outside the unit's other sandboxing.
    if (path.starts_with('-') || path.starts_with('+')) path.erase(0, 1);
    writable.emplace_back(path);
  }
  const auto report = engine::check_sandbox(config, writable);
  for (const auto& warning : report.warnings) std::printf("warning: %s\n", warning.c_str());
  if (report.missing.empty()) return;
  std::cout << "  under the shipped unit, allow them with `systemctl edit certrotd`:\n";
  std::istringstream lines(engine::read_write_paths_drop_in(report.missing));
  for (std::string line; std::getline(lines, line);) std::cout << "    " << line << "\n";
}

int check(const Options& options) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  RealClock clock;
  SystemRandom random;
  {
    // Everything `run` refuses before it starts: the issuers' CA files and trust anchors.
    auto logger = make_logger("warn", false);
    engine::LogEventSink events(logger);
    engine::EngineDeps deps{clock, random, events};
    if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY")) {
      deps.credentials_directory = credentials;
    }
    if (auto ok = engine::Engine::check(*config, deps); !ok) return report_config_error(ok.error());
  }
  if (options.polkit_rule) {
    // The user of packaging/sysusers.d and the unit's User=.
    std::cout << engine::polkit_rule(*config, "certrotd");
    return 0;
  }
  std::cout << options.config << ": OK, " << config->credentials.size() << " credentials, "
            << config->issuers.size() << " issuers\n";
  print_sandbox_warnings(*config);
  if (options.config_only) return 0;
  const SystemTime now = clock.wall_now();
  bool needs_attention = false;
  bool dependent_failed = false;
  for (const auto& s : engine::Engine::inspect(*config, clock)) {
    needs_attention |= s.state == schedule::State::expired || s.failures > 0;
    dependent_failed |= std::any_of(s.dependents.begin(), s.dependents.end(),
                                    [](const notify::ActionOutcome& d) { return !d.ok; });
    std::printf("%-24s %-12s not-after %-34s next-renewal %s%s\n", s.name.c_str(),
                std::string(schedule::to_string(s.state)).c_str(),
                when_text(s.cert ? std::optional(s.cert->not_after) : std::nullopt, now).c_str(),
                when_text(s.next_attempt, now).c_str(),
                s.last_error.empty() ? "" : ("  last error: " + s.last_error).c_str());
    // Run-time trouble of one credential: the daemon starts and retries it; say so, exit 0.
    if (!s.warning.empty()) std::printf("    warning: %s\n", s.warning.c_str());
  }
  return health_exit(needs_attention, dependent_failed);
}

int import_credential(const Options& options) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    std::cerr << "certrotd import: no credential named '" << options.credential << "' in "
              << options.config << "\n";
    return EX_USAGE;
  }
  engine::ImportInput input;
  for (const auto& [path, text] :
       {std::pair{&options.import_cert, &input.cert}, std::pair{&options.import_key, &input.key},
        std::pair{&options.import_chain, &input.chain}}) {
    if (path->empty()) continue;
    auto read = read_file(*path);
    if (!read) {
      std::cerr << "certrotd import: " << read.error().what() << "\n";
      return EX_NOINPUT;
    }
    *text = std::move(*read);
  }
  // With no daemon, hold the state directory while installing so that one starting meanwhile
  // waits; a running daemon keeps it and adopts the new version through inotify.
  std::optional<InstanceLock> lock;
  if (auto taken = InstanceLock::acquire(config->state_dir, ::getpid())) lock = std::move(*taken);
  const bool daemon_running = !lock && InstanceLock::holder(config->state_dir).has_value();
  RealClock clock;
  auto installed = engine::import_credential(*config, *credential, input, clock.wall_now());
  if (!installed) {
    std::cerr << "certrotd import: " << installed.error().what() << "\n";
    return installed.error().reason == Reason::io ? EX_IOERR : EX_DATAERR;
  }
  std::cout << options.credential << ": serial " << installed->info.serial << " is live as version "
            << installed->version << "\n";
  if (installed->copy_error) {
    std::cerr << "certrotd import: a copy is missing: " << installed->copy_error->what() << "\n";
    return EX_IOERR;
  }
  // A running daemon sees the new version through inotify and runs the on_rotate actions.
  if (!credential->on_rotate.empty() && !daemon_running) {
    std::cerr << "certrotd import: the daemon is not running, so its on_rotate actions did not "
                 "run; reload the dependents of "
              << options.credential << " yourself (certrotd where-used " << options.credential
              << ")\n";
  }
  return 0;
}

int ca_init(const Options& options) {
  RealClock clock;
  SystemRandom random;
  issuer::CaInitOptions ca;
  ca.dir = options.ca_dir;
  ca.intermediate = options.ca_intermediate;
  ca.overwrite = options.ca_force;
  auto made = issuer::init_ca(ca, clock, random);
  if (!made) {
    std::cerr << "certrotd ca init: " << made.error().what() << "\n";
    return EX_CANTCREAT;
  }
  std::cout << "root CA:      " << made->ca_cert.string() << " (key " << made->ca_key.string()
            << ")\n";
  if (!made->intermediate_cert.empty()) {
    std::cout << "intermediate: " << made->intermediate_cert.string() << " (key "
              << made->intermediate_key.string() << ")\n";
  }
  return 0;
}

int rollback(const Options& options) {
  // Through the running daemon when there is one, so it never races a rotation of its own.
  if (auto version = notify::ControlClient(bus_of(options)).rollback(options.credential); version) {
    std::cout << options.credential << ": rolled back to version " << *version << "\n";
    return 0;
  } else if (!version.error().retryable()) {
    return daemon_refusal("rollback", version.error());
  }
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    std::cerr << "certrotd rollback: no credential named '" << options.credential << "' in "
              << options.config << "\n";
    return EX_USAGE;
  }
  // A daemon that did not answer on this bus may still run (another bus, or no control
  // interface): swapping under it would race its rotations.
  auto lock = InstanceLock::acquire(config->state_dir, ::getpid());
  if (!lock) {
    const int code = report_lock_error("rollback", lock.error());
    if (lock.error().retryable()) {
      std::cerr << "  it does not answer on the " << options.bus
                << " bus: roll back through it (certrotd rollback --bus system|user "
                << options.credential << ") or stop it first\n";
    }
    return code;
  }
  auto store = store::CredentialStore::open(credential->output);
  if (!store) {
    std::cerr << "certrotd rollback: " << store.error().what() << "\n";
    return EX_IOERR;
  }
  auto version = store->rollback();
  if (!version) {
    std::cerr << "certrotd rollback: " << version.error().what() << "\n";
    return EX_UNAVAILABLE;
  }
  // A running daemon sees the change through inotify and schedules from the restored dates.
  std::cout << options.credential << ": rolled back to version " << *version << "\n";
  if (!credential->on_rotate.empty()) {
    std::cerr << "certrotd rollback: the daemon is not running, so its on_rotate actions did not "
                 "run; reload the dependents of "
              << options.credential << " yourself (certrotd where-used " << options.credential
              << ")\n";
  }
  return 0;
}

// Without a daemon nothing is scheduling: the next renewal is when one would be due, not a
// countdown.
enum class Scheduling { live, from_files };

void print_status_table(const nlohmann::json& status, SystemTime now, Scheduling scheduling) {
  const auto time_of = [](const nlohmann::json& v) -> std::optional<SystemTime> {
    const std::string text = v.get<std::string>();
    if (text.empty()) return std::nullopt;
    std::tm tm{};
    if (!::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return std::nullopt;
    return std::chrono::system_clock::from_time_t(::timegm(&tm));
  };
  for (const auto& s : status) {
    const auto next = time_of(s["next_renewal"]);
    const std::string next_text = scheduling == Scheduling::live ? when_text(next, now)
                                  : next ? engine::format_time(*next) + " (due, not scheduled)"
                                         : "-";
    std::printf("%-24s %-12s not-after %-34s next-renewal %s\n",
                s["name"].get<std::string>().c_str(), s["state"].get<std::string>().c_str(),
                when_text(time_of(s["not_after"]), now).c_str(), next_text.c_str());
    if (!s["last_error"].get<std::string>().empty()) {
      std::printf("    last error: %s\n", s["last_error"].get<std::string>().c_str());
    }
    if (s.contains("warning")) {
      std::printf("    warning: %s\n", s["warning"].get<std::string>().c_str());
    }
    for (const auto& d : s["dependents"]) {
      std::printf("    %-6s %s: %s\n", d["ok"].get<bool>() ? "ok" : "FAILED",
                  d["action"].get<std::string>().c_str(), d["detail"].get<std::string>().c_str());
    }
  }
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

// Unknown names: the same message and exit code whether the daemon or the files answered.
int report_unknown(const std::vector<std::string>& unknown, const std::string& config) {
  for (const auto& name : unknown) {
    std::cerr << "certrotd status: no credential named '" << name << "' in " << config << "\n";
  }
  return EX_USAGE;
}

// The credentials `names` (all when empty) from the files, in the order asked.
Result<std::string> status_from_files(config::Config& config, const std::vector<std::string>& names,
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
  return engine::status_json(engine::Engine::inspect(config, clock));
}

int status(const Options& options) {
  RealClock clock;
  std::string json;
  std::string header;
  Scheduling scheduling = Scheduling::live;
  auto answer = notify::ControlClient(bus_of(options)).status(options.names);
  if (answer) {
    // Some certrotd owns the bus name; it need not be the one running this configuration.
    if (options.config_given && !options.any_daemon && !same_file(options.config, answer->config)) {
      std::cerr << "certrotd status: the certrotd on the " << options.bus << " bus (PID "
                << answer->pid << ") runs " << answer->config << ", not " << options.config
                << "; use --any-daemon to see its credentials anyway\n";
      return EX_UNAVAILABLE;
    }
    if (!answer->unknown.empty()) return report_unknown(answer->unknown, answer->config);
    header = "certrotd PID " + std::to_string(answer->pid) + " running " + answer->config;
    json = std::move(answer->json);
  } else if (!answer.error().retryable()) {
    std::cerr << "certrotd status: " << answer.error().what() << "\n";
    return EX_UNAVAILABLE;
  } else {
    auto config = config::load_config(options.config);
    if (!config) return report_config_error(config.error());
    std::vector<std::string> unknown;
    auto from_files = status_from_files(*config, options.names, unknown, clock);
    if (!unknown.empty()) return report_unknown(unknown, options.config);
    json = std::move(*from_files);
    scheduling = Scheduling::from_files;
    const auto holder = InstanceLock::holder(config->state_dir);
    header = "no certrotd answers on the " + options.bus + " bus" +
             (holder ? " (PID " + std::to_string(*holder) + " holds " + config->state_dir.string() +
                           ")"
                     : std::string()) +
             ": figures from the files of " + options.config + "; nothing is scheduling renewals";
  }
  const auto parsed = nlohmann::json::parse(json);
  bool needs_attention = false;
  bool dependent_failed = false;
  for (const auto& s : parsed) {
    needs_attention |= s["state"] == "expired" || s["failures"].get<int>() > 0;
    for (const auto& d : s["dependents"]) dependent_failed |= !d["ok"].get<bool>();
  }
  if (options.json) {
    std::cout << parsed.dump(2) << "\n";
  } else {
    std::cout << header << "\n";
    print_status_table(parsed, clock.wall_now(), scheduling);
  }
  return health_exit(needs_attention, dependent_failed);
}

// Validates and applies the configuration in the running daemon; a rejected file fails with
// its file:line:col (EX_CONFIG), so `systemctl reload` fails too (ExecReload=certrotd reload).
int reload_daemon(const Options& options) {
  auto done = notify::ControlClient(bus_of(options)).reload();
  if (!done) {
    std::cerr << "certrotd reload: " << done.error().what() << "\n";
    return done.error().retryable() ? EX_UNAVAILABLE : EX_CONFIG;
  }
  std::cout << "configuration reloaded\n";
  return 0;
}

// `rotate --wait`: one line per credential; 0 when all were renewed, 1 when one failed, 75
// (EX_TEMPFAIL) when --timeout passed first.
int rotate_and_wait(const Options& options) {
  auto timeout = parse_duration(options.timeout);
  if (!timeout) {
    std::cerr << "certrotd rotate: --timeout " << options.timeout << ": " << timeout.error().what()
              << "\n";
    return EX_USAGE;
  }
  auto done = notify::ControlClient(bus_of(options)).rotate_and_wait(options.names, *timeout);
  if (!done) {
    if (done.error().reason == Reason::network) {
      std::cerr << "certrotd rotate: " << done.error().what() << "\n";
      return EX_TEMPFAIL;
    }
    return daemon_refusal("rotate", done.error());
  }
  bool all_renewed = true;
  for (const auto& r : *done) {
    std::cout << r.name << ": " << (r.renewed ? "renewed, " : "FAILED: ") << r.detail << "\n";
    all_renewed &= r.renewed;
  }
  return all_renewed ? 0 : 1;
}

int rotate(const Options& options) {
  if (options.wait) return rotate_and_wait(options);
  auto done = notify::ControlClient(bus_of(options)).rotate(options.names);
  if (!done) return daemon_refusal("rotate", done.error());
  std::cout << (options.names.empty() ? std::string("all credentials")
                                      : std::to_string(options.names.size()) + " credential(s)")
            << " queued for rotation\n";
  return 0;
}

// Every unit, pidfile, hook and copy that depends on a credential.
int where_used(const Options& options) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    std::cerr << "certrotd where-used: no credential named '" << options.credential << "'\n";
    return EX_USAGE;
  }
  std::cout << "output  " << credential->output.dir << "\n";
  for (const auto& copy : credential->output.copies) {
    std::cout << "copy    " << copy.path.string() << "\n";
  }
  for (const auto& action : credential->on_rotate) {
    if (const auto* u = std::get_if<notify::SystemdAction>(&action.what)) {
      std::cout << "unit    " << u->unit << "  (" << notify::describe(action) << ")\n";
    } else if (const auto* p = std::get_if<notify::SignalAction>(&action.what)) {
      std::cout << "pidfile " << p->pidfile.string() << "  (" << notify::describe(action) << ")\n";
    } else {
      std::cout << "hook    " << notify::describe(action) << "\n";
    }
  }
  return 0;
}

int test_connection(const Options& options) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    std::cerr << "certrotd test-connection: no credential named '" << options.credential << "'\n";
    return EX_USAGE;
  }
  // A server that refuses the certificate may close before the request is written; a write to
  // that socket must fail with EPIPE, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  auto report = engine::test_connection(*credential, options.url);
  if (!report) {
    std::cerr << "certrotd test-connection: " << report.error().what() << "\n";
    return EX_UNAVAILABLE;
  }
  engine::print_connection_report(*report, std::cout);
  return engine::connection_passed(*report) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t handled = handled_signals();
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);

  Options options;
  CLI::App app{"certrotd: keeps short-lived x509 credentials fresh"};
  app.set_version_flag("--version", std::string("certrotd ") + CERTROTD_VERSION);
  app.require_subcommand(1);

  auto* run_cmd = app.add_subcommand("run", "Run the daemon in the foreground");
  run_cmd->add_option("-c,--config", options.config, "Configuration file")->capture_default_str();
  run_cmd->add_option("--log-level", options.log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "warning", "error", "err", "critical", "off"}))
      ->capture_default_str();
  run_cmd
      ->add_option("--log-target", options.log_target,
                   "auto (journald when stderr is the journal) | journal | stderr")
      ->check(CLI::IsMember({"auto", "journal", "stderr"}))
      ->capture_default_str();
  const auto add_bus = [&](CLI::App* cmd) {
    cmd->add_option("--bus", options.bus, "Bus of the control interface: system | user")
        ->check(CLI::IsMember({"system", "user"}))
        ->capture_default_str();
  };
  add_bus(run_cmd);

  auto* status_cmd = app.add_subcommand(
      "status", "Show every credential's state and its dependents (from the daemon if it runs)");
  auto* status_config = status_cmd->add_option(
      "-c,--config", options.config,
      "Configuration file (when given, the answering daemon must run this one)");
  status_config->capture_default_str();
  status_cmd->add_option("names", options.names, "Credential names (all when none)");
  status_cmd->add_flag("--json", options.json, "Print JSON");
  status_cmd->add_flag("--any-daemon", options.any_daemon,
                       "Show the daemon on the bus even if it runs another configuration");
  add_bus(status_cmd);

  auto* reload_cmd = app.add_subcommand(
      "reload", "Make the running daemon re-read its configuration (exit 78 if rejected)");
  add_bus(reload_cmd);

  auto* rotate_cmd = app.add_subcommand("rotate", "Ask the running daemon to rotate now");
  rotate_cmd->add_option("names", options.names, "Credential names (all when none)");
  rotate_cmd->add_flag("--wait", options.wait,
                       "Return when the rotations ended: one line each, exit 1 if one failed");
  rotate_cmd
      ->add_option("--timeout", options.timeout, "With --wait: give up after this long (exit 75)")
      ->capture_default_str();
  add_bus(rotate_cmd);

  auto* where_cmd = app.add_subcommand(
      "where-used", "List every unit, pidfile, hook and copy that depends on a credential");
  where_cmd->add_option("-c,--config", options.config, "Configuration file")->capture_default_str();
  where_cmd->add_option("name", options.credential, "Credential name")->required();

  auto* test_cmd = app.add_subcommand(
      "test-connection",
      "TLS handshake to URL with the credential's key and certificate: server chain, "
      "verification, client certificate accepted or not (exit 1 if not)");
  test_cmd->add_option("-c,--config", options.config, "Configuration file")->capture_default_str();
  test_cmd->add_option("name", options.credential, "Credential name")->required();
  test_cmd->add_option("url", options.url, "https://host[:port][/path]")->required();

  auto* check_cmd = app.add_subcommand(
      "check", "Validate the configuration and show each credential's state (exit 78 if invalid)");
  check_cmd->add_option("-c,--config", options.config, "Configuration file")->capture_default_str();
  check_cmd->add_flag("--config-only", options.config_only,
                      "Validate only; do not read the credentials' state or exit 1/2 for it "
                      "(the unit's ExecStartPre=)");
  check_cmd->add_flag("--polkit-rule", options.polkit_rule,
                      "Print a polkit rule allowing exactly the on_rotate systemd actions of the "
                      "configuration (for /etc/polkit-1/rules.d/50-certrotd.rules)");

  auto* ca_cmd = app.add_subcommand("ca", "Manage the embedded development CA");
  ca_cmd->require_subcommand(1);
  auto* ca_init_cmd = ca_cmd->add_subcommand("init", "Create a root CA (and an intermediate)");
  ca_init_cmd->add_option("--dir", options.ca_dir, "Folder for ca.pem and ca.key")->required();
  ca_init_cmd->add_flag("--intermediate", options.ca_intermediate,
                        "Also create intermediate.pem/.key signed by the root");
  ca_init_cmd->add_flag("--force", options.ca_force, "Replace an existing CA in that folder");

  auto* rollback_cmd = app.add_subcommand("rollback",
                                          "Make the previous version of a credential live again");
  rollback_cmd->add_option("-c,--config", options.config, "Configuration file")
      ->capture_default_str();
  rollback_cmd->add_option("name", options.credential, "Credential name")->required();
  add_bus(rollback_cmd);

  auto* import_cmd = app.add_subcommand(
      "import", "Install a certificate and key as a complete new version of a credential");
  import_cmd->add_option("-c,--config", options.config, "Configuration file")
      ->capture_default_str();
  import_cmd->add_option("name", options.credential, "Credential name")->required();
  import_cmd->add_option("--cert", options.import_cert, "PEM certificate (leaf, then chain)")
      ->required();
  import_cmd->add_option("--key", options.import_key, "PEM private key")->required();
  import_cmd->add_option("--chain", options.import_chain, "PEM intermediates");
  add_bus(import_cmd);

  // Usage errors are EX_USAGE (64), not CLI11's own 105-114; --help and --version stay 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : EX_USAGE;
  }
  options.config_given = status_config->count() > 0;

  if (*run_cmd) return run(options);
  // Only the daemon waits for them on a signalfd; for the others they keep their default action.
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
  if (*check_cmd) return check(options);
  if (*ca_init_cmd) return ca_init(options);
  if (*rollback_cmd) return rollback(options);
  if (*import_cmd) return import_credential(options);
  if (*status_cmd) return status(options);
  if (*rotate_cmd) return rotate(options);
  if (*reload_cmd) return reload_daemon(options);
  if (*where_cmd) return where_used(options);
  if (*test_cmd) return test_connection(options);
  return EX_USAGE;
}
