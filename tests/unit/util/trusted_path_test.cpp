#include "util/trusted_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "support/test_support.hpp"

namespace certrotd {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_text;

// Another user's folders can only be made by root; CI runs these tests as root.
constexpr uid_t k_other = 65534;  // nobody

class TrustedPath : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give folders to another user";
  }

  static void give_away(const fs::path& path) {
    ASSERT_EQ(::lchown(path.c_str(), k_other, k_other), 0) << path;
  }
  static void chmod_to(const fs::path& path, mode_t mode) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
  }
  Result<TrustedDir> open(const fs::path& path,
                          MissingFolders missing = MissingFolders::refuse) const {
    return open_trusted_dir(path, m_trust, missing);
  }
  static ino_t inode_of(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_ino;
  }
  static ino_t inode_of(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_ino;
  }

  const TempDir m_root;
  const PathTrust m_trust{0, 0, std::nullopt, std::nullopt};
};

TEST_F(TrustedPath, OpensAFolderWhosePathBelongsToRoot) {
  fs::create_directories(m_root / "a/b");
  auto dir = open(m_root / "a/b");
  ASSERT_TRUE(dir) << dir.error().what();
  EXPECT_EQ(inode_of(dir->fd.get()), inode_of(m_root / "a/b"));
  EXPECT_FALSE(dir->created);
}

TEST_F(TrustedPath, RefusesAFolderOfAnotherUserAndNamesItAndItsOwner) {
  fs::create_directories(m_root / "owned/sub");
  give_away(m_root / "owned");
  auto dir = open(m_root / "owned/sub");
  ASSERT_FALSE(dir);
  EXPECT_FALSE(dir.error().retryable());
  EXPECT_EQ(dir.error().context, (m_root / "owned").string());
  EXPECT_NE(dir.error().message.find("is owned by"), std::string::npos) << dir.error().message;
  EXPECT_NE(dir.error().message.find("uid 65534"), std::string::npos) << dir.error().message;
}

TEST_F(TrustedPath, TrustsTheDaemonsOwnUser) {
  fs::create_directories(m_root / "mine");
  give_away(m_root / "mine");
  EXPECT_TRUE(open_trusted_dir(m_root / "mine",
                               PathTrust{k_other, k_other, std::nullopt, std::nullopt},
                               MissingFolders::refuse));
}

TEST_F(TrustedPath, RootTrustsTheServiceUsersFoldersToo) {
  // /var/lib/certrotd belongs to the packaged service's user; root's `check` must accept it.
  fs::create_directories(m_root / "service/live");
  give_away(m_root / "service");
  ASSERT_FALSE(open(m_root / "service/live"));
  const PathTrust with_service{0, 0, k_other, k_other};
  EXPECT_TRUE(open_trusted_dir(m_root / "service/live", with_service, MissingFolders::refuse));
  ASSERT_EQ(::chown((m_root / "service").c_str(), k_other, k_other), 0);
  chmod_to(m_root / "service", 0775);
  EXPECT_TRUE(open_trusted_dir(m_root / "service/live", with_service, MissingFolders::refuse));
}

TEST_F(TrustedPath, RefusesAFolderWritableByAnotherGroup) {
  fs::create_directories(m_root / "shared");
  ASSERT_EQ(::chown((m_root / "shared").c_str(), 0, k_other), 0);
  chmod_to(m_root / "shared", 0775);
  auto dir = open(m_root / "shared");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("writable by"), std::string::npos) << dir.error().message;
  EXPECT_NE(dir.error().message.find("gid 65534"), std::string::npos) << dir.error().message;
}

TEST_F(TrustedPath, AcceptsAFolderWritableByRootsGroup) {
  fs::create_directories(m_root / "wheel");
  chmod_to(m_root / "wheel", 0775);
  EXPECT_TRUE(open(m_root / "wheel"));
}

TEST_F(TrustedPath, RefusesAWorldWritableFolder) {
  fs::create_directories(m_root / "open/out");
  chmod_to(m_root / "open", 0777);
  auto dir = open(m_root / "open/out");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("writable by everyone"), std::string::npos);
}

TEST_F(TrustedPath, PassesThroughAStickyRootFolderButDoesNotWriteIntoOne) {
  fs::create_directories(m_root / "tmp/out");
  chmod_to(m_root / "tmp", 01777);
  EXPECT_TRUE(open(m_root / "tmp/out"));
  auto dir = open(m_root / "tmp");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("writable by everyone"), std::string::npos);
}

TEST_F(TrustedPath, RefusesAStickyFolderOfAnotherUser) {
  fs::create_directories(m_root / "tmp/out");
  chmod_to(m_root / "tmp", 01777);
  give_away(m_root / "tmp");
  EXPECT_FALSE(open(m_root / "tmp/out"));
}

TEST_F(TrustedPath, FollowsARootLinkInARootFolderAndJudgesItsTarget) {
  fs::create_directories(m_root / "real/out");
  fs::create_directory_symlink("real", m_root / "link");
  auto dir = open(m_root / "link/out");
  ASSERT_TRUE(dir) << dir.error().what();
  EXPECT_EQ(inode_of(dir->fd.get()), inode_of(m_root / "real/out"));

  give_away(m_root / "real");
  auto refused = open(m_root / "link/out");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().context, (m_root / "real").string());
}

TEST_F(TrustedPath, FollowsRelativeLinksWithDotDot) {
  fs::create_directories(m_root / "a/b");
  fs::create_directories(m_root / "c");
  fs::create_directory_symlink("../../c", m_root / "a/b/up");
  auto dir = open(m_root / "a/b/up");
  ASSERT_TRUE(dir) << dir.error().what();
  EXPECT_EQ(inode_of(dir->fd.get()), inode_of(m_root / "c"));
}

TEST_F(TrustedPath, RefusesALinkOwnedByAnotherUser) {
  fs::create_directories(m_root / "real");
  fs::create_directory_symlink(m_root / "real", m_root / "link");
  give_away(m_root / "link");
  auto dir = open(m_root / "link");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().context, (m_root / "link").string());
  EXPECT_NE(dir.error().message.find("symbolic link"), std::string::npos) << dir.error().message;
}

TEST_F(TrustedPath, RefusesALinkInAFolderAnotherUserCanWrite) {
  fs::create_directories(m_root / "owned");
  fs::create_directories(m_root / "root-only");
  fs::create_directory_symlink(m_root / "root-only", m_root / "owned/sub");
  give_away(m_root / "owned");
  auto dir = open(m_root / "owned/sub");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().context, (m_root / "owned").string());
}

TEST_F(TrustedPath, RefusesALinkLoop) {
  fs::create_directory_symlink("b", m_root / "a");
  fs::create_directory_symlink("a", m_root / "b");
  auto dir = open(m_root / "a");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("too many levels"), std::string::npos);
}

TEST_F(TrustedPath, RefusesAFileWhereAFolderShouldBe) {
  write_text(m_root / "file", "x");
  auto dir = open(m_root / "file/out");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("is not a folder"), std::string::npos);
  // Trouble on disk, not a redirect: the credential is retried, the configuration stands.
  EXPECT_TRUE(dir.error().retryable());
}

TEST_F(TrustedPath, CreatesMissingFoldersWithTheirMode) {
  const auto old = ::umask(0);
  auto dir = open_trusted_dir(m_root / "new/deeper", m_trust, MissingFolders::create, 0750);
  ::umask(old);
  ASSERT_TRUE(dir) << dir.error().what();
  EXPECT_TRUE(dir->created);
  struct stat st {};
  ASSERT_EQ(::stat((m_root / "new/deeper").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(TrustedPath, JudgesAFolderSomeoneElseCreatedFirst) {
  // As if another user won the race to create the missing component in a sticky folder.
  fs::create_directories(m_root / "tmp/theirs");
  chmod_to(m_root / "tmp", 01777);
  give_away(m_root / "tmp/theirs");
  EXPECT_FALSE(open_trusted_dir(m_root / "tmp/theirs/out", m_trust, MissingFolders::create));
  EXPECT_FALSE(fs::exists(m_root / "tmp/theirs/out"));
}

TEST_F(TrustedPath, AcceptStopsAtTheFirstMissingFolderWithoutCreatingIt) {
  auto dir = open(m_root / "missing/out", MissingFolders::accept);
  ASSERT_TRUE(dir) << dir.error().what();
  EXPECT_FALSE(dir->fd.valid());
  EXPECT_FALSE(fs::exists(m_root / "missing"));
}

TEST_F(TrustedPath, RefuseReportsAMissingFolderAsRetryable) {
  auto dir = open(m_root / "missing");
  ASSERT_FALSE(dir);
  EXPECT_TRUE(dir.error().retryable());
}

TEST_F(TrustedPath, TheDescriptorStaysOnTheFolderThatWasJudged) {
  fs::create_directories(m_root / "out");
  fs::create_directories(m_root / "elsewhere");
  auto dir = open(m_root / "out");
  ASSERT_TRUE(dir);
  // The path is swapped for a link after the walk: what is written through the descriptor still
  // lands in the folder that was judged.
  fs::rename(m_root / "out", m_root / "moved");
  fs::create_directory_symlink(m_root / "elsewhere", m_root / "out");
  const int fd = ::openat(dir->fd.get(), "key.pem", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_TRUE(fs::exists(m_root / "moved/key.pem"));
  EXPECT_FALSE(fs::exists(m_root / "elsewhere/key.pem"));
}

TEST_F(TrustedPath, TheCheckerJudgesEachFolderUnderARememberedParent) {
  fs::create_directories(m_root / "live/a");
  fs::create_directories(m_root / "live/b");
  fs::create_directories(m_root / "real");
  fs::create_directory_symlink(m_root / "real", m_root / "live/c");
  give_away(m_root / "live/b");
  TrustedDirChecker checker(m_trust);
  EXPECT_TRUE(checker.check(m_root / "live/a"));
  auto b = checker.check(m_root / "live/b");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().context, (m_root / "live/b").string());
  EXPECT_TRUE(checker.check(m_root / "live/missing"));
  EXPECT_TRUE(checker.check(m_root / "live/c"));  // root's link, followed and judged
  give_away(m_root / "live/c");
  EXPECT_FALSE(checker.check(m_root / "live/c"));
}

TEST_F(TrustedPath, TheCheckerPassesThroughAStickyParentButNotIntoIt) {
  fs::create_directories(m_root / "tmp/out");
  chmod_to(m_root / "tmp", 01777);
  TrustedDirChecker checker(m_trust);
  EXPECT_TRUE(checker.check(m_root / "tmp/out"));
  EXPECT_FALSE(checker.check(m_root / "tmp"));
  give_away(m_root / "tmp");
  EXPECT_FALSE(TrustedDirChecker(m_trust).check(m_root / "tmp/out"));
}

TEST_F(TrustedPath, AcceptsAProgramOnlyRootCanChange) {
  fs::create_directories(m_root / "bin");
  write_text(m_root / "bin/hook", "#!/bin/sh\n");
  chmod_to(m_root / "bin/hook", 0755);
  EXPECT_TRUE(check_trusted_file(m_root / "bin/hook", m_trust));
}

TEST_F(TrustedPath, RefusesAProgramAnotherUserOwnsOrCanWrite) {
  fs::create_directories(m_root / "bin");
  write_text(m_root / "bin/owned", "#!/bin/sh\n");
  give_away(m_root / "bin/owned");
  auto owned = check_trusted_file(m_root / "bin/owned", m_trust);
  ASSERT_FALSE(owned);
  EXPECT_NE(owned.error().message.find("is owned by"), std::string::npos);

  write_text(m_root / "bin/writable", "#!/bin/sh\n");
  chmod_to(m_root / "bin/writable", 0757);
  auto writable = check_trusted_file(m_root / "bin/writable", m_trust);
  ASSERT_FALSE(writable);
  EXPECT_NE(writable.error().message.find("writable by everyone"), std::string::npos);
}

TEST_F(TrustedPath, RefusesAProgramInAFolderAnotherUserOwns) {
  fs::create_directories(m_root / "bin");
  write_text(m_root / "bin/hook", "#!/bin/sh\n");
  give_away(m_root / "bin");
  auto checked = check_trusted_file(m_root / "bin/hook", m_trust);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().context, (m_root / "bin").string());
}

TEST_F(TrustedPath, RefusesAFolderAsAProgram) {
  fs::create_directories(m_root / "bin");
  EXPECT_FALSE(check_trusted_file(m_root / "bin", m_trust));
}

}  // namespace
}  // namespace certrotd
