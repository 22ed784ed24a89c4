// certrotd: keeps short-lived x509 credentials fresh.
//
// This file only parses arguments, wires real implementations (clock, randomness, logger, event
// loop, signals) and calls into lib/. Every rule lives in lib/.
#include <signal.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "engine/service.hpp"
#include "issuer/ca_init.hpp"
#include "store/credential_store.hpp"
#include "util/duration.hpp"

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
};

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
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
  std::unique_ptr<engine::LogEventSink> events;
  std::string config_path;
  std::unique_ptr<engine::Service> service;
};

std::string status_text(engine::Engine& engine) {
  std::size_t renewing = 0;
  std::size_t failing = 0;
  for (const auto& s : engine.status()) {
    if (s.state == schedule::State::renewing) ++renewing;
    if (s.failures > 0) ++failing;
  }
  return std::to_string(engine.size()) + " credentials, " + std::to_string(renewing) +
         " renewing, " + std::to_string(failing) + " failing";
}

int on_stop_signal(sd_event_source*, const signalfd_siginfo* info, void* userdata) {
  auto* d = static_cast<Daemon*>(userdata);
  d->logger->info("received {}, stopping", strsignal(static_cast<int>(info->ssi_signo)));
  sd_notify(0, "STOPPING=1");
  d->service->shutdown();
  return 0;
}

int on_reload_signal(sd_event_source*, const signalfd_siginfo*, void* userdata) {
  auto* d = static_cast<Daemon*>(userdata);
  sd_notify(0, "RELOADING=1");
  d->logger->info("reloading configuration from {}", d->config_path);
  auto config = config::load_config(d->config_path);
  if (!config) {
    d->logger->error("new configuration rejected, keeping the old one:\n{}", config.error().what());
  } else if (auto r = d->service->reload(*config); !r) {
    d->logger->error("new configuration rejected, keeping the old one: {}", r.error().what());
  } else {
    d->logger->info("configuration reloaded: {} credentials", d->service->engine().size());
  }
  sd_notify(0, "READY=1");
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

  // Signals are delivered through the event loop; block them before any thread starts so
  // rotation workers inherit the mask and never take them.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&mask, s);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);

  Daemon d;
  d.logger = make_logger(options.log_level);
  d.events = std::make_unique<engine::LogEventSink>(d.logger);
  d.config_path = options.config;

  sd_event* raw_loop = nullptr;
  if (int r = sd_event_default(&raw_loop); r < 0) {
    d.logger->critical("cannot create the event loop: {}", strerror(-r));
    return EX_OSERR;
  }
  engine::SdEventPtr loop(raw_loop);  // owned here; sources below are owned by the loop

  auto engine = engine::Engine::create(*config, {d.clock, d.random, *d.events});
  if (!engine) return report_config_error(engine.error());
  auto service = engine::Service::create(loop.get(), std::move(*engine));
  if (!service) {
    d.logger->critical("cannot start: {}", service.error().what());
    return EX_OSERR;
  }
  d.service = std::move(*service);
  d.service->on_change([&d] {
    sd_notifyf(0, "STATUS=%s", status_text(d.service->engine()).c_str());
  });

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

  d.logger->info("certrotd {} running with {} credentials from {}", CERTROTD_VERSION,
                 d.service->engine().size(), options.config);
  sd_notifyf(0, "READY=1\nSTATUS=%s", status_text(d.service->engine()).c_str());
  const int r = sd_event_loop(loop.get());
  d.service.reset();
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

int check(const Options& options) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  RealClock clock;
  const SystemTime now = clock.wall_now();
  std::cout << options.config << ": OK, " << config->credentials.size() << " credentials, "
            << config->issuers.size() << " issuers\n";
  for (const auto& s : engine::Engine::inspect(*config, clock)) {
    std::printf("%-24s %-12s not-after %-34s next-renewal %s%s\n", s.name.c_str(),
                std::string(schedule::to_string(s.state)).c_str(),
                when_text(s.cert ? std::optional(s.cert->not_after) : std::nullopt, now).c_str(),
                when_text(s.next_attempt, now).c_str(),
                s.last_error.empty() ? "" : ("  last error: " + s.last_error).c_str());
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
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    std::cerr << "certrotd rollback: no credential named '" << options.credential << "' in "
              << options.config << "\n";
    return EX_USAGE;
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
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"certrotd: keeps short-lived x509 credentials fresh"};
  app.set_version_flag("--version", std::string("certrotd ") + CERTROTD_VERSION);
  app.require_subcommand(1);

  auto* run_cmd = app.add_subcommand("run", "Run the daemon in the foreground");
  run_cmd->add_option("-c,--config", options.config, "Configuration file")->capture_default_str();
  run_cmd->add_option("--log-level", options.log_level, "trace|debug|info|warn|error")
      ->capture_default_str();

  auto* check_cmd = app.add_subcommand(
      "check", "Validate the configuration and show each credential's state (exit 78 if invalid)");
  check_cmd->add_option("-c,--config", options.config, "Configuration file")->capture_default_str();

  auto* ca_cmd = app.add_subcommand("ca", "Manage the embedded development CA");
  ca_cmd->require_subcommand(1);
  auto* ca_init_cmd = ca_cmd->add_subcommand("init", "Create a root CA (and an intermediate)");
  ca_init_cmd->add_option("--dir", options.ca_dir, "Folder for ca.pem and ca.key")->required();
  ca_init_cmd->add_flag("--intermediate", options.ca_intermediate,
                        "Also create intermediate.pem/.key signed by the root");
  ca_init_cmd->add_flag("--force", options.ca_force, "Replace an existing CA in that folder");

  auto* rollback_cmd =
      app.add_subcommand("rollback", "Make the previous version of a credential live again");
  rollback_cmd->add_option("-c,--config", options.config, "Configuration file")
      ->capture_default_str();
  rollback_cmd->add_option("name", options.credential, "Credential name")->required();

  CLI11_PARSE(app, argc, argv);

  if (*run_cmd) return run(options);
  if (*check_cmd) return check(options);
  if (*ca_init_cmd) return ca_init(options);
  if (*rollback_cmd) return rollback(options);
  return EX_USAGE;
}
