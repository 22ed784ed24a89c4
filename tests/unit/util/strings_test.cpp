#include "util/strings.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace certrotd {
namespace {

using Strings = std::vector<std::string>;

TEST(Trim, RemovesSurroundingWhitespaceOnly) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("a"), "a");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t\n "), "");
}

TEST(Split, KeepsEmptyFields) {
  EXPECT_EQ(split("a,b,,c", ','), (Strings{"a", "b", "", "c"}));
  EXPECT_EQ(split("a,", ','), (Strings{"a", ""}));
  EXPECT_EQ(split(",a", ','), (Strings{"", "a"}));
  EXPECT_EQ(split("abc", ','), (Strings{"abc"}));
  EXPECT_EQ(split("", ','), (Strings{""}));
}

TEST(ToLower, LowersAsciiOnly) {
  EXPECT_EQ(to_lower("Renew_Before-ABC"), "renew_before-abc");
  EXPECT_EQ(to_lower(""), "");
}

TEST(StartsWithCi, IgnoresCase) {
  EXPECT_TRUE(starts_with_ci("Bearer abc", "bearer "));
  EXPECT_TRUE(starts_with_ci("abc", ""));
  EXPECT_FALSE(starts_with_ci("Bear", "bearer"));
  EXPECT_FALSE(starts_with_ci("Basic x", "bearer"));
}

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("sitting", "kitten"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
  EXPECT_EQ(edit_distance("renew_befor", "renew_before"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 2u);
}

TEST(ClosestMatch, SuggestsAPlausibleTypo) {
  const Strings keys{"renew_before", "renew_at", "jitter", "backoff_cap"};
  EXPECT_EQ(closest_match("renew_befor", keys), "renew_before");
  EXPECT_EQ(closest_match("RENEW_AT", keys), "renew_at") << "case-insensitive";
  EXPECT_EQ(closest_match("jiter", keys), "jitter");
  EXPECT_EQ(closest_match("backof_cp", keys), "backoff_cap");
}

TEST(ClosestMatch, StaysQuietWhenNothingIsClose) {
  const Strings keys{"renew_before", "renew_at", "jitter"};
  EXPECT_EQ(closest_match("completely_unrelated", keys), "");
  EXPECT_EQ(closest_match("x", Strings{}), "");
}

// FNV-1a 64 test vectors: the value is part of the on-disk and fleet-wide contract (jitter).
TEST(StableHash, MatchesFnv1aReferenceValues) {
  EXPECT_EQ(stable_hash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(stable_hash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(stable_hash("foobar"), 0x85944171f73967e8ULL);
}

TEST(StableHash, IsTheSameOnEveryCallAndDiffersAcrossInputs) {
  EXPECT_EQ(stable_hash("billing-api"), stable_hash(std::string("billing-") + "api"));
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    seen.insert(stable_hash("cred-" + std::to_string(i)));
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace certrotd
