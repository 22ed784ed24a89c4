// What the product promises under SIGKILL and under concurrent readers: `..data` always names a
// complete, self-consistent version, and a reader never sees a torn file or a mismatched pair.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "store/credential_store.hpp"
#include "support/test_support.hpp"
#include "unit/store/store_test_support.hpp"

namespace certrotd::store {
namespace {

using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using test::files_for;
using test::version_of;

constexpr std::array k_contents = {Content::cert, Content::chain,  Content::fullchain,
                                   Content::key,  Content::bundle, Content::ca};

std::size_t count_leftovers(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("..tmp-", 0) == 0 || name.rfind("..data.tmp", 0) == 0) ++n;
  }
  return n;
}

// Installs versions first_n, first_n + 1, ... until killed, after writing one byte to `ready`
// once the store is open. Never returns.
[[noreturn]] void install_forever(const StoreOptions& options, int first_n, int ready) {
  auto store = CredentialStore::open(options);
  if (!store) ::_exit(2);
  const char byte = 1;
  if (::write(ready, &byte, 1) != 1) ::_exit(4);
  for (int n = first_n;; ++n) {
    if (!store->install(files_for(n, 2048), std::to_string(n))) ::_exit(3);
  }
}

TEST(CrashTest, SigkillDuringInstallAlwaysLeavesACompleteConsistentLiveVersion) {
  TempDir root;
  StoreOptions options;
  options.dir = root.path() / "out";
  options.keep_versions = 2;  // so kills also land inside pruning
  {
    auto store = CredentialStore::open(options);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->install(files_for(0, 2048), "0"));
  }

  const std::uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  // Up to 10 ms: a few installs' worth, so the kill lands at a random phase of the loop.
  std::uniform_int_distribution<int> delay_us(0, 10000);
  constexpr int k_rounds = 60;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);

  int rounds = 0;
  std::size_t rounds_with_leftovers = 0;
  int last_live = 0;
  for (; rounds < k_rounds && std::chrono::steady_clock::now() < deadline; ++rounds) {
    const int first_n = (rounds + 1) * 100000;
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) install_forever(options, first_n, ready[1]);
    ::close(ready[1]);
    // Start the clock only once the child is in its install loop: process start-up time varies
    // a lot (sanitizers, a loaded machine) and a kill before the loop tests nothing.
    char byte = 0;
    const ssize_t got = ::read(ready[0], &byte, 1);
    ::close(ready[0]);
    ::usleep(static_cast<useconds_t>(delay_us(random)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "installer failed with status " << status;
    ASSERT_EQ(got, 1);

    if (count_leftovers(options.dir) > 0) ++rounds_with_leftovers;

    auto store = CredentialStore::open(options);
    ASSERT_TRUE(store) << store.error().what();
    EXPECT_EQ(count_leftovers(options.dir), 0u);

    const fs::path data = fs::path(options.dir) / "..data";
    ASSERT_TRUE(fs::is_symlink(data));
    const fs::path version = fs::path(options.dir) / fs::read_symlink(data);
    ASSERT_TRUE(fs::is_directory(version)) << version;

    auto current = store->load_current();
    ASSERT_TRUE(current && current->has_value());
    const auto n = version_of((*current)->cert);
    ASSERT_TRUE(n.has_value()) << (*current)->cert;
    const CredentialFiles expected = files_for(*n, 2048);
    for (const Content c : k_contents) {
      // Both the version directory and the stable names show the same, whole version.
      EXPECT_EQ(read_text(version / file_name(c)), expected.content(c)) << file_name(c);
      EXPECT_EQ(read_text(store->live_path(c)), expected.content(c)) << file_name(c);
    }
    EXPECT_NE(version.filename().string().find("-" + std::to_string(*n)), std::string::npos);
    EXPECT_GE(*n, last_live) << "the live version went backwards";
    last_live = *n;

    auto versions = store->versions();
    ASSERT_TRUE(versions);
    ASSERT_FALSE(versions->empty());
  }
  RecordProperty("rounds", rounds);
  RecordProperty("rounds_with_leftovers", static_cast<int>(rounds_with_leftovers));
  EXPECT_GE(rounds, 50) << "too slow to kill often enough within the time budget";
  // Otherwise no kill hit a write in progress and recovery was never exercised.
  EXPECT_GT(rounds_with_leftovers, 0u);
}

TEST(ConcurrencyTest, ReadersNeverSeeATornFileOrAMismatchedPairWhileVersionsAreInstalled) {
  TempDir root;
  StoreOptions options;
  options.dir = root.path() / "out";
  options.keep_versions = 2;  // versions disappear quickly, which readers must survive
  auto opened = CredentialStore::open(options);
  ASSERT_TRUE(opened);
  CredentialStore& store = *opened;
  constexpr std::size_t k_padding = 32 * 1024;
  ASSERT_TRUE(store.install(files_for(0, k_padding), "0"));

  std::atomic<bool> stop{false};
  std::atomic<int> installs{0};
  std::atomic<int> install_errors{0};
  std::thread installer([&] {
    for (int n = 1; !stop.load(); ++n) {
      if (!store.install(files_for(n, k_padding), std::to_string(n))) ++install_errors;
      ++installs;
    }
  });

  std::atomic<int> bundle_reads{0};
  int bundle_bad = 0;
  std::thread bundle_reader([&] {
    while (!stop.load()) {
      std::ifstream in(store.live_path(Content::bundle), std::ios::binary);
      if (!in) continue;
      std::ostringstream text;
      text << in.rdbuf();
      const std::string bundle = text.str();
      const auto n = version_of(bundle);
      if (!n || bundle != files_for(*n, k_padding).bundle()) ++bundle_bad;
      ++bundle_reads;
    }
  });

  std::atomic<int> pair_reads{0};
  int pair_bad = 0;
  int pair_errors = 0;
  std::thread pair_reader([&] {
    while (!stop.load()) {
      auto current = store.load_current();
      if (!current || !current->has_value()) {
        ++pair_errors;
        continue;
      }
      const auto n = version_of((*current)->key);
      const CredentialFiles& got = **current;
      if (!n) {
        ++pair_bad;
      } else {
        const CredentialFiles expected = files_for(*n, k_padding);
        if (got.key != expected.key || got.cert != expected.cert || got.chain != expected.chain ||
            got.ca != expected.ca) {
          ++pair_bad;
        }
      }
      ++pair_reads;
    }
  });

  // Run until every party has done enough to make a race likely, within a bounded time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < deadline &&
         (installs.load() < 100 || bundle_reads.load() < 300 || pair_reads.load() < 300)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  installer.join();
  bundle_reader.join();
  pair_reader.join();

  EXPECT_EQ(install_errors.load(), 0);
  EXPECT_GE(installs.load(), 20);
  EXPECT_GE(bundle_reads.load(), 50);
  EXPECT_GE(pair_reads.load(), 50);
  EXPECT_EQ(bundle_bad, 0);
  EXPECT_EQ(pair_bad, 0);
  EXPECT_EQ(pair_errors, 0);
}

}  // namespace
}  // namespace certrotd::store
