// The `on_rotate:` list of a credential: the three kinds of action, their defaults, and the
// mistakes an operator makes writing them.
#include <gtest/gtest.h>

#include <csignal>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

using namespace std::chrono_literals;

std::string with_actions(const std::string& actions) {
  return std::string(k_issuers) + R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    on_rotate:
)" + actions;
}

TEST(ConfigOnRotate, ReadsEveryKindOfActionInOrder) {
  const auto config = parse(with_actions(R"(      - systemd: { unit: nginx.service, action: reload }
      - systemd: { unit: app.service, action: kill, signal: HUP, bus: user, timeout: 20s }
      - signal: { pidfile: /run/app.pid, signal: USR1 }
      - exec: { command: ["/usr/local/bin/push-cert", "--to", "backend"], timeout: 30s }
)"));
  ASSERT_TRUE(config) << config.error().message;
  const auto& actions = config->credentials.at(0).on_rotate;
  ASSERT_EQ(actions.size(), 4u);
  const auto& reload = std::get<notify::SystemdAction>(actions[0].what);
  EXPECT_EQ(reload.unit, "nginx.service");
  EXPECT_EQ(reload.action, notify::UnitAction::reload);
  EXPECT_EQ(reload.bus, notify::BusKind::system);
  const auto& kill = std::get<notify::SystemdAction>(actions[1].what);
  EXPECT_EQ(kill.action, notify::UnitAction::kill);
  EXPECT_EQ(kill.signal, SIGHUP);
  EXPECT_EQ(kill.bus, notify::BusKind::user);
  EXPECT_EQ(kill.timeout, Millis(20s));
  const auto& signal = std::get<notify::SignalAction>(actions[2].what);
  EXPECT_EQ(signal.pidfile, "/run/app.pid");
  EXPECT_EQ(signal.signal, SIGUSR1);
  const auto& exec = std::get<notify::ExecAction>(actions[3].what);
  EXPECT_EQ(exec.command,
            (std::vector<std::string>{"/usr/local/bin/push-cert", "--to", "backend"}));
  EXPECT_EQ(exec.timeout, Millis(30s));
}

TEST(ConfigOnRotate, UnknownActionsAndValuesAreNamedWithAHint) {
  EXPECT_EQ(errors_of(with_actions("      - systemd: { unit: nginx.service, action: relaod }\n")),
            "test.yaml:12:49: unknown systemd action 'relaod'; did you mean 'reload'? write "
            "reload, restart, try-restart, reload-or-restart or kill");
  EXPECT_EQ(errors_of(with_actions("      - signal: { pidfile: /run/a.pid, signal: HUPP }\n")),
            "test.yaml:12:48: unknown signal 'HUPP'; write a signal name such as HUP, USR1, USR2 "
            "or TERM");
  EXPECT_EQ(errors_of(with_actions("      - systemd: { unit: a.service, bus: session }\n")),
            "test.yaml:12:42: unknown bus 'session'; write bus: system or bus: user");
}

TEST(ConfigOnRotate, ACommandMustBeAnArgumentList) {
  EXPECT_EQ(errors_of(with_actions("      - exec: { command: \"systemctl reload nginx\" }\n")),
            "test.yaml:12:26: command must be a list of arguments (no shell is used); write "
            "command: [/usr/local/bin/push-cert, --to, backend]");
}

TEST(ConfigOnRotate, ASignalOnlyGoesWithKill) {
  EXPECT_EQ(errors_of(with_actions("      - systemd: { unit: a.service, signal: HUP }\n")),
            "test.yaml:12:37: signal applies to action: kill only; write action: kill, or "
            "remove signal");
}

TEST(ConfigOnRotate, OneKindPerItem) {
  EXPECT_EQ(errors_of(with_actions(
                "      - { exec: { command: [/bin/true] }, signal: { pidfile: /run/a.pid } }\n")),
            "test.yaml:12:9: an on_rotate action has more than one kind; write one of systemd:, "
            "signal: or exec: per list item");
}

}  // namespace
}  // namespace certrotd::config::test
