// The expiry thresholds of a certificate: when each is crossed and which one comes next.
#include <gtest/gtest.h>

#include "schedule/policy.hpp"

namespace certrotd::schedule {
namespace {

using namespace std::chrono_literals;

constexpr SystemTime k_start{std::chrono::hours(24 * 365 * 54)};
const Validity k_100h{k_start, k_start + 100h, std::nullopt};

TEST(Alerts, DefaultsAreTenAndThreePercentOfTheLifetimeThenNotAfter) {
  const RenewPolicy policy;
  EXPECT_EQ(alert_time(k_100h, policy, Alert::expiring), k_start + 90h);
  EXPECT_EQ(alert_time(k_100h, policy, Alert::critical), k_start + 97h);
  EXPECT_EQ(alert_time(k_100h, policy, Alert::expired), k_start + 100h);
  EXPECT_EQ(alert_at(k_100h, policy, k_start + 90h - 1ns), Alert::none);
  EXPECT_EQ(alert_at(k_100h, policy, k_start + 90h), Alert::expiring);
  EXPECT_EQ(alert_at(k_100h, policy, k_start + 97h), Alert::critical);
  EXPECT_EQ(alert_at(k_100h, policy, k_start + 100h), Alert::expired);
}

TEST(Alerts, ATimeBeforeNotAfterWinsOverTheFraction) {
  RenewPolicy policy;
  policy.expiring_before = Millis(30h);
  policy.critical_before = Millis(1h);
  EXPECT_EQ(alert_time(k_100h, policy, Alert::expiring), k_start + 70h);
  EXPECT_EQ(alert_time(k_100h, policy, Alert::critical), k_start + 99h);
  // Longer than the lifetime: crossed from the start.
  policy.expiring_before = Millis(1000h);
  EXPECT_EQ(alert_time(k_100h, policy, Alert::expiring), k_start);
}

TEST(Alerts, ACriticalThresholdBeforeTheExpiringOneIsCrossedWithIt) {
  RenewPolicy policy;
  policy.expiring_at = 0.05;
  policy.critical_at = 0.20;
  EXPECT_EQ(alert_time(k_100h, policy, Alert::critical), k_start + 95h);
  EXPECT_EQ(alert_at(k_100h, policy, k_start + 95h), Alert::critical);
  EXPECT_EQ(alert_at(k_100h, policy, k_start + 94h), Alert::none);
}

TEST(Alerts, TheNextThresholdFollowsTheLastReported) {
  const RenewPolicy policy;
  EXPECT_EQ(next_alert_time(k_100h, policy, Alert::none), k_start + 90h);
  EXPECT_EQ(next_alert_time(k_100h, policy, Alert::expiring), k_start + 97h);
  EXPECT_EQ(next_alert_time(k_100h, policy, Alert::critical), k_start + 100h);
  EXPECT_EQ(next_alert_time(k_100h, policy, Alert::expired), std::nullopt);
}

TEST(Alerts, ClassifyCallsItExpiringFromTheSameThreshold) {
  RenewPolicy policy;
  policy.expiring_before = Millis(30h);
  policy.jitter = 0.0;
  const StateInputs inputs{k_100h, false, 0};
  EXPECT_EQ(classify(inputs, policy, "web", k_start + 69h), State::due);
  EXPECT_EQ(classify(inputs, policy, "web", k_start + 71h), State::expiring);
}

}  // namespace
}  // namespace certrotd::schedule
