// The service on a real sd-event loop that is never run: a rejected configuration file is an
// event and stays in the STATUS= line until a good reload; one credential's status is found by
// name.
#include "service/service.hpp"

#include <gtest/gtest.h>

#include <mutex>

#include "issuer/local/ca_init.hpp"
#include "support/test_support.hpp"

namespace certrotd::service {
namespace {

using engine::Engine;
using engine::EngineSummary;
using engine::Event;
using engine::EventKind;
using engine::EventSink;
using engine::Severity;

using namespace std::chrono_literals;
using testing::TempDir;

class RecordingSink final : public EventSink {
public:
  void emit(const Event& event) override {
    std::lock_guard lock(m_mutex);
    m_events.push_back(event);
  }
  std::vector<Event> of_kind(EventKind kind) {
    std::lock_guard lock(m_mutex);
    std::vector<Event> out;
    for (const auto& e : m_events) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

private:
  std::mutex m_mutex;
  std::vector<Event> m_events;
};

TEST(StatusLine, CountsCredentialsAndTheNextRenewal) {
  EngineSummary summary;
  summary.credentials = 12;
  summary.next_name = "web";
  summary.next_at = MonoTime{} + 3h + 12min;
  summary.failing = 1;
  EXPECT_EQ(status_line(summary, MonoTime{}, nullptr),
            "12 credentials, next renewal web in 3h12m, 1 failing");
}

TEST(StatusLine, LeadsWithARejectedReloadFirstLineOnly) {
  EngineSummary summary;
  summary.credentials = 2;
  const ReloadRejection rejected{SystemTime{} + 24h,
                                 "/etc/certrotd/config.yaml:3:5: unknown key 'isuer'\n"
                                 "/etc/certrotd/config.yaml:4:1: second problem"};
  EXPECT_EQ(status_line(summary, MonoTime{}, &rejected),
            "config reload rejected at 1970-01-02T00:00:00Z: /etc/certrotd/config.yaml:3:5: "
            "unknown key 'isuer'; 2 credentials");
}

class ServiceTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
    testing::write_text(path, good_yaml());
    auto config = config::load_config(path);
    ASSERT_TRUE(config) << config.error().what();
    auto engine = Engine::create(*config, {clock, random, sink});
    ASSERT_TRUE(engine) << engine.error().what();
    sd_event* raw = nullptr;
    ASSERT_GE(sd_event_new(&raw), 0);
    loop.reset(raw);  // owned by the test; the service is destroyed first
    auto created = Service::create(loop.get(), std::move(*engine));
    ASSERT_TRUE(created) << created.error().what();
    service = std::move(*created);
  }
  void TearDown() override { service.reset(); }

  std::string good_yaml() const {
    return "state_dir: " + (dir / "state").string() +
           "\nissuers:\n  ca:\n    type: local\n"
           "    ca_cert: " +
           (dir / "ca/ca.pem").string() + "\n" + "    ca_key: " + (dir / "ca/ca.key").string() +
           "\n" +
           "credentials:\n  web:\n    issuer: ca\n    subject: { common_name: web.example }\n"
           "    output: { dir: " +
           (dir / "live/web").string() + " }\n";
  }

  TempDir dir;
  std::string path = (dir / "config.yaml").string();
  ManualClock clock;
  SeededRandom random{7};
  RecordingSink sink;
  SdEventPtr loop;
  std::unique_ptr<Service> service;
};

TEST_F(ServiceTest, ARejectedFileIsAnErrorEventAndStaysInStatusUntilAGoodReload) {
  int changes = 0;
  service->on_change([&] { ++changes; });
  testing::write_text(path, "credentials:\n  web:\n    isuer: ca\n");

  auto rejected = service->reload_file(path);
  ASSERT_FALSE(rejected);
  EXPECT_NE(rejected.error().what().find(path + ":3:"), std::string::npos)
      << rejected.error().what();
  const auto events = sink.of_kind(EventKind::reload_rejected);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].severity, Severity::error);
  EXPECT_TRUE(events[0].credential.empty());
  EXPECT_NE(events[0].message.find(path + ":3:"), std::string::npos) << events[0].message;
  ASSERT_TRUE(service->rejected_reload());
  EXPECT_EQ(
      service->status_line().rfind(
          "config reload rejected at " + format_rfc3339(clock.wall_now()) + ": " + path + ":", 0),
      0u)
      << service->status_line();
  EXPECT_GE(changes, 1);                    // STATUS= is sent from on_change
  EXPECT_EQ(service->engine().size(), 1u);  // the old configuration stays

  testing::write_text(path, good_yaml());
  ASSERT_TRUE(service->reload_file(path));
  EXPECT_FALSE(service->rejected_reload());
  EXPECT_EQ(service->status_line().find("rejected"), std::string::npos) << service->status_line();
  EXPECT_EQ(sink.of_kind(EventKind::reload_rejected).size(), 1u);
}

TEST_F(ServiceTest, OneCredentialsStatusIsFoundByNameAndAnUnknownNameIsNone) {
  const auto web = service->engine().status_of("web");
  ASSERT_TRUE(web);
  EXPECT_EQ(web->name, "web");
  EXPECT_EQ(web->issuer, "ca");
  EXPECT_EQ(web->dir, dir / "live/web");
  EXPECT_FALSE(service->engine().status_of("nope"));
}

}  // namespace
}  // namespace certrotd::service
