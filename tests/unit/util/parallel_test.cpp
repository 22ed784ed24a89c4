// parallel_for: every index exactly once, whatever the number of threads.
#include "util/parallel.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace certrotd {
namespace {

TEST(ParallelFor, CallsEveryIndexExactlyOnce) {
  for (const std::size_t threads : {1u, 2u, 8u, 64u}) {
    std::vector<std::atomic<int>> calls(1000);
    parallel_for(calls.size(), threads, [&](std::size_t i) { calls[i].fetch_add(1); });
    for (std::size_t i = 0; i < calls.size(); ++i) {
      ASSERT_EQ(calls[i].load(), 1) << "index " << i << " with " << threads << " threads";
    }
  }
}

TEST(ParallelFor, UsesMoreThanOneThreadWhenAllowed) {
  std::mutex mutex;
  std::set<std::thread::id> seen;
  std::atomic<int> waiting{0};
  parallel_for(4, 4, [&](std::size_t) {
    {
      const std::lock_guard lock(mutex);
      seen.insert(std::this_thread::get_id());
    }
    // Hold each call until a second one has started, so one thread cannot take every index. A
    // single-threaded parallel_for gives up waiting after a while and fails below, not hangs.
    waiting.fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (waiting.load() < 2 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  });
  EXPECT_GE(seen.size(), 2u);
}

TEST(ParallelFor, NothingToDoCallsNothing) {
  int calls = 0;
  parallel_for(0, 4, [&](std::size_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace certrotd
