// The subcommands of `certrotd` other than `run` (run.hpp): each takes the parsed options and
// what lib/ may not reach itself (streams, clock, randomness, PID, environment), writes what the
// user sees to `out` and `err`, and returns the exit code. daemon/main.cpp only parses arguments
// and calls one of these, so every message and exit code is unit-tested (tests/unit/cli).
//
// Exit codes: 0 fine; sysexits.h for what went wrong before an answer (EX_USAGE 64 for an unknown
// name or bad option value, EX_CONFIG 78 for a configuration with file:line:col, EX_UNAVAILABLE 69
// when the daemon refused or could not be asked, EX_TEMPFAIL 75 when trying again later works,
// EX_IOERR 74 / EX_CANTCREAT 73 / EX_NOINPUT 66 / EX_DATAERR 65 for files); `status` and
// `check` exit 1 when a credential needs attention and 2 when only a dependent failed.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "control/client.hpp"
#include "engine/events.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"

namespace certrotd::cli {

inline constexpr const char* k_default_config = "/etc/certrotd/config.yaml";

// What the command line says (daemon/main.cpp's CLI11 table fills it).
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
  std::string rollback_to;  // rollback --to SERIAL|VERSION
  bool force = false;       // rollback --to: an expired version too
  // revoke --reason
  std::string revoke_reason = "unspecified";
  std::string issuer;  // acme-key-change ISSUER
};

notify::BusKind bus_of(const Options& options);

// Where a command writes and what it takes from the process.
struct Context {
  std::ostream& out;
  std::ostream& err;
  const Clock& clock;
  Random& random;
  pid_t pid = 0;  // this process, for the state directory's lock
  // $CREDENTIALS_DIRECTORY (systemd LoadCredential=), read by daemon/.
  std::optional<std::filesystem::path> credentials_directory = std::nullopt;
};

// `check`: validates the configuration as `run` would (the issuers' files and trust anchors
// too, reporting trouble through `events`), then prints "FILE: OK, N credentials, M issuers",
// what the shipped unit's sandbox would refuse (`unit_read_write_paths`: its ReadWritePaths=,
// space-separated, "-"/"+" prefixes allowed) and, unless --config-only, one line per
// credential. With --polkit-rule, prints the polkit rule instead.
int check(const Options& options, Context& context, engine::EventSink& events,
          std::string_view unit_read_write_paths);

// `status [NAME...]`: the running daemon's answer through `daemon` when one answers on the bus,
// otherwise figures from the files; a table (or --json).
int status(const Options& options, const control::ControlClient& daemon, Context& context);

// `reload`: the running daemon re-reads its configuration; a rejected file is EX_CONFIG.
int reload(const control::ControlClient& daemon, Context& context);

// `rotate [NAME...] [--wait [--timeout D]]`.
int rotate(const Options& options, const control::ControlClient& daemon, Context& context);

// `rollback NAME [--to SERIAL|VERSION [--force]]`: through the daemon when one answers,
// otherwise on the files under the lock. A target that names no kept version, the live one, or
// (without --force) an expired one is refused with EX_UNAVAILABLE, as a rollback with no older
// version is.
int rollback(const Options& options, const control::ControlClient& daemon, Context& context);

// `revoke NAME [--reason R]`: through the running daemon only (the issuer is its to ask, and
// the rotation that follows is its to run). 0 once the issuer revoked; a reason that is no
// RFC 5280 CRLReason name is EX_USAGE; no daemon, an issuer that cannot revoke or that refused
// is EX_UNAVAILABLE, as the daemon's other refusals; an unknown name EX_USAGE.
int revoke(const Options& options, const control::ControlClient& daemon, Context& context);
// `acme-key-change ISSUER`: the running daemon rolls the account key of that acme issuer over
// (RFC 8555 §7.3.5; it holds the account). 0 once the server accepted the new key; no daemon,
// an issuer no credential uses or of another type, or a refusal is EX_UNAVAILABLE (a key change
// whose answer was lost too: the daemon settles which key holds at its next request).
int acme_key_change(const Options& options, const control::ControlClient& daemon, Context& context);
// `activate NAME`: the running daemon makes the credential's staged version live now (the swap,
// then on_rotate). Nothing staged, or a staged certificate that expired, is EX_UNAVAILABLE, as a
// rollback with no older version is; so is no daemon answering (the state file would not know).
int activate(const Options& options, const control::ControlClient& daemon, Context& context);

// `history NAME [--json]`: the kept versions from the files, newest first: folder, serial (as
// `openssl x509 -serial` prints it), validity, when it was live, how that ended, issuer.
int history(const Options& options, Context& context);

// `import NAME --cert F --key F [--chain F]`.
int import_credential(const Options& options, Context& context);

// `ca init --dir D [--intermediate] [--force]`.
int ca_init(const Options& options, Context& context);

// `where-used NAME`: every output folder, copy, unit, pidfile and hook of a credential.
int where_used(const Options& options, Context& context);

// `test-connection NAME URL` (test_connection.hpp). A write to a server that closed must fail
// with EPIPE: the caller ignores SIGPIPE first.
int test_connection(const Options& options, Context& context);

}  // namespace certrotd::cli
