// The exposition text of a small registry, label escaping, and counters following events.
#include <gtest/gtest.h>

#include "metrics/registry.hpp"

namespace certrotd::metrics {
namespace {

using engine::Event;
using engine::EventKind;
using engine::Severity;

constexpr SystemTime at(long long unix_seconds) {
  return SystemTime{std::chrono::seconds(unix_seconds)};
}

Event event(EventKind kind, std::string credential, Reason reason = Reason::unspecified) {
  Event e;
  e.kind = kind;
  e.credential = std::move(credential);
  e.issuer = "ca";
  e.reason = reason;
  return e;
}

Event engine_event(EventKind kind, std::string credential, schedule::State state) {
  Event e = event(kind, std::move(credential));
  e.not_before = at(1000);
  e.not_after = at(2000);
  e.next_renewal = at(1600);
  e.state = state;
  return e;
}

TEST(MetricsRegistry, TheStagedVersionsNotAfterIsAGaugeWhileOneIsStaged) {
  Registry registry("1.2.3");
  Event staged = engine_event(EventKind::staged, "web", schedule::State::valid);
  staged.staged_not_after = at(5000);
  registry.observe(staged, MonoTime{});
  const std::string sample =
      "certrotd_staged_certificate_not_after_timestamp_seconds{credential=\"web\"} 5000\n";
  EXPECT_NE(registry.render().find(sample), std::string::npos) << registry.render();
  registry.observe(engine_event(EventKind::activated, "web", schedule::State::valid), MonoTime{});
  EXPECT_EQ(registry.render().find("staged_certificate_not_after_timestamp_seconds{"),
            std::string::npos)
      << "gone once it is live";
}

TEST(MetricsRegistry, HttpRequestsAreTheLastCountOfIssuersThatCountThem) {
  Registry registry("1.2.3");
  const std::string family = "certrotd_issuer_http_requests_total";
  registry.observe(engine_event(EventKind::renewed, "web", schedule::State::valid), MonoTime{});
  EXPECT_EQ(registry.render().find(family), std::string::npos) << "no family without a count";
  Event counted = engine_event(EventKind::renewed, "web", schedule::State::valid);
  counted.issuer_http_requests = 9;
  registry.observe(counted, MonoTime{});
  counted.issuer_http_requests = 17;
  registry.observe(counted, MonoTime{});
  EXPECT_NE(
      registry.render().find("# TYPE " + family + " counter\n" + family + "{issuer=\"ca\"} 17\n"),
      std::string::npos)
      << registry.render();
}

TEST(MetricsRegistry, RendersASmallRegistryExactly) {
  Registry registry("1.2.3");
  const MonoTime t0{};
  registry.config_loaded(true, at(500));
  registry.observe(engine_event(EventKind::loaded, "web", schedule::State::valid), t0);
  registry.observe(engine_event(EventKind::renewing, "web", schedule::State::renewing), t0);
  // A network issuer's warning on the worker: same kind, no state; the rotation's start stays.
  registry.observe(event(EventKind::renewing, "web"), t0 + std::chrono::milliseconds(200));
  registry.observe(event(EventKind::renew_failed, "web", Reason::network),
                   t0 + std::chrono::milliseconds(300));
  registry.observe(engine_event(EventKind::renewing, "web", schedule::State::renewing), t0);
  registry.observe(engine_event(EventKind::renewed, "web", schedule::State::valid),
                   t0 + std::chrono::seconds(2));
  registry.observe(event(EventKind::dependent_failed, "web"), t0);
  EXPECT_EQ(registry.render(),
            R"(# HELP certrotd_build_info Version of the running certrotd, always 1.
# TYPE certrotd_build_info gauge
certrotd_build_info{version="1.2.3"} 1
# HELP certrotd_config_last_reload_successful 1 if the last configuration load or reload was accepted.
# TYPE certrotd_config_last_reload_successful gauge
certrotd_config_last_reload_successful 1
# HELP certrotd_config_last_reload_success_timestamp_seconds Unix time of the last accepted configuration.
# TYPE certrotd_config_last_reload_success_timestamp_seconds gauge
certrotd_config_last_reload_success_timestamp_seconds 500
# HELP certrotd_certificate_not_after_timestamp_seconds notAfter of the live certificate, Unix time.
# TYPE certrotd_certificate_not_after_timestamp_seconds gauge
certrotd_certificate_not_after_timestamp_seconds{credential="web"} 2000
# HELP certrotd_staged_certificate_not_after_timestamp_seconds notAfter of the certificate staged as next/ (activation: staged), Unix time; absent while none is staged.
# TYPE certrotd_staged_certificate_not_after_timestamp_seconds gauge
# HELP certrotd_certificate_not_before_timestamp_seconds notBefore of the live certificate, Unix time.
# TYPE certrotd_certificate_not_before_timestamp_seconds gauge
certrotd_certificate_not_before_timestamp_seconds{credential="web"} 1000
# HELP certrotd_next_renewal_timestamp_seconds When the next renewal attempt is due, Unix time.
# TYPE certrotd_next_renewal_timestamp_seconds gauge
certrotd_next_renewal_timestamp_seconds{credential="web"} 1600
# HELP certrotd_credential_state 1 for the credential's current state, 0 for the others.
# TYPE certrotd_credential_state gauge
certrotd_credential_state{credential="web",state="missing"} 0
certrotd_credential_state{credential="web",state="valid"} 1
certrotd_credential_state{credential="web",state="due"} 0
certrotd_credential_state{credential="web",state="renewing"} 0
certrotd_credential_state{credential="web",state="backing-off"} 0
certrotd_credential_state{credential="web",state="expiring"} 0
certrotd_credential_state{credential="web",state="expired"} 0
certrotd_credential_state{credential="web",state="needs-attention"} 0
# HELP certrotd_rotations_total Rotations that installed a new certificate.
# TYPE certrotd_rotations_total counter
certrotd_rotations_total{credential="web"} 1
# HELP certrotd_rotation_failures_total Failed rotation attempts, by reason class; the old credential stayed live.
# TYPE certrotd_rotation_failures_total counter
certrotd_rotation_failures_total{credential="web",reason="network"} 1
# HELP certrotd_upkeep_failures_total Failed issuer upkeep rounds (trust refresh, binding clean-up), by reason class; the credential stayed as it was.
# TYPE certrotd_upkeep_failures_total counter
# HELP certrotd_dependent_failures_total on_rotate actions that failed after their retries.
# TYPE certrotd_dependent_failures_total counter
certrotd_dependent_failures_total{credential="web"} 1
# HELP certrotd_issuer_requests_total Rotation attempts per issuer, by outcome (success or the failure's reason class).
# TYPE certrotd_issuer_requests_total counter
certrotd_issuer_requests_total{issuer="ca",outcome="network"} 1
certrotd_issuer_requests_total{issuer="ca",outcome="success"} 1
# HELP certrotd_rotation_duration_seconds Time from the start of a rotation to its result, per issuer.
# TYPE certrotd_rotation_duration_seconds histogram
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="0.1"} 0
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="0.25"} 0
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="0.5"} 1
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="1"} 1
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="2.5"} 2
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="5"} 2
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="10"} 2
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="30"} 2
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="60"} 2
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="300"} 2
certrotd_rotation_duration_seconds_bucket{issuer="ca",le="+Inf"} 2
certrotd_rotation_duration_seconds_sum{issuer="ca"} 2.3
certrotd_rotation_duration_seconds_count{issuer="ca"} 2
)");
}

TEST(MetricsRegistry, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Registry registry("v\"1");
  EXPECT_NE(registry.render().find("certrotd_build_info{version=\"v\\\"1\"} 1\n"),
            std::string::npos);
}

TEST(MetricsRegistry, ARejectedReloadClearsTheSuccessGaugeButKeepsItsTime) {
  Registry registry("1");
  registry.config_loaded(true, at(500));
  Event rejected;
  rejected.kind = EventKind::reload_rejected;
  registry.observe(rejected, MonoTime{});
  const std::string text = registry.render();
  EXPECT_NE(text.find("\ncertrotd_config_last_reload_successful 0\n"), std::string::npos);
  EXPECT_NE(text.find("\ncertrotd_config_last_reload_success_timestamp_seconds 500\n"),
            std::string::npos);
}

TEST(MetricsRegistry, FailuresAreCountedPerReasonAndRotationsPerCredential) {
  Registry registry("1");
  for (int i = 0; i < 3; ++i) registry.observe(event(EventKind::renew_failed, "a", Reason::io), {});
  registry.observe(event(EventKind::renew_failed, "a", Reason::http_status), {});
  registry.observe(event(EventKind::renewed, "b"), {});
  registry.observe(event(EventKind::renewed, "b"), {});
  const std::string text = registry.render();
  EXPECT_NE(text.find("certrotd_rotation_failures_total{credential=\"a\",reason=\"io\"} 3\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("certrotd_rotation_failures_total{credential=\"a\",reason=\"http-status\"} 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("certrotd_rotations_total{credential=\"a\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("certrotd_rotations_total{credential=\"b\"} 2\n"), std::string::npos);
}

TEST(MetricsRegistry, UpkeepFailuresAreCountedApartFromRotationFailures) {
  Registry registry("1");
  registry.observe(event(EventKind::upkeep_failed, "a", Reason::network), {});
  registry.observe(event(EventKind::upkeep_failed, "a", Reason::network), {});
  registry.observe(event(EventKind::upkeep_failed, "a", Reason::http_status), {});
  const std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE certrotd_upkeep_failures_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("certrotd_upkeep_failures_total{credential=\"a\",reason=\"network\"} 2\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("certrotd_upkeep_failures_total{credential=\"a\",reason=\"http-status\"} 1\n"),
      std::string::npos);
  EXPECT_EQ(text.find("certrotd_rotation_failures_total{"), std::string::npos)
      << "an upkeep is not a rotation";
}

TEST(MetricsRegistry, RetainDropsTheSeriesOfRemovedCredentials) {
  Registry registry("1");
  registry.observe(event(EventKind::renewed, "gone"), {});
  registry.observe(event(EventKind::renewed, "kept"), {});
  registry.retain([](const std::string& name) { return name == "kept"; });
  const std::string text = registry.render();
  EXPECT_EQ(text.find("\"gone\""), std::string::npos);
  EXPECT_NE(text.find("\"kept\""), std::string::npos);
}

}  // namespace
}  // namespace certrotd::metrics
