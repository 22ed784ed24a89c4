// `certrotd history` and `rollback --to` on real output folders: the exact table, the JSON, and
// which versions a target names.
#include <gtest/gtest.h>
#include <sysexits.h>

#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "engine/history.hpp"
#include "issuer/local/ca_init.hpp"
#include "store/credential_store.hpp"
#include "support/test_support.hpp"
#include "util/rfc3339.hpp"
#include "x509/sign.hpp"

namespace certrotd::cli {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// No daemon on the bus: every call fails as the bus does then.
class NoDaemon final : public control::ControlClient {
public:
  NoDaemon() : ControlClient(notify::BusKind::user) {}
  Result<std::string> rollback(const std::string&) const override {
    return fail_retryable("no daemon");
  }
  Result<std::string> rollback_to(const std::string&, const std::string&, bool) const override {
    return fail_retryable("no daemon");
  }
};

class HistoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
    options.config = (dir / "config.yaml").string();
    options.credential = "web";
    testing::write_text(options.config, "state_dir: " + (dir / "state").string() +
                                            "\nissuers:\n  ca:\n    type: local\n    ca_cert: " +
                                            (dir / "ca/ca.pem").string() +
                                            "\n    ca_key: " + (dir / "ca/ca.key").string() +
                                            "\ncredentials:\n  web:\n    issuer: ca\n"
                                            "    subject: { common_name: web.example }\n"
                                            "    output:\n      keep: 5\n      dir: " +
                                            (dir / "live/web").string() + "\n");
    root_key = *x509::generate_key({});
    x509::SignOptions o;
    o.subject_public_key = root_key->get();
    o.request.subject.common_name = "History Root";
    o.not_before = clock.wall_now() - 24h;
    o.not_after = clock.wall_now() + 24h * 365;
    o.is_ca = true;
    o.self_key = &*root_key;
    root = *x509::sign_certificate(o, random);
    store::StoreOptions so;
    so.dir = (dir / "live/web").string();
    so.keep_versions = 5;
    store = std::make_unique<store::CredentialStore>(*store::CredentialStore::open(so));
  }

  // Installs a certificate valid from `nb` to `na` at the clock's time; returns its serial.
  std::string install(SystemTime nb, SystemTime na) {
    const auto key = *x509::generate_key({});
    x509::SignOptions o;
    o.subject_public_key = key.get();
    o.request.subject.common_name = "web.example";
    o.not_before = nb;
    o.not_after = na;
    o.issuer_cert = &*root;
    o.issuer_key = &*root_key;
    const auto cert = *x509::sign_certificate(o, random);
    const store::CredentialFiles files{cert.to_pem(), "", *key.to_pkcs8_pem(std::nullopt), ""};
    EXPECT_TRUE(store->install(files, cert.info().serial, store::Change{clock.wall_now()}));
    return cert.info().serial;
  }

  static std::string t(SystemTime at) { return format_rfc3339(at); }

  TempDir dir;
  ManualClock clock;
  SeededRandom random{7};
  Options options;
  std::ostringstream out;
  std::ostringstream err;
  Context context{out, err, clock, random, 4242};
  NoDaemon daemon;
  std::optional<x509::PrivateKey> root_key;
  std::optional<x509::Certificate> root;
  std::unique_ptr<store::CredentialStore> store;
};

TEST(DisplaySerial, IsUpperCaseHexWithAnEvenNumberOfDigitsAsOpensslPrintsIt) {
  EXPECT_EQ(engine::display_serial("1a2b"), "1A2B");
  EXPECT_EQ(engine::display_serial("abc"), "0ABC");
}

TEST_F(HistoryTest, ListsTheVersionsNewestFirstWithWhenEachWasLiveAndHowItEnded) {
  const SystemTime t0 = clock.wall_now();
  const std::string s1 = install(t0 - 1h, t0 + 48h);
  clock.advance(24h);
  const SystemTime t1 = clock.wall_now();
  const std::string s2 = install(t1 - 1h, t1 + 48h);
  clock.advance(1h);
  const SystemTime t2 = clock.wall_now();
  ASSERT_TRUE(store->rollback(t2));
  auto versions = *store->versions();
  ASSERT_EQ(versions.size(), 2u);
  const std::string v1 = versions[0].id;
  const std::string v2 = versions[1].id;

  ASSERT_EQ(history(options, context), 0) << err.str();
  const std::string issuer = root->info().subject;
  const std::string S1 = engine::display_serial(s1);
  const std::string S2 = engine::display_serial(s2);
  const auto pad = [](const std::string& s, std::size_t w) {
    return s + std::string(w - s.size(), ' ');
  };
  const std::size_t wv = std::max<std::size_t>(7, v1.size());
  const std::size_t ws = std::max(S1.size(), S2.size());
  const std::size_t wt = 20;  // "2026-01-01T00:00:00Z"
  const std::string expected =
      pad("VERSION", wv) + "  " + pad("SERIAL", ws) + "  " + pad("NOT BEFORE", wt) + "  " +
      pad("NOT AFTER", wt) + "  " + pad("LIVE FROM", wt) + "  " + pad("LIVE UNTIL", wt) + "  " +
      pad("ENDED", 11) + "  ISSUER\n" +
      // The newer one was rolled away from; the older one is live again since then.
      pad(v2, wv) + "  " + pad(S2, ws) + "  " + t(t1 - 1h) + "  " + t(t1 + 48h) + "  " + t(t1) +
      "  " + t(t2) + "  rolled back  " + issuer + "\n" + pad(v1, wv) + "  " + pad(S1, ws) + "  " +
      t(t0 - 1h) + "  " + t(t0 + 48h) + "  " + t(t2) + "  " + pad("-", wt) + "  " +
      pad("live", 11) + "  " + issuer + "\n";
  EXPECT_EQ(out.str(), expected);
  EXPECT_EQ(err.str(), "");
}

TEST_F(HistoryTest, SurvivesAReopenAndShowsDashesForVersionsWithoutHistory) {
  const SystemTime t0 = clock.wall_now();
  // Written as before the history existed: no time given.
  store::StoreOptions so;
  so.dir = (dir / "live/web").string();
  const auto key = *x509::generate_key({});
  x509::SignOptions o;
  o.subject_public_key = key.get();
  o.request.subject.common_name = "web.example";
  o.not_before = t0 - 1h;
  o.not_after = t0 + 48h;
  o.issuer_cert = &*root;
  o.issuer_key = &*root_key;
  const auto old_cert = *x509::sign_certificate(o, random);
  ASSERT_TRUE(store->install({old_cert.to_pem(), "", *key.to_pkcs8_pem(std::nullopt), ""}, "old"));
  clock.advance(1h);
  install(t0, t0 + 48h);
  store.reset();
  auto reopened = store::CredentialStore::open(so);
  ASSERT_TRUE(reopened);
  auto versions = *reopened->versions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_FALSE(versions[0].span.from) << "installed without a time";
  EXPECT_EQ(versions[0].span.until, clock.wall_now());
  EXPECT_EQ(versions[0].span.ended, store::Ending::rotated);
  EXPECT_EQ(versions[1].span.from, clock.wall_now());

  options.json = true;
  ASSERT_EQ(history(options, context), 0) << err.str();
  const std::string text = out.str();
  EXPECT_NE(text.find("\"live_from\": null"), std::string::npos) << text;
  EXPECT_NE(text.find("\"ended\": \"rotated\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"ended\": \"live\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"serial\": \"" + engine::display_serial(old_cert.info().serial) + "\""),
            std::string::npos)
      << text;
}

TEST_F(HistoryTest, OfAnUnknownNameIsAUsageError) {
  options.credential = "nope";
  EXPECT_EQ(history(options, context), EX_USAGE);
  EXPECT_EQ(err.str(), "certrotd history: no credential named 'nope' in " + options.config + "\n");
}

TEST_F(HistoryTest, RollbackToRestoresTheVersionASerialNamesInAnyCaseWithoutLeadingZeros) {
  const SystemTime t0 = clock.wall_now();
  const std::string s1 = install(t0 - 1h, t0 + 480h);
  install(t0 - 1h, t0 + 480h);
  install(t0 - 1h, t0 + 480h);
  const std::string first = (*store->versions())[0].id;
  // Upper case with a leading zero: still the same serial.
  options.rollback_to = "00" + engine::display_serial(s1);
  ASSERT_EQ(rollback(options, daemon, context), 0) << err.str();
  EXPECT_EQ(out.str(), "web: rolled back to version " + first + "\n");
  auto versions = *store->versions();
  EXPECT_TRUE(versions[0].live);
  EXPECT_EQ(versions[2].span.ended, store::Ending::rolled_back);
}

TEST_F(HistoryTest, RollbackToAVersionFolderNameWorksToo) {
  const SystemTime t0 = clock.wall_now();
  install(t0 - 1h, t0 + 480h);
  install(t0 - 1h, t0 + 480h);
  install(t0 - 1h, t0 + 480h);
  const std::string middle = (*store->versions())[1].id;
  options.rollback_to = "..v-" + middle;
  ASSERT_EQ(rollback(options, daemon, context), 0) << err.str();
  EXPECT_TRUE((*store->versions())[1].live);
}

TEST_F(HistoryTest, RollbackToAnExpiredVersionIsRefusedUnlessForced) {
  const SystemTime t0 = clock.wall_now();
  const std::string old = install(t0 - 2h, t0 + 1h);
  install(t0, t0 + 480h);
  clock.advance(2h);
  const std::string first = (*store->versions())[0].id;
  options.rollback_to = old;
  EXPECT_EQ(rollback(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str(), "certrotd rollback: version " + first + " (serial " +
                           engine::display_serial(old) + ") expired at " + t(t0 + 1h) +
                           "; --force restores it anyway\n");
  EXPECT_FALSE((*store->versions())[0].live);
  err.str("");
  options.force = true;
  EXPECT_EQ(rollback(options, daemon, context), 0) << err.str();
  EXPECT_TRUE((*store->versions())[0].live);
}

TEST_F(HistoryTest, RollbackToASerialNoVersionHasOrTheLiveOneIsRefused) {
  const SystemTime t0 = clock.wall_now();
  install(t0 - 1h, t0 + 480h);
  const std::string live = install(t0 - 1h, t0 + 480h);
  options.rollback_to = "123456";
  EXPECT_EQ(rollback(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str(),
            "certrotd rollback: no kept version has the serial or version '123456' (see certrotd "
            "history)\n");
  err.str("");
  options.rollback_to = live;
  EXPECT_EQ(rollback(options, daemon, context), EX_UNAVAILABLE);
  EXPECT_EQ(err.str().rfind("certrotd rollback: version ", 0), 0u) << err.str();
  EXPECT_NE(err.str().find(" is live already"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace certrotd::cli
