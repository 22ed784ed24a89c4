// What to do to dependents after a credential was swapped: the `on_rotate:` list of a credential.
//
// Each action is one of
//   systemd: reload/restart/try-restart/reload-or-restart a unit, or send it a signal (KillUnit),
//            through org.freedesktop.systemd1.Manager on the system or the user bus;
//   signal:  a signal to the process named by a pidfile;
//   exec:    a command (argv, no shell) with a timeout.
// Plain data: lib/config fills it in, lib/notify carries it out.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/clock.hpp"

namespace certrotd::notify {

enum class UnitAction { reload, restart, try_restart, reload_or_restart, kill };
enum class BusKind { system, user };

struct SystemdAction {
  std::string unit;
  UnitAction action = UnitAction::reload;
  int signal = 1;  // SIGHUP; used by `kill` only
  BusKind bus = BusKind::system;
  Millis timeout = std::chrono::seconds(90);  // for the job to finish (systemd's own default)
};

struct SignalAction {
  std::filesystem::path pidfile;
  int signal = 1;  // SIGHUP
};

struct ExecAction {
  std::vector<std::string> command;  // argv; command[0] is an absolute path or found in PATH
  Millis timeout = std::chrono::seconds(30);
};

struct Action {
  std::variant<SystemdAction, SignalAction, ExecAction> what;
};

// "systemd reload nginx.service (system bus)", "signal HUP to /run/app.pid",
// "exec /usr/local/bin/push-cert": how actions are named in logs, status and where-used.
std::string describe(const Action& action);

std::string_view to_string(UnitAction action);  // "reload", "try-restart", ...
std::optional<UnitAction> parse_unit_action(std::string_view text);
std::string_view to_string(BusKind bus);  // "system", "user"

// "HUP", "SIGHUP", "hup" and "1" all name SIGHUP. nullopt for anything else.
std::optional<int> parse_signal(std::string_view text);
// "HUP" for SIGHUP; the number for signals without a short name here.
std::string signal_name(int signal);

}  // namespace certrotd::notify
