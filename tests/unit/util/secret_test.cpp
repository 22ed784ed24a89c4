#include "util/secret.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "support/test_support.hpp"

namespace certrotd {
namespace {

using testing::TempDir;
using testing::write_text;

std::string read_back(const TempDir& dir, const std::string& content) {
  write_text(dir / "secret", content);
  auto secret = read_secret_file(dir / "secret", "test secret file");
  if (!secret) return "error: " + secret.error().what();
  return std::string(secret->view());
}

TEST(ReadSecretFile, IsTheFirstLineWithoutItsLineEnding) {
  const TempDir dir;
  EXPECT_EQ(read_back(dir, "s3cr=t"), "s3cr=t");
  EXPECT_EQ(read_back(dir, "s3cr=t\n"), "s3cr=t");
  EXPECT_EQ(read_back(dir, "s3cr=t\r\n"), "s3cr=t");
  EXPECT_EQ(read_back(dir, "s3cr=t\r"), "s3cr=t");
  EXPECT_EQ(read_back(dir, "first\nsecond\n"), "first");
  EXPECT_EQ(read_back(dir, "first\rsecond"), "first");
  // Only line endings end it: spaces and tabs are part of a passphrase.
  EXPECT_EQ(read_back(dir, " correct horse\t\n"), " correct horse\t");
}

TEST(ReadSecretFile, AnEmptyFirstLineIsAnErrorThatNamesTheFileNotTheValue) {
  const TempDir dir;
  for (const char* content : {"", "\n", "\r\n", "\nhidden-second-line\n"}) {
    write_text(dir / "secret", content);
    auto secret = read_secret_file(dir / "secret", "test secret file");
    ASSERT_FALSE(secret) << content;
    EXPECT_EQ(secret.error().message, "the test secret file is empty");
    EXPECT_EQ(secret.error().context, (dir / "secret").string());
    EXPECT_EQ(secret.error().what().find("hidden"), std::string::npos);
  }
}

TEST(ReadSecretFile, SaysWhichFileCouldNotBeRead) {
  const TempDir dir;
  auto missing = read_secret_file(dir / "nope", "client secret file");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().what().find("cannot read the client secret file"), std::string::npos);
  EXPECT_NE(missing.error().what().find("nope"), std::string::npos);

  // A FIFO is refused at once rather than waited on.
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_FALSE(read_secret_file(dir / "fifo", "client secret file"));
}

TEST(Secret, MovingLeavesNothingBehindInTheSource) {
  Secret first("short");
  Secret second(std::move(first));
  EXPECT_EQ(second.view(), "short");
  EXPECT_EQ(first.size(), 0U);  // NOLINT(bugprone-use-after-move): checking the wipe

  Secret third("a longer value that does not fit in a short string buffer");
  third = std::move(second);
  EXPECT_EQ(third.view(), "short");
  EXPECT_EQ(std::string(third.c_str()), "short");
  EXPECT_EQ(second.size(), 0U);  // NOLINT(bugprone-use-after-move): checking the wipe
}

}  // namespace
}  // namespace certrotd
