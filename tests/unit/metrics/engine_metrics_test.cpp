// The registry fed by a real engine: the gauges follow the credential's certificate and schedule,
// the counters its rotations; and the textfile writer coalesces a burst of changes into one write.
#include <gtest/gtest.h>

#include <systemd/sd-event.h>

#include "engine/engine.hpp"
#include "issuer/local/ca_init.hpp"
#include "metrics/exporter.hpp"
#include "metrics/registry.hpp"
#include "support/test_support.hpp"

namespace certrotd::metrics {
namespace {

using namespace std::chrono_literals;

std::int64_t unix_seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

bool contains(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

class EngineMetricsTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
  }
  config::Config load() const {
    const std::string text =
        "state_dir: " + (dir / "state").string() +
        "\nissuers:\n  ca: { type: local, ca_cert: " + (dir / "ca/ca.pem").string() +
        ", ca_key: " + (dir / "ca/ca.key").string() +
        ", lifetime: 1h }\ncredentials:\n  web: { issuer: ca, sans: [\"DNS:web.example\"], "
        "output: { dir: " +
        (dir / "live/web").string() + " } }\n";
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return *config;
  }

  testing::TempDir dir;
  ManualClock clock;
  SeededRandom random{7};
  Registry registry{"0.0.0-test"};
  MetricsEventSink sink{registry, clock};
};

TEST_F(EngineMetricsTest, GaugesAndCountersFollowTheEngine) {
  auto engine = engine::Engine::create(load(), {clock, random, sink});
  ASSERT_TRUE(engine.has_value()) << engine.error().what();
  (*engine)->start();
  EXPECT_TRUE(contains(registry.render(),
                       "certrotd_credential_state{credential=\"web\",state=\"missing\"} 1"));
  for (auto& job : (*engine)->take_due()) {
    (*engine)->complete(engine::run_job(std::move(job), (*engine)->rotation_env()));
  }
  const auto status = (*engine)->status_of("web");
  ASSERT_TRUE(status && status->cert && status->next_attempt);
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text, "certrotd_rotations_total{credential=\"web\"} 1")) << text;
  EXPECT_TRUE(contains(text, "certrotd_credential_state{credential=\"web\",state=\"valid\"} 1"));
  EXPECT_TRUE(
      contains(text, "certrotd_certificate_not_after_timestamp_seconds{credential=\"web\"} " +
                         std::to_string(unix_seconds(status->cert->not_after))));
  EXPECT_TRUE(
      contains(text, "certrotd_certificate_not_before_timestamp_seconds{credential=\"web\"} " +
                         std::to_string(unix_seconds(status->cert->not_before))));
  EXPECT_TRUE(contains(text, "certrotd_next_renewal_timestamp_seconds{credential=\"web\"} " +
                                 std::to_string(unix_seconds(*status->next_attempt))));
  EXPECT_TRUE(
      contains(text, "certrotd_issuer_requests_total{issuer=\"ca\",outcome=\"success\"} 1"));
}

TEST(TextfileWriter, ABurstOfChangesIsOneWriteAndNothingIsArmedAfterwards) {
  testing::TempDir dir;
  Registry registry("1");
  sd_event* raw = nullptr;
  ASSERT_GE(sd_event_new(&raw), 0);
  service::SdEventPtr loop(raw);
  auto writer = TextfileWriter::create(loop.get(), dir / "certrotd.prom", registry, {}, 0ms);
  ASSERT_TRUE(writer.has_value()) << writer.error().what();
  EXPECT_FALSE((*writer)->armed());  // nothing changed yet: no timer
  for (int i = 0; i < 10000; ++i) (*writer)->mark_dirty();
  EXPECT_TRUE((*writer)->armed());
  EXPECT_FALSE(std::filesystem::exists(dir / "certrotd.prom"));  // not written per change
  ASSERT_EQ(sd_event_run(loop.get(), UINT64_MAX), 1);            // the one timer fires
  EXPECT_FALSE((*writer)->armed());
  EXPECT_EQ(testing::read_text(dir / "certrotd.prom"), registry.render());
  EXPECT_EQ(sd_event_run(loop.get(), 0), 0);  // and nothing else is pending
}

}  // namespace
}  // namespace certrotd::metrics
