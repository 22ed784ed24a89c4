// Configured paths another user could redirect are configuration errors, at the key's position.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "config_test_util.hpp"
#include "support/test_support.hpp"

namespace certrotd::config::test {
namespace {

namespace fs = std::filesystem;

constexpr uid_t k_other_user = 65534;  // nobody

class TrustedPathsConfig : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give folders to another user";
    fs::create_directories(m_root / "owned");
    ASSERT_EQ(::chown((m_root / "owned").c_str(), k_other_user, k_other_user), 0);
    fs::create_directories(m_root / "good");
  }
  // A config with the issuer on lines 1-5 and `state_dir` on line 6.
  std::string config(const std::string& state, const std::string& output_and_more) const {
    return std::string(k_issuers).substr(1) + "state_dir: " + state + "\n" +
           "credentials:\n  web:\n    issuer: ca\n    sans: [\"DNS:web\"]\n" + output_and_more;
  }
  std::string owned() const { return (m_root / "owned").string(); }
  std::string good() const { return (m_root / "good").string(); }

  const certrotd::testing::TempDir m_root;
};

TEST_F(TrustedPathsConfig, TrustedPathsLoad) {
  EXPECT_EQ(errors_of(config(good() + "/state", "    output:\n      dir: " + good() +
                                                    "/out\n"
                                                    "      copies:\n        - { path: " +
                                                    good() + "/copies/web.key, content: key }\n")),
            "<loaded without errors>");
}

TEST_F(TrustedPathsConfig, AnOutputDirInAnotherUsersFolderIsRefusedAtItsKey) {
  const std::string message = errors_of(
      config(good() + "/state", "    output:\n      dir: " + owned() + "/out\n"));
  EXPECT_EQ(message.rfind("test.yaml:12:12: output dir " + owned() +
                              "/out cannot be trusted: "
                              "folder " +
                              owned() + " is owned by ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("uid 65534"), std::string::npos) << message;
  EXPECT_NE(message.find("chown root:root " + owned()), std::string::npos) << message;
}

TEST_F(TrustedPathsConfig, ACopyFolderAndAStateDirInAnotherUsersFolderAreRefused) {
  const std::string message = errors_of(
      config(owned() + "/state", "    output:\n      dir: " + good() +
                                     "/out\n      copies:\n        - { path: " + owned() +
                                     "/sub/web.key, content: key }\n"));
  EXPECT_NE(message.find("test.yaml:6:12: state_dir " + owned() + "/state cannot be trusted"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("test.yaml:14:19: copy folder " + owned() + "/sub cannot be trusted"),
            std::string::npos)
      << message;
}

TEST_F(TrustedPathsConfig, AnExecProgramAnotherUserOwnsIsRefused) {
  const fs::path hook = m_root / "good" / "hook";
  certrotd::testing::write_text(hook, "#!/bin/sh\n");
  ASSERT_EQ(::chown(hook.c_str(), k_other_user, k_other_user), 0);
  const std::string message = errors_of(config(
      good() + "/state", "    on_rotate:\n      - exec: { command: [" + hook.string() + "] }\n"));
  EXPECT_NE(message.find("test.yaml:12:27: exec program " + hook.string() +
                         " cannot be trusted: file " + hook.string() + " is owned by "),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace certrotd::config::test
