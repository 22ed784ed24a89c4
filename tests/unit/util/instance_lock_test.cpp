#include "util/instance_lock.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.hpp"

namespace certrotd {
namespace {

using testing::TempDir;

TEST(InstanceLock, FirstHolderGetsItAndIsNamedToTheSecond) {
  const TempDir tmp;
  auto first = InstanceLock::acquire(tmp / "state", 4242);
  ASSERT_TRUE(first) << first.error().what();

  // A second open of the same file conflicts even within one process (an OFD lock).
  auto second = InstanceLock::acquire(tmp / "state", 4343);
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().retryable());
  EXPECT_NE(second.error().what().find("PID 4242"), std::string::npos) << second.error().what();
  EXPECT_NE(second.error().what().find("certrotd.lock"), std::string::npos);
  EXPECT_EQ(InstanceLock::holder(tmp / "state"), 4242);
}

TEST(InstanceLock, IsFreeAgainOnceTheHolderIsGone) {
  const TempDir tmp;
  {
    auto first = InstanceLock::acquire(tmp / "state", 4242);
    ASSERT_TRUE(first);
  }
  EXPECT_EQ(InstanceLock::holder(tmp / "state"), std::nullopt);
  auto again = InstanceLock::acquire(tmp / "state", 4343);
  ASSERT_TRUE(again) << again.error().what();
  EXPECT_EQ(InstanceLock::holder(tmp / "state"), 4343);
}

TEST(InstanceLock, CreatesTheStateDirAndAPrivateFile) {
  const TempDir tmp;
  const auto old_umask = ::umask(0);
  auto lock = InstanceLock::acquire(tmp / "a" / "state", 1);
  ::umask(old_umask);
  ASSERT_TRUE(lock) << lock.error().what();
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "a" / "state" / "certrotd.lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((tmp / "a" / "state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST(InstanceLock, RefusesASymlinkInPlaceOfTheLockFile) {
  const TempDir tmp;
  std::filesystem::create_directories(tmp / "state");
  testing::write_text(tmp / "elsewhere", "precious\n");
  std::filesystem::create_symlink(tmp / "elsewhere", tmp / "state" / "certrotd.lock");
  auto lock = InstanceLock::acquire(tmp / "state", 1);
  ASSERT_FALSE(lock);
  EXPECT_FALSE(lock.error().retryable());
  EXPECT_EQ(testing::read_text(tmp / "elsewhere"), "precious\n");
}

}  // namespace
}  // namespace certrotd
