// The exec challenge solver with real hook scripts: what a hook sees, a hook past its timeout
// killed with everything it started, and a failing hook's error with its output cut short and
// no key authorization in it.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "issuer/acme/exec_solver.hpp"
#include "support/inherited_pipe.hpp"
#include "support/test_support.hpp"
#include "util/fd.hpp"

namespace certrotd::issuer::acme {
namespace {

using namespace std::chrono_literals;
using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using certrotd::testing::write_text;

const ChallengeTask k_task{"web",      "www.example.com", true,
                           false,      "tok-123",         "tok-123.thumbprint-secret-part",
                           "txt-value"};

std::string make_hook(const TempDir& dir, const std::string& body) {
  const auto path = dir / "hook.sh";
  write_text(path, "#!/bin/sh\n" + body);
  ::chmod(path.c_str(), 0755);
  return path.string();
}

std::map<std::string, std::string> env_file(const std::filesystem::path& file) {
  std::map<std::string, std::string> env;
  std::istringstream in(read_text(file));
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

TEST(ExecSolver, TheHookSeesThePhaseAndTheChallengeAndNothingElse) {
  TempDir dir;
  const std::string hook = make_hook(dir, "env > \"$1/env.$2\"; echo \"$#\" > \"$1/argc.$2\"\n");
  const ManualClock clock;
  ExecSolver solver({{hook, dir.path().string()}, 10s, "dns-01"}, clock);
  ASSERT_TRUE(solver.present(k_task));
  ASSERT_TRUE(solver.cleanup(k_task));

  for (const std::string phase : {"present", "cleanup"}) {
    EXPECT_EQ(read_text(dir / ("argc." + phase)), "2\n");
    auto env = env_file(dir / ("env." + phase));
    EXPECT_EQ(env["CERTROT_ACME_PHASE"], phase);
    EXPECT_EQ(env["CERTROT_CREDENTIAL"], "web");
    EXPECT_EQ(env["CERTROT_ACME_CHALLENGE"], "dns-01");
    EXPECT_EQ(env["CERTROT_ACME_DOMAIN"], "www.example.com");
    EXPECT_EQ(env["CERTROT_ACME_WILDCARD"], "1");
    EXPECT_EQ(env["CERTROT_ACME_TOKEN"], "tok-123");
    EXPECT_EQ(env["CERTROT_ACME_KEY_AUTHORIZATION"], "tok-123.thumbprint-secret-part");
    EXPECT_EQ(env["CERTROT_ACME_TXT"], "txt-value");
    EXPECT_EQ(env["CERTROT_ACME_RECORD"], "_acme-challenge.www.example.com.");
    // Only what the solver passes (and what sh itself sets: PWD, SHLVL, _).
    std::set<std::string> names;
    for (const auto& [name, value] : env) names.insert(name);
    for (const char* own : {"PWD", "SHLVL", "_"}) names.erase(own);
    EXPECT_EQ(names.size(), 10U);
    EXPECT_EQ(env.count("HOME"), 0U);
  }
}

TEST(ExecSolver, AFailingHookIsAnErrorWithItsOutputCutAndNoKeyAuthorization) {
  TempDir dir;
  const std::string hook = make_hook(
      dir,
      "echo \"provider said: no such zone for $CERTROT_ACME_DOMAIN\" >&2\n"
      "echo \"debug: $CERTROT_ACME_KEY_AUTHORIZATION\"\n"
      "i=0; while [ $i -lt 200 ]; do printf 'padding '; i=$((i+1)); done\nexit 3\n");
  const ManualClock clock;
  ExecSolver solver({{hook}, 10s, "dns-01"}, clock);
  auto r = solver.present(k_task);
  ASSERT_FALSE(r);
  const std::string& m = r.error().message;
  EXPECT_TRUE(r.error().retryable());
  EXPECT_NE(m.find("exec hook present for www.example.com: " + hook + " exited 3"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("provider said: no such zone for www.example.com"), std::string::npos) << m;
  EXPECT_EQ(m.find("thumbprint-secret-part"), std::string::npos) << m;
  EXPECT_NE(m.find("debug: [key authorization]"), std::string::npos) << m;
  EXPECT_LT(m.size(), 800U) << m;
  EXPECT_EQ(m.substr(m.size() - 3), "...");
}

using certrotd::testing::InheritedPipe;

TEST(ExecSolver, AHookPastItsTimeoutIsKilledWithEverythingItStarted) {
  TempDir dir;
  InheritedPipe pipe;
  const std::string fd = std::to_string(pipe.write_end.get());
  const std::string hook = make_hook(
      dir, "trap '' TERM; (trap '' TERM; echo started >&" + fd + "; exec sleep 60) & wait\n");
  ManualClock clock;
  ExecSolver solver({{hook}, 5s, "dns-01"}, clock);
  std::optional<Result<void>> result;
  std::thread runner([&] { result = solver.present(k_task); });
  EXPECT_EQ(pipe.next(), "started");
  clock.advance(6s);
  runner.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(*result);
  EXPECT_NE(result->error().message.find("did not finish within 5s; killed"), std::string::npos)
      << result->error().message;
  pipe.write_end.reset();
  EXPECT_EQ(pipe.next(), "") << "a process the hook started survived the timeout";
}

TEST(ExecSolver, AnswersDnsForNamesAndHttpForNonWildcards) {
  const ManualClock clock;
  ExecSolver dns({{"/bin/true"}, 1s, "dns-01"}, clock);
  ExecSolver http({{"/bin/true"}, 1s, "http-01"}, clock);
  ChallengeTask ip{"web", "192.0.2.1", false, true, "", "", ""};
  EXPECT_EQ(dns.type(), "dns-01");
  EXPECT_EQ(http.type(), "http-01");
  EXPECT_TRUE(dns.can_solve(k_task));  // a wildcard
  EXPECT_FALSE(http.can_solve(k_task));
  EXPECT_FALSE(dns.can_solve(ip));
  EXPECT_TRUE(http.can_solve(ip));
}

}  // namespace
}  // namespace certrotd::issuer::acme
