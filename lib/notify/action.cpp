#include "notify/action.hpp"

#include <cctype>
#include <csignal>

namespace certrotd::notify {

namespace {

struct SignalName {
  std::string_view name;
  int number;
};

constexpr SignalName k_signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},   {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"WINCH", SIGWINCH},
};

struct UnitActionName {
  std::string_view name;
  UnitAction action;
};

constexpr UnitActionName k_unit_actions[] = {
    {"reload", UnitAction::reload},
    {"restart", UnitAction::restart},
    {"try-restart", UnitAction::try_restart},
    {"reload-or-restart", UnitAction::reload_or_restart},
    {"kill", UnitAction::kill},
};

}  // namespace

std::string_view to_string(UnitAction action) {
  for (const auto& a : k_unit_actions) {
    if (a.action == action) return a.name;
  }
  return "unknown";
}

std::optional<UnitAction> parse_unit_action(std::string_view text) {
  for (const auto& a : k_unit_actions) {
    if (a.name == text) return a.action;
  }
  return std::nullopt;
}

std::string_view to_string(BusKind bus) { return bus == BusKind::user ? "user" : "system"; }

std::optional<int> parse_signal(std::string_view text) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view name = upper;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (const auto& s : k_signals) {
    if (s.name == name) return s.number;
  }
  if (!name.empty() && name.size() <= 2 &&
      name.find_first_not_of("0123456789") == std::string_view::npos) {
    const int n = std::stoi(std::string(name));
    if (n > 0 && n < 32) return n;
  }
  return std::nullopt;
}

std::string signal_name(int signal) {
  for (const auto& s : k_signals) {
    if (s.number == signal) return std::string(s.name);
  }
  return std::to_string(signal);
}

std::string describe(const Action& action) {
  if (const auto* s = std::get_if<SystemdAction>(&action.what)) {
    std::string text = "systemd " + std::string(to_string(s->action));
    if (s->action == UnitAction::kill) text += " -s " + signal_name(s->signal);
    return text + " " + s->unit + " (" + std::string(to_string(s->bus)) + " bus)";
  }
  if (const auto* s = std::get_if<SignalAction>(&action.what)) {
    return "signal " + signal_name(s->signal) + " to the process in " + s->pidfile.string();
  }
  const auto& e = std::get<ExecAction>(action.what);
  std::string text = "exec";
  for (const auto& arg : e.command) text += " " + arg;
  return text;
}

}  // namespace certrotd::notify
