// The subcommands' output and exit codes, on real configuration files and output folders in a
// fresh temporary root, with a stand-in for the daemon on the bus.
#include "cli/commands.hpp"

#include <gtest/gtest.h>
#include <sysexits.h>

#include <sstream>

#include "issuer/local/ca_init.hpp"
#include "support/test_support.hpp"

namespace certrotd::cli {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

Error error_of(ErrorKind kind, std::string message, Reason reason = Reason::unspecified) {
  return fail(reason, std::move(message), {}, kind).value();
}

// Answers as a daemon would, or as the bus does when none runs (a retryable error).
class FakeDaemon final : public control::ControlClient {
public:
  FakeDaemon() : ControlClient(notify::BusKind::user) {}

  Result<Status> status(const std::vector<std::string>& names) const override {
    asked = names;
    if (!answer) return fail_retryable("no daemon");
    return *answer;
  }
  Result<void> reload() const override {
    if (error) return tl::unexpected(*error);
    return {};
  }
  Result<void> rotate(const std::vector<std::string>& names) const override {
    asked = names;
    if (error) return tl::unexpected(*error);
    return {};
  }
  Result<std::vector<control::RotateResult>> rotate_and_wait(
      const std::vector<std::string>& names, std::chrono::milliseconds) const override {
    asked = names;
    if (error) return tl::unexpected(*error);
    return rotated;
  }
  Result<std::string> rollback(const std::string&) const override {
    if (error) return tl::unexpected(*error);
    return std::string("20261125T100000Z-1a2b");
  }
  Result<std::string> revoke(const std::string& name, const std::string& reason) const override {
    asked = {name, reason};
    if (error) return tl::unexpected(*error);
    return std::string("serial 1a2b revoked; rotating at once");
  }
  Result<std::string> activate(const std::string&) const override {
    if (error) return tl::unexpected(*error);
    return std::string("0000000003-2c3d");
  }
  Result<std::string> acme_key_change(const std::string& issuer) const override {
    asked = {issuer};
    if (error) return tl::unexpected(*error);
    return std::string("issuer le: the account key was changed; new key thumbprint abc");
  }

  std::optional<Status> answer;
  std::optional<Error> error;  // what every call but status() fails with, if set
  std::vector<control::RotateResult> rotated;
  mutable std::vector<std::string> asked;
};

class CommandsTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
    options.config = (dir / "config.yaml").string();
    testing::write_text(options.config, yaml());
  }

  std::string yaml() const {
    return "state_dir: " + (dir / "state").string() +
           "\nissuers:\n  ca:\n    type: local\n    ca_cert: " + (dir / "ca/ca.pem").string() +
           "\n    ca_key: " + (dir / "ca/ca.key").string() +
           "\ncredentials:\n  web:\n    issuer: ca\n    subject: { common_name: web.example }\n"
           "    on_rotate:\n"
           "      - systemd: { unit: nginx.service, action: reload }\n"
           "      - signal: { pidfile: " +
           (dir / "app.pid").string() +
           " }\n"
           "      - exec: { command: [/bin/true, --now] }\n"
           "    output:\n      dir: " +
           (dir / "live/web").string() +
           "\n      copies:\n        - { path: " + (dir / "copy/web.crt").string() +
           ", content: cert }\n";
  }

  int run_check() { return check(options, context, events, ""); }

  class NoEvents final : public engine::EventSink {
  public:
    void emit(const engine::Event&) override {}
  };

  TempDir dir;
  ManualClock clock;
  SeededRandom random{3};
  Options options;
  std::ostringstream out;
  std::ostringstream err;
  Context context{out, err, clock, random, 4242};
  NoEvents events;
  FakeDaemon daemon;
};

TEST_F(CommandsTest, WhereUsedListsTheFolderCopiesUnitsPidfilesAndHooksInOrder) {
  options.credential = "web";
  EXPECT_EQ(where_used(options, context), 0);
  EXPECT_EQ(out.str(), "output  " + (dir / "live/web").string() + "\n" + "copy    " +
                           (dir / "copy/web.crt").string() + "\n" +
                           "unit    nginx.service  (systemd reload nginx.service (system bus))\n" +
                           "pidfile " + (dir / "app.pid").string() +
                           "  (signal HUP to the process in " + (dir / "app.pid").string() + ")\n" +
                           "hook    exec /bin/true --now\n");
  EXPECT_EQ(err.str(), "");
}

TEST_F(CommandsTest, WhereUsedOfAnUnknownNameIsAUsageError) {
  options.credential = "nope";
  EXPECT_EQ(where_used(options, context), EX_USAGE);
  EXPECT_EQ(err.str(), "certrotd where-used: no credential named 'nope'\n");
  EXPECT_EQ(out.str(), "");
}

TEST_F(CommandsTest, ABadConfigurationIsExConfigWithItsPosition) {
  testing::write_text(options.config, "credentials:\n  web:\n    isuer: ca\n");
  options.credential = "web";
  EXPECT_EQ(where_used(options, context), EX_CONFIG);
  EXPECT_NE(err.str().find(options.config + ":3:5: unknown key 'isuer'"), std::string::npos)
      << err.str();
  err.str("");
  EXPECT_EQ(run_check(), EX_CONFIG);
  EXPECT_NE(err.str().find(options.config + ":3:5: unknown key 'isuer'"), std::string::npos)
      << err.str();
  EXPECT_EQ(out.str(), "");
}

TEST_F(CommandsTest, CheckSaysOkThenOneLinePerCredentialAndNeedsAttentionWhenMissing) {
  // Nothing issued yet: the credential is missing and due now.
  const int code = run_check();
  const std::string text = out.str();
  EXPECT_EQ(text.rfind(options.config + ": OK, 1 credentials, 1 issuers\n", 0), 0u) << text;
  // Every folder is outside the (empty) ReadWritePaths=: the sandbox warnings name them.
  EXPECT_NE(text.find("warning: "), std::string::npos) << text;
  EXPECT_NE(text.find("  under the shipped unit, allow them with `systemctl edit certrotd`:\n"),
            std::string::npos)
      << text;
  const std::string line = "web                      missing      not-after -";
  EXPECT_NE(text.find("\n" + line + std::string(34 - 1, ' ') + " next-renewal "), std::string::npos)
      << text;
  EXPECT_EQ(code, 0) << "a missing credential is due, not failed";
}

TEST_F(CommandsTest, CheckConfigOnlyStopsAfterTheSandbox) {
  options.config_only = true;
  EXPECT_EQ(check(options, context, events, (dir.path().string() + " -/nowhere")), 0);
  EXPECT_EQ(out.str(), options.config + ": OK, 1 credentials, 1 issuers\n");
}

TEST_F(CommandsTest, CheckPolkitRulePrintsOnlyTheRule) {
  options.polkit_rule = true;
  EXPECT_EQ(run_check(), 0);
  EXPECT_EQ(out.str().find(": OK"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("nginx.service"), std::string::npos) << out.str();
}

TEST_F(CommandsTest, StatusWithoutADaemonReadsTheFilesAndSaysNothingIsScheduling) {
  EXPECT_EQ(status(options, daemon, context), 0);
  EXPECT_EQ(out.str(), "no certrotd answers on the system bus: figures from the files of " +
                           options.config + "; nothing is scheduling renewals\n" +
                           "web                      missing      not-after -" +
                           std::string(33, ' ') + " next-renewal -\n");
}

TEST_F(CommandsTest, StatusOfAnUnknownNameFromTheFilesIsAUsageError) {
  options.names = {"web", "nope"};
  EXPECT_EQ(status(options, daemon, context), EX_USAGE);
  EXPECT_EQ(err.str(), "certrotd status: no credential named 'nope' in " + options.config + "\n");
  EXPECT_EQ(daemon.asked, options.names);
}

TEST_F(CommandsTest, StatusFromTheDaemonShowsItsPidCountdownsAndDependents) {
  const std::string not_after = format_rfc3339(clock.wall_now() + 2h);
  const std::string next = format_rfc3339(clock.wall_now() + 1h);
  daemon.answer = control::ControlClient::Status{
      "/etc/certrotd/config.yaml",
      77,
      R"([{"name":"web","issuer":"ca","state":"valid","serial":"1a","not_after":")" + not_after +
          R"(","next_renewal":")" + next +
          R"(","failures":0,"last_error":"","reason":"","dir":"/x","dependents":)"
          R"([{"action":"systemd reload nginx.service","ok":false,"attempts":3,"detail":"job failed"}]}])",
      {}};
  EXPECT_EQ(status(options, daemon, context), 2) << "only a dependent failed";
  EXPECT_EQ(out.str(),
            "certrotd PID 77 running /etc/certrotd/config.yaml\n"
            "web                      valid        not-after " +
                not_after + " (in 2h)" + std::string(7, ' ') + "next-renewal " + next +
                " (in 1h)\n" + "    FAILED systemd reload nginx.service: job failed\n");
}

TEST_F(CommandsTest, StatusShowsTheIssuersRenewalWindowAndTheNextQuestion) {
  const std::string not_after = format_rfc3339(clock.wall_now() + 2h);
  const std::string next = format_rfc3339(clock.wall_now() + 1h);
  const std::string ask = format_rfc3339(clock.wall_now() + 6h);
  daemon.answer = control::ControlClient::Status{
      "/etc/certrotd/config.yaml",
      77,
      R"([{"name":"web","issuer":"le","state":"valid","serial":"1a","not_after":")" + not_after +
          R"(","next_renewal":")" + next +
          R"(","failures":0,"last_error":"","reason":"","dir":"/x","dependents":[],)"
          R"("renewal_window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z",)"
          R"("chosen":")" +
          next +
          R"(","explanation_url":"https://ca.example/why"},)"
          R"("renewal_info_next":")" +
          ask + R"("}])",
      {}};
  EXPECT_EQ(status(options, daemon, context), 0);
  EXPECT_NE(out.str().find("\n    renewal window: 2026-01-01T00:00:00Z to 2026-01-02T00:00:00Z, "
                           "renewing at " +
                           next +
                           "\n    explanation: https://ca.example/why\n"
                           "    renewal info: issuer asked again " +
                           ask + " (in 6h)\n"),
            std::string::npos)
      << out.str();
}

TEST_F(CommandsTest, StatusShowsARequestTheIssuerHolds) {
  const std::string next = format_rfc3339(clock.wall_now() + 1min);
  daemon.answer = control::ControlClient::Status{
      "/etc/certrotd/config.yaml",
      77,
      R"([{"name":"web","issuer":"est","state":"missing","serial":"","not_after":"",)"
      R"("next_renewal":")" +
          next +
          R"(","failures":0,"last_error":"","reason":"","pending":true,"dir":"/x",)"
          R"("dependents":[]}])",
      {}};
  EXPECT_NE(status(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_NE(out.str().find("\n    pending: the issuer holds the request; asking again at the next "
                           "renewal\n"),
            std::string::npos)
      << out.str();
}

TEST_F(CommandsTest, RevokeThroughTheDaemonSendsTheReason) {
  options.credential = "web";
  options.revoke_reason = "keyCompromise";
  EXPECT_EQ(revoke(options, daemon, context), 0);
  EXPECT_EQ(daemon.asked, (std::vector<std::string>{"web", "keyCompromise"}));
  EXPECT_EQ(out.str(), "web: serial 1a2b revoked; rotating at once\n");
}

TEST_F(CommandsTest, RevokeRefusalsAndAMissingDaemonAreExUnavailable) {
  options.credential = "web";
  options.revoke_reason = "superseded";
  daemon.error = error_of(ErrorKind::permanent,
                          "issuer 'ca' (type local) cannot revoke certificates");
  EXPECT_EQ(revoke(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str(), "certrotd revoke: issuer 'ca' (type local) cannot revoke certificates\n");
  err.str("");
  daemon.error = error_of(ErrorKind::retryable, "no certrotd daemon on the bus");
  EXPECT_EQ(revoke(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_NE(err.str().find("revoking needs the running daemon"), std::string::npos) << err.str();
  options.revoke_reason = "because";
  err.str("");
  EXPECT_EQ(revoke(options, daemon, context), EX_USAGE);
  EXPECT_EQ(err.str().rfind("certrotd revoke: --reason because: use unspecified,", 0), 0u);
}

TEST_F(CommandsTest, AcmeKeyChangeAsksTheDaemonAndPrintsItsAnswer) {
  options.issuer = "le";
  EXPECT_EQ(acme_key_change(options, daemon, context), 0);
  EXPECT_EQ(daemon.asked, std::vector<std::string>{"le"});
  EXPECT_EQ(out.str(), "issuer le: the account key was changed; new key thumbprint abc\n");
}

TEST_F(CommandsTest, AcmeKeyChangeRefusalsAndAMissingDaemonAreExUnavailable) {
  options.issuer = "ca";
  daemon.error = error_of(ErrorKind::permanent, "issuer 'ca' is of type local, not acme");
  EXPECT_EQ(acme_key_change(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str(), "certrotd acme-key-change: issuer 'ca' is of type local, not acme\n");
  err.str("");
  daemon.error = error_of(ErrorKind::retryable, "no certrotd daemon on the bus");
  EXPECT_EQ(acme_key_change(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_NE(err.str().find("needs the running daemon (it holds the account)"), std::string::npos)
      << err.str();
}

TEST_F(CommandsTest, StatusListsTheRootsAnIssuerNamedWithTheirNotAfter) {
  const std::string not_after = format_rfc3339(clock.wall_now() + 2h);
  daemon.answer = control::ControlClient::Status{
      "/etc/certrotd/config.yaml",
      77,
      R"([{"name":"web","issuer":"est","state":"valid","serial":"1a","not_after":")" + not_after +
          R"(","next_renewal":"","failures":0,"last_error":"","reason":"","dir":"/x",)"
          R"("ca_roots":[{"subject":"CN=Old Root","not_after":")" +
          not_after + R"("},{"subject":"CN=New Root","not_after":")" + not_after +
          R"("}],"dependents":[]}])",
      {}};
  EXPECT_NE(status(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_NE(
      out.str().find("\n    ca root: CN=Old Root, not-after " + not_after +
                     " (in 2h)\n    ca root: CN=New Root, not-after " + not_after + " (in 2h)\n"),
      std::string::npos)
      << out.str();
}

TEST_F(CommandsTest, StatusRefusesADaemonRunningAnotherConfiguration) {
  daemon.answer = control::ControlClient::Status{"/etc/other.yaml", 77, "[]", {}};
  options.config_given = true;
  EXPECT_EQ(status(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str(),
            "certrotd status: the certrotd on the system bus (PID 77) runs "
            "/etc/other.yaml, not " +
                options.config + "; use --any-daemon to see its credentials anyway\n");
  err.str("");
  options.any_daemon = true;
  EXPECT_EQ(status(options, daemon, context), 0);
  EXPECT_EQ(out.str(), "certrotd PID 77 running /etc/other.yaml\n");
}

TEST_F(CommandsTest, StatusJsonIsTheDaemonsArrayIndented) {
  daemon.answer = control::ControlClient::Status{
      "/c.yaml", 1, R"([{"name":"a","state":"expired","failures":0,"dependents":[]}])", {}};
  options.json = true;
  EXPECT_EQ(status(options, daemon, context), 1) << "expired needs attention";
  EXPECT_EQ(out.str(),
            "[\n  {\n    \"dependents\": [],\n    \"failures\": 0,\n    \"name\": \"a\",\n"
            "    \"state\": \"expired\"\n  }\n]\n");
}

TEST_F(CommandsTest, ReloadSaysSoOrFailsWithTheRejection) {
  EXPECT_EQ(reload(daemon, context), 0);
  EXPECT_EQ(out.str(), "configuration reloaded\n");
  daemon.error = error_of(ErrorKind::permanent, "config.yaml:3:5: unknown key 'isuer'");
  EXPECT_EQ(reload(daemon, context), EX_CONFIG);
  EXPECT_EQ(err.str(), "certrotd reload: config.yaml:3:5: unknown key 'isuer'\n");
  daemon.error = error_of(ErrorKind::retryable, "no daemon on the system bus");
  EXPECT_EQ(reload(daemon, context), EX_UNAVAILABLE);
}

TEST_F(CommandsTest, RotateQueuesAllOrTheNamedOnes) {
  EXPECT_EQ(rotate(options, daemon, context), 0);
  options.names = {"a", "b"};
  EXPECT_EQ(rotate(options, daemon, context), 0);
  EXPECT_EQ(out.str(),
            "all credentials queued for rotation\n2 credential(s) queued for rotation\n");
}

TEST_F(CommandsTest, RotateWaitPrintsEachOutcomeAndFailsWhenOneFailed) {
  options.wait = true;
  daemon.rotated = {{"a", true, "serial 1a"}, {"b", false, "issuer said no"}};
  EXPECT_EQ(rotate(options, daemon, context), 1);
  EXPECT_EQ(out.str(), "a: renewed, serial 1a\nb: FAILED: issuer said no\n");
}

TEST_F(CommandsTest, RotateWaitTimeoutsAndRefusalsHaveTheirCodes) {
  options.wait = true;
  options.timeout = "soon";
  EXPECT_EQ(rotate(options, daemon, context), EX_USAGE);
  EXPECT_EQ(err.str().rfind("certrotd rotate: --timeout soon: ", 0), 0u) << err.str();
  options.timeout = "1s";
  daemon.error = error_of(ErrorKind::retryable, "timed out", Reason::network);
  EXPECT_EQ(rotate(options, daemon, context), EX_TEMPFAIL);
  daemon.error = error_of(ErrorKind::permanent, "no credential named 'x'", Reason::config);
  EXPECT_EQ(rotate(options, daemon, context), EX_USAGE);
}

TEST_F(CommandsTest, RollbackThroughTheDaemonNamesTheVersion) {
  options.credential = "web";
  EXPECT_EQ(rollback(options, daemon, context), 0);
  EXPECT_EQ(out.str(), "web: rolled back to version 20261125T100000Z-1a2b\n");
}

TEST_F(CommandsTest, RollbackWithoutADaemonOrHistoryFailsOnTheFiles) {
  options.credential = "web";
  daemon.error = error_of(ErrorKind::retryable, "no daemon");
  const int code = rollback(options, daemon, context);
  EXPECT_NE(code, 0);
  EXPECT_EQ(err.str().rfind("certrotd rollback: ", 0), 0u) << err.str();
  EXPECT_EQ(out.str(), "");
}

TEST_F(CommandsTest, ActivateThroughTheDaemonNamesTheVersionNowLive) {
  options.credential = "web";
  EXPECT_EQ(activate(options, daemon, context), 0);
  EXPECT_EQ(out.str(), "web: staged version 0000000003-2c3d is live\n");
}

TEST_F(CommandsTest, ActivateIsRefusedLikeARollbackWithNothingToRestore) {
  options.credential = "web";
  daemon.error = error_of(ErrorKind::permanent, "nothing is staged for 'web'");
  EXPECT_EQ(activate(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str(), "certrotd activate: nothing is staged for 'web'\n");
  err.str("");
  daemon.error = error_of(ErrorKind::retryable, "no daemon");
  EXPECT_EQ(activate(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_NE(err.str().find("needs the running daemon"), std::string::npos) << err.str();
  EXPECT_EQ(out.str(), "");
}

TEST_F(CommandsTest, CaInitNamesTheFilesItMade) {
  options.ca_dir = (dir / "ca2").string();
  options.ca_intermediate = true;
  EXPECT_EQ(ca_init(options, context), 0);
  EXPECT_EQ(out.str(), "root CA:      " + (dir / "ca2/ca.pem").string() + " (key " +
                           (dir / "ca2/ca.key").string() + ")\n" +
                           "intermediate: " + (dir / "ca2/intermediate.pem").string() + " (key " +
                           (dir / "ca2/intermediate.key").string() + ")\n");
  out.str("");
  EXPECT_EQ(ca_init(options, context), EX_CANTCREAT) << "an existing CA stays without --force";
  EXPECT_EQ(err.str().rfind("certrotd ca init: ", 0), 0u) << err.str();
}

TEST_F(CommandsTest, ImportOfAnUnknownNameOrAMissingFileFails) {
  options.credential = "nope";
  EXPECT_EQ(import_credential(options, context), EX_USAGE);
  EXPECT_EQ(err.str(), "certrotd import: no credential named 'nope' in " + options.config + "\n");
  err.str("");
  options.credential = "web";
  options.import_cert = (dir / "missing.pem").string();
  EXPECT_EQ(import_credential(options, context), EX_NOINPUT);
  EXPECT_EQ(err.str().rfind("certrotd import: ", 0), 0u) << err.str();
}

TEST_F(CommandsTest, TestConnectionOfAnUnknownNameIsAUsageError) {
  options.credential = "nope";
  options.url = "https://127.0.0.1:1/";
  EXPECT_EQ(test_connection(options, context), EX_USAGE);
  EXPECT_EQ(err.str(), "certrotd test-connection: no credential named 'nope'\n");
}

}  // namespace
}  // namespace certrotd::cli
