#include "cli/run.hpp"

#include <sysexits.h>

#include <cstring>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/common.hpp"
#include "config/config.hpp"
#include "control/server.hpp"
#include "engine/engine.hpp"
#include "metrics/metrics.hpp"
#include "notify/bus.hpp"
#include "notify/runner.hpp"
#include "service/service.hpp"
#include "telemetry/fan_out.hpp"
#include "telemetry/journal.hpp"
#include "telemetry/log.hpp"
#include "util/duration.hpp"
#include "util/instance_lock.hpp"

namespace certrotd::cli {

namespace {

struct Daemon {
  explicit Daemon(const RunDeps& run_deps) : deps(run_deps) {}
  const RunDeps& deps;
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<engine::EventSink> events;
  std::unique_ptr<metrics::Metrics> metrics;      // null without a metrics: section
  std::unique_ptr<engine::EventSink> all_events;  // events and metrics, when there are metrics
  notify::SdBusConnector bus{deps.clock};
  std::unique_ptr<notify::ActionRunner> actions;
  std::string config_path;
  std::unique_ptr<service::Service> service;
  std::unique_ptr<control::ControlServer> control;  // destroyed before the service

  void tell_status(const char* prefix) const {
    deps.notify_manager(prefix + service->status_line());
  }
};

int on_stop_signal(sd_event_source*, const signalfd_siginfo* info, void* userdata) {
  auto* d = static_cast<Daemon*>(userdata);
  d->logger->info("received {}, stopping", strsignal(static_cast<int>(info->ssi_signo)));
  d->deps.notify_manager("STOPPING=1");
  d->service->shutdown();
  return 0;
}

// SIGHUP and `certrotd reload` (over D-Bus): the same reload, told to the service manager.
Result<void> reload(Daemon& d) {
  d.deps.notify_manager("RELOADING=1");
  d.logger->info("reloading configuration from {}", d.config_path);
  auto done = d.service->reload_file(d.config_path);
  if (done) d.logger->info("configuration reloaded: {} credentials", d.service->engine().size());
  if (d.metrics) {
    const engine::Engine& engine = d.service->engine();
    if (done) d.metrics->retain([&engine](const auto& name) { return engine.output_dir(name); });
    d.metrics->config_loaded(done.has_value(), d.deps.clock.wall_now());
  }
  // The rejection itself is a reload-rejected event, and STATUS= (sent from on_change) shows it.
  d.tell_status("READY=1\nSTATUS=");
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

// The logger, the event sink in front of it and the runner of on_rotate actions.
void set_up_reporting(Daemon& d, const Options& options) {
  d.logger = telemetry::make_logger(options.log_level, d.deps.journal);
  if (d.deps.journal) {
    d.events = std::make_unique<telemetry::JournalEventSink>(
        telemetry::severity_of(options.log_level));
  } else {
    d.events = std::make_unique<telemetry::LogEventSink>(d.logger);
  }
  d.actions = std::make_unique<notify::ActionRunner>(notify::RunnerDeps{
      d.bus, d.deps.clock, [](Millis delay) { std::this_thread::sleep_for(delay); },
      [&d](const std::string& action, int attempt, const Error& error, Millis delay) {
        d.logger->warn("{}: attempt {} failed: {}; retrying in {}", action, attempt, error.what(),
                       format_duration(delay));
      }});
}

// Changes to metrics: need a restart; a reload keeps the exporters it started with.
Result<void> set_up_metrics(Daemon& d, const config::MetricsConfig& config, sd_event* loop) {
  auto metrics = metrics::Metrics::create(
      config, loop, d.deps.clock, CERTROTD_VERSION,
      [&d](const Error& error) { d.logger->warn("metrics textfile: {}", error.what()); });
  if (!metrics) return tl::unexpected(metrics.error());
  d.metrics = std::move(*metrics);
  if (d.metrics) {
    d.all_events = std::make_unique<telemetry::FanOutEventSink>(
        std::vector<engine::EventSink*>{d.events.get(), &d.metrics->sink()});
  }
  return {};
}

// A daemon that cannot hear SIGTERM must not start at all.
bool add_signal_handlers(Daemon& d, sd_event* loop) {
  const struct {
    int signal;
    sd_event_signal_handler_t handler;
  } signal_handlers[] = {{SIGTERM, on_stop_signal},
                         {SIGINT, on_stop_signal},
                         {SIGHUP, on_reload_signal},
                         {SIGUSR1, on_rotate_signal}};
  for (const auto& [signal, handler] : signal_handlers) {
    if (int r = sd_event_add_signal(loop, nullptr, signal, handler, &d); r < 0) {
      d.logger->critical("cannot handle {}: {}", strsignal(signal), errno_text(-r));
      return false;
    }
  }
  return true;
}

// The control interface; rotations do not need it, only `certrotd status/rotate/rollback` do.
void set_up_control(Daemon& d, const Options& options, sd_event* loop) {
  control::ControlOptions control_options{
      std::filesystem::absolute(options.config).lexically_normal().string(), d.deps.pid,
      [&d] { return reload(d); },
      // An answer about every credential is one-off work: at 10,000 it is 2.4 MB of JSON
      // and its copy in the D-Bus message. Nothing leaks (heaptrack), but glibc kept the
      // freed pages: 5 MB more RSS after the first `certrotd status` without this, none with.
      d.deps.trim_memory};
  if (auto control = control::ControlServer::create(loop, bus_of(options), *d.service,
                                                    std::move(control_options));
      control) {
    d.control = std::move(*control);
  } else {
    d.logger->warn("control interface unavailable: {}", control.error().what());
  }
}

// From the loaded configuration to a service on `loop`; an exit code when it cannot start.
std::optional<int> start_service(Daemon& d, config::Config& config, sd_event* loop,
                                 std::ostream& err) {
  if (auto metrics = set_up_metrics(d, config.metrics, loop); !metrics) {
    d.logger->critical("cannot start: {}", metrics.error().what());
    return EX_UNAVAILABLE;
  }
  engine::EngineDeps deps{d.deps.clock, d.deps.random, d.all_events ? *d.all_events : *d.events,
                          d.actions.get()};
  // systemd's LoadCredential= puts secrets here; lib/ reads no environment, so it is passed in.
  deps.credentials_directory = d.deps.credentials_directory;
  deps.acme_socket = d.deps.acme_socket;
  auto engine = engine::Engine::create(config, deps);
  if (!engine) return report_config_error(err, engine.error());
  config = config::Config{};  // the engine keeps its own copy; this one would only cost memory
  auto service = service::Service::create(loop, std::move(*engine));
  if (!service) {
    d.logger->critical("cannot start: {}", service.error().what());
    return EX_OSERR;
  }
  d.service = std::move(*service);
  d.service->on_change([&d] { d.tell_status("STATUS="); });
  if (d.metrics) d.metrics->config_loaded(true, d.deps.clock.wall_now());
  return std::nullopt;
}

// Runs the loop until a stop signal; tears down what reads the loop before the loop itself.
int serve(Daemon& d, const Options& options, sd_event* loop) {
  if (!add_signal_handlers(d, loop)) return EX_OSERR;
  // Pings the service manager's watchdog from the loop, when WatchdogSec= is set.
  sd_event_set_watchdog(loop, 1);

  // yaml-cpp builds a node per scalar: with 10,000 credentials the parse leaves about 50 MB
  // free but still mapped. Hand it back before settling down to sleep.
  d.deps.trim_memory();
  d.logger->info("certrotd {} running with {} credentials from {}", CERTROTD_VERSION,
                 d.service->engine().size(), options.config);
  set_up_control(d, options, loop);
  d.tell_status("READY=1\nSTATUS=");
  const int r = sd_event_loop(loop);
  d.control.reset();
  d.service.reset();
  d.metrics.reset();  // its timer and HTTP thread go before the loop
  if (r < 0) {
    d.logger->critical("event loop failed: {}", errno_text(-r));
    return EX_SOFTWARE;
  }
  d.logger->info("stopped");
  return 0;
}

}  // namespace

// Exec hooks are spawned with an empty mask (lib/notify/runner.cpp).
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  return set;
}

int run(const Options& options, const RunDeps& deps, std::ostream& err) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(err, config.error());
  // Before anything touches an output folder: a second daemon must not even recover them.
  auto lock = InstanceLock::acquire(config->state_dir, deps.pid);
  if (!lock) return report_lock_error(err, "run", lock.error());

  // The handled signals are blocked since main() began (see handled_signals): they wait for
  // the event loop's signalfd, and every thread started from here inherits the mask.
  Daemon d(deps);
  set_up_reporting(d, options);
  d.config_path = options.config;

  sd_event* raw_loop = nullptr;
  if (int r = sd_event_default(&raw_loop); r < 0) {
    d.logger->critical("cannot create the event loop: {}", errno_text(-r));
    return EX_OSERR;
  }
  service::SdEventPtr loop(raw_loop);  // owned here; sources below are owned by the loop
  if (auto code = start_service(d, *config, loop.get(), err)) return *code;
  return serve(d, options, loop.get());
}

}  // namespace certrotd::cli
