// certrotd: keeps short-lived x509 credentials fresh.
//
// This file only parses arguments, wires the process's real parts (clock, randomness, PID,
// environment, the service manager, signals) and calls one entry point of lib/cli. Every rule
// lives in lib/.
#include <malloc.h>
#include <signal.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/run.hpp"
#include "telemetry/log.hpp"
#include "unit_paths.hpp"

namespace {

using namespace certrotd;

// journald when our stderr is connected to it (systemd sets JOURNAL_STREAM to the device and
// inode of that stream), so structured fields reach it; a terminal or a pipe gets plain lines.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) == stream;
}

// systemd's LoadCredential= puts secrets here; lib/ reads no environment, so it is passed in.
std::optional<std::filesystem::path> credentials_directory() {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  return dir ? std::optional<std::filesystem::path>(dir) : std::nullopt;
}

// The socket certrotd-acme.socket passes (FileDescriptorName=acme) for the ACME http-01
// responder; -1 when the service manager passed none.
int acme_socket() {
  char** names = nullptr;
  const int count = sd_listen_fds_with_names(1, &names);
  int found = -1;
  for (int i = 0; i < count; ++i) {
    if (found < 0 && names[i] != nullptr && std::string(names[i]) == "acme") {
      found = SD_LISTEN_FDS_START + i;
    }
    std::free(names[i]);
  }
  std::free(names);
  return found;
}

int run(const cli::Options& options, const Clock& clock, Random& random) {
  const cli::RunDeps deps{
      clock,
      random,
      ::getpid(),
      credentials_directory(),
      options.log_target == "journal" || (options.log_target == "auto" && stderr_is_journal()),
      [](const std::string& state) { sd_notify(0, state.c_str()); },
      [] { ::malloc_trim(0); },
      acme_socket()};
  return cli::run(options, deps, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGUSR1's and SIGHUP's default action is to terminate, so one sent while the daemon is still
  // loading its configuration (about 13 ms at 10,000 credentials, more on a busy machine) killed
  // it: they are blocked first thing and stay pending until the event loop's signalfd picks
  // them up.
  const sigset_t handled = cli::handled_signals();
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);

  cli::Options options;
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
  rollback_cmd->add_option("--to", options.rollback_to,
                           "Restore this kept version instead: a serial as `history` prints it "
                           "(any case, leading zeros optional) or a version folder name");
  rollback_cmd->add_flag("--force", options.force, "With --to: restore an expired version too");
  add_bus(rollback_cmd);

  auto* revoke_cmd = app.add_subcommand(
      "revoke", "Revoke a credential's live certificate through its issuer, then rotate it");
  revoke_cmd->add_option("-c,--config", options.config, "Configuration file")
      ->capture_default_str();
  revoke_cmd->add_option("name", options.credential, "Credential name")->required();
  revoke_cmd->add_option("--reason", options.revoke_reason, "Revocation reason")
      ->check(CLI::IsMember({"unspecified", "keyCompromise", "affiliationChanged", "superseded",
                             "cessationOfOperation"}))
      ->capture_default_str();
  add_bus(revoke_cmd);
  auto* key_change_cmd = app.add_subcommand(
      "acme-key-change", "Roll the ACME account key of an issuer over (RFC 8555 keyChange)");
  key_change_cmd->add_option("issuer", options.issuer, "Issuer name (type: acme)")->required();
  add_bus(key_change_cmd);
  auto* activate_cmd = app.add_subcommand(
      "activate", "Make the staged version of a credential (activation: staged) live now");
  activate_cmd->add_option("name", options.credential, "Credential name")->required();
  add_bus(activate_cmd);

  auto* history_cmd = app.add_subcommand(
      "history", "List the kept versions of a credential, newest first, from the files");
  history_cmd->add_option("-c,--config", options.config, "Configuration file")
      ->capture_default_str();
  history_cmd->add_option("name", options.credential, "Credential name")->required();
  history_cmd->add_flag("--json", options.json, "JSON instead of a table");

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

  RealClock clock;
  SystemRandom random;
  if (*run_cmd) return run(options, clock, random);
  // Only the daemon waits for them on a signalfd; for the others they keep their default action.
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
  cli::Context context{std::cout, std::cerr, clock, random, ::getpid(), credentials_directory()};
  const control::ControlClient daemon(cli::bus_of(options));
  if (*check_cmd) {
    // Trouble with an issuer's files, as `run` would log it.
    telemetry::LogEventSink events(telemetry::make_logger("warn", false));
    return cli::check(options, context, events, k_unit_read_write_paths);
  }
  if (*ca_init_cmd) return cli::ca_init(options, context);
  if (*rollback_cmd) return cli::rollback(options, daemon, context);
  if (*revoke_cmd) return cli::revoke(options, daemon, context);
  if (*key_change_cmd) return cli::acme_key_change(options, daemon, context);
  if (*activate_cmd) return cli::activate(options, daemon, context);
  if (*history_cmd) return cli::history(options, context);
  if (*import_cmd) return cli::import_credential(options, context);
  if (*status_cmd) return cli::status(options, daemon, context);
  if (*rotate_cmd) return cli::rotate(options, daemon, context);
  if (*reload_cmd) return cli::reload(daemon, context);
  if (*where_cmd) return cli::where_used(options, context);
  if (*test_cmd) {
    // A server that refuses the certificate may close before the request is written; a write to
    // that socket must fail with EPIPE, not kill the process.
    signal(SIGPIPE, SIG_IGN);
    return cli::test_connection(options, context);
  }
  return EX_USAGE;
}
