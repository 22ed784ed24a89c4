// `certrotd check` warns about what the hardened unit would refuse: folders written outside its
// ReadWritePaths=, hooks in the folders it hides.
#include "cli/sandbox.hpp"

#include <gtest/gtest.h>

namespace certrotd::cli {
namespace {

config::CredentialConfig credential(const std::string& name, const std::string& dir) {
  config::CredentialConfig c;
  c.name = name;
  c.output.dir = dir;
  return c;
}

store::CopySpec copy(const std::string& path) {
  store::CopySpec c;
  c.path = path;
  return c;
}

const std::vector<std::filesystem::path> k_unit_paths = {"/var/lib/certrotd"};

TEST(SandboxTest, FoldersUnderReadWritePathsAreQuiet) {
  config::Config config;
  config.credentials.push_back(credential("web", "/var/lib/certrotd/live/web"));
  config.credentials.back().output.copies.push_back(copy("/var/lib/certrotd/copies/web.crt"));
  config.credentials.back().on_rotate.push_back({notify::ExecAction{{"/usr/bin/true"}}});
  const auto report = check_sandbox(config, k_unit_paths);
  EXPECT_TRUE(report.warnings.empty()) << report.warnings.front();
  EXPECT_TRUE(report.missing.empty());
}

TEST(SandboxTest, AnOutputFolderOrCopyElsewhereIsNamedWithItsFolderOnce) {
  config::Config config;
  config.credentials.push_back(credential("web", "/srv/tls/web"));
  config.credentials.back().output.copies.push_back(copy("/etc/nginx/tls/web.crt"));
  config.credentials.back().output.copies.push_back(copy("/etc/nginx/tls/web.key"));
  const auto report = check_sandbox(config, k_unit_paths);
  ASSERT_EQ(report.warnings.size(), 3U);
  EXPECT_NE(report.warnings[0].find("credential 'web': output folder: /srv/tls/web lies outside "
                                    "the unit's ReadWritePaths="),
            std::string::npos)
      << report.warnings[0];
  EXPECT_NE(report.warnings[1].find("copy /etc/nginx/tls/web.crt: folder: /etc/nginx/tls"),
            std::string::npos)
      << report.warnings[1];
  const std::vector<std::filesystem::path> missing = {"/srv/tls/web", "/etc/nginx/tls"};
  EXPECT_EQ(report.missing, missing);
  EXPECT_EQ(read_write_paths_drop_in(report.missing),
            "[Service]\nReadWritePaths=/srv/tls/web\nReadWritePaths=/etc/nginx/tls\n");
}

TEST(SandboxTest, APrefixOfAFolderNameIsNotInside) {
  config::Config config;
  config.state_dir = "/var/lib/certrotd/state";
  config.credentials.push_back(credential("web", "/var/lib/certrotd-other/web"));
  EXPECT_EQ(check_sandbox(config, k_unit_paths).missing.size(), 1U);
  EXPECT_EQ(check_sandbox(config, {"/var/lib/certrotd/", "/var/lib/certrotd-other/"}).missing,
            std::vector<std::filesystem::path>{});
}

TEST(SandboxTest, AStateDirElsewhereIsNamed) {
  config::Config config;
  config.state_dir = "/srv/certrotd";
  const auto report = check_sandbox(config, k_unit_paths);
  ASSERT_EQ(report.missing.size(), 1U);
  EXPECT_EQ(report.missing[0], "/srv/certrotd");
}

TEST(SandboxTest, AHookInAHiddenFolderIsNamed) {
  config::Config config;
  config.credentials.push_back(credential("web", "/var/lib/certrotd/live/web"));
  config.credentials.back().on_rotate.push_back({notify::ExecAction{{"/home/ops/push.sh"}}});
  config.credentials.back().on_rotate.push_back({notify::ExecAction{{"/tmp/hook"}}});
  config.credentials.back().on_rotate.push_back({notify::ExecAction{{"/homework/hook"}}});
  const auto report = check_sandbox(config, k_unit_paths);
  ASSERT_EQ(report.warnings.size(), 2U);
  EXPECT_NE(report.warnings[0].find("exec hook: /home/ops/push.sh lies in /home"),
            std::string::npos)
      << report.warnings[0];
  EXPECT_NE(report.warnings[1].find("/tmp/hook lies in /tmp"), std::string::npos);
  EXPECT_TRUE(report.missing.empty());
}

}  // namespace
}  // namespace certrotd::cli
