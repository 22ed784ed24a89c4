#include "schedule/policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "util/random.hpp"

namespace certrotd::schedule {
namespace {

using namespace std::chrono_literals;
using Dur = SystemTime::duration;

// A fixed instant far from the epoch (early 2026).
const SystemTime k_t0{std::chrono::hours(24 * 365 * 56)};

Validity validity_for(Dur lifetime, Dur backdate = Dur::zero(),
                      std::optional<SystemTime> installed_at = std::nullopt) {
  return Validity{k_t0 - backdate, k_t0 + lifetime, installed_at};
}

RenewPolicy without_jitter() {
  RenewPolicy policy;
  policy.jitter = 0;
  return policy;
}

// Signed distance in milliseconds, for readable failure messages.
double ms_between(SystemTime from, SystemTime to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// A Random that always yields the same value, to pin the draw inside backoff_delay.
// A draw in [0, bound) as a signed count, for building durations.
std::int64_t draw(Random& random, std::uint64_t bound) {
  return static_cast<std::int64_t>(random.below(bound));
}

class ConstantRandom final : public Random {
public:
  explicit ConstantRandom(std::uint64_t value) : m_value(value) {}
  std::uint64_t next_u64() override { return m_value; }

private:
  std::uint64_t m_value;
};

// ---- renewal_time ------------------------------------------------------------------------------

TEST(RenewalTime, IsTwoThirdsIntoTheLifetimeByDefault) {
  const Validity v = validity_for(std::chrono::hours(24 * 90));
  const SystemTime t = renewal_time(v, without_jitter(), "web");
  EXPECT_NEAR(ms_between(k_t0 + std::chrono::hours(24 * 60), t), 0.0, 1.0);
}

TEST(RenewalTime, DefaultPolicyRenewsAtTwoThirds) {
  EXPECT_DOUBLE_EQ(RenewPolicy{}.renew_at, 2.0 / 3.0);
}

TEST(RenewalTime, FollowsTheConfiguredFraction) {
  RenewPolicy policy = without_jitter();
  policy.renew_at = 0.5;
  const SystemTime t = renewal_time(validity_for(std::chrono::hours(100)), policy, "web");
  EXPECT_NEAR(ms_between(k_t0 + 50h, t), 0.0, 1.0);
}

TEST(RenewalTime, RenewBeforeWinsWhenItIsEarlier) {
  RenewPolicy policy = without_jitter();
  policy.renew_before = std::chrono::hours(24 * 40);
  const SystemTime t = renewal_time(validity_for(std::chrono::hours(24 * 90)), policy, "web");
  EXPECT_EQ(t, k_t0 + std::chrono::hours(24 * 50));
}

TEST(RenewalTime, RenewBeforeIsIgnoredWhenItIsLater) {
  RenewPolicy policy = without_jitter();
  policy.renew_before = std::chrono::hours(24 * 10);
  const SystemTime t = renewal_time(validity_for(std::chrono::hours(24 * 90)), policy, "web");
  EXPECT_NEAR(ms_between(k_t0 + std::chrono::hours(24 * 60), t), 0.0, 1.0);
}

TEST(RenewalTime, RenewBeforeLongerThanTheLifetimeStillWaitsTheMinimum) {
  RenewPolicy policy = without_jitter();
  policy.renew_before = std::chrono::hours(24 * 365 * 1000);  // would overflow if not saturated
  const SystemTime t = renewal_time(validity_for(24h), policy, "web");
  EXPECT_EQ(t, k_t0 + 144min);  // 10% of 24 h
}

TEST(RenewalTime, JitterIsStableForOneCredential) {
  const Validity v = validity_for(std::chrono::hours(24 * 90));
  const RenewPolicy policy;
  const SystemTime first = renewal_time(v, policy, "billing-api");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(renewal_time(v, policy, "billing-api"), first);
  }
  EXPECT_EQ(renewal_time(v, RenewPolicy{}, std::string("billing-") + "api"), first);
}

// The jitter must survive restarts, upgrades and other hosts. Pinned from the documented formula
// (FNV-1a, splitmix64 finalizer, top 53 bits): a change here reshuffles a whole fleet.
// Computed independently (in Python) from the formula in policy.hpp.
constexpr Millis::rep k_pinned_billing_api_ms = 5'091'776'742;

TEST(RenewalTime, JitterIsTheSameOnEveryHostAndRun) {
  const Validity v = validity_for(std::chrono::hours(24 * 90));
  const SystemTime t = renewal_time(v, RenewPolicy{}, "billing-api");
  EXPECT_EQ(std::chrono::duration_cast<Millis>(t - k_t0).count(), k_pinned_billing_api_ms);
}

TEST(RenewalTime, JitterDiffersAcrossCredentials) {
  const Validity v = validity_for(std::chrono::hours(24 * 90));
  std::set<SystemTime> seen;
  for (int i = 0; i < 100; ++i) {
    seen.insert(renewal_time(v, RenewPolicy{}, "db-" + std::to_string(i)));
  }
  EXPECT_GE(seen.size(), 99u);
}

TEST(RenewalTime, JitterStaysWithinTheConfiguredFraction) {
  const Dur lifetime = std::chrono::hours(24 * 90);
  const Validity v = validity_for(lifetime);
  const SystemTime centre = renewal_time(v, without_jitter(), "any");
  const double bound_ms = std::chrono::duration<double, std::milli>(lifetime).count() * 0.05;
  for (int i = 0; i < 1000; ++i) {
    const SystemTime t = renewal_time(v, RenewPolicy{}, "host-" + std::to_string(i));
    EXPECT_LE(std::abs(ms_between(centre, t)), bound_ms + 1.0) << "host-" << i;
  }
}

TEST(RenewalTime, JitterSpreadsAFleetOverTheWholeWindow) {
  const Dur lifetime = std::chrono::hours(24 * 90);
  const Validity v = validity_for(lifetime);
  const SystemTime centre = renewal_time(v, without_jitter(), "any");
  const double half_window_ms = std::chrono::duration<double, std::milli>(lifetime).count() * 0.05;

  std::array<int, 10> buckets{};
  double lowest = 1.0;
  double highest = -1.0;
  for (int i = 0; i < 1000; ++i) {
    const double x = ms_between(centre,
                                renewal_time(v, RenewPolicy{}, "node" + std::to_string(i))) /
                     half_window_ms;  // in [-1, 1]
    lowest = std::min(lowest, x);
    highest = std::max(highest, x);
    const auto bucket = static_cast<std::size_t>(std::clamp((x + 1.0) * 5.0, 0.0, 9.0));
    ++buckets[bucket];
  }
  // 100 expected per bucket; lock-step or clustering would leave some nearly empty.
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    EXPECT_GE(buckets[b], 60) << "bucket " << b;
    EXPECT_LE(buckets[b], 140) << "bucket " << b;
  }
  EXPECT_LT(lowest, -0.95);
  EXPECT_GT(highest, 0.95);
}

TEST(RenewalTime, UsesInstallTimeAsStartWhenLaterThanNotBefore) {
  // Installed halfway through a 100 h certificate: two thirds of the rest, not of the whole.
  const Validity v{k_t0, k_t0 + 100h, k_t0 + 40h};
  EXPECT_NEAR(ms_between(k_t0 + 80h, renewal_time(v, without_jitter(), "web")), 0.0, 1.0);
}

TEST(RenewalTime, IgnoresAnInstallTimeBeforeNotBefore) {
  const Validity v{k_t0, k_t0 + 90h, k_t0 - 5h};
  EXPECT_NEAR(ms_between(k_t0 + 60h, renewal_time(v, without_jitter(), "web")), 0.0, 1.0);
}

TEST(RenewalTime, IsNeverBeforeTheEffectiveStart) {
  RenewPolicy policy;
  policy.renew_at = 0.0;
  policy.jitter = 0.5;
  const Validity v{k_t0, k_t0 + 10h, k_t0 + 2h};
  for (int i = 0; i < 200; ++i) {
    const SystemTime t = renewal_time(v, policy, "id" + std::to_string(i));
    EXPECT_GE(t, k_t0 + 2h + 48min) << "at least 10% of the effective lifetime after install";
  }
}

TEST(RenewalTime, AlwaysLeavesRoomForRetries) {
  RenewPolicy policy;
  policy.renew_at = 1.0;
  policy.jitter = 0.5;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "id" + std::to_string(i);
    // 10% of the lifetime dominates for long certificates...
    EXPECT_LE(renewal_time(validity_for(100h), policy, id), k_t0 + 90h);
    // ...two backoff bases for short ones...
    EXPECT_LE(renewal_time(validity_for(5min), policy, id), k_t0 + 4min);
    // ...and never more than half the lifetime.
    EXPECT_LE(renewal_time(validity_for(90s), policy, id), k_t0 + 45s);
    EXPECT_GE(renewal_time(validity_for(90s), policy, id), k_t0 + 9s);
  }
}

TEST(RenewalTime, StaysInsideTheWindowForArbitraryPolicies) {
  SeededRandom random(7);
  for (int i = 0; i < 5000; ++i) {
    RenewPolicy policy;
    policy.renew_at = static_cast<double>(draw(random, 1001)) / 1000.0;
    policy.jitter = static_cast<double>(draw(random, 501)) / 1000.0;
    policy.backoff_base = Millis(draw(random, 3'600'000));
    if (draw(random, 2) == 0) {
      policy.renew_before = Millis(draw(random, 1'000'000'000'000));
    }
    const Dur lifetime = std::chrono::seconds(1 + draw(random, 365 * 86400));
    const Dur backdate = std::chrono::seconds(draw(random, 3600));
    std::optional<SystemTime> installed;
    if (draw(random, 2) == 0) {
      installed = k_t0 + std::chrono::seconds(draw(random, 3600));
    }
    const Validity v = validity_for(lifetime, backdate, installed);
    const SystemTime start = std::max(v.not_before, installed.value_or(v.not_before));
    if (v.not_after <= start) {
      EXPECT_EQ(renewal_time(v, policy, "x"), v.not_after);
      continue;
    }
    const Dur effective = v.not_after - start;
    const SystemTime t = renewal_time(v, policy, "cred" + std::to_string(i));
    EXPECT_GE(t, start + effective / 10 - 1ns) << "case " << i;
    EXPECT_LE(t, v.not_after - effective / 10 + 1ns) << "case " << i;
    EXPECT_LE(t, v.not_after - std::min<Dur>(2 * policy.backoff_base, effective / 2))
        << "case " << i;
  }
}

// step-ca backdates notBefore by one minute; on a one- or two-minute certificate the backdate
// alone is most of the lifetime.
TEST(RenewalTime, ShortCertificatesWithBackdatedNotBeforeAreNotDueOnInstall) {
  for (const Dur lifetime : {Dur(1min), Dur(2min)}) {
    for (int i = 0; i < 100; ++i) {
      const std::string id = "short-" + std::to_string(i);
      const Validity v = validity_for(lifetime, 1min, k_t0);
      const SystemTime t = renewal_time(v, RenewPolicy{}, id);
      EXPECT_GE(t, k_t0 + lifetime / 10) << id;
      EXPECT_LE(t, k_t0 + lifetime / 2) << id;  // half the lifetime is left for retries
      const StateInputs inputs{v, false, 0};
      EXPECT_EQ(classify(inputs, RenewPolicy{}, id, k_t0), State::valid) << id;
      EXPECT_EQ(classify(inputs, RenewPolicy{}, id, k_t0 + 1s), State::valid) << id;
      EXPECT_EQ(classify(inputs, RenewPolicy{}, id, t), State::due) << id;
    }
  }
}

TEST(RenewalTime, IsImmediateWhenNothingIsLeftOfTheLifetime) {
  const Validity installed_after_expiry{k_t0, k_t0 + 1h, k_t0 + 2h};
  EXPECT_EQ(renewal_time(installed_after_expiry, RenewPolicy{}, "x"), k_t0 + 1h);
  const Validity inverted{k_t0, k_t0 - 1h, std::nullopt};
  EXPECT_EQ(renewal_time(inverted, RenewPolicy{}, "x"), k_t0 - 1h);
}

TEST(RenewalTime, RejectsNonsenseFractionsWithoutOverflow) {
  RenewPolicy policy;
  policy.renew_at = std::numeric_limits<double>::quiet_NaN();
  policy.jitter = 1e300;
  const Validity v = validity_for(100h);
  const SystemTime t = renewal_time(v, policy, "x");
  EXPECT_GE(t, k_t0 + 10h);
  EXPECT_LE(t, k_t0 + 90h);
}

// ---- backoff_delay -----------------------------------------------------------------------------

// The largest of many draws approaches the upper bound of U[0, upper].
Millis largest_delay(int failures, Millis remaining, const RenewPolicy& policy,
                     std::uint64_t seed = 1) {
  SeededRandom random(seed);
  Millis largest{0};
  for (int i = 0; i < 2000; ++i) {
    largest = std::max(largest, backoff_delay(failures, remaining, policy, random));
  }
  return largest;
}

Millis smallest_delay(int failures, Millis remaining, const RenewPolicy& policy) {
  SeededRandom random(2);
  Millis smallest = Millis::max();
  for (int i = 0; i < 2000; ++i) {
    smallest = std::min(smallest, backoff_delay(failures, remaining, policy, random));
  }
  return smallest;
}

constexpr Millis k_far_from_expiry = std::chrono::hours(24 * 365);

// ---- retry_delay -------------------------------------------------------------------------------

TEST(RetryDelay, APermanentErrorWaitsTheWholeCap) {
  RenewPolicy policy;
  policy.backoff_base = 10s;
  policy.backoff_cap = 1h;
  ConstantRandom random(0);  // a retryable draw would be the minimum
  EXPECT_EQ(retry_delay(1, Millis(24h), policy, random, ErrorClass::permanent, std::nullopt),
            Millis(1h));
  EXPECT_EQ(retry_delay(1, Millis(24h), policy, random, ErrorClass::retryable, std::nullopt),
            Millis(1s));
  // Near expiry the cap shrinks as for any backoff: a tenth of what is left.
  EXPECT_EQ(retry_delay(1, Millis(2h), policy, random, ErrorClass::permanent, std::nullopt),
            Millis(12min));
  // No certificate: the plain cap.
  EXPECT_EQ(retry_delay(1, Millis(0), policy, random, ErrorClass::permanent, std::nullopt),
            Millis(1h));
}

TEST(RetryDelay, RetryAfterRaisesTheBackoffButNeverLowersIt) {
  RenewPolicy policy;
  policy.backoff_base = 10s;
  policy.backoff_cap = 1h;
  ConstantRandom low(0);
  EXPECT_EQ(retry_delay(1, Millis(24h), policy, low, ErrorClass::retryable, Millis(5min)),
            Millis(5min));
  ConstantRandom high(std::numeric_limits<std::uint64_t>::max());
  // Fourth failure: the draw is up to 80 s; a Retry-After of 2 s does not shorten it.
  const Millis drawn = backoff_delay(4, Millis(24h), policy, high);
  EXPECT_EQ(retry_delay(4, Millis(24h), policy, high, ErrorClass::retryable, Millis(2s)), drawn);
  // Longer than the cap is honoured while there is time: the other side asked for it.
  EXPECT_EQ(retry_delay(1, Millis(24h), policy, low, ErrorClass::retryable, Millis(3h)),
            Millis(3h));
}

TEST(RetryDelay, NeverWaitsPastTheLastRetriesBeforeExpiry) {
  RenewPolicy policy;
  policy.backoff_cap = 1h;
  ConstantRandom random(0);
  // 5 h left: cap' = 30 min, so at most 5 h - 3 * 30 min.
  EXPECT_EQ(retry_delay(1, Millis(5h), policy, random, ErrorClass::retryable, Millis(10h)),
            Millis(3h + 30min));
  // Almost expired: never below the minimum delay.
  EXPECT_EQ(retry_delay(1, Millis(2s), policy, random, ErrorClass::permanent, Millis(1h)),
            policy.min_delay);
}

// ---- issuer windows ---------------------------------------------------------------------------

Validity with_window(Dur lifetime, Dur from, Dur to) {
  Validity v = validity_for(lifetime);
  v.window = Window{k_t0 + from, k_t0 + to};
  return v;
}

TEST(RenewalWindow, PicksAStableInstantInsideTheIssuersWindow) {
  const RenewPolicy policy;
  std::set<SystemTime> seen;
  for (const char* id : {"web-01", "web-02", "web-03", "db", "mail"}) {
    const auto v = with_window(90 * 24h, 60 * 24h, 62 * 24h);
    const SystemTime at = renewal_time(v, policy, id);
    EXPECT_GE(at, k_t0 + 60 * 24h) << id;
    EXPECT_LT(at, k_t0 + 62 * 24h) << id;
    EXPECT_EQ(at, renewal_time(v, policy, id)) << id << ": the same after a restart";
    seen.insert(at);
  }
  EXPECT_GT(seen.size(), 1u) << "a fleet spreads over the window";
}

TEST(RenewalWindow, WinsOverTheLifetimeFractionAndTheEarliestPoint) {
  // The issuer asks for an early renewal (a revocation, say): 5% into the lifetime.
  const auto v = with_window(100h, 5h, 5h + 1min);
  const SystemTime at = renewal_time(v, RenewPolicy{}, "a");
  EXPECT_GE(at, k_t0 + 5h);
  EXPECT_LT(at, k_t0 + 5h + 1min);
}

TEST(RenewalWindow, AWindowAlreadyOverMeansRenewNow) {
  Validity v = validity_for(100h, 50h);  // issued 50 h ago
  v.window = Window{k_t0 - 10h, k_t0 - 9h};
  const SystemTime at = renewal_time(v, RenewPolicy{}, "a");
  EXPECT_LE(at, k_t0 - 9h);
  StateInputs in;
  in.validity = v;
  EXPECT_EQ(classify(in, RenewPolicy{}, "a", k_t0), State::due);
}

TEST(RenewalWindow, AWindowPastExpiryOrBackwardsIsIgnored) {
  const RenewPolicy policy;
  const SystemTime by_policy = renewal_time(validity_for(100h), policy, "a");
  EXPECT_EQ(renewal_time(with_window(100h, 90h, 101h), policy, "a"), by_policy) << "past expiry";
  EXPECT_EQ(renewal_time(with_window(100h, 20h, 10h), policy, "a"), by_policy) << "backwards";
  EXPECT_EQ(renewal_time(with_window(100h, 20h, 20h), policy, "a"), by_policy) << "empty";
  EXPECT_FALSE(window_usable(with_window(100h, 90h, 101h)));
  EXPECT_TRUE(window_usable(with_window(100h, 90h, 100h)));
}

TEST(RenewalWindow, KeepsRoomForRetriesBeforeExpiry) {
  // A window right up to notAfter: the instant stays where retries still fit (10% of 100 h).
  const auto v = with_window(100h, 99h, 100h);
  EXPECT_LE(renewal_time(v, RenewPolicy{}, "a"), k_t0 + 90h);
}

// ---- not_yet_delay -----------------------------------------------------------------------------

TEST(NotYetDelay, AsksAgainWhenTheIssuerSaidClampedToASaneRange) {
  RenewPolicy policy;
  policy.backoff_base = 30s;
  EXPECT_EQ(not_yet_delay(Millis(2min), k_far_from_expiry, policy), Millis(2min));
  EXPECT_EQ(not_yet_delay(std::nullopt, k_far_from_expiry, policy), Millis(30s)) << "no time";
  EXPECT_EQ(not_yet_delay(Millis(0), k_far_from_expiry, policy), Millis(1s)) << "no busy loop";
  EXPECT_EQ(not_yet_delay(Millis(48h), k_far_from_expiry, policy), Millis(1h));
  EXPECT_EQ(not_yet_delay(Millis(48h), Millis(0), policy), Millis(1h)) << "no certificate";
}

TEST(NotYetDelay, NeverWaitsPastTheLastRetriesBeforeExpiry) {
  RenewPolicy policy;
  policy.backoff_cap = 1h;
  // 50 min left: cap' = 5 min, so at most 50 - 3 * 5 min.
  EXPECT_EQ(not_yet_delay(Millis(1h), Millis(50min), policy), Millis(35min));
  EXPECT_EQ(not_yet_delay(Millis(1h), Millis(2s), policy), Millis(1s));
}

TEST(Classify, APermanentFailureNeedsAttentionEvenWithoutACertificate) {
  const RenewPolicy policy;
  StateInputs inputs;
  inputs.failures = 1;
  inputs.needs_attention = true;
  EXPECT_EQ(classify(inputs, policy, "web", k_t0), State::needs_attention);
  inputs.validity = validity_for(24h);
  EXPECT_EQ(classify(inputs, policy, "web", k_t0 + 1h), State::needs_attention);
  EXPECT_EQ(to_string(State::needs_attention), "needs-attention");
  inputs.failures = 0;  // a success since
  EXPECT_EQ(classify(inputs, policy, "web", k_t0 + 1h), State::valid);
}

TEST(BackoffDelay, DoublesWithEachFailureUpToTheCap) {
  const RenewPolicy policy;  // base 30 s, cap 1 h
  Millis expected_upper = 30s;
  for (int failures = 1; failures <= 8; ++failures) {
    const Millis upper = std::min<Millis>(expected_upper, 1h);
    const Millis largest = largest_delay(failures, k_far_from_expiry, policy);
    EXPECT_LE(largest, upper) << failures;
    EXPECT_GE(largest, upper * 95 / 100) << failures;
    expected_upper *= 2;
  }
}

TEST(BackoffDelay, UsesFullJitter) {
  const Millis smallest = smallest_delay(6, k_far_from_expiry, RenewPolicy{});
  EXPECT_LT(smallest, 60s) << "draws start near zero, not at half the bound";
}

TEST(BackoffDelay, IsCapped) {
  const RenewPolicy policy;
  for (const int failures : {8, 20, 40}) {
    const Millis largest = largest_delay(failures, k_far_from_expiry, policy);
    EXPECT_LE(largest, 1h);
    EXPECT_GE(largest, 57min);
  }
}

TEST(BackoffDelay, CapShrinksToATenthOfTheRemainingLifetime) {
  const RenewPolicy policy;
  EXPECT_LE(largest_delay(20, 10min, policy), 1min);
  EXPECT_GE(largest_delay(20, 10min, policy), 57s);
  EXPECT_LE(largest_delay(20, 2h, policy), 12min);
  // Far from expiry the configured cap applies.
  EXPECT_GE(largest_delay(20, 100h, policy), 57min);
}

TEST(BackoffDelay, ShrunkCapNeverGoesBelowTheMinimumDelay) {
  RenewPolicy policy;
  policy.min_delay = 5s;
  // A tenth of 10 s is 1 s, below the minimum: the minimum wins, it is not an error.
  EXPECT_EQ(largest_delay(3, 10s, policy), 5s);
  EXPECT_EQ(smallest_delay(3, 10s, policy), 5s);
}

TEST(BackoffDelay, IsNeverBelowTheMinimumDelay) {
  RenewPolicy policy;
  policy.min_delay = 7s;
  for (const int failures : {1, 2, 5, 30}) {
    EXPECT_GE(smallest_delay(failures, k_far_from_expiry, policy), 7s);
  }
  ConstantRandom zero(0);
  EXPECT_EQ(backoff_delay(1, k_far_from_expiry, policy, zero), 7s);
}

TEST(BackoffDelay, IsNeverZero) {
  RenewPolicy policy;
  policy.min_delay = 0ms;
  ConstantRandom zero(0);
  EXPECT_GT(backoff_delay(1, k_far_from_expiry, policy, zero), 0ms);
  policy.backoff_base = 0ms;
  policy.backoff_cap = 0ms;
  EXPECT_GT(backoff_delay(5, 0ms, policy, zero), 0ms);
}

TEST(BackoffDelay, LargeFailureCountsDoNotOverflow) {
  RenewPolicy policy;
  for (const int failures : {62, 63, 64, 65, 1000, INT_MAX}) {
    const Millis largest = largest_delay(failures, k_far_from_expiry, policy);
    EXPECT_LE(largest, 1h) << failures;
    EXPECT_GE(largest, 57min) << failures;
  }
  policy.backoff_base = Millis::max() / 2;
  policy.backoff_cap = Millis::max();
  SeededRandom random(3);
  for (const int failures : {1, 2, 3, 100}) {
    EXPECT_GT(backoff_delay(failures, k_far_from_expiry, policy, random), 0ms) << failures;
  }
  ConstantRandom all_ones(std::numeric_limits<std::uint64_t>::max());
  EXPECT_GT(backoff_delay(2, 0ms, policy, all_ones), 0ms);
}

TEST(BackoffDelay, TreatsZeroOrNegativeFailuresAsTheFirst) {
  const RenewPolicy policy;
  EXPECT_LE(largest_delay(0, k_far_from_expiry, policy), 30s);
  EXPECT_LE(largest_delay(-5, k_far_from_expiry, policy), 30s);
}

TEST(BackoffDelay, UsesTheConfiguredCapWhenMissingOrExpired) {
  const RenewPolicy policy;
  EXPECT_LE(largest_delay(1, 0ms, policy), 30s) << "first retry is still bounded by the base";
  EXPECT_GE(largest_delay(20, 0ms, policy), 57min);
  EXPECT_GE(largest_delay(20, -5h, policy), 57min);
  EXPECT_LE(largest_delay(20, -5h, policy), 1h);
}

TEST(BackoffDelay, IsReproducibleWithTheSameSeed) {
  SeededRandom a(42);
  SeededRandom b(42);
  for (int failures = 1; failures < 20; ++failures) {
    EXPECT_EQ(backoff_delay(failures, 3h, RenewPolicy{}, a),
              backoff_delay(failures, 3h, RenewPolicy{}, b));
  }
}

// ---- classify ----------------------------------------------------------------------------------

TEST(StateNames, AreStable) {
  EXPECT_EQ(to_string(State::missing), "missing");
  EXPECT_EQ(to_string(State::valid), "valid");
  EXPECT_EQ(to_string(State::due), "due");
  EXPECT_EQ(to_string(State::renewing), "renewing");
  EXPECT_EQ(to_string(State::backing_off), "backing-off");
  EXPECT_EQ(to_string(State::expiring), "expiring");
  EXPECT_EQ(to_string(State::expired), "expired");
}

struct ClassifyCase {
  const char* name;
  bool has_cert;
  bool renewing;
  int failures;
  Dur now_offset;  // from notBefore; the certificate lives 100 h, renewal at 66h40m
  State expected;
};

TEST(Classify, FollowsThePrecedenceTable) {
  const ClassifyCase cases[] = {
      {"missing beats everything", false, true, 3, 200h, State::missing},
      {"missing", false, false, 0, 0h, State::missing},
      {"renewing beats expired", true, true, 3, 200h, State::renewing},
      {"renewing beats due", true, true, 0, 70h, State::renewing},
      {"expired beats backing-off", true, false, 3, 200h, State::expired},
      {"expired at notAfter exactly", true, false, 0, 100h, State::expired},
      {"expiring beats backing-off", true, false, 3, 95h, State::expiring},
      {"expiring beats due", true, false, 0, 95h, State::expiring},
      {"backing-off beats due", true, false, 1, 70h, State::backing_off},
      {"backing-off before due too", true, false, 1, 10h, State::backing_off},
      {"due", true, false, 0, 70h, State::due},
      {"valid", true, false, 0, 10h, State::valid},
      {"valid before notBefore", true, false, 0, -1h, State::valid},
      {"not yet expiring at exactly 10% left", true, false, 0, 90h, State::due},
  };
  RenewPolicy policy = without_jitter();
  const Validity v{k_t0, k_t0 + 100h, std::nullopt};
  for (const auto& c : cases) {
    StateInputs inputs;
    if (c.has_cert) inputs.validity = v;
    inputs.renewing = c.renewing;
    inputs.failures = c.failures;
    EXPECT_EQ(to_string(classify(inputs, policy, "web", k_t0 + c.now_offset)),
              to_string(c.expected))
        << c.name;
  }
}

TEST(Classify, IsDueFromTheRenewalInstantOn) {
  const Validity v{k_t0, k_t0 + 90h, std::nullopt};
  const StateInputs inputs{v, false, 0};
  const SystemTime t = renewal_time(v, RenewPolicy{}, "web");
  EXPECT_EQ(classify(inputs, RenewPolicy{}, "web", t - 1ns), State::valid);
  EXPECT_EQ(classify(inputs, RenewPolicy{}, "web", t), State::due);
}

TEST(Classify, UsesTheConfiguredExpiringFraction) {
  RenewPolicy policy = without_jitter();
  policy.expiring_at = 0.5;
  const StateInputs inputs{Validity{k_t0, k_t0 + 100h, std::nullopt}, false, 0};
  EXPECT_EQ(classify(inputs, policy, "web", k_t0 + 49h), State::valid);
  EXPECT_EQ(classify(inputs, policy, "web", k_t0 + 51h), State::expiring);
}

TEST(Classify, ACertificateValidAtNoInstantIsExpired) {
  const StateInputs inputs{Validity{k_t0, k_t0, std::nullopt}, false, 0};
  EXPECT_EQ(classify(inputs, RenewPolicy{}, "web", k_t0 - 1h), State::expired);
}

}  // namespace
}  // namespace certrotd::schedule
