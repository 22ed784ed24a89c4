#include "store/state_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include <chrono>
#include <string>

#include "support/test_support.hpp"
#include "unit/store/store_test_support.hpp"

namespace certrotd::store {
namespace {

using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using certrotd::testing::write_text;
using namespace std::chrono_literals;

// 2024-05-01T12:00:00Z
constexpr SystemTime k_may_first{std::chrono::seconds(1714564800)};

CredentialState sample_state() {
  CredentialState s;
  s.last_attempt = k_may_first + 123456789ns;
  s.last_success = k_may_first;
  s.next_attempt = k_may_first + std::chrono::hours(24 * 30) + 500ms;
  s.installed_at = k_may_first - 1s;
  s.last_error = "issuer said \"no\"";
  s.failures = 3;
  Fingerprint fingerprint{};
  for (std::size_t i = 0; i < fingerprint.size(); ++i) {
    fingerprint[i] = static_cast<std::uint8_t>(i * 7 + 3);
  }
  s.live_cert = CertCache{0x0123456789abcdefULL, "0a1b2c",          fingerprint,
                          k_may_first - 1min,    k_may_first + 24h, true};
  return s;
}

TEST(StateFilesTest, ASavedStateReadsBackEqual) {
  TempDir root;
  const StateFiles files(root.path());
  const CredentialState saved = sample_state();
  ASSERT_TRUE(files.save("web", saved));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(*loaded, saved);
}

TEST(StateFilesTest, APendingRequestIsKeptPrivateReadBackAndRemoved) {
  TempDir root;
  const StateFiles files(root.path());
  auto none = files.load_pending("web");
  ASSERT_TRUE(none) << none.error().what();
  EXPECT_FALSE(*none);
  EXPECT_TRUE(files.remove_pending("web")) << "nothing kept is no error";
  ASSERT_TRUE(files.save_pending("web", "KEY\nCSR\n"));
  struct stat st {};
  ASSERT_EQ(::stat(files.pending_path_of("web").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(files.pending_path_of("web").parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  auto loaded = files.load_pending("web");
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->view(), "KEY\nCSR\n");
  ASSERT_TRUE(files.remove_pending("web"));
  EXPECT_FALSE(std::filesystem::exists(files.pending_path_of("web")));
  EXPECT_FALSE(files.save_pending("../web", "x")) << "names are checked as for the state";
}

TEST(StateFilesTest, ASymlinkInPlaceOfThePendingRequestIsNotFollowed) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save_pending("other", "SECRET\n"));
  std::filesystem::create_symlink(files.pending_path_of("other"), files.pending_path_of("web"));
  EXPECT_FALSE(files.load_pending("web")) << "an error, not the file the link names";
  ASSERT_TRUE(files.remove_pending("web"));
  EXPECT_EQ(read_text(files.pending_path_of("other")), "SECRET\n") << "the link is removed";
}

TEST(StateFilesTest, AttentionReasonAndMissingCopiesReadBack) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState saved = sample_state();
  saved.needs_attention = true;
  saved.last_reason = "tls-client-rejected";
  saved.copies_missing = true;
  ASSERT_TRUE(files.save("web", saved));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(*loaded, saved);
  // Unset, they are not written at all: files stay as earlier versions wrote them.
  ASSERT_TRUE(files.save("plain", sample_state()));
  EXPECT_EQ(read_text(files.path_of("plain")).find("copies_missing"), std::string::npos);
}

TEST(StateFilesTest, IssuerStatePendingAndWindowReadBack) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState saved = sample_state();
  // Opaque bytes, not text: NUL, high bytes, a quote.
  saved.issuer_state = std::string("https://acme.test/order/1\0\xff\"", 28);
  saved.issuer_pending = true;
  saved.renewal_window = RenewalWindow{k_may_first + 10h, k_may_first + 12h + 5ms};
  ASSERT_TRUE(files.save("web", saved));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(*loaded, saved);
  EXPECT_EQ(read_text(files.path_of("web")).find("acme.test"), std::string::npos)
      << "kept as hex, not readable in passing";
  // Unset, they are not written at all.
  ASSERT_TRUE(files.save("plain", sample_state()));
  const std::string plain = read_text(files.path_of("plain"));
  for (const char* key : {"issuer_state", "issuer_pending", "renewal_window"}) {
    EXPECT_EQ(plain.find(key), std::string::npos) << key;
  }
}

TEST(StateFilesTest, TheExpiryThresholdReportedReadsBackAndOlderFilesLackIt) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState saved = sample_state();
  saved.alerted_serial = "0a1b";
  saved.alerted = 2;
  ASSERT_TRUE(files.save("web", saved));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(*loaded, saved);
  EXPECT_NE(read_text(files.path_of("web")).find("\"threshold\": \"critical\""), std::string::npos);
  ASSERT_TRUE(files.save("plain", sample_state()));
  EXPECT_EQ(read_text(files.path_of("plain")).find("alerted"), std::string::npos);
  auto plain = files.load("plain");
  ASSERT_TRUE(plain) << plain.error().what();
  EXPECT_EQ(plain->alerted, 0);
  write_text(files.path_of("bad"),
             R"({"format": 1, "alerted": {"serial": "0a", "threshold": "soon"}})");
  EXPECT_FALSE(files.load("bad").has_value());
}

TEST(StateFilesTest, RenewalInformationAndARevocationReadBackAndOlderFilesLackThem) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState saved = sample_state();
  saved.renewal_window = RenewalWindow{k_may_first + 10h, k_may_first + 12h,
                                       "https://ca.example/why"};
  saved.renewal_info_next = k_may_first + 6h + 250ms;
  saved.renewal_info_failures = 2;
  saved.revoked_serial = "0a1b";
  ASSERT_TRUE(files.save("web", saved));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(*loaded, saved);
  ASSERT_TRUE(files.save("plain", sample_state()));
  const std::string plain = read_text(files.path_of("plain"));
  for (const char* key : {"renewal_info", "explanation_url", "revoked_serial"}) {
    EXPECT_EQ(plain.find(key), std::string::npos) << key;
  }
  // A window written before explanation URLs were kept.
  write_text(files.path_of("old"),
             R"({"format": 1, "renewal_window": {"start": "2024-05-01T12:00:00Z",
                 "end": "2024-05-02T12:00:00Z"}})");
  auto old = files.load("old");
  ASSERT_TRUE(old) << old.error().what();
  ASSERT_TRUE(old->renewal_window.has_value());
  EXPECT_EQ(old->renewal_window->explanation_url, "");
  EXPECT_FALSE(old->renewal_info_next.has_value());
  write_text(files.path_of("bad"), R"({"format": 1, "renewal_info": {"failures": -1}})");
  EXPECT_FALSE(files.load("bad").has_value());
}

TEST(StateFilesTest, AFileFromBeforeIssuerStateStillLoads) {
  TempDir root;
  const StateFiles files(root.path());
  std::filesystem::create_directories(root / "state");
  write_text(files.path_of("web"),
             R"({"format": 1, "last_attempt": null, "last_success": "2024-05-01T12:00:00Z",
                 "next_attempt": null, "installed_at": null, "installed_serial": "",
                 "last_error": "", "failures": 0})");
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_FALSE(loaded->issuer_state.has_value());
  EXPECT_FALSE(loaded->issuer_pending);
  EXPECT_FALSE(loaded->renewal_window.has_value());
}

TEST(StateFilesTest, IssuerStateOverTheBoundIsRefused) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState state;
  state.issuer_state = std::string(k_max_issuer_state, 'a');
  ASSERT_TRUE(files.save("web", state));
  state.issuer_state = std::string(k_max_issuer_state + 1, 'a');
  EXPECT_FALSE(files.save("web", state));
  EXPECT_EQ(files.load("web")->issuer_state->size(), k_max_issuer_state) << "the old file stays";
  // A file grown by hand past the bound is refused as corrupt.
  write_text(files.path_of("big"), R"({"format": 1, "issuer_state": ")" +
                                       std::string(2 * k_max_issuer_state + 2, 'a') + R"("})");
  EXPECT_FALSE(files.load("big"));
  write_text(files.path_of("odd"), R"({"format": 1, "issuer_state": "abc"})");
  EXPECT_FALSE(files.load("odd"));
}

TEST(StateFilesTest, RemoveLeftoversRemovesOnlyUnfinishedSaves) {
  TempDir root;
  StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", CredentialState{}));
  write_text(root / "state" / ".certrotd-tmp.web.json.AbC123", "{\"half\": ");
  write_text(root / "state" / "notes.txt", "someone else's");
  auto removed = files.remove_leftovers();
  ASSERT_TRUE(removed) << removed.error().what();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(std::filesystem::exists(root / "state" / ".certrotd-tmp.web.json.AbC123"));
  EXPECT_TRUE(std::filesystem::exists(root / "state" / "notes.txt"));
  EXPECT_TRUE(files.load("web"));
}

TEST(StateFilesTest, RemoveLeftoversWithoutAStateFolderIsNothingToDo) {
  TempDir root;
  auto removed = StateFiles(root / "never-made").remove_leftovers();
  ASSERT_TRUE(removed) << removed.error().what();
  EXPECT_EQ(*removed, 0);
}

TEST(StateFilesTest, ACertCacheWithoutItsDatesIsAnError) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", sample_state()));
  write_text(
      files.path_of("web"),
      R"({"format": 1, "live_cert": {"files_id": "1", "serial": "ab", "fingerprint": "x"}})");
  EXPECT_FALSE(files.load("web").has_value());
}

TEST(StateFilesTest, AFilesIdOfAnEarlierVersionReadsAsUnknownNotAsAnError) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", CredentialState{}));  // creates the state folder
  const std::string fingerprint = format_fingerprint(Fingerprint{});
  write_text(files.path_of("web"),
             R"({"format": 1, "failures": 2, "live_cert": {"files_id": "12:34:56/78:90:12",
                 "serial": "ab", "fingerprint": ")" +
                 fingerprint + R"(",
                 "not_before": "2024-05-01T00:00:00Z", "not_after": "2024-05-02T00:00:00Z"}})");
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->failures, 2);
  ASSERT_TRUE(loaded->live_cert);
  EXPECT_EQ(loaded->live_cert->files_id, 0u);
  EXPECT_EQ(loaded->live_cert->serial, "ab");
}

TEST(StateFilesTest, FingerprintsReadAndWriteInTheirColonSeparatedForm) {
  const std::string text =
      "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
      "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0";
  const auto parsed = parse_fingerprint(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)[10], 0xaa);
  EXPECT_EQ(format_fingerprint(*parsed), text);
  EXPECT_FALSE(parse_fingerprint("ab:cd"));
  EXPECT_FALSE(parse_fingerprint(text.substr(0, text.size() - 1) + "g"));
  std::string no_colons = text;
  no_colons[2] = '-';
  EXPECT_FALSE(parse_fingerprint(no_colons));
}

TEST(StateFilesTest, TheLiveCertificateIsOursExactlyWhenInstalledSerialNamesIt) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState state = sample_state();
  ASSERT_TRUE(files.save("web", state));
  EXPECT_NE(read_text(files.path_of("web")).find(R"("installed_serial": "0a1b2c")"),
            std::string::npos);

  state.live_cert->installed = false;  // adopted: placed by hand
  ASSERT_TRUE(files.save("web", state));
  EXPECT_NE(read_text(files.path_of("web")).find(R"("installed_serial": "")"), std::string::npos);
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->live_cert->installed);

  // A file naming another serial than the live one (replaced while certrotd was down).
  std::string text = read_text(files.path_of("web"));
  text.replace(text.find(R"("installed_serial": "")"), 22, R"("installed_serial": "ff")");
  write_text(files.path_of("web"), text);
  loaded = files.load("web");
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->live_cert->installed);
}

TEST(StateFilesTest, UnsetTimesReadBackUnset) {
  TempDir root;
  const StateFiles files(root.path());
  CredentialState saved;
  saved.failures = 1;
  saved.last_error = "timeout";
  ASSERT_TRUE(files.save("web", saved));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, saved);
  EXPECT_FALSE(loaded->last_success.has_value());
}

TEST(StateFilesTest, SavingAgainReplacesTheState) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", sample_state()));
  CredentialState newer;
  newer.failures = 7;
  ASSERT_TRUE(files.save("web", newer));
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, newer);
}

TEST(StateFilesTest, TimesAreStoredAsRfc3339UtcStrings) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", sample_state()));
  const std::string text = read_text(files.path_of("web"));
  EXPECT_NE(text.find("\"last_success\": \"2024-05-01T12:00:00Z\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"last_attempt\": \"2024-05-01T12:00:00.123456789Z\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("\"installed_at\": \"2024-05-01T11:59:59Z\""), std::string::npos) << text;
}

TEST(StateFilesTest, TimesWithAnOffsetAreReadAsTheSameInstant) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(fs::create_directories(root.path() / "state"));
  write_text(files.path_of("web"), R"({"last_success": "2024-05-01T14:30:00.5+02:30"})");
  auto loaded = files.load("web");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->last_success, k_may_first + 500ms);
}

TEST(StateFilesTest, AMissingFileGivesTheDefaultState) {
  TempDir root;
  const StateFiles files(root.path());
  auto loaded = files.load("never-saved");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, CredentialState{});
}

TEST(StateFilesTest, ACorruptFileIsAnErrorNamingThePath) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", sample_state()));
  write_text(files.path_of("web"), "{\"failures\": 3,");
  auto loaded = files.load("web");
  ASSERT_FALSE(loaded);
  EXPECT_FALSE(loaded.error().retryable());
  EXPECT_EQ(loaded.error().context, files.path_of("web").string());
}

TEST(StateFilesTest, FieldsOfTheWrongTypeAreAnError) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(fs::create_directories(root.path() / "state"));
  for (const char* text :
       {R"({"failures": "three"})", R"({"failures": -1})", R"({"last_success": 1714564800})",
        R"({"last_success": "yesterday"})", R"({"last_success": "2024-02-30T00:00:00Z"})",
        R"({"installed_serial": 12})", R"([1, 2])"}) {
    write_text(files.path_of("web"), text);
    EXPECT_FALSE(files.load("web")) << text;
  }
}

TEST(StateFilesTest, UnsafeCredentialNamesAreRefused) {
  TempDir root;
  const StateFiles files(root.path());
  for (const char* name : {"", ".hidden", "..", "../escape", "a/b", "a b", "naïve", "x\n"}) {
    auto saved = files.save(name, sample_state());
    EXPECT_FALSE(saved) << '"' << name << '"';
    if (!saved) {
      EXPECT_FALSE(saved.error().retryable());
    }
    EXPECT_FALSE(files.load(name)) << '"' << name << '"';
  }
  EXPECT_FALSE(files.save(std::string(201, 'a'), sample_state()));
  EXPECT_FALSE(fs::exists(root.path() / "escape.json"));
  EXPECT_TRUE(files.save("web-1.example_com", sample_state()));
}

TEST(StateFilesTest, StateFilesAre0600InsideA0700Directory) {
  TempDir root;
  const StateFiles files(root.path());
  ASSERT_TRUE(files.save("web", sample_state()));
  EXPECT_EQ(files.path_of("web"), root.path() / "state" / "web.json");
  EXPECT_EQ(test::mode_of(files.path_of("web")), 0600u);
  EXPECT_EQ(test::mode_of(root.path() / "state"), 0700u);
}

}  // namespace
}  // namespace certrotd::store
