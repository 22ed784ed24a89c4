// `certrotd run`: the daemon. Loads the configuration, takes the state directory's lock, wires
// the event sinks (journal or log lines, and the metrics), the engine, the sd-event service, the
// D-Bus control server and the signals, and runs the event loop until SIGTERM or SIGINT.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"

namespace certrotd::cli {

// What the daemon takes from its process (daemon/main.cpp).
struct RunDeps {
  const Clock& clock;
  Random& random;
  pid_t pid = 0;
  std::optional<std::filesystem::path> credentials_directory = std::nullopt;
  // Events as structured journal entries rather than log lines on stderr.
  bool journal = false;
  // Tells the service manager ("READY=1", "STATUS=...", "RELOADING=1", "STOPPING=1").
  std::function<void(const std::string&)> notify_manager;
  // Gives freed memory back to the system, after the start-up and after an answer about
  // every credential (glibc keeps the pages otherwise).
  std::function<void()> trim_memory;
  // The socket systemd passed under the name "acme" (certrotd-acme.socket); -1: none.
  int acme_socket = -1;
};

// The signals the event loop handles (SIGTERM, SIGINT: stop; SIGHUP: reload; SIGUSR1: rotate
// all). The caller blocks them before any thread starts, so one sent while the configuration
// is still loading waits for the loop instead of killing the process with its default action.
sigset_t handled_signals();

// Exit code: 0 after a stop, EX_CONFIG for a bad configuration, EX_TEMPFAIL / EX_CANTCREAT
// when the lock cannot be had, EX_UNAVAILABLE / EX_OSERR / EX_SOFTWARE when the loop cannot
// start or fails. Errors before the logger exists go to `err`.
int run(const Options& options, const RunDeps& deps, std::ostream& err);

}  // namespace certrotd::cli
