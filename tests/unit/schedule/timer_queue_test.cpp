#include "schedule/timer_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "util/clock.hpp"
#include "util/random.hpp"

namespace certrotd::schedule {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

MonoTime at(std::chrono::seconds s) { return MonoTime{} + s; }

TEST(TimerQueue, StartsEmpty) {
  TimerQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.next_deadline());
  EXPECT_FALSE(q.contains("a"));
  EXPECT_FALSE(q.deadline_of("a"));
  EXPECT_TRUE(q.pop_due(at(1000s)).empty());
}

TEST(TimerQueue, PopsEarliestFirst) {
  TimerQueue q;
  q.schedule("c", at(30s));
  q.schedule("a", at(10s));
  q.schedule("d", at(40s));
  q.schedule("b", at(20s));
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q.next_deadline(), at(10s));
  EXPECT_EQ(q.pop_due(at(100s)), (Strings{"a", "b", "c", "d"}));
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, PopsOnlyWhatIsDueIncludingTheDeadlineItself) {
  TimerQueue q;
  q.schedule("a", at(10s));
  q.schedule("b", at(20s));
  q.schedule("c", at(30s));
  EXPECT_TRUE(q.pop_due(at(9s)).empty());
  EXPECT_EQ(q.pop_due(at(20s)), (Strings{"a", "b"}));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_TRUE(q.contains("c"));
  EXPECT_FALSE(q.contains("a"));
  EXPECT_EQ(q.next_deadline(), at(30s));
}

TEST(TimerQueue, RescheduleMovesAnEntryEitherWay) {
  TimerQueue q;
  q.schedule("a", at(10s));
  q.schedule("b", at(20s));
  q.schedule("c", at(30s));

  q.schedule("a", at(50s));  // later
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.deadline_of("a"), at(50s));
  EXPECT_EQ(q.next_deadline(), at(20s));

  q.schedule("c", at(5s));  // earlier
  EXPECT_EQ(q.next_deadline(), at(5s));
  EXPECT_EQ(q.pop_due(at(100s)), (Strings{"c", "b", "a"}));
}

TEST(TimerQueue, CancelRemovesOnlyThatKey) {
  TimerQueue q;
  q.schedule("a", at(10s));
  q.schedule("b", at(20s));
  q.schedule("c", at(30s));
  q.cancel("a");
  q.cancel("missing");  // no-op
  EXPECT_EQ(q.size(), 2u);
  EXPECT_FALSE(q.contains("a"));
  EXPECT_FALSE(q.deadline_of("a"));
  EXPECT_EQ(q.next_deadline(), at(20s));
  q.cancel("c");
  EXPECT_EQ(q.pop_due(at(100s)), (Strings{"b"}));
  q.cancel("b");  // already popped: no-op
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, EqualDeadlinesPopInKeyOrder) {
  TimerQueue q;
  for (const char* key : {"delta", "alpha", "charlie", "bravo"}) {
    q.schedule(key, at(10s));
  }
  EXPECT_EQ(q.pop_due(at(10s)), (Strings{"alpha", "bravo", "charlie", "delta"}));
}

TEST(TimerQueue, AKeyCanBeScheduledAgainAfterItWasPopped) {
  TimerQueue q;
  q.schedule("a", at(10s));
  EXPECT_EQ(q.pop_due(at(10s)), (Strings{"a"}));
  q.schedule("a", at(20s));
  EXPECT_EQ(q.deadline_of("a"), at(20s));
  EXPECT_EQ(q.size(), 1u);
}

// The queue against the obvious O(n) model, under random operations.
TEST(TimerQueue, BehavesLikeASortedMapUnderRandomOperations) {
  SeededRandom random(20240601);
  TimerQueue q;
  std::map<std::string, MonoTime> model;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back("cred-" + std::to_string(i));
  auto pick_key = [&] { return keys[random.below(keys.size())]; };
  auto pick_time = [&] {
    return at(std::chrono::seconds(static_cast<std::int64_t>(random.below(500))));
  };

  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t op = random.below(10);
    if (op < 5) {
      const std::string key = pick_key();
      const MonoTime deadline = pick_time();
      q.schedule(key, deadline);
      model[key] = deadline;
    } else if (op < 8) {
      const std::string key = pick_key();
      q.cancel(key);
      model.erase(key);
    } else {
      const MonoTime now = pick_time();
      std::vector<std::pair<MonoTime, std::string>> due;
      for (const auto& [key, deadline] : model) {
        if (deadline <= now) due.emplace_back(deadline, key);
      }
      std::sort(due.begin(), due.end());
      Strings expected;
      for (const auto& entry : due) {
        expected.push_back(entry.second);
        model.erase(entry.second);
      }
      ASSERT_EQ(q.pop_due(now), expected) << "step " << step;
    }

    ASSERT_EQ(q.size(), model.size()) << "step " << step;
    ASSERT_EQ(q.empty(), model.empty()) << "step " << step;
    std::optional<MonoTime> earliest;
    for (const auto& [key, deadline] : model) {
      if (!earliest || deadline < *earliest) earliest = deadline;
    }
    ASSERT_EQ(q.next_deadline(), earliest) << "step " << step;
    for (const auto& key : keys) {
      const auto it = model.find(key);
      ASSERT_EQ(q.contains(key), it != model.end()) << key << " at step " << step;
      ASSERT_EQ(q.deadline_of(key), it == model.end() ? std::nullopt : std::optional(it->second))
          << key << " at step " << step;
    }
  }
}

}  // namespace
}  // namespace certrotd::schedule
