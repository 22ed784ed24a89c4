// The journal sink's fields that journalctl queries rely on.
#include "telemetry/journal.hpp"

#include <gtest/gtest.h>

#include <set>

namespace certrotd::telemetry {
namespace {

using engine::EventKind;

TEST(Journal, ReloadRejectedHasItsOwnMessageId) {
  std::set<std::string_view> ids;
  for (int k = 0; k <= static_cast<int>(EventKind::activated); ++k) {
    const auto id = message_id(static_cast<EventKind>(k));
    EXPECT_EQ(id.size(), 32u) << k;
    EXPECT_TRUE(ids.insert(id).second) << "duplicate MESSAGE_ID " << id;
  }
  EXPECT_EQ(to_string(EventKind::reload_rejected), "reload-rejected");
}

TEST(Journal, StagedAndActivatedHaveTheirOwnMessageIds) {
  EXPECT_EQ(to_string(EventKind::staged), "staged");
  EXPECT_EQ(to_string(EventKind::activated), "activated");
  EXPECT_NE(message_id(EventKind::staged), message_id(EventKind::activated));
  EXPECT_NE(message_id(EventKind::staged), message_id(EventKind::swapped));
  EXPECT_EQ(message_id(EventKind::staged).size(), 32u);
  EXPECT_EQ(message_id(EventKind::activated).size(), 32u);
}

TEST(Journal, PrioritiesAreSyslogs) {
  EXPECT_EQ(journal_priority(engine::Severity::debug), 7);
  EXPECT_EQ(journal_priority(engine::Severity::info), 6);
  EXPECT_EQ(journal_priority(engine::Severity::warning), 4);
  EXPECT_EQ(journal_priority(engine::Severity::error), 3);
}

}  // namespace
}  // namespace certrotd::telemetry
