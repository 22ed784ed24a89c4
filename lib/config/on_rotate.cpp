// Reading a credential's `on_rotate:` list: what to tell dependents after a swap.
#include <string_view>

#include "config/loader.hpp"
#include "config/trusted_paths.hpp"
#include "util/strings.hpp"

namespace certrotd::config::detail {

namespace {

constexpr std::string_view k_example =
    "- systemd: { unit: nginx.service, action: reload }, - signal: { pidfile: /run/app.pid, "
    "signal: HUP } or - exec: { command: [/usr/local/bin/push-cert], timeout: 30s }";

std::optional<int> read_signal(const Field& field, const Reader& reader) {
  const auto text = reader.string(field);
  if (!text) return std::nullopt;
  auto signal = notify::parse_signal(*text);
  if (!signal) {
    reader.add(field.value_mark, "unknown signal '" + *text + "'",
               "write a signal name such as HUP, USR1, USR2 or TERM");
  }
  return signal;
}

std::optional<notify::Action> read_systemd(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "systemd action",
                                    {"unit", "action", "signal", "bus", "timeout"},
                                    "systemd: { unit: nginx.service, action: reload }");
  if (!fields) return std::nullopt;
  notify::SystemdAction a;
  bool ok = true;
  if (const Field* f = fields->get("unit")) {
    if (auto v = reader.string(*f))
      a.unit = *v;
    else
      ok = false;
  } else {
    reader.add(fields->mark(), "systemd action names no unit",
               "write systemd: { unit: nginx.service, action: reload }");
    ok = false;
  }
  if (const Field* f = fields->get("action")) {
    if (auto v = reader.string(*f)) {
      if (auto parsed = notify::parse_unit_action(*v)) {
        a.action = *parsed;
      } else {
        const std::string hint = closest_match(
            *v, {"reload", "restart", "try-restart", "reload-or-restart", "kill"});
        reader.add(f->value_mark, "unknown systemd action '" + *v + "'",
                   (hint.empty() ? std::string() : "did you mean '" + hint + "'? ") +
                       "write reload, restart, try-restart, reload-or-restart or kill");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("signal")) {
    if (a.action != notify::UnitAction::kill) {
      reader.add(f->key_mark, "signal applies to action: kill only",
                 "write action: kill, or remove signal");
      ok = false;
    } else if (auto s = read_signal(*f, reader)) {
      a.signal = *s;
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("bus")) {
    if (auto v = reader.string(*f)) {
      if (*v == "system") {
        a.bus = notify::BusKind::system;
      } else if (*v == "user") {
        a.bus = notify::BusKind::user;
      } else {
        reader.add(f->value_mark, "unknown bus '" + *v + "'", "write bus: system or bus: user");
        ok = false;
      }
    }
  }
  if (const Field* f = fields->get("timeout")) {
    if (auto d = reader.duration(*f, Millis(std::chrono::seconds(1))))
      a.timeout = *d;
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return notify::Action{a};
}

std::optional<notify::Action> read_signal_action(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "signal action",
                                    {"pidfile", "signal"},
                                    "signal: { pidfile: /run/app.pid, signal: HUP }");
  if (!fields) return std::nullopt;
  notify::SignalAction a;
  const Field* pidfile = fields->get("pidfile");
  if (!pidfile) {
    reader.add(fields->mark(), "signal action names no pidfile",
               "write signal: { pidfile: /run/app.pid, signal: HUP }");
    return std::nullopt;
  }
  auto path = reader.path(*pidfile);
  if (!path) return std::nullopt;
  a.pidfile = *path;
  if (const Field* f = fields->get("signal")) {
    auto s = read_signal(*f, reader);
    if (!s) return std::nullopt;
    a.signal = *s;
  }
  return notify::Action{a};
}

std::optional<notify::Action> read_exec(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(
      *field.value, field.value_mark, "exec action", {"command", "timeout"},
      "exec: { command: [/usr/local/bin/push-cert, --to, backend], timeout: 30s }");
  if (!fields) return std::nullopt;
  notify::ExecAction a;
  const Field* command = fields->get("command");
  if (!command) {
    reader.add(fields->mark(), "exec action has no command",
               "write exec: { command: [/usr/local/bin/push-cert, --to, backend] }");
    return std::nullopt;
  }
  if (command->value->is_scalar()) {
    // A single string would need a shell to split it; we run argv only.
    reader.add(command->value_mark, "command must be a list of arguments (no shell is used)",
               "write command: [/usr/local/bin/push-cert, --to, backend]");
    return std::nullopt;
  }
  const auto args = reader.string_list(*command,
                                       "command: [/usr/local/bin/push-cert, --to, backend]");
  if (!args) return std::nullopt;
  if (args->empty()) {
    reader.add(command->value_mark, "command is empty",
               "write command: [/usr/local/bin/push-cert, --to, backend]");
    return std::nullopt;
  }
  for (const auto& arg : *args) a.command.push_back(arg.value);
  // A bare name is looked up in PATH when it runs; a path is judged now (and again then).
  if (a.command.front().find('/') != std::string::npos) {
    check_trusted_program(a.command.front(), args->front().mark, reader);
  }
  if (const Field* f = fields->get("timeout")) {
    auto d = reader.duration(*f, Millis(std::chrono::seconds(1)));
    if (!d) return std::nullopt;
    a.timeout = *d;
  }
  return notify::Action{a};
}

}  // namespace

void read_on_rotate(const Field& field, const Reader& reader, std::vector<notify::Action>& out) {
  const YamlNode& node = *field.value;
  if (node.is_null()) return;
  // The same reader serves `notify:`, whose actions are of the same types.
  const std::string item_name = field.key == "notify"      ? "a notify action"
                                : field.key == "on_staged" ? "an on_staged action"
                                                           : "an on_rotate action";
  if (!node.is_sequence()) {
    reader.add(field.value_mark, field.key + " must be a list, not " + std::string(describe(node)),
               "write " + field.key + ": followed by lines such as " + std::string(k_example));
    return;
  }
  for (const auto& item : node.items()) {
    const Mark item_mark = reader.mark(item, field.value_mark);
    const auto fields = reader.fields(item, item_mark, item_name, {"systemd", "signal", "exec"},
                                      k_example);
    if (!fields) continue;
    // Unknown keys were reported already and left out; an item of only those is not "empty".
    if (fields->all().empty() && item.is_map() && item.size() > 0) continue;
    if (fields->all().size() != 1) {
      reader.add(fields->mark(),
                 item_name + (fields->all().empty() ? " is empty" : " has more than one kind"),
                 "write one of systemd:, signal: or exec: per list item");
      continue;
    }
    const Field& kind = fields->all().front();
    std::optional<notify::Action> action;
    if (kind.key == "systemd") action = read_systemd(kind, reader);
    if (kind.key == "signal") action = read_signal_action(kind, reader);
    if (kind.key == "exec") action = read_exec(kind, reader);
    if (action) out.push_back(std::move(*action));
  }
}

}  // namespace certrotd::config::detail
