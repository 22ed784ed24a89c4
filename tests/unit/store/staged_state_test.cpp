// The state file's "staged": a round trip, its absence in older files, and bad values refused.
#include <gtest/gtest.h>

#include "store/state_file.hpp"
#include "support/test_support.hpp"

namespace certrotd::store {
namespace {

using certrotd::testing::TempDir;
using certrotd::testing::write_text;

TEST(StagedState, RoundTripsAndIsAbsentFromOlderFiles) {
  TempDir dir;
  const StateFiles files(dir.path());
  CredentialState state;
  Fingerprint fingerprint{};
  fingerprint[0] = 0xab;
  state.staged = StagedVersion{"0000000002-0a",
                               "0a",
                               fingerprint,
                               SystemTime{std::chrono::seconds(1000)},
                               SystemTime{std::chrono::seconds(9000)},
                               SystemTime{std::chrono::seconds(1500)},
                               true};
  ASSERT_TRUE(files.save("a", state));
  auto loaded = files.load("a");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->staged, state.staged);

  write_text(files.path_of("old"), R"({"format": 1, "failures": 0, "last_error": ""})");
  auto old = files.load("old");
  ASSERT_TRUE(old) << old.error().what();
  EXPECT_FALSE(old->staged);
}

TEST(StagedState, AStagedEntryWithoutItsFactsIsRefused) {
  TempDir dir;
  const StateFiles files(dir.path());
  std::filesystem::create_directories(files.path_of("a").parent_path());
  write_text(files.path_of("a"),
             R"({"format": 1, "failures": 0, "last_error": "", "staged": {"version": "x"}})");
  EXPECT_FALSE(files.load("a"));
  write_text(files.path_of("b"), R"({"format": 1, "failures": 0, "last_error": "", "staged": 3})");
  EXPECT_FALSE(files.load("b"));
}

}  // namespace
}  // namespace certrotd::store
