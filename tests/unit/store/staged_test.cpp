// The store's staged version: next/ under the live names, activation, pruning that spares it,
// and recovery that keeps a complete next/ or none.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "store/credential_store.hpp"
#include "support/test_support.hpp"
#include "unit/store/store_test_support.hpp"

namespace certrotd::store {
namespace {

using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using test::files_for;
namespace fs = std::filesystem;

class StagedStoreTest : public ::testing::Test {
protected:
  StoreOptions options(int keep = 3) const {
    StoreOptions o;
    o.dir = m_root / "out";
    o.keep_versions = keep;
    return o;
  }

  static CredentialStore open_store(StoreOptions o) {
    auto store = CredentialStore::open(std::move(o));
    if (!store) throw std::runtime_error("open failed: " + store.error().what());
    return std::move(*store);
  }

  fs::path out() const { return m_root / "out"; }

  TempDir m_root;
};

TEST_F(StagedStoreTest, StageWritesNextUnderTheLiveNamesAndLeavesTheLiveVersion) {
  auto store = open_store(options());
  ASSERT_TRUE(store.install(files_for(1), "one"));
  auto staged = store.stage(files_for(2), "two");
  ASSERT_TRUE(staged) << staged.error().what();
  EXPECT_EQ(read_text(out() / "cert.pem"), files_for(1).cert);
  EXPECT_EQ(read_text(out() / "next/cert.pem"), files_for(2).cert);
  EXPECT_EQ(read_text(out() / "next/fullchain.pem"), files_for(2).fullchain());
  auto id = store.staged();
  ASSERT_TRUE(id && *id);
  EXPECT_EQ(**id, *staged);
  auto versions = store.versions();
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_TRUE(versions->back().staged);
  EXPECT_FALSE(versions->back().live);
}

TEST_F(StagedStoreTest, ActivateMakesItLiveAndRemovesNext) {
  auto store = open_store(options());
  ASSERT_TRUE(store.install(files_for(1), "one"));
  auto staged = store.stage(files_for(2), "two");
  ASSERT_TRUE(staged);
  auto live = store.activate(SystemTime{std::chrono::seconds(100)});
  ASSERT_TRUE(live) << live.error().what();
  EXPECT_EQ(*live, *staged);
  EXPECT_EQ(read_text(out() / "cert.pem"), files_for(2).cert);
  EXPECT_FALSE(fs::exists(fs::symlink_status(out() / "next")));
  EXPECT_FALSE(store.activate());
  auto versions = store.versions();
  ASSERT_TRUE(versions);
  EXPECT_EQ(versions->front().span.ended, Ending::rotated);
}

TEST_F(StagedStoreTest, StagingAgainReplacesTheStagedVersion) {
  auto store = open_store(options());
  ASSERT_TRUE(store.install(files_for(1), "one"));
  auto first = store.stage(files_for(2), "two");
  auto second = store.stage(files_for(3), "three");
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(fs::exists(out() / ("..v-" + *first)));
  EXPECT_EQ(read_text(out() / "next/cert.pem"), files_for(3).cert);
}

TEST_F(StagedStoreTest, PruningNeverRemovesTheStagedVersion) {
  auto store = open_store(options(1));
  ASSERT_TRUE(store.install(files_for(1), "one"));
  auto staged = store.stage(files_for(2), "two");
  ASSERT_TRUE(staged);
  // Installed past it (mode changed to immediate, say) while it is still staged.
  ASSERT_TRUE(store.install(files_for(3), "three"));
  ASSERT_TRUE(store.install(files_for(4), "four"));
  EXPECT_TRUE(fs::exists(out() / ("..v-" + *staged)));
  EXPECT_FALSE(store.discard(*staged));
  EXPECT_FALSE(store.rollback_to(*staged));
}

TEST_F(StagedStoreTest, RecoveryRemovesANextThatNamesNoCompleteVersion) {
  {
    auto store = open_store(options());
    ASSERT_TRUE(store.install(files_for(1), "one"));
    auto staged = store.stage(files_for(2), "two");
    ASSERT_TRUE(staged);
    // A version missing a file: nothing certrotd writes, but a next/ that must not be served.
    fs::remove(out() / ("..v-" + *staged) / "key.pem");
  }
  auto reopened = open_store(options());
  EXPECT_FALSE(fs::exists(fs::symlink_status(out() / "next")));
  auto id = reopened.staged();
  ASSERT_TRUE(id);
  EXPECT_FALSE(*id);
}

TEST_F(StagedStoreTest, RecoveryRemovesANextThatNamesTheLiveVersion) {
  {
    auto store = open_store(options());
    ASSERT_TRUE(store.install(files_for(1), "one"));
    ASSERT_TRUE(store.stage(files_for(2), "two"));
  }
  // What a kill between the swap and the removal of next leaves: ..data and next agree.
  const fs::path next = out() / "next";
  const fs::path target = fs::read_symlink(next);
  fs::remove(out() / "..data");
  fs::create_symlink(target, out() / "..data");
  auto reopened = open_store(options());
  EXPECT_FALSE(fs::exists(fs::symlink_status(next)));
  EXPECT_EQ(read_text(out() / "cert.pem"), files_for(2).cert);
}

TEST_F(StagedStoreTest, RecoveryRemovesATemporaryNextLeftByACrash) {
  {
    auto store = open_store(options());
    ASSERT_TRUE(store.install(files_for(1), "one"));
  }
  fs::create_symlink("..v-0000000001-one", out() / "..tmp-next");
  auto reopened = open_store(options());
  EXPECT_FALSE(fs::exists(fs::symlink_status(out() / "..tmp-next")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(out() / "next")));
}

TEST_F(StagedStoreTest, UnstageRemovesNextAndItsVersion) {
  auto store = open_store(options());
  ASSERT_TRUE(store.install(files_for(1), "one"));
  auto staged = store.stage(files_for(2), "two");
  ASSERT_TRUE(staged);
  ASSERT_TRUE(store.unstage());
  EXPECT_FALSE(fs::exists(fs::symlink_status(out() / "next")));
  EXPECT_FALSE(fs::exists(out() / ("..v-" + *staged)));
  EXPECT_TRUE(store.unstage()) << "nothing staged is no error";
}

}  // namespace
}  // namespace certrotd::store
