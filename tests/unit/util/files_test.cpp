#include "util/files.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/test_support.hpp"

namespace certrotd {
namespace {

using testing::read_text;
using testing::TempDir;
using testing::write_text;

// Sets the process umask for one test and restores it; tests in this binary run on one thread.
class UmaskOverride {
public:
  explicit UmaskOverride(mode_t mask) : m_previous(::umask(mask)) {}
  ~UmaskOverride() { ::umask(m_previous); }
  UmaskOverride(const UmaskOverride&) = delete;
  UmaskOverride& operator=(const UmaskOverride&) = delete;

private:
  mode_t m_previous;
};

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// ---- AtomicFile --------------------------------------------------------------------------------

TEST(AtomicFile, CreatesTheFileWithTheRequestedModeWhateverTheUmask) {
  const TempDir dir;
  for (const auto& [mask, mode] : {std::pair<mode_t, mode_t>{0, 0600}, {0, 0640}, {077, 0644}}) {
    const UmaskOverride umask_override(mask);
    const fs::path target = dir / ("key-" + std::to_string(mode));
    auto file = AtomicFile::create(target, mode);
    ASSERT_TRUE(file) << file.error().what();
    // Already final before any byte is written: a wider mode is never visible with content.
    EXPECT_EQ(mode_of(file->temp_path()), mode);
    ASSERT_TRUE(file->write("secret"));
    ASSERT_TRUE(file->commit());
    EXPECT_EQ(mode_of(target), mode) << "umask " << mask;
  }
}

TEST(AtomicFile, PutsTheTempFileNextToTheTargetAndHidden) {
  const TempDir dir;
  auto file = AtomicFile::create(dir / "cert.pem", 0644);
  ASSERT_TRUE(file);
  EXPECT_EQ(file->temp_path().parent_path(), dir.path());
  EXPECT_EQ(file->temp_path().filename().string().rfind(".certrotd-tmp.cert.pem.", 0), 0u)
      << file->temp_path();
  EXPECT_TRUE(is_temp_file_name(file->temp_name(), "cert.pem")) << file->temp_name();
}

TEST(AtomicFile, CreateInWritesRelativeToTheFolderDescriptor) {
  const TempDir dir;
  fs::create_directories(dir / "out");
  const Fd folder(::open((dir / "out").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(folder);
  // The path is swapped for another folder after it was opened; the write still lands in the
  // folder the descriptor names.
  fs::rename(dir / "out", dir / "moved");
  fs::create_directories(dir / "out");
  auto file = AtomicFile::create_in(folder.get(), "key.pem", dir / "out/key.pem", 0600);
  ASSERT_TRUE(file) << file.error().what();
  ASSERT_TRUE(file->write("secret"));
  ASSERT_TRUE(file->commit());
  EXPECT_EQ(read_text(dir / "moved/key.pem"), "secret");
  EXPECT_FALSE(fs::exists(dir / "out/key.pem"));
}

TEST(TempFileName, MatchesOnlyTheNamesAtomicFileMakes) {
  EXPECT_TRUE(is_temp_file_name(".certrotd-tmp.web.key.AbC123", "web.key"));
  EXPECT_TRUE(is_temp_file_name(".certrotd-tmp.web.key.AbC123"));
  EXPECT_FALSE(is_temp_file_name(".certrotd-tmp.web.key.AbC123", "web.crt"));
  EXPECT_FALSE(is_temp_file_name(".certrotd-tmp.web.key.AbC12", "web.key"));
  EXPECT_FALSE(is_temp_file_name(".certrotd-tmp.web.key.AbC1-3", "web.key"));
  EXPECT_FALSE(is_temp_file_name(".web.key.tmp-AbC123", "web.key"));
  EXPECT_FALSE(is_temp_file_name("web.key", "web.key"));
}

TEST(RemoveTempFiles, RemovesOnlyItsOwnTemporaryFilesForTheTarget) {
  const TempDir dir;
  write_text(dir / ".certrotd-tmp.web.key.AbC123", "half a key");
  write_text(dir / ".certrotd-tmp.web.crt.AbC123", "another target's");
  write_text(dir / "web.key", "the real one");
  write_text(dir / ".certrotd-tmp.web.key.notours", "not our pattern");
  fs::create_directory(dir / ".certrotd-tmp.web.key.Folder");
  fs::create_symlink("/etc/passwd", dir / ".certrotd-tmp.web.key.Link00");
  const Fd folder(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(folder);
  auto removed = remove_temp_files(folder.get(), "web.key", dir.path());
  ASSERT_TRUE(removed) << removed.error().what();
  EXPECT_EQ(*removed, 1);
  std::vector<std::string> left = entries(dir.path());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{
                      ".certrotd-tmp.web.crt.AbC123", ".certrotd-tmp.web.key.Folder",
                      ".certrotd-tmp.web.key.Link00", ".certrotd-tmp.web.key.notours", "web.key"}));
  EXPECT_TRUE(fs::exists("/etc/passwd"));
}

TEST(RemoveTempFiles, WithoutATargetRemovesThoseOfEveryTarget) {
  const TempDir dir;
  write_text(dir / ".certrotd-tmp.a.json.AbC123", "{");
  write_text(dir / ".certrotd-tmp.b.json.XyZ789", "{");
  write_text(dir / "a.json", "{}");
  const Fd folder(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(folder);
  auto removed = remove_temp_files(folder.get(), {}, dir.path());
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 2);
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"a.json"}));
}

TEST(RemoveTreeAt, RemovesALinkNotWhatItPointsAt) {
  const TempDir dir;
  fs::create_directories(dir / "kept");
  write_text(dir / "kept/file", "x");
  fs::create_directories(dir / "doomed/sub");
  write_text(dir / "doomed/sub/file", "x");
  fs::create_directory_symlink(dir / "kept", dir / "doomed/link");
  const Fd folder(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(folder);
  ASSERT_TRUE(remove_tree_at(folder.get(), "doomed", dir / "doomed"));
  EXPECT_FALSE(fs::exists(dir / "doomed"));
  EXPECT_TRUE(fs::exists(dir / "kept/file"));
  EXPECT_TRUE(remove_tree_at(folder.get(), "doomed", dir / "doomed"));  // missing: fine
}

TEST(AtomicFile, UncommittedLeavesNoTempFileAndDoesNotTouchTheTarget) {
  const TempDir dir;
  const fs::path target = dir / "cert.pem";
  write_text(target, "old");
  const ino_t before = inode_of(target);
  fs::path temp;
  {
    auto file = AtomicFile::create(target, 0644);
    ASSERT_TRUE(file);
    temp = file->temp_path();
    ASSERT_TRUE(file->write("new"));
    EXPECT_TRUE(fs::exists(temp));
    EXPECT_EQ(read_text(target), "old");
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(read_text(target), "old");
  EXPECT_EQ(inode_of(target), before);
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"cert.pem"}));
}

TEST(AtomicFile, UncommittedWithoutTargetLeavesTheDirectoryEmpty) {
  const TempDir dir;
  {
    auto file = AtomicFile::create(dir / "cert.pem", 0644);
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->write("partial"));
  }
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(AtomicFile, CommitReplacesTheTargetAtomically) {
  const TempDir dir;
  const fs::path target = dir / "cert.pem";
  write_text(target, "old");
  // A reader holding the old file keeps seeing it whole: the new content arrives by rename, not
  // by rewriting the old inode in place.
  const Fd reader(::open(target.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader);

  auto file = AtomicFile::create(target, 0644);
  ASSERT_TRUE(file);
  ASSERT_TRUE(file->write("new "));
  ASSERT_TRUE(file->write("content"));
  const fs::path temp = file->temp_path();
  const auto committed = file->commit();
  ASSERT_TRUE(committed) << committed.error().what();

  EXPECT_EQ(read_text(target), "new content");
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"cert.pem"}));
  char buf[8] = {};
  EXPECT_EQ(::pread(reader.get(), buf, sizeof buf, 0), 3);
  EXPECT_EQ(std::string(buf, 3), "old");
}

TEST(AtomicFile, AMovedFromWriterDoesNotRemoveTheTempFile) {
  const TempDir dir;
  const fs::path target = dir / "cert.pem";
  std::optional<AtomicFile> moved;
  {
    auto created = AtomicFile::create(target, 0600);
    ASSERT_TRUE(created);
    moved.emplace(std::move(*created));
  }  // the moved-from writer is destroyed here
  EXPECT_TRUE(fs::exists(moved->temp_path()));
  ASSERT_TRUE(moved->write("data"));
  ASSERT_TRUE(moved->commit());
  EXPECT_EQ(read_text(target), "data");
}

TEST(AtomicFile, FailsWithContextWhenTheDirectoryIsMissing) {
  const TempDir dir;
  const fs::path target = dir / "missing" / "cert.pem";
  const auto file = AtomicFile::create(target, 0600);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().context, target.string());
  EXPECT_NE(file.error().message.find("temporary file"), std::string::npos);
}

TEST(WriteFileAtomic, WritesTheWholeBufferWithTheMode) {
  const TempDir dir;
  const UmaskOverride umask_override(0);
  const fs::path target = dir / "key.pem";
  const std::string big(100'000, 'k');
  ASSERT_TRUE(write_file_atomic(target, big, 0600));
  EXPECT_EQ(read_text(target), big);
  EXPECT_EQ(mode_of(target), 0600u);
  ASSERT_TRUE(write_file_atomic(target, "smaller", 0600));
  EXPECT_EQ(read_text(target), "smaller");
  EXPECT_EQ(entries(dir.path()).size(), 1u);
}

// ---- write_new_file ----------------------------------------------------------------------------

TEST(WriteNewFile, CreatesTheFileWithTheRequestedModeWhateverTheUmask) {
  const TempDir dir;
  {
    const UmaskOverride umask_override(0);
    ASSERT_TRUE(write_new_file(dir / "a", "x", 0600));
    EXPECT_EQ(mode_of(dir / "a"), 0600u);
  }
  {
    const UmaskOverride umask_override(077);
    ASSERT_TRUE(write_new_file(dir / "b", "x", 0644));
    EXPECT_EQ(mode_of(dir / "b"), 0644u);
  }
  EXPECT_EQ(read_text(dir / "a"), "x");
}

TEST(WriteNewFile, RefusesToOverwriteAnExistingFile) {
  const TempDir dir;
  const fs::path path = dir / "cert.pem";
  write_text(path, "original");
  const auto r = write_new_file(path, "replacement", 0644);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context, path.string());
  EXPECT_EQ(read_text(path), "original");
}

TEST(WriteNewFile, RefusesToFollowASymlink) {
  const TempDir dir;
  write_text(dir / "victim", "untouched");
  fs::create_symlink(dir / "victim", dir / "link");
  EXPECT_FALSE(write_new_file(dir / "link", "evil", 0644));
  EXPECT_EQ(read_text(dir / "victim"), "untouched");
}

// ---- make_dirs, read_file, fsync_dir -----------------------------------------------------------

TEST(MakeDirs, CreatesEveryMissingLevelWithTheMode) {
  const TempDir dir;
  const UmaskOverride umask_override(0);
  const fs::path nested = dir / "a" / "b" / "c";
  ASSERT_TRUE(make_dirs(nested, 0750));
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_EQ(mode_of(dir / "a"), 0750u);
  EXPECT_EQ(mode_of(nested), 0750u);
}

TEST(MakeDirs, LeavesExistingDirectoriesAlone) {
  const TempDir dir;
  const UmaskOverride umask_override(0);
  ASSERT_TRUE(make_dirs(dir / "a", 0700));
  ASSERT_TRUE(make_dirs(dir / "a" / "b", 0755));
  EXPECT_EQ(mode_of(dir / "a"), 0700u);
  EXPECT_TRUE(make_dirs(dir / "a" / "b"));
  EXPECT_TRUE(make_dirs(dir / "a" / "b" / ""));  // trailing slash
}

TEST(MakeDirs, FailsWhenAFileIsInTheWay) {
  const TempDir dir;
  write_text(dir / "file", "x");
  const auto last = make_dirs(dir / "file");
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().message, "not a directory");
  const auto middle = make_dirs(dir / "file" / "sub");
  ASSERT_FALSE(middle);
  EXPECT_EQ(middle.error().context, (dir / "file" / "sub").string());
}

TEST(ReadFile, ReadsBinaryContentOfAnySize) {
  const TempDir dir;
  std::string content(50'000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i % 251);
  write_text(dir / "blob", content);
  const auto r = read_file(dir / "blob");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, content);
}

TEST(ReadFile, ReportsAMissingFileAsPermanentWithThePath) {
  const TempDir dir;
  const auto r = read_file(dir / "absent");
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().retryable());
  EXPECT_EQ(r.error().context, (dir / "absent").string());
  EXPECT_NE(r.error().what().find("No such file"), std::string::npos) << r.error().what();
}

TEST(ReadFile, FailsOnADirectory) {
  const TempDir dir;
  const auto r = read_file(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context, dir.path().string());
  EXPECT_EQ(r.error().message, "it is a folder, not a regular file");
}

TEST(ReadFile, RefusesANamedPipeWithoutWaitingForAWriter) {
  const TempDir dir;
  const fs::path fifo = dir / "config.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&] { return read_file(fifo); });
  if (reading.wait_for(std::chrono::seconds(20)) == std::future_status::timeout) {
    // Stuck in open(2): be the writer it waits for, so the test fails instead of hanging.
    const Fd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  }
  const auto r = reading.get();
  ASSERT_FALSE(r) << "read a FIFO as if it were a file";
  EXPECT_FALSE(r.error().retryable());
  EXPECT_EQ(r.error().message, "it is a named pipe (FIFO), not a regular file");
}

TEST(ReadFile, RefusesASocketAndADevice) {
  const TempDir dir;
  const fs::path socket_path = dir / "sock";
  const Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(socket_path.native().size(), sizeof addr.sun_path);
  std::copy(socket_path.native().begin(), socket_path.native().end(), addr.sun_path);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const auto from_socket = read_file(socket_path);
  ASSERT_FALSE(from_socket);
  EXPECT_EQ(from_socket.error().message, "it is a socket, not a regular file");
  // Refused before the first read, which for /dev/zero would never end.
  const auto from_device = read_file("/dev/null");
  ASSERT_FALSE(from_device);
  EXPECT_EQ(from_device.error().message, "it is a character device, not a regular file");
}

TEST(FsyncDir, FailsOnAMissingDirectory) {
  const TempDir dir;
  EXPECT_TRUE(fsync_dir(dir.path()));
  EXPECT_FALSE(fsync_dir(dir / "absent"));
}

// ---- lookup_user, lookup_group -----------------------------------------------------------------

TEST(LookupUser, AcceptsNamesAndNumbers) {
  EXPECT_EQ(lookup_user("root").value_or(99), 0u);
  EXPECT_EQ(lookup_user("0").value_or(99), 0u);
  EXPECT_EQ(lookup_user("12345").value_or(0), 12345u);
  EXPECT_EQ(lookup_group("0").value_or(99), 0u);
}

TEST(LookupUser, RefusesUnknownNamesAndOutOfRangeNumbers) {
  EXPECT_FALSE(lookup_user("no-such-user-certrotd"));
  EXPECT_FALSE(lookup_group("no-such-group-certrotd"));
  // Used to throw std::out_of_range across the lib/ edge, or to truncate.
  EXPECT_FALSE(lookup_user("99999999999999999999999"));
  EXPECT_FALSE(lookup_user("4294967296"));
  EXPECT_FALSE(lookup_user("4294967295")) << "(uid_t)-1 means 'unchanged' to chown";
  EXPECT_FALSE(lookup_group("99999999999999999999999"));
}

}  // namespace
}  // namespace certrotd
