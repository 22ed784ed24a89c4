// The engine driven by a ManualClock: no timers, no sleeping. Rotations run synchronously
// through run_job(), exactly the code the worker threads run.
#include "engine/engine.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>

#include "issuer/local/ca_init.hpp"
#include "issuer/local/local.hpp"
#include "support/test_support.hpp"
#include "util/files.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;
using testing::read_text;
using testing::TempDir;
using testing::write_text;
namespace fs = std::filesystem;

class RecordingSink final : public EventSink {
public:
  void emit(const Event& event) override {
    std::lock_guard lock(m_mutex);
    events.push_back(event);
  }
  int count(EventKind kind, const std::string& credential) const {
    int n = 0;
    for (const auto& e : events) n += (e.kind == kind && e.credential == credential) ? 1 : 0;
    return n;
  }
  std::vector<Event> events;

private:
  std::mutex m_mutex;
};

class EngineTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ca.intermediate = true;
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
  }

  std::string yaml(const std::string& lifetime, const std::vector<std::string>& names,
                   const std::string& extra_issuer = "") const {
    std::string text = "state_dir: " + (dir / "state").string() + "\n" +
                       "defaults:\n  backoff: { base: 10s, cap: 1m }\n"
                       "issuers:\n  ca:\n    type: local\n"
                       "    ca_cert: " +
                       (dir / "ca/intermediate.pem").string() + "\n" +
                       "    ca_key: " + (dir / "ca/intermediate.key").string() + "\n" +
                       "    roots: " + (dir / "ca/ca.pem").string() + "\n" +
                       "    lifetime: " + lifetime + "\n" + extra_issuer + "credentials:\n";
    for (const auto& n : names) {
      text += "  " + n + ":\n    issuer: ca\n    subject: { common_name: " + n +
              ".example }\n    sans: [\"DNS:" + n + ".example\"]\n    usage: [clientAuth]\n" +
              "    output: { dir: " + (dir / "live" / n).string() + " }\n";
    }
    return text;
  }

  config::Config load(const std::string& text) const {
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return *config;
  }

  std::unique_ptr<Engine> make_engine(const config::Config& config) {
    auto engine = Engine::create(config, {clock, random, sink});
    EXPECT_TRUE(engine.has_value()) << (engine ? "" : engine.error().what());
    return std::move(*engine);
  }

  // Runs every due job to completion, as the worker pool would; returns how many ran.
  int run_due(Engine& engine) {
    auto jobs = engine.take_due();
    for (auto& job : jobs) engine.complete(run_job(std::move(job), engine.rotation_env()));
    return static_cast<int>(jobs.size());
  }

  std::string live_serial(const std::string& name) const {
    auto text = read_file(dir / "live" / name / "cert.pem");
    if (!text) return {};
    auto cert = x509::parse_certificate(*text);
    return cert ? cert->info().serial : std::string{};
  }

  void advance_to_deadline(const Engine& engine) {
    const auto deadline = engine.next_deadline();
    ASSERT_TRUE(deadline.has_value());
    if (*deadline > clock.mono_now()) clock.advance(*deadline - clock.mono_now());
  }

  TempDir dir;
  ManualClock clock;
  SeededRandom random{42};
  RecordingSink sink;
};

TEST_F(EngineTest, MissingCredentialsAreIssuedAtOnce) {
  auto engine = make_engine(load(yaml("1h", {"a", "b"})));
  engine->start();
  EXPECT_EQ(engine->next_deadline(), clock.mono_now());
  EXPECT_EQ(run_due(*engine), 2);
  EXPECT_FALSE(live_serial("a").empty());
  EXPECT_FALSE(live_serial("b").empty());
  for (const auto& s : engine->status()) EXPECT_EQ(s.state, schedule::State::valid) << s.name;
}

TEST_F(EngineTest, RenewsAtTwoThirdsOfTheLifetimeAndNotBefore) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  const std::string first = live_serial("a");
  const auto wait = *engine->next_deadline() - clock.mono_now();
  // notAfter = notBefore + 1h with notBefore backdated 1 min, so 59 min remain from install:
  // renewal at 2/3 of 59 min (39m20s), +/- 5% of 59 min (2m57s) jitter.
  EXPECT_GE(wait, 39min + 20s - 2min - 57s - 1s);
  EXPECT_LE(wait, 39min + 20s + 2min + 57s + 1s);

  clock.advance(wait - 1s);
  EXPECT_EQ(run_due(*engine), 0);
  EXPECT_EQ(live_serial("a"), first);
  clock.advance(1s);
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_NE(live_serial("a"), first);
}

// README: `key_passphrase_file` writes key.pem as encrypted PKCS#8, at the first issuance and at
// every renewal: the openssl CLI opens it with the passphrase, only with it, and it fits cert.pem.
// (integration/encrypted_key_test shows a renewal authenticating with the encrypted live key.)
TEST_F(EngineTest, AnEncryptedKeyIsWrittenAndReadBackAcrossRotations) {
  const auto pass = dir / "key.pass";
  write_text(pass, "c0rrect horse\n");
  ::chmod(pass.c_str(), 0600);
  write_text(dir / "wrong.pass", "wrong\n");
  const auto key = dir / "live/a/key.pem";
  const auto opens = [&](const fs::path& passphrase) {
    return testing::run_command({"openssl", "pkey", "-in", key.string(), "-passin",
                                 "file:" + passphrase.string(), "-pubout"});
  };
  const auto cert_pubkey = [&] {
    return testing::run_command(
               {"openssl", "x509", "-in", (dir / "live/a/cert.pem").string(), "-noout", "-pubkey"})
        .output;
  };
  auto engine = make_engine(
      load(yaml("1h", {"a"}) + "    key_passphrase_file: " + pass.string() + "\n"));
  engine->start();
  ASSERT_EQ(run_due(*engine), 1);
  for (int rotation = 1; rotation <= 2; ++rotation) {
    SCOPED_TRACE("rotation " + std::to_string(rotation));
    const std::string text = read_text(key);
    EXPECT_TRUE(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")) << text.substr(0, 40);
    const auto opened = opens(pass);
    EXPECT_EQ(opened.exit_code, 0) << opened.output;
    EXPECT_EQ(opened.output, cert_pubkey()) << "key.pem does not fit cert.pem";
    EXPECT_NE(opens(dir / "wrong.pass").exit_code, 0);
    if (rotation == 2) break;
    const std::string first = live_serial("a");
    advance_to_deadline(*engine);
    ASSERT_EQ(run_due(*engine), 1);
    EXPECT_NE(live_serial("a"), first);
    EXPECT_EQ(sink.count(EventKind::renew_failed, "a"), 0);
  }
}

TEST_F(EngineTest, OneMinuteCertificatesDoNotStormDespiteBackdating) {
  auto engine = make_engine(load(yaml("1m", {"a"})));
  engine->start();
  int rotations = 0;
  const auto end = clock.mono_now() + 10min;
  while (clock.mono_now() < end) {
    rotations += run_due(*engine);
    advance_to_deadline(*engine);
  }
  // One rotation per ~40 s over ten minutes: about 15, never hundreds.
  EXPECT_GE(rotations, 12);
  EXPECT_LE(rotations, 20);
  EXPECT_EQ(sink.count(EventKind::renew_failed, "a"), 0);
}

TEST_F(EngineTest, RequestRotationMakesNamedCredentialsDueAndRejectsUnknownNames) {
  auto engine = make_engine(load(yaml("1h", {"a", "b"})));
  engine->start();
  run_due(*engine);
  const std::string a = live_serial("a");
  const std::string b = live_serial("b");
  EXPECT_FALSE(engine->request_rotation({"nope"}).has_value());
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_NE(live_serial("a"), a);
  EXPECT_EQ(live_serial("b"), b);
  ASSERT_TRUE(engine->request_rotation({}).has_value());
  EXPECT_EQ(run_due(*engine), 2);
}

// An issuer that is down.
class UnavailableIssuer final : public issuer::Issuer {
public:
  std::string_view type() const override { return "unavailable"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest&) override {
    return fail_retryable("HTTP 503 Service Unavailable");
  }
};

// Runs the due job of `name` with `issuer` (and `anchors`, when given) in place of the
// configured ones: how the tests put a misbehaving issuer behind the real pipeline.
void run_with(Engine& engine, std::shared_ptr<issuer::Issuer> issuer,
              std::vector<x509::Certificate> anchors = {}) {
  auto jobs = engine.take_due();
  ASSERT_EQ(jobs.size(), 1u);
  auto plan = std::make_shared<CredentialPlan>(*jobs[0].plan);
  plan->issuer = std::move(issuer);
  if (!anchors.empty()) {
    plan->anchors = std::make_shared<const std::vector<x509::Certificate>>(std::move(anchors));
  }
  jobs[0].plan = plan;
  engine.complete(run_job(std::move(jobs[0]), engine.rotation_env()));
}

TEST_F(EngineTest, TheSummaryFollowsFailuresRecoveriesAndReloads) {
  auto engine = make_engine(load(yaml("1h", {"a", "b"})));
  engine->start();
  EXPECT_EQ(engine->summary().credentials, 2u);
  run_due(*engine);
  EXPECT_EQ(engine->summary().failing, 0u);

  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  EXPECT_EQ(engine->summary().next_name, "a") << "due now, so first";
  run_with(*engine, std::make_shared<UnavailableIssuer>());
  EXPECT_EQ(engine->summary().failing, 1u);
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  run_with(*engine, std::make_shared<UnavailableIssuer>());
  EXPECT_EQ(engine->summary().failing, 1u) << "a credential counts once, however often it fails";

  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_EQ(engine->summary().failing, 0u) << "a success clears it";

  ASSERT_TRUE(engine->request_rotation({"b"}).has_value());
  run_with(*engine, std::make_shared<UnavailableIssuer>());
  EXPECT_EQ(engine->summary().failing, 1u);
  ASSERT_TRUE(engine->reload(load(yaml("1h", {"a"}))).has_value());
  EXPECT_EQ(engine->summary().failing, 0u) << "a removed credential no longer counts";
  EXPECT_EQ(engine->summary().credentials, 1u);
  EXPECT_EQ(engine->summary().renewing, 0u);
}

TEST_F(EngineTest, AnUnavailableIssuerKeepsTheOldCredentialAndBacksOff) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  const std::string first = live_serial("a");

  std::vector<Millis> delays;
  for (int attempt = 1; attempt <= 4; ++attempt) {
    ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
    run_with(*engine, std::make_shared<UnavailableIssuer>());
    delays.push_back(
        std::chrono::duration_cast<Millis>(*engine->next_deadline() - clock.mono_now()));
    EXPECT_EQ(engine->status().front().failures, attempt);
  }
  EXPECT_EQ(live_serial("a"), first);
  EXPECT_EQ(sink.count(EventKind::renew_failed, "a"), 4);
  EXPECT_NE(engine->status().front().last_error.find("503"), std::string::npos);
  for (const auto d : delays) {
    EXPECT_GE(d, 1s);
    EXPECT_LE(d, 1min) << "backoff cap from the config";
  }

  // The next good answer rotates and clears the failure count.
  clock.advance(*engine->next_deadline() - clock.mono_now());
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_NE(live_serial("a"), first);
  EXPECT_EQ(engine->status().front().failures, 0);
  EXPECT_TRUE(engine->status().front().last_error.empty());
}

TEST_F(EngineTest, AnAnswerFromAnUntrustedCaNeverReachesDisk) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  const std::string first = live_serial("a");

  issuer::CaInitOptions other;
  other.dir = dir / "other-ca";
  ASSERT_TRUE(issuer::init_ca(other, clock, random).has_value());
  issuer::LocalIssuerOptions foreign;
  foreign.ca_cert = dir / "other-ca/ca.pem";
  foreign.ca_key = dir / "other-ca/ca.key";
  auto foreign_issuer = issuer::LocalIssuer::create(foreign, clock, random);
  ASSERT_TRUE(foreign_issuer.has_value());
  auto root = x509::parse_certificates(read_file(dir / "ca/ca.pem").value());
  ASSERT_TRUE(root.has_value());

  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  run_with(*engine, std::shared_ptr<issuer::Issuer>(std::move(*foreign_issuer)), *root);

  EXPECT_EQ(live_serial("a"), first);
  const auto status = engine->status().front();
  EXPECT_EQ(status.failures, 1);
  EXPECT_NE(status.last_error.find("chain does not verify"), std::string::npos)
      << status.last_error;
}

TEST_F(EngineTest, StateSurvivesARestart) {
  {
    auto engine = make_engine(load(yaml("1h", {"a"})));
    engine->start();
    run_due(*engine);
  }
  const std::string serial = live_serial("a");
  clock.advance(5min);
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  // Installed by us five minutes ago: due at ~40 min after installation, not now.
  EXPECT_EQ(run_due(*engine), 0);
  EXPECT_EQ(live_serial("a"), serial);
  const auto wait = *engine->next_deadline() - clock.mono_now();
  EXPECT_GE(wait, 30min);
  EXPECT_LE(wait, 40min);
}

TEST_F(EngineTest, ARestartTrustsCachedFactsOnlyWhileTheFilesAreUnchanged) {
  const auto config = load(yaml("1h", {"a"}));
  {
    auto engine = make_engine(config);
    engine->start();
    run_due(*engine);
  }
  // Plant a cache entry that differs from the real certificate in one visible way: a notAfter
  // ten days out. A restart that trusts the cache schedules from it.
  const store::StateFiles state_files(config.state_dir);
  auto state = state_files.load("a").value();
  ASSERT_TRUE(state.live_cert.has_value());
  EXPECT_EQ(state.live_cert->serial, live_serial("a"));
  state.live_cert->not_after = clock.wall_now() + std::chrono::hours(240);
  ASSERT_TRUE(state_files.save("a", state).has_value());
  {
    auto engine = make_engine(config);
    engine->start();
    EXPECT_GT(*engine->next_deadline() - clock.mono_now(), std::chrono::hours(24));
  }
  // Rewriting cert.pem (same bytes, new inode and mtime) invalidates the cache: the real
  // one-hour certificate is parsed and scheduled again.
  const auto cert_path = dir / "live/a/cert.pem";
  const std::string bytes = read_file(cert_path).value();
  ASSERT_TRUE(write_file_atomic(std::filesystem::canonical(cert_path), bytes, 0644).has_value());
  auto engine = make_engine(config);
  engine->start();
  EXPECT_LT(*engine->next_deadline() - clock.mono_now(), 1h);
}

TEST_F(EngineTest, ACertificateReplacedByHandIsAdoptedNotRenewed) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);

  // Issue a 10-day certificate by other means (a second engine writing to a scratch folder).
  auto other = load(yaml("240h", {"a"}));
  other.credentials[0].output.dir = dir / "scratch";
  other.state_dir = dir / "scratch-state";
  auto issuing = make_engine(other);
  issuing->start();
  run_due(*issuing);
  const std::string hand = read_file(dir / "scratch/cert.pem").value();
  ASSERT_TRUE(
      write_file_atomic(dir / "live/a/key.pem", read_file(dir / "scratch/key.pem").value(), 0600));
  ASSERT_TRUE(write_file_atomic(dir / "live/a/cert.pem", hand, 0644));
  const std::string hand_serial = x509::parse_certificate(hand)->info().serial;

  const int renewing = sink.count(EventKind::renewing, "a");
  EXPECT_EQ(engine->on_disk_changed("a"), DiskCheck::settled);
  EXPECT_EQ(run_due(*engine), 1) << "an adopt job, which makes the set complete";
  EXPECT_EQ(sink.count(EventKind::adopted, "a"), 1);
  EXPECT_EQ(sink.count(EventKind::renewing, "a"), renewing) << "adopting is not renewing";
  EXPECT_EQ(live_serial("a"), hand_serial);
  EXPECT_TRUE(read_file(dir / "live/a/fullchain.pem").value().starts_with(hand));
  // Scheduled from its own dates: 2/3 of ten days is more than six days away.
  EXPECT_GE(*engine->next_deadline() - clock.mono_now(), std::chrono::hours(24 * 6));
  EXPECT_EQ(run_due(*engine), 0);
  // Seeing the same certificate again is not a second adoption.
  engine->on_disk_changed("a");
  EXPECT_EQ(run_due(*engine), 0);
  EXPECT_EQ(sink.count(EventKind::adopted, "a"), 1);
}

// Writes `text` through the stable link, into the live version folder, as `cp` does.
void write_through(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
}

TEST_F(EngineTest, AHandReplacementWrittenThroughTheLinksBecomesACompleteNewVersion) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  const std::string old_version = engine->status().front().cert->serial;

  auto other = load(yaml("240h", {"a"}));
  other.credentials[0].output.dir = dir / "scratch";
  other.state_dir = dir / "scratch-state";
  auto issuing = make_engine(other);
  issuing->start();
  run_due(*issuing);
  const std::string hand_key = read_file(dir / "scratch/key.pem").value();
  const std::string hand = read_file(dir / "scratch/cert.pem").value();
  write_through(dir / "live/a/key.pem", hand_key);
  write_through(dir / "live/a/cert.pem", hand);
  ASSERT_TRUE(std::filesystem::is_symlink(dir / "live/a/cert.pem"));

  EXPECT_EQ(engine->on_disk_changed("a"), DiskCheck::settled);
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_EQ(sink.count(EventKind::adopted, "a"), 1);
  const std::string fullchain = read_file(dir / "live/a/fullchain.pem").value();
  const std::string bundle = read_file(dir / "live/a/bundle.pem").value();
  EXPECT_TRUE(fullchain.starts_with(hand)) << "fullchain.pem follows the new certificate";
  EXPECT_NE(bundle.find(hand), std::string::npos) << "bundle.pem too";
  auto key = x509::parse_private_key(read_file(dir / "live/a/key.pem").value());
  ASSERT_TRUE(key.has_value());
  EXPECT_TRUE(x509::key_matches(*key, *x509::parse_certificate(fullchain)));
  // The version written over (its files mixed two credentials) is no rollback target...
  store::CredentialStore store = store::CredentialStore::reopen(
      std::make_shared<const store::StoreOptions>(engine->config().credentials[0].output));
  auto versions = store.versions().value();
  for (const auto& v : versions) EXPECT_EQ(v.id.find(old_version), std::string::npos) << v.id;
  EXPECT_EQ(engine->status().front().failures, 0);
  // ...but the credential it held is, restored whole from its bundle.pem.
  ASSERT_TRUE(engine->rollback("a").has_value());
  EXPECT_EQ(live_serial("a"), old_version);
  const std::string restored = read_file(dir / "live/a/fullchain.pem").value();
  EXPECT_TRUE(restored.starts_with(read_file(dir / "live/a/cert.pem").value()));
  auto restored_key = x509::parse_private_key(read_file(dir / "live/a/key.pem").value());
  ASSERT_TRUE(restored_key.has_value());
  EXPECT_TRUE(x509::key_matches(*restored_key, *x509::parse_certificate(restored)));
}

TEST_F(EngineTest, AKeyThatDoesNotFitIsGivenTimeThenTheOldSetIsRestored) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  const std::string cert = read_file(dir / "live/a/cert.pem").value();
  const std::string key = read_file(dir / "live/a/key.pem").value();
  auto stranger = x509::generate_key(x509::KeySpec{});
  ASSERT_TRUE(stranger.has_value());
  write_through(dir / "live/a/key.pem", stranger->to_pkcs8_pem().value());

  EXPECT_EQ(engine->on_disk_changed("a"), DiskCheck::unsettled) << "maybe cert.pem comes next";
  EXPECT_EQ(run_due(*engine), 0);
  EXPECT_EQ(engine->on_disk_changed("a", true), DiskCheck::settled);
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_EQ(sink.count(EventKind::adopt_refused, "a"), 1);
  EXPECT_EQ(sink.count(EventKind::adopted, "a"), 0);
  EXPECT_EQ(read_file(dir / "live/a/cert.pem").value(), cert);
  EXPECT_EQ(read_file(dir / "live/a/key.pem").value(), key) << "the previous key is back";
  const auto refused = std::find_if(sink.events.begin(), sink.events.end(), [](const Event& e) {
    return e.kind == EventKind::adopt_refused;
  });
  EXPECT_NE(refused->message.find("certrotd import a --cert"), std::string::npos)
      << refused->message;
  EXPECT_EQ(engine->status().front().state, schedule::State::valid);
}

TEST_F(EngineTest, AFailedCopyStaysAFailureUntilItIsWrittenFromTheLiveVersion) {
  auto config = load(yaml("1h", {"a"}));
  ASSERT_TRUE(write_file_atomic(dir / "blocker", "a file where a folder should be", 0644));
  const auto copy = dir / "blocker/a.crt";
  store::CopySpec spec;
  spec.path = copy;
  spec.content = store::Content::fullchain;
  config.credentials[0].output.copies.push_back(spec);
  auto engine = make_engine(config);
  engine->start();
  EXPECT_EQ(run_due(*engine), 1);
  const std::string serial = live_serial("a");
  EXPECT_FALSE(serial.empty()) << "the new version is live";
  EXPECT_EQ(sink.count(EventKind::renewed, "a"), 1);
  EXPECT_EQ(sink.count(EventKind::copy_failed, "a"), 1);
  EXPECT_EQ(sink.count(EventKind::renew_failed, "a"), 0) << "no 'old credential kept'";
  auto status = engine->status().front();
  EXPECT_EQ(status.failures, 1);
  EXPECT_EQ(status.reason, "io");
  EXPECT_NE(status.last_error.find("is live but a copy is missing"), std::string::npos)
      << status.last_error;
  EXPECT_EQ(status.state, schedule::State::backing_off);

  // The watch sees our own new version: that is no hand edit and clears nothing.
  EXPECT_EQ(engine->on_disk_changed("a"), DiskCheck::settled);
  EXPECT_EQ(sink.count(EventKind::adopted, "a"), 0);
  EXPECT_EQ(engine->status().front().failures, 1);

  // A restart still knows the copy is missing.
  engine = make_engine(config);
  engine->start();
  EXPECT_EQ(engine->status().front().failures, 1);
  advance_to_deadline(*engine);
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_EQ(engine->status().front().failures, 2) << "still not writable";
  EXPECT_EQ(sink.count(EventKind::copy_failed, "a"), 2);

  std::filesystem::remove(dir / "blocker");
  advance_to_deadline(*engine);
  EXPECT_EQ(run_due(*engine), 1);
  status = engine->status().front();
  EXPECT_EQ(status.failures, 0);
  EXPECT_EQ(status.state, schedule::State::valid);
  EXPECT_EQ(live_serial("a"), serial) << "the copy came from the live version, no new issuance";
  EXPECT_EQ(read_file(copy).value(), read_file(dir / "live/a/fullchain.pem").value());
  EXPECT_EQ(sink.count(EventKind::renewing, "a"), 1);
  EXPECT_EQ(sink.count(EventKind::copies_written, "a"), 1);
}

TEST_F(EngineTest, AnUncreatableFolderFailsItsCredentialOnlyAndIsRetried) {
  auto config = load(yaml("1h", {"a", "b"}));
  ASSERT_TRUE(write_file_atomic(dir / "blocker", "not a folder", 0644));
  config.credentials[1].output.dir = (dir / "blocker/b").string();
  auto engine = make_engine(config);
  engine->start();
  auto b = engine->status().back();
  ASSERT_EQ(b.name, "b");
  EXPECT_EQ(b.failures, 1) << "marked failed at once";
  EXPECT_EQ(b.reason, "io");
  EXPECT_EQ(sink.count(EventKind::renew_failed, "b"), 1);
  EXPECT_EQ(run_due(*engine), 1) << "a renews; b waits for its backoff";
  EXPECT_FALSE(live_serial("a").empty());

  advance_to_deadline(*engine);
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_EQ(engine->status().back().failures, 2);
  EXPECT_NE(engine->status().back().last_error.find("output folder unusable"), std::string::npos)
      << engine->status().back().last_error;

  std::filesystem::remove(dir / "blocker");
  advance_to_deadline(*engine);
  EXPECT_EQ(run_due(*engine), 1);
  b = engine->status().back();
  EXPECT_EQ(b.failures, 0) << b.last_error;
  EXPECT_TRUE(std::filesystem::exists(dir / "blocker/b/cert.pem"));
}

TEST_F(EngineTest, CheckWarnsAboutAnUncreatableFolder) {
  auto config = load(yaml("1h", {"a"}));
  ASSERT_TRUE(write_file_atomic(dir / "blocker", "not a folder", 0644));
  config.credentials[0].output.dir = (dir / "blocker/a").string();
  const auto status = Engine::inspect(config, clock);
  EXPECT_NE(status.front().warning.find("ot a directory"), std::string::npos)
      << status.front().warning;
}

// An issuer that answers every request with the same error.
class FailingIssuer final : public issuer::Issuer {
public:
  explicit FailingIssuer(Error error) : m_error(std::move(error)) {}
  std::string_view type() const override { return "failing"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest&) override {
    return fail(m_error);
  }

private:
  Error m_error;
};

Error an_error(ErrorKind kind, Reason reason, std::optional<Millis> retry_after = std::nullopt) {
  return Error{kind, "token request: HTTP error: 401: invalid_client", "https://idp.test",
               retry_after, reason};
}

Millis wait_of(const Engine& engine, const ManualClock& clock) {
  return std::chrono::duration_cast<Millis>(*engine.next_deadline() - clock.mono_now());
}

TEST_F(EngineTest, APermanentErrorIsRetriedOnlyAtTheCapAndNeedsAttention) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  run_with(*engine, std::make_shared<FailingIssuer>(
                        an_error(ErrorKind::permanent, Reason::tls_client_rejected)));
  // About 59 minutes left: cap' = min(1 min cap, 5.9 min) = 1 min, not a draw below it.
  EXPECT_EQ(wait_of(*engine, clock), 1min);
  const auto status = engine->status().front();
  EXPECT_EQ(status.state, schedule::State::needs_attention);
  EXPECT_EQ(status.reason, "tls-client-rejected");
  const Event& failed = sink.events.back().kind == EventKind::renew_failed
                            ? sink.events.back()
                            : sink.events[sink.events.size() - 2];
  ASSERT_EQ(failed.kind, EventKind::renew_failed);
  EXPECT_EQ(failed.severity, Severity::error);
  EXPECT_EQ(failed.reason, Reason::tls_client_rejected);
  EXPECT_NE(failed.message.find("old credential kept"), std::string::npos) << failed.message;

  // A success ends it.
  advance_to_deadline(*engine);
  EXPECT_EQ(run_due(*engine), 1);
  EXPECT_EQ(engine->status().front().state, schedule::State::valid);
}

TEST_F(EngineTest, WithoutACredentialAFailureDoesNotClaimAnOldOneIsKept) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_with(*engine, std::make_shared<FailingIssuer>(
                        an_error(ErrorKind::permanent, Reason::tls_client_rejected)));
  EXPECT_EQ(engine->status().front().state, schedule::State::needs_attention)
      << "not just 'missing'";
  const auto it = std::find_if(sink.events.begin(), sink.events.end(),
                               [](const Event& e) { return e.kind == EventKind::renew_failed; });
  ASSERT_NE(it, sink.events.end());
  EXPECT_EQ(it->message.find("old credential kept"), std::string::npos) << it->message;
  EXPECT_NE(it->message.find("no credential yet"), std::string::npos) << it->message;
  EXPECT_EQ(wait_of(*engine, clock), 1min) << "no certificate: the plain cap";
}

TEST_F(EngineTest, RetryAfterSetsTheEarliestRetry) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  run_with(*engine, std::make_shared<FailingIssuer>(
                        an_error(ErrorKind::retryable, Reason::rate_limited, 20min)));
  EXPECT_EQ(wait_of(*engine, clock), 20min) << "longer than any backoff draw (cap 1 min)";
  EXPECT_EQ(engine->status().front().state, schedule::State::backing_off);
}

TEST_F(EngineTest, RetryAfterNeverWaitsPastTheLastRetriesBeforeExpiry) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  const auto not_after = engine->status().front().cert->not_after;
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  run_with(*engine, std::make_shared<FailingIssuer>(
                        an_error(ErrorKind::retryable, Reason::rate_limited, 3h)));
  const auto remaining = std::chrono::duration_cast<Millis>(not_after - clock.wall_now());
  // Three waits of cap' (1 min) must still fit before notAfter. (The timer itself comes due
  // earlier, for the expiring threshold at 10% of the lifetime.)
  const auto retry = *engine->status().front().next_attempt - clock.wall_now();
  EXPECT_EQ(std::chrono::duration_cast<Millis>(retry), remaining - 3 * 1min);
}

TEST_F(EngineTest, ReloadAddsAndRemovesCredentialsAndKeepsStateOnError) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  ASSERT_TRUE(engine->reload(load(yaml("1h", {"a", "b"}))).has_value());
  EXPECT_EQ(engine->size(), 2u);
  EXPECT_EQ(run_due(*engine), 1) << "only the new credential is due";

  auto broken = load(yaml("1h", {"a"}));
  auto missing_key = std::make_shared<issuer::LocalIssuerOptions>(
      issuer::options_as<issuer::LocalIssuerOptions>(*broken.issuers.at("ca").options));
  missing_key->ca_key = dir / "missing.key";
  broken.issuers.at("ca").options = missing_key;
  EXPECT_FALSE(engine->reload(broken).has_value());
  EXPECT_EQ(engine->size(), 2u) << "a failed reload changes nothing";

  ASSERT_TRUE(engine->reload(load(yaml("1h", {"b"}))).has_value());
  EXPECT_EQ(engine->size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(dir / "live/a/cert.pem"))
      << "files of a removed credential stay";
}

TEST_F(EngineTest, AReloadLeavesTheFolderOfAKeptCredentialAlone) {
  auto engine = make_engine(load(yaml("1h", {"a"})));
  engine->start();
  run_due(*engine);
  // What a rotation in flight has written so far; recovering the folder would delete it.
  const auto writing = dir / "live/a/..tmp-inflight";
  std::filesystem::create_directory(writing);
  ASSERT_TRUE(engine->reload(load(yaml("1h", {"a", "b"}))).has_value());
  EXPECT_TRUE(std::filesystem::exists(writing));

  // A fresh engine (a restart) does recover it.
  auto restarted = make_engine(load(yaml("1h", {"a"})));
  EXPECT_FALSE(std::filesystem::exists(writing));
}

TEST_F(EngineTest, InspectReportsStateWithoutTouchingDisk) {
  const auto config = load(yaml("1h", {"a"}));
  auto before = Engine::inspect(config, clock);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].state, schedule::State::missing);
  EXPECT_FALSE(std::filesystem::exists(dir / "live/a"));

  auto engine = make_engine(config);
  engine->start();
  run_due(*engine);
  auto after = Engine::inspect(config, clock);
  EXPECT_EQ(after[0].state, schedule::State::valid);
  ASSERT_TRUE(after[0].cert.has_value());
  EXPECT_EQ(after[0].cert->serial, live_serial("a"));
  ASSERT_TRUE(after[0].next_attempt.has_value());
  EXPECT_GT(*after[0].next_attempt, clock.wall_now());
}

TEST_F(EngineTest, EventsNeverCarryKeyMaterial) {
  auto engine = make_engine(load(yaml("1h", {"a", "b"})));
  engine->start();
  run_due(*engine);
  ASSERT_TRUE(engine->request_rotation({}).has_value());
  run_due(*engine);
  const std::string key = read_file(dir / "live/a/key.pem").value();
  const std::string key_body = key.substr(key.find('\n') + 1, 40);
  ASSERT_FALSE(sink.events.empty());
  for (const auto& e : sink.events) {
    EXPECT_EQ(e.message.find("PRIVATE KEY"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(key_body), std::string::npos) << e.message;
  }
}

}  // namespace
}  // namespace certrotd::engine
