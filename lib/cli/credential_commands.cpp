// The subcommands about one credential's files and peers (import, where-used, test-connection)
// and `ca init`; none of them talks to the daemon.
#include <sysexits.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/test_connection.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "issuer/local/ca_init.hpp"
#include "util/files.hpp"
#include "util/instance_lock.hpp"

namespace certrotd::cli {

namespace {

// The files named by --cert, --key and --chain; an exit code when one cannot be read.
std::optional<int> read_import_input(const Options& options, engine::ImportInput& input,
                                     std::ostream& err) {
  for (const auto& [path, text] :
       {std::pair{&options.import_cert, &input.cert}, std::pair{&options.import_key, &input.key},
        std::pair{&options.import_chain, &input.chain}}) {
    if (path->empty()) continue;
    auto read = read_file(*path);
    if (!read) {
      err << "certrotd import: " << read.error().what() << "\n";
      return EX_NOINPUT;
    }
    *text = std::move(*read);
  }
  return std::nullopt;
}

}  // namespace

int import_credential(const Options& options, Context& context) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    context.err << "certrotd import: no credential named '" << options.credential << "' in "
                << options.config << "\n";
    return EX_USAGE;
  }
  engine::ImportInput input;
  if (auto code = read_import_input(options, input, context.err)) return *code;
  // With no daemon, hold the state directory while installing so that one starting meanwhile
  // waits; a running daemon keeps it and adopts the new version through inotify.
  std::optional<InstanceLock> lock;
  if (auto taken = InstanceLock::acquire(config->state_dir, context.pid)) lock = std::move(*taken);
  const bool daemon_running = !lock && InstanceLock::holder(config->state_dir).has_value();
  auto installed = engine::import_credential(*config, *credential, input, context.clock.wall_now());
  if (!installed) {
    context.err << "certrotd import: " << installed.error().what() << "\n";
    return installed.error().reason == Reason::io ? EX_IOERR : EX_DATAERR;
  }
  context.out << options.credential << ": serial " << installed->info.serial
              << " is live as version " << installed->version << "\n";
  if (installed->copy_error) {
    context.err << "certrotd import: a copy is missing: " << installed->copy_error->what() << "\n";
    return EX_IOERR;
  }
  // A running daemon sees the new version through inotify and runs the on_rotate actions.
  if (!credential->on_rotate.empty() && !daemon_running) {
    report_dependents_not_told(context.err, "import", options.credential);
  }
  return 0;
}

int ca_init(const Options& options, Context& context) {
  issuer::CaInitOptions ca;
  ca.dir = options.ca_dir;
  ca.intermediate = options.ca_intermediate;
  ca.overwrite = options.ca_force;
  auto made = issuer::init_ca(ca, context.clock, context.random);
  if (!made) {
    context.err << "certrotd ca init: " << made.error().what() << "\n";
    return EX_CANTCREAT;
  }
  context.out << "root CA:      " << made->ca_cert.string() << " (key " << made->ca_key.string()
              << ")\n";
  if (!made->intermediate_cert.empty()) {
    context.out << "intermediate: " << made->intermediate_cert.string() << " (key "
                << made->intermediate_key.string() << ")\n";
  }
  return 0;
}

// Every unit, pidfile, hook and copy that depends on a credential.
int where_used(const Options& options, Context& context) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    context.err << "certrotd where-used: no credential named '" << options.credential << "'\n";
    return EX_USAGE;
  }
  std::ostream& out = context.out;
  out << "output  " << credential->output.dir << "\n";
  for (const auto& copy : credential->output.copies)
    out << "copy    " << copy.path.string() << "\n";
  for (const auto& action : credential->on_rotate) {
    if (const auto* u = std::get_if<notify::SystemdAction>(&action.what)) {
      out << "unit    " << u->unit << "  (" << notify::describe(action) << ")\n";
    } else if (const auto* p = std::get_if<notify::SignalAction>(&action.what)) {
      out << "pidfile " << p->pidfile.string() << "  (" << notify::describe(action) << ")\n";
    } else {
      out << "hook    " << notify::describe(action) << "\n";
    }
  }
  return 0;
}

int test_connection(const Options& options, Context& context) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    context.err << "certrotd test-connection: no credential named '" << options.credential << "'\n";
    return EX_USAGE;
  }
  auto report = test_connection(*credential, options.url);
  if (!report) {
    context.err << "certrotd test-connection: " << report.error().what() << "\n";
    return EX_UNAVAILABLE;
  }
  print_connection_report(*report, context.out);
  return connection_passed(*report) ? 0 : 1;
}

}  // namespace certrotd::cli
