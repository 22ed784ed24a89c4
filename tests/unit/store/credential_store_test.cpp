#include "store/credential_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_support.hpp"
#include "unit/store/store_test_support.hpp"

namespace certrotd::store {
namespace {

using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using certrotd::testing::write_text;
using test::files_for;
using test::mode_of;

constexpr std::array k_contents = {Content::cert, Content::chain,  Content::fullchain,
                                   Content::key,  Content::bundle, Content::ca};

class CredentialStoreTest : public ::testing::Test {
protected:
  StoreOptions options() const {
    StoreOptions o;
    o.dir = m_root / "out";
    return o;
  }

  CredentialStore open_store(StoreOptions o) {
    auto store = CredentialStore::open(std::move(o));
    // GoogleTest reports the exception as this test's failure.
    if (!store) throw std::runtime_error("open failed: " + store.error().what());
    return std::move(*store);
  }

  std::string install(CredentialStore& store, int n, const std::string& label = {}) {
    auto id = store.install(files_for(n), label.empty() ? std::to_string(n) : label);
    EXPECT_TRUE(id) << (id ? "" : id.error().what());
    return id ? *id : std::string{};
  }

  std::vector<std::string> version_ids(const CredentialStore& store) {
    auto versions = store.versions();
    EXPECT_TRUE(versions);
    std::vector<std::string> ids;
    if (versions) {
      for (const auto& v : *versions) ids.push_back(v.id);
    }
    return ids;
  }

  std::string live_id(const CredentialStore& store) {
    auto versions = store.versions();
    if (versions) {
      for (const auto& v : *versions) {
        if (v.live) return v.id;
      }
    }
    return {};
  }

  std::string data_target(const CredentialStore& store) {
    std::error_code ec;
    return fs::read_symlink(fs::path(store.options().dir) / "..data", ec).string();
  }

  // Every stable name shows version n, byte for byte.
  void expect_live_version(const CredentialStore& store, int n) {
    const CredentialFiles expected = files_for(n);
    for (const Content c : k_contents) {
      EXPECT_EQ(read_text(store.live_path(c)), expected.content(c)) << file_name(c);
    }
  }

  TempDir m_root;
};

TEST(CredentialFilesTest, FullchainIsTheCertFollowedByTheChain) {
  const CredentialFiles files{"C\n", "I1\nI2\n", "K\n", "A\n"};
  EXPECT_EQ(files.fullchain(), "C\nI1\nI2\n");
  EXPECT_EQ(files.content(Content::fullchain), "C\nI1\nI2\n");
}

TEST(CredentialFilesTest, BundleIsTheKeyFollowedByTheCertAndTheChain) {
  const CredentialFiles files{"C\n", "I\n", "K\n", "A\n"};
  EXPECT_EQ(files.bundle(), "K\nC\nI\n");
  EXPECT_EQ(files.content(Content::bundle), "K\nC\nI\n");
}

TEST(CredentialFilesTest, DerivedFilesInsertANewlineWhereAPartLacksOne) {
  const CredentialFiles files{"C", "I", "K", ""};
  EXPECT_EQ(files.fullchain(), "C\nI");
  EXPECT_EQ(files.bundle(), "K\nC\nI");
}

TEST(CredentialFilesTest, FullchainIsJustTheCertWhenThereIsNoChain) {
  const CredentialFiles files{"C\n", "", "K\n", ""};
  EXPECT_EQ(files.fullchain(), "C\n");
  EXPECT_EQ(files.bundle(), "K\nC\n");
}

TEST(ContentTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (const Content c : k_contents) {
    auto parsed = parse_content(to_string(c));
    ASSERT_TRUE(parsed) << to_string(c);
    EXPECT_EQ(*parsed, c);
    EXPECT_EQ(file_name(c), std::string(to_string(c)) + ".pem");
  }
  auto bad = parse_content("private");
  ASSERT_FALSE(bad);
  EXPECT_FALSE(bad.error().retryable());
  EXPECT_TRUE(is_secret(Content::key));
  EXPECT_TRUE(is_secret(Content::bundle));
  EXPECT_FALSE(is_secret(Content::fullchain));
}

TEST_F(CredentialStoreTest, OpenCreatesTheDirectory) {
  auto store = open_store(options());
  EXPECT_TRUE(fs::is_directory(m_root / "out"));
  EXPECT_EQ(mode_of(m_root / "out"), 0755u);
}

TEST_F(CredentialStoreTest, LoadCurrentIsEmptyBeforeTheFirstInstall) {
  auto store = open_store(options());
  auto current = store.load_current();
  ASSERT_TRUE(current);
  EXPECT_FALSE(current->has_value());
  auto versions = store.versions();
  ASSERT_TRUE(versions);
  EXPECT_TRUE(versions->empty());
}

TEST_F(CredentialStoreTest, FirstInstallCreatesAllSixFilesReachableThroughStableNames) {
  auto store = open_store(options());
  const std::string id = install(store, 1);
  EXPECT_EQ(data_target(store), "..v-" + id);
  for (const Content c : k_contents) {
    const fs::path stable = store.live_path(c);
    EXPECT_EQ(stable, m_root / "out" / file_name(c));
    ASSERT_TRUE(fs::is_symlink(stable)) << stable;
    EXPECT_EQ(fs::read_symlink(stable), fs::path("..data") / file_name(c));
    EXPECT_TRUE(fs::is_regular_file(m_root / "out" / ("..v-" + id) / file_name(c)));
  }
  expect_live_version(store, 1);
  auto current = store.load_current();
  ASSERT_TRUE(current && current->has_value());
  EXPECT_EQ((*current)->cert, files_for(1).cert);
  EXPECT_EQ((*current)->chain, files_for(1).chain);
  EXPECT_EQ((*current)->key, files_for(1).key);
  EXPECT_EQ((*current)->ca, files_for(1).ca);
}

TEST_F(CredentialStoreTest, FirstInstallGivesKeyAndBundle0600AndTheRest0644ByDefault) {
  auto store = open_store(options());
  const std::string id = install(store, 1);
  for (const Content c : k_contents) {
    EXPECT_EQ(mode_of(store.live_path(c)), is_secret(c) ? 0600u : 0644u) << file_name(c);
  }
  EXPECT_EQ(mode_of(m_root / "out" / ("..v-" + id)), 0755u);
}

TEST_F(CredentialStoreTest, CustomModesApplyToTheFilesTheyCover) {
  StoreOptions o = options();
  o.secret_mode = 0640;
  o.public_mode = 0444;
  auto store = open_store(o);
  install(store, 1);
  for (const Content c : k_contents) {
    EXPECT_EQ(mode_of(store.live_path(c)), is_secret(c) ? 0640u : 0444u) << file_name(c);
  }
}

TEST_F(CredentialStoreTest, AGroupMakesDirectories0750AndOwnsEveryFile) {
  StoreOptions o = options();
  o.owner.gid = test::test_group();
  o.secret_mode = 0640;
  auto store = open_store(o);
  const std::string id = install(store, 1);
  const fs::path version = m_root / "out" / ("..v-" + id);
  EXPECT_EQ(mode_of(m_root / "out"), 0750u);
  EXPECT_EQ(mode_of(version), 0750u);
  struct stat st {};
  ASSERT_EQ(::stat(version.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, test::test_group());
  for (const Content c : k_contents) {
    ASSERT_EQ(::stat(store.live_path(c).c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, test::test_group()) << file_name(c);
  }
}

TEST_F(CredentialStoreTest, SecondInstallSwitchesAllFilesTogether) {
  auto store = open_store(options());
  const std::string first = install(store, 1);
  const std::string second = install(store, 2);
  EXPECT_NE(first, second);
  EXPECT_EQ(data_target(store), "..v-" + second);
  expect_live_version(store, 2);
  EXPECT_EQ(live_id(store), second);
  // The previous version is intact for rollback.
  EXPECT_EQ(read_text(m_root / "out" / ("..v-" + first) / "key.pem"), files_for(1).key);
}

TEST_F(CredentialStoreTest, VersionIdsSortByCreationOrderAndCarryASafeLabel) {
  auto store = open_store(options());
  const std::string a = install(store, 1, "zz");
  const std::string b = install(store, 2, "aa");
  const std::string c = install(store, 3, "../01:AB/cd");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(a.find("zz"), std::string::npos);
  EXPECT_EQ(c.find('/'), std::string::npos);
  EXPECT_EQ(c.find(':'), std::string::npos);
  EXPECT_NE(c.find("01_AB_cd"), std::string::npos);
  EXPECT_EQ(version_ids(store), (std::vector<std::string>{a, b, c}));
}

TEST_F(CredentialStoreTest, VersionIdsKeepCountingAfterReopening) {
  std::string first;
  {
    auto store = open_store(options());
    first = install(store, 1);
  }
  auto store = open_store(options());
  const std::string second = install(store, 2);
  EXPECT_LT(first, second);
  EXPECT_EQ(live_id(store), second);
}

TEST_F(CredentialStoreTest, HistoryKeepsTheConfiguredNumberOfVersionsAndPrunesTheOldest) {
  StoreOptions o = options();
  o.keep_versions = 3;
  auto store = open_store(o);
  std::vector<std::string> ids;
  for (int n = 1; n <= 5; ++n) ids.push_back(install(store, n));
  EXPECT_EQ(version_ids(store), (std::vector<std::string>{ids[2], ids[3], ids[4]}));
  EXPECT_EQ(live_id(store), ids[4]);
  EXPECT_FALSE(fs::exists(m_root / "out" / ("..v-" + ids[0])));
  EXPECT_FALSE(fs::exists(m_root / "out" / ("..v-" + ids[1])));
  for (const auto& entry : fs::directory_iterator(m_root / "out")) {
    EXPECT_NE(entry.path().filename().string().rfind("..tmp-", 0), 0u) << entry.path();
  }
}

TEST_F(CredentialStoreTest, KeepingOneVersionNeverPrunesTheLiveOne) {
  StoreOptions o = options();
  o.keep_versions = 1;
  auto store = open_store(o);
  install(store, 1);
  const std::string second = install(store, 2);
  EXPECT_EQ(version_ids(store), std::vector<std::string>{second});
  expect_live_version(store, 2);
}

TEST_F(CredentialStoreTest, RollbackRepointsToThePreviousVersionAndRefreshesCopies) {
  StoreOptions o = options();
  o.copies.push_back(CopySpec{m_root / "copies" / "site.crt", Content::fullchain, {}, {}});
  auto store = open_store(o);
  const std::string first = install(store, 1);
  const std::string second = install(store, 2);
  EXPECT_EQ(read_text(m_root / "copies" / "site.crt"), files_for(2).fullchain());

  auto rolled = store.rollback();
  ASSERT_TRUE(rolled) << rolled.error().what();
  EXPECT_EQ(*rolled, first);
  EXPECT_EQ(data_target(store), "..v-" + first);
  expect_live_version(store, 1);
  EXPECT_EQ(read_text(m_root / "copies" / "site.crt"), files_for(1).fullchain());
  // The newer version stays on disk: rolling back is not deleting.
  EXPECT_EQ(version_ids(store), (std::vector<std::string>{first, second}));
  EXPECT_EQ(live_id(store), first);
}

TEST_F(CredentialStoreTest, AnIssuersFilesBelongToTheirVersionAndARollbackRestoresThem) {
  auto store = open_store(options());
  const auto with_extras = [](int n) {
    CredentialFiles f = files_for(n);
    f.extras.push_back(NamedFile{"binding.json", "{\"n\":" + std::to_string(n) + "}\n", false});
    f.extras.push_back(NamedFile{"service-key.json", "secret-" + std::to_string(n), true});
    return f;
  };
  auto first = store.install(with_extras(1), "1");
  ASSERT_TRUE(first) << first.error().what();
  const auto out = m_root / "out";
  EXPECT_EQ(read_text(out / "binding.json"), "{\"n\":1}\n");
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink(out / "binding.json", ec), "..data/binding.json");
  EXPECT_EQ(test::mode_of(out / ("..v-" + *first) / "binding.json"), 0644u);
  EXPECT_EQ(test::mode_of(out / ("..v-" + *first) / "service-key.json"), 0600u);

  ASSERT_TRUE(store.install(with_extras(2), "2"));
  EXPECT_EQ(read_text(out / "binding.json"), "{\"n\":2}\n");
  EXPECT_EQ(read_text(out / "service-key.json"), "secret-2");
  ASSERT_TRUE(store.rollback());
  EXPECT_EQ(read_text(out / "binding.json"), "{\"n\":1}\n");
  EXPECT_EQ(read_text(out / "service-key.json"), "secret-1");

  // A version without them (a hand replacement) leaves the names dangling, never the old text.
  ASSERT_TRUE(store.install(files_for(3), "3"));
  EXPECT_FALSE(std::filesystem::exists(out / "binding.json"));
  EXPECT_TRUE(std::filesystem::is_symlink(out / "binding.json"));
}

TEST_F(CredentialStoreTest, AnIssuersFileMayNotTakeAPemNameOrLeaveTheVersion) {
  auto store = open_store(options());
  for (const std::string name : {"key.pem", "next", "../x", ".hidden", ""}) {
    CredentialFiles f = files_for(1);
    f.extras.push_back(NamedFile{name, "x", false});
    EXPECT_FALSE(store.install(f, "1")) << name;
  }
  EXPECT_TRUE(version_ids(store).empty());
}

TEST_F(CredentialStoreTest, AStagedVersionsFilesGoLiveWithItsActivation) {
  auto store = open_store(options());
  ASSERT_TRUE(store.install(files_for(1), "1"));
  CredentialFiles f = files_for(2);
  f.extras.push_back(NamedFile{"binding.json", "two", false});
  ASSERT_TRUE(store.stage(f, "2"));
  EXPECT_EQ(read_text(m_root / "out" / "next" / "binding.json"), "two");
  EXPECT_FALSE(std::filesystem::exists(m_root / "out" / "binding.json"));
  ASSERT_TRUE(store.activate());
  EXPECT_EQ(read_text(m_root / "out" / "binding.json"), "two");
}

TEST_F(CredentialStoreTest, RollbackToRestoresAnyKeptVersionOlderOrNewer) {
  StoreOptions o = options();
  o.keep_versions = 4;
  o.copies.push_back(CopySpec{m_root / "copies" / "site.crt", Content::fullchain, {}, {}});
  auto store = open_store(o);
  const std::string v1 = install(store, 1);
  const std::string v2 = install(store, 2);
  const std::string v3 = install(store, 3);
  auto rolled = store.rollback_to(v1);
  ASSERT_TRUE(rolled) << rolled.error().what();
  EXPECT_EQ(*rolled, v1);
  expect_live_version(store, 1);
  EXPECT_EQ(read_text(m_root / "copies" / "site.crt"), files_for(1).fullchain());
  ASSERT_TRUE(store.rollback_to(v3)) << "forward again, to a newer kept version";
  expect_live_version(store, 3);
  EXPECT_FALSE(store.rollback_to(v3)) << "the live one is live already";
  EXPECT_FALSE(store.rollback_to("0000000099-nope"));
  EXPECT_FALSE(store.rollback_to("../elsewhere"));
  expect_live_version(store, 3);
  EXPECT_EQ(version_ids(store), (std::vector<std::string>{v1, v2, v3}));
}

TEST_F(CredentialStoreTest, PruningAfterRollbackToTheOldestNeverRemovesTheLiveOne) {
  StoreOptions o = options();
  o.keep_versions = 2;
  auto store = open_store(o);
  const std::string v1 = install(store, 1);
  const std::string v2 = install(store, 2);
  ASSERT_TRUE(store.rollback_to(v1));
  // The live version is the oldest one now: neither opening the folder again (crash recovery)
  // nor listing it removes it.
  auto reopened = open_store(o);
  EXPECT_EQ(version_ids(reopened), (std::vector<std::string>{v1, v2}));
  expect_live_version(reopened, 1);
  // An install makes its own version live and prunes down to `keep`: the old live one goes
  // only once it is no longer live, the new live one stays.
  const std::string v3 = install(reopened, 3);
  expect_live_version(reopened, 3);
  EXPECT_EQ(version_ids(reopened), (std::vector<std::string>{v2, v3}));
  ASSERT_TRUE(reopened.rollback_to(v2));
  o.keep_versions = 1;
  auto keep_one = open_store(o);
  const std::string v4 = install(keep_one, 4);
  EXPECT_EQ(version_ids(keep_one), std::vector<std::string>{v4});
  expect_live_version(keep_one, 4);
}

TEST_F(CredentialStoreTest, TheHistoryRecordsEachChangeAndSurvivesAReopen) {
  StoreOptions o = options();
  auto store = open_store(o);
  const SystemTime t1{Seconds(1000)}, t2{Seconds(2000)}, t3{Seconds(3000)};
  const std::string v1 = *store.install(files_for(1), "1", Change{t1});
  const std::string v2 = *store.install(files_for(2), "2", Change{t2, Ending::replaced_by_hand});
  ASSERT_TRUE(store.rollback(t3));
  auto reopened = open_store(o);
  const auto versions = *reopened.versions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].id, v1);
  EXPECT_EQ(versions[0].span.from, t3) << "live again since the rollback";
  EXPECT_FALSE(versions[0].span.until);
  EXPECT_FALSE(versions[0].span.ended);
  EXPECT_EQ(versions[1].id, v2);
  EXPECT_EQ(versions[1].span.from, t2);
  EXPECT_EQ(versions[1].span.until, t3);
  EXPECT_EQ(versions[1].span.ended, Ending::rolled_back);
  EXPECT_EQ(read_text(m_root / "out" / "..history"),
            v1 + " 3000 - -\n" + v2 + " 2000 3000 rolled-back\n");
  // A version replaced by hand says so.
  const std::string v3 = *reopened.install(files_for(3), "3", Change{t3, Ending::replaced_by_hand});
  EXPECT_EQ((*reopened.versions())[0].span.ended, Ending::replaced_by_hand);
  EXPECT_EQ((*reopened.versions())[2].id, v3);
}

TEST_F(CredentialStoreTest, AFolderWithoutHistoryOrWithAGarbledOneKnowsNothing) {
  auto store = open_store(options());
  const std::string v1 = install(store, 1);
  EXPECT_FALSE((*store.versions())[0].span.from);
  write_text(m_root / "out" / "..history", "garbage\n" + v1 + " x y z\n");
  const auto versions = *store.versions();
  EXPECT_FALSE(versions[0].span.from);
  EXPECT_FALSE(versions[0].span.ended);
  EXPECT_TRUE(versions[0].live);
}

TEST_F(CredentialStoreTest, AnInstallWithAChangeReplacesADataEntryThatIsNotALink) {
  auto store = open_store(options());
  write_text(m_root / "out" / "..data", "left by something else\n");
  auto id = store.install(files_for(1), "1", Change{SystemTime{Seconds(10)}});
  ASSERT_TRUE(id) << id.error().what();
  expect_live_version(store, 1);
  EXPECT_EQ((*store.versions())[0].span.from, SystemTime{Seconds(10)});
}

TEST_F(CredentialStoreTest, OpenRemovesAHistoryWriteACrashInterrupted) {
  auto store = open_store(options());
  install(store, 1);
  write_text(m_root / "out" / ".certrotd-tmp...history.Ab12Cd", "half");
  auto reopened = open_store(options());
  EXPECT_FALSE(fs::exists(m_root / "out" / ".certrotd-tmp...history.Ab12Cd"));
}

TEST_F(CredentialStoreTest, RollbackFailsWhenNothingIsInstalled) {
  auto store = open_store(options());
  auto rolled = store.rollback();
  ASSERT_FALSE(rolled);
  EXPECT_FALSE(rolled.error().retryable());
}

TEST_F(CredentialStoreTest, RollbackFailsWhenThereIsNoOlderVersion) {
  auto store = open_store(options());
  const std::string first = install(store, 1);
  auto rolled = store.rollback();
  ASSERT_FALSE(rolled);
  EXPECT_FALSE(rolled.error().retryable());
  EXPECT_EQ(data_target(store), "..v-" + first);

  install(store, 2);
  ASSERT_TRUE(store.rollback());
  EXPECT_FALSE(store.rollback()) << "a second rollback has nothing older to go to";
  expect_live_version(store, 1);
}

TEST_F(CredentialStoreTest, InstallAfterRollbackBecomesLiveAndPrunesOldestFirst) {
  StoreOptions o = options();
  o.keep_versions = 3;
  auto store = open_store(o);
  const std::string v1 = install(store, 1);
  const std::string v2 = install(store, 2);
  const std::string v3 = install(store, 3);
  ASSERT_TRUE(store.rollback());
  EXPECT_EQ(live_id(store), v2);

  const std::string v4 = install(store, 4);
  EXPECT_GT(v4, v3);
  expect_live_version(store, 4);
  EXPECT_EQ(version_ids(store), (std::vector<std::string>{v2, v3, v4}));

  auto rolled = store.rollback();
  ASSERT_TRUE(rolled);
  EXPECT_EQ(*rolled, v3);
}

TEST_F(CredentialStoreTest, CopiesAreWrittenWithTheRequestedModeAndContentInNewDirectories) {
  StoreOptions o = options();
  const fs::path key_copy = m_root / "etc" / "nginx" / "tls" / "site.key";
  const fs::path chain_copy = m_root / "etc" / "nginx" / "tls" / "site.crt";
  const fs::path bundle_copy = m_root / "haproxy" / "site.pem";
  const fs::path ca_copy = m_root / "haproxy" / "ca.pem";
  o.copies.push_back(CopySpec{key_copy, Content::key, {}, {}});
  o.copies.push_back(CopySpec{chain_copy, Content::fullchain, {}, {}});
  o.copies.push_back(CopySpec{bundle_copy, Content::bundle, 0640, {}});
  o.copies.push_back(CopySpec{ca_copy, Content::ca, 0600, FileOwner{{}, test::test_group()}});
  auto store = open_store(o);
  install(store, 7);

  const CredentialFiles expected = files_for(7);
  EXPECT_EQ(read_text(key_copy), expected.key);
  EXPECT_EQ(read_text(chain_copy), expected.fullchain());
  EXPECT_EQ(read_text(bundle_copy), expected.bundle());
  EXPECT_EQ(read_text(ca_copy), expected.ca);
  EXPECT_EQ(mode_of(key_copy), 0600u);
  EXPECT_EQ(mode_of(chain_copy), 0644u);
  EXPECT_EQ(mode_of(bundle_copy), 0640u);
  EXPECT_EQ(mode_of(ca_copy), 0600u);
  struct stat st {};
  ASSERT_EQ(::stat(ca_copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, test::test_group());
  EXPECT_FALSE(fs::is_symlink(key_copy));

  install(store, 8);
  EXPECT_EQ(read_text(key_copy), files_for(8).key);
  EXPECT_EQ(read_text(bundle_copy), files_for(8).bundle());
  // No temporary files are left next to the copies.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(m_root / "haproxy")) ++entries;
  EXPECT_EQ(entries, 2u);
}

TEST_F(CredentialStoreTest, AFailingCopyIsReportedButTheNewVersionIsLive) {
  StoreOptions o = options();
  write_text(m_root / "not-a-dir", "x");
  o.copies.push_back(CopySpec{m_root / "not-a-dir" / "site.key", Content::key, {}, {}});
  auto store = open_store(o);
  auto id = store.install(files_for(1), "1");
  ASSERT_FALSE(id);
  expect_live_version(store, 1);
}

TEST_F(CredentialStoreTest, ReplaceCaRewritesOnlyTheLiveCaPemAndLeavesTheCopiesToTheCaller) {
  StoreOptions o = options();
  const fs::path copy = m_root / "copies" / "ca.pem";
  o.copies.push_back(CopySpec{copy, Content::ca, {}, {}});
  auto store = open_store(o);
  const std::string id = install(store, 1);
  const std::string old_ca = files_for(1).ca;
  ASSERT_EQ(read_text(copy), old_ca);
  // The copy could not be written now: replace_ca does not try, so it cannot fail for it.
  fs::remove_all(m_root / "copies");
  write_text(m_root / "copies", "not a folder");
  const std::string new_ca = files_for(2).ca;
  ASSERT_NE(new_ca, old_ca);
  auto replaced = store.replace_ca(new_ca);
  ASSERT_TRUE(replaced) << replaced.error().what();
  EXPECT_EQ(read_text(store.live_path(Content::ca)), new_ca);
  EXPECT_EQ(live_id(store), id) << "the same version";
  EXPECT_EQ(read_text(m_root / "copies"), "not a folder");
}

TEST_F(CredentialStoreTest, FirstInstallReplacesRegularFilesLeftByAnEarlierTool) {
  fs::create_directories(m_root / "out");
  write_text(m_root / "out" / "cert.pem", "OLD CERT\n");
  write_text(m_root / "out" / "key.pem", "OLD KEY\n");
  auto store = open_store(options());
  // Opening alone must not hide what is being served.
  EXPECT_FALSE(fs::is_symlink(m_root / "out" / "cert.pem"));
  EXPECT_EQ(read_text(store.live_path(Content::cert)), "OLD CERT\n");
  EXPECT_FALSE(fs::exists(m_root / "out" / "fullchain.pem"));

  install(store, 1);
  EXPECT_TRUE(fs::is_symlink(m_root / "out" / "cert.pem"));
  expect_live_version(store, 1);
}

TEST_F(CredentialStoreTest, OpenRemovesTemporaryDirectoriesAndDataLinksLeftByACrash) {
  const fs::path out = m_root / "out";
  {
    auto store = open_store(options());
    install(store, 1);
  }
  fs::create_directories(out / "..tmp-AbC123");
  write_text(out / "..tmp-AbC123" / "key.pem", "half");
  fs::create_directories(out / "..tmp-old-0000000000-x");
  fs::create_directory_symlink("..v-nowhere", out / "..data.tmp-0000000002");
  fs::create_symlink("..data/cert.pem", out / "..tmp-link-cert.pem");

  auto store = open_store(options());
  EXPECT_FALSE(fs::exists(out / "..tmp-AbC123"));
  EXPECT_FALSE(fs::exists(out / "..tmp-old-0000000000-x"));
  EXPECT_FALSE(fs::is_symlink(out / "..data.tmp-0000000002"));
  EXPECT_FALSE(fs::is_symlink(out / "..tmp-link-cert.pem"));
  expect_live_version(store, 1);
}

TEST_F(CredentialStoreTest, OpenRepairsAMissingDataLinkWithTheNewestCompleteVersion) {
  const fs::path out = m_root / "out";
  std::string second;
  {
    auto store = open_store(options());
    install(store, 1);
    second = install(store, 2);
  }
  fs::remove(out / "..data");
  // A newer directory that lacks files is not a version to go live with.
  fs::create_directories(out / "..v-0000000099-partial");
  write_text(out / "..v-0000000099-partial" / "cert.pem", "CERT-99\n");

  auto store = open_store(options());
  EXPECT_EQ(data_target(store), "..v-" + second);
  expect_live_version(store, 2);
}

TEST_F(CredentialStoreTest, OpenRepairsADanglingDataLink) {
  const fs::path out = m_root / "out";
  std::string first;
  {
    auto store = open_store(options());
    first = install(store, 1);
    const std::string second = install(store, 2);
    fs::remove_all(out / ("..v-" + second));
  }
  auto store = open_store(options());
  EXPECT_EQ(data_target(store), "..v-" + first);
  expect_live_version(store, 1);
}

TEST_F(CredentialStoreTest, OpenRecreatesMissingStableLinks) {
  {
    auto store = open_store(options());
    install(store, 1);
  }
  fs::remove(m_root / "out" / "bundle.pem");
  fs::remove(m_root / "out" / "ca.pem");
  auto store = open_store(options());
  expect_live_version(store, 1);
}

TEST_F(CredentialStoreTest, OpenLeavesAFolderWithoutVersionsWithoutLinks) {
  fs::create_directories(m_root / "out" / "..tmp-XYZ");
  auto store = open_store(options());
  EXPECT_FALSE(fs::exists(m_root / "out" / "..tmp-XYZ"));
  EXPECT_FALSE(fs::is_symlink(m_root / "out" / "cert.pem"));
  EXPECT_FALSE(fs::is_symlink(m_root / "out" / "..data"));
}

// ---- Hostile paths (need root to hand folders to another user) --------------------------------

constexpr uid_t k_other_user = 65534;  // nobody

class HostilePathTest : public CredentialStoreTest {
protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give folders to another user";
    fs::create_directories(m_root / "vault");
    write_text(m_root / "vault" / "key.pem", "root's own key\n");
    write_text(m_root / "vault" / "web.key", "root's own copy\n");
  }
  static uid_t owner_of(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_uid;
  }
  void expect_vault_untouched() {
    EXPECT_EQ(read_text(m_root / "vault" / "key.pem"), "root's own key\n");
    EXPECT_EQ(read_text(m_root / "vault" / "web.key"), "root's own copy\n");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(m_root / "vault")) {
      names.push_back(e.path().filename().string());
    }
    EXPECT_EQ(names.size(), 2u);
  }
};

TEST_F(HostilePathTest, AnOwnerGetsTheFilesButNeverTheFolders) {
  StoreOptions o = options();
  o.owner.uid = 4243;
  auto store = open_store(o);
  const std::string id = install(store, 1);
  EXPECT_EQ(owner_of(m_root / "out"), 0u);
  EXPECT_EQ(owner_of(m_root / "out" / ("..v-" + id)), 0u);
  for (const Content c : k_contents) {
    EXPECT_EQ(owner_of(m_root / "out" / ("..v-" + id) / file_name(c)), 4243u) << file_name(c);
  }
}

TEST_F(HostilePathTest, RefusesAnOutputFolderInAnotherUsersFolder) {
  fs::create_directories(m_root / "owned");
  ASSERT_EQ(::chown((m_root / "owned").c_str(), k_other_user, k_other_user), 0);
  fs::create_directory_symlink(m_root / "vault", m_root / "owned" / "out");
  StoreOptions o = options();
  o.dir = m_root / "owned" / "out";
  auto store = CredentialStore::open(o);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("is owned by"), std::string::npos) << store.error().what();
  expect_vault_untouched();
}

TEST_F(HostilePathTest, InstallRefusesAFolderHandedToAnotherUserAfterOpening) {
  StoreOptions o = options();
  o.dir = m_root / "parent" / "out";
  auto store = open_store(o);
  install(store, 1);
  ASSERT_EQ(::chown((m_root / "parent").c_str(), k_other_user, k_other_user), 0);
  // The attacker swaps the output folder for a link to root's folder.
  fs::rename(m_root / "parent" / "out", m_root / "parent" / "out.real");
  fs::create_directory_symlink(m_root / "vault", m_root / "parent" / "out");
  EXPECT_FALSE(store.install(files_for(2), "2"));
  expect_vault_untouched();

  fs::remove(m_root / "parent" / "out");
  fs::rename(m_root / "parent" / "out.real", m_root / "parent" / "out");
  ASSERT_EQ(::chown((m_root / "parent").c_str(), 0, 0), 0);
  install(store, 3);
  expect_live_version(store, 3);
}

TEST_F(HostilePathTest, RefusesACopyThroughAnotherUsersFolder) {
  fs::create_directories(m_root / "owned");
  fs::create_directory_symlink(m_root / "vault", m_root / "owned" / "sub");
  ASSERT_EQ(::chown((m_root / "owned").c_str(), k_other_user, k_other_user), 0);
  StoreOptions o = options();
  o.copies.push_back(CopySpec{m_root / "owned" / "sub" / "web.key", Content::key, 0600, {}});
  auto store = open_store(o);
  auto id = store.install(files_for(1), "1");
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("is owned by"), std::string::npos) << id.error().what();
  expect_vault_untouched();
}

TEST_F(CredentialStoreTest, OpenRemovesOnlyItsOwnTemporaryCopies) {
  fs::create_directories(m_root / "copies");
  write_text(m_root / "copies" / ".certrotd-tmp.web.key.AbC123", "half a key");
  write_text(m_root / "copies" / ".web.key.tmp-AbC123", "another tool's");
  write_text(m_root / "copies" / ".certrotd-tmp.other.key.AbC123", "not a copy of ours");
  StoreOptions o = options();
  o.copies.push_back(CopySpec{m_root / "copies" / "web.key", Content::key, 0600, {}});
  auto store = open_store(o);
  EXPECT_FALSE(fs::exists(m_root / "copies" / ".certrotd-tmp.web.key.AbC123"));
  EXPECT_TRUE(fs::exists(m_root / "copies" / ".web.key.tmp-AbC123"));
  EXPECT_TRUE(fs::exists(m_root / "copies" / ".certrotd-tmp.other.key.AbC123"));
}

}  // namespace
}  // namespace certrotd::store
