// The per-credential count of renewals for one key (`key: { reuse: true }`) in the state file.
#include <gtest/gtest.h>

#include <filesystem>

#include "store/state_file.hpp"
#include "support/test_support.hpp"

namespace certrotd::store {
namespace {

using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using certrotd::testing::write_text;

TEST(StateFilesKeyRenewals, ReadBackAndAreLeftOutWhileZero) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState state;
  state.key_renewals = 7;
  ASSERT_TRUE(files.save("web", state));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->key_renewals, 7);

  state.key_renewals = 0;
  ASSERT_TRUE(files.save("web", state));
  EXPECT_EQ(read_text(files.path_of("web")).find("key_renewals"), std::string::npos)
      << "a file without reuse looks as it did before";
}

TEST(StateFilesKeyRenewals, AFileFromBeforeKeyReuseLoadsWithNone) {
  TempDir root;
  const StateFiles files(root.path());
  std::filesystem::create_directories(root / "state");
  write_text(files.path_of("web"),
             R"({"format": 1, "last_attempt": null, "last_success": "2024-05-01T12:00:00Z",
                 "next_attempt": null, "installed_at": null, "installed_serial": "",
                 "last_error": "", "failures": 0})");
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->key_renewals, 0);
}

TEST(StateFilesKeyRenewals, ANegativeOrNonNumericCountIsAnError) {
  TempDir root;
  const StateFiles files(root.path());
  std::filesystem::create_directories(root / "state");
  for (const char* bad : {"-1", "\"3\"", "1.5"}) {
    write_text(files.path_of("web"), std::string(R"({"format": 1, "key_renewals": )") + bad + "}");
    auto loaded = files.load("web");
    ASSERT_FALSE(loaded) << bad;
    EXPECT_NE(loaded.error().what().find("key_renewals must be a non-negative integer"),
              std::string::npos)
        << loaded.error().what();
  }
}

}  // namespace
}  // namespace certrotd::store
