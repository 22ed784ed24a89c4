// The subcommands that ask the running daemon: reload, rotate, activate, rollback (which falls
// back to the files when no daemon answers).
#include <sysexits.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/history.hpp"
#include "store/credential_store.hpp"
#include "util/duration.hpp"
#include "util/instance_lock.hpp"

namespace certrotd::cli {

notify::BusKind bus_of(const Options& options) {
  return options.bus == "user" ? notify::BusKind::user : notify::BusKind::system;
}

// Validates and applies the configuration in the running daemon; a rejected file fails with
// its file:line:col (EX_CONFIG), so `systemctl reload` fails too (ExecReload=certrotd reload).
int reload(const control::ControlClient& daemon, Context& context) {
  auto done = daemon.reload();
  if (!done) {
    context.err << "certrotd reload: " << done.error().what() << "\n";
    return done.error().retryable() ? EX_UNAVAILABLE : EX_CONFIG;
  }
  context.out << "configuration reloaded\n";
  return 0;
}

namespace {

// `rotate --wait`: one line per credential; 0 when all were renewed, 1 when one failed, 75
// (EX_TEMPFAIL) when --timeout passed first.
int rotate_and_wait(const Options& options, const control::ControlClient& daemon,
                    Context& context) {
  auto timeout = parse_duration(options.timeout);
  if (!timeout) {
    context.err << "certrotd rotate: --timeout " << options.timeout << ": "
                << timeout.error().what() << "\n";
    return EX_USAGE;
  }
  auto done = daemon.rotate_and_wait(options.names, *timeout);
  if (!done) {
    if (done.error().reason == Reason::network) {
      context.err << "certrotd rotate: " << done.error().what() << "\n";
      return EX_TEMPFAIL;
    }
    return daemon_refusal(context.err, "rotate", done.error());
  }
  bool all_renewed = true;
  for (const auto& r : *done) {
    context.out << r.name << ": " << (r.renewed ? "renewed, " : "FAILED: ") << r.detail << "\n";
    all_renewed &= r.renewed;
  }
  return all_renewed ? 0 : 1;
}

// `rollback --to` on the files: the version the target names, if it may be restored.
Result<std::string> rollback_files_to(const store::CredentialStore& store, const Options& options,
                                      Context& context) {
  auto history = engine::read_history(store);
  if (!history) return fail(history.error());
  const SystemTime now = context.clock.wall_now();
  auto id = engine::pick_version(*history, options.rollback_to, now,
                                 options.force ? engine::Expired::allow : engine::Expired::refuse);
  if (!id) return id;
  return store.rollback_to(*id, now);
}

// No daemon answered: roll back on the files, holding the state directory.
int rollback_files(const Options& options, Context& context) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    context.err << "certrotd rollback: no credential named '" << options.credential << "' in "
                << options.config << "\n";
    return EX_USAGE;
  }
  // A daemon that did not answer on this bus may still run (another bus, or no control
  // interface): swapping under it would race its rotations.
  auto lock = InstanceLock::acquire(config->state_dir, context.pid);
  if (!lock) {
    const int code = report_lock_error(context.err, "rollback", lock.error());
    if (lock.error().retryable()) {
      context.err << "  it does not answer on the " << options.bus
                  << " bus: roll back through it (certrotd rollback --bus system|user "
                  << options.credential << ") or stop it first\n";
    }
    return code;
  }
  auto store = store::CredentialStore::open(credential->output);
  if (!store) {
    context.err << "certrotd rollback: " << store.error().what() << "\n";
    return EX_IOERR;
  }
  auto version = options.rollback_to.empty() ? store->rollback(context.clock.wall_now())
                                             : rollback_files_to(*store, options, context);
  if (!version) {
    context.err << "certrotd rollback: " << version.error().what() << "\n";
    return EX_UNAVAILABLE;
  }
  // A running daemon sees the change through inotify and schedules from the restored dates.
  context.out << options.credential << ": rolled back to version " << *version << "\n";
  if (!credential->on_rotate.empty()) {
    report_dependents_not_told(context.err, "rollback", options.credential);
  }
  return 0;
}

}  // namespace

int rotate(const Options& options, const control::ControlClient& daemon, Context& context) {
  if (options.wait) return rotate_and_wait(options, daemon, context);
  auto done = daemon.rotate(options.names);
  if (!done) return daemon_refusal(context.err, "rotate", done.error());
  context.out << (options.names.empty() ? std::string("all credentials")
                                        : std::to_string(options.names.size()) + " credential(s)")
              << " queued for rotation\n";
  return 0;
}

int revoke(const Options& options, const control::ControlClient& daemon, Context& context) {
  if (!engine::revocation_reason_named(options.revoke_reason)) {
    context.err << "certrotd revoke: --reason " << options.revoke_reason
                << ": use unspecified, keyCompromise, affiliationChanged, superseded or "
                   "cessationOfOperation\n";
    return EX_USAGE;
  }
  auto done = daemon.revoke(options.credential, options.revoke_reason);
  if (done) {
    context.out << options.credential << ": " << *done << "\n";
    return 0;
  }
  if (done.error().retryable()) {
    context.err << "certrotd revoke: " << done.error().what()
                << "; revoking needs the running daemon (its issuer, and the rotation after)\n";
    return EX_UNAVAILABLE;
  }
  return daemon_refusal(context.err, "revoke", done.error());
}

int acme_key_change(const Options& options, const control::ControlClient& daemon,
                    Context& context) {
  auto done = daemon.acme_key_change(options.issuer);
  if (done) {
    context.out << *done << "\n";
    return 0;
  }
  if (done.error().retryable()) {
    context.err << "certrotd acme-key-change: " << done.error().what()
                << "; the key change needs the running daemon (it holds the account)\n";
    return EX_UNAVAILABLE;
  }
  return daemon_refusal(context.err, "acme-key-change", done.error());
}

int activate(const Options& options, const control::ControlClient& daemon, Context& context) {
  auto version = daemon.activate(options.credential);
  if (version) {
    context.out << options.credential << ": staged version " << *version << " is live\n";
    return 0;
  }
  if (!version.error().retryable()) return daemon_refusal(context.err, "activate", version.error());
  // Only the daemon knows when a version was staged and tells the dependents after the swap.
  context.err << "certrotd activate: " << version.error().what()
              << "; activation needs the running daemon (systemctl start certrotd)\n";
  return EX_UNAVAILABLE;
}

int rollback(const Options& options, const control::ControlClient& daemon, Context& context) {
  // Through the running daemon when there is one, so it never races a rotation of its own.
  auto version = options.rollback_to.empty()
                     ? daemon.rollback(options.credential)
                     : daemon.rollback_to(options.credential, options.rollback_to, options.force);
  if (version) {
    context.out << options.credential << ": rolled back to version " << *version << "\n";
    return 0;
  }
  if (!version.error().retryable()) return daemon_refusal(context.err, "rollback", version.error());
  return rollback_files(options, context);
}

}  // namespace certrotd::cli
