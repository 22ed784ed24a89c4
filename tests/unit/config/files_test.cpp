// load_config: the main file, conf.d/*.yaml beside it, and the configs shipped in config/.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "config/config.hpp"
#include "issuer/local/local.hpp"
#include "support/test_support.hpp"

namespace certrotd::config::test {
namespace {

using certrotd::testing::read_text;
using certrotd::testing::TempDir;
using certrotd::testing::write_text;
using namespace std::chrono_literals;

constexpr const char* k_main = R"(state_dir: state
defaults:
  renew_at: 50%
issuers:
  ca: { type: local, ca_cert: ca/ca.pem, ca_key: ca/ca.key }
credentials:
  web: { issuer: ca, sans: ["DNS:web"] }
)";

class ConfigFiles : public ::testing::Test {
protected:
  ConfigFiles() { fs::create_directories(m_dir.path() / "conf.d"); }

  fs::path main_file() const { return m_dir / "config.yaml"; }
  fs::path drop_in(const std::string& name) const { return m_dir.path() / "conf.d" / name; }
  // The name messages use for a file in the temporary directory.
  std::string shown(const std::string& relative) const {
    return (m_dir.path() / relative).string();
  }

  TempDir m_dir;
};

TEST_F(ConfigFiles, LoadsTheMainFileAndResolvesPathsAgainstItsDirectory) {
  write_text(main_file(), k_main);
  const auto config = load_config(main_file());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->source, main_file());
  EXPECT_EQ(config->state_dir, m_dir.path() / "state");
  const auto& local = issuer::options_as<issuer::LocalIssuerOptions>(
      *config->issuers.at("ca").options);
  EXPECT_EQ(local.ca_cert, m_dir.path() / "ca/ca.pem");
  EXPECT_EQ(config->credentials[0].output.dir, m_dir.path() / "state/live/web");
  EXPECT_EQ(config->credentials[0].mark.to_string(), shown("config.yaml") + ":7:3");
}

TEST_F(ConfigFiles, DropInsAddIssuersAndCredentialsInNameOrder) {
  write_text(main_file(), k_main);
  write_text(drop_in("20-db.yaml"), "credentials:\n  db: { issuer: other, sans: [\"DNS:db\"] }\n");
  write_text(drop_in("10-other.yaml"),
             "issuers:\n  other: { type: local, ca_cert: o.pem, ca_key: o.key }\n"
             "credentials:\n  api: { issuer: ca, sans: [\"DNS:api\"], renew_at: 40% }\n");
  const auto config = load_config(main_file());
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->credentials.size(), 3U);
  EXPECT_EQ(config->credentials[0].name, "web");
  EXPECT_EQ(config->credentials[1].name, "api");
  EXPECT_EQ(config->credentials[2].name, "db");
  EXPECT_EQ(config->credentials[2].issuer, "other");
  EXPECT_EQ(config->issuers.size(), 2U);
  EXPECT_EQ(config->credentials[2].mark.to_string(), shown("conf.d/20-db.yaml") + ":2:3");
}

TEST_F(ConfigFiles, DropInCredentialsInheritTheMainDefaultsAndStateDir) {
  write_text(main_file(), k_main);
  write_text(drop_in("db.yaml"), "credentials:\n  db: { issuer: ca, sans: [\"DNS:db\"] }\n");
  const auto config = load_config(main_file());
  ASSERT_TRUE(config) << config.error().message;
  const CredentialConfig* db = config->find_credential("db");
  ASSERT_NE(db, nullptr);
  EXPECT_DOUBLE_EQ(db->policy.renew_at, 0.5);
  EXPECT_EQ(db->output.dir, m_dir.path() / "state/live/db");
}

TEST_F(ConfigFiles, DropInPathsResolveAgainstTheConfDFolder) {
  write_text(main_file(), k_main);
  write_text(drop_in("other.yaml"),
             "issuers:\n  other: { type: local, ca_cert: o.pem, ca_key: ../o.key }\n");
  const auto config = load_config(main_file());
  ASSERT_TRUE(config) << config.error().message;
  const auto& local = issuer::options_as<issuer::LocalIssuerOptions>(
      *config->issuers.at("other").options);
  EXPECT_EQ(local.ca_cert, m_dir.path() / "conf.d/o.pem");
  EXPECT_EQ(local.ca_key, m_dir.path() / "o.key");
}

TEST_F(ConfigFiles, OnlyVisibleYamlFilesInConfDAreRead) {
  write_text(main_file(), k_main);
  write_text(drop_in("notes.txt"), "not: yaml: at all: [");
  write_text(drop_in("old.yaml.bak"), "credentials: { x: 1 }\n");
  write_text(drop_in(".web.yaml"), "credentials: { x: 1 }\n");
  fs::create_directories(drop_in("dir.yaml"));
  const auto config = load_config(main_file());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials.size(), 1U);
}

TEST_F(ConfigFiles, ACredentialDefinedInTwoFilesNamesBothPlaces) {
  write_text(main_file(), k_main);
  write_text(drop_in("web.yaml"), "credentials:\n  web: { issuer: ca, sans: [\"DNS:web2\"] }\n");
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, shown("conf.d/web.yaml") +
                                        ":2:3: credential 'web' is already defined at " +
                                        shown("config.yaml") + ":7:3; rename one of them");
}

TEST_F(ConfigFiles, AnIssuerDefinedInTwoFilesNamesBothPlaces) {
  write_text(main_file(), k_main);
  write_text(drop_in("ca.yaml"), "issuers:\n  ca: { type: local, ca_cert: a, ca_key: b }\n");
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, shown("conf.d/ca.yaml") +
                                        ":2:3: issuer 'ca' is already defined at " +
                                        shown("config.yaml") + ":5:3; rename one of them");
}

TEST_F(ConfigFiles, DropInsMayNotSetMainFileSettings) {
  write_text(main_file(), k_main);
  write_text(drop_in("x.yaml"), "state_dir: /tmp\ndefaults: { jitter: 1% }\n");
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  const std::string main = main_file().string();
  EXPECT_EQ(config.error().message,
            shown("conf.d/x.yaml") + ":1:1: state_dir can only be set in the main file " + main +
                "; move it there; files in conf.d/ may only add issuers: and credentials:\n" +
                shown("conf.d/x.yaml") + ":2:1: defaults can only be set in the main file " + main +
                "; move it there; files in conf.d/ may only add issuers: and credentials:");
}

TEST_F(ConfigFiles, ProblemsFromAllFilesAreReportedInReadingOrder) {
  write_text(main_file(), std::string(k_main) + "  api: { issuer: nope, sans: [\"DNS:api\"] }\n");
  write_text(drop_in("a.yaml"), "credentials:\n  db: { issuer: ca, sans: [\"db\"] }\n");
  write_text(drop_in("b.yaml"), "credentials: [\n");
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            shown("config.yaml") +
                ":8:18: credential 'api' names issuer 'nope', which is not defined; define it "
                "under issuers: or name one of: ca\n" +
                shown("conf.d/a.yaml") +
                ":2:28: SAN 'db' does not start with a type; write \"DNS:db\" (types: DNS:, IP:, "
                "URI:, email:)\n" +
                shown("conf.d/b.yaml") +
                ":2:1: invalid YAML: end of sequence flow not found; check the indentation and "
                "quoting here and on the line before");
}

TEST_F(ConfigFiles, OutputDirsMustBeDistinctAcrossFiles) {
  write_text(main_file(), k_main);
  write_text(
      drop_in("x.yaml"),
      "credentials:\n  x: { issuer: ca, sans: [\"DNS:x\"], output: { dir: ../state/live/web } }\n");
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            shown("conf.d/x.yaml") + ":2:52: output dir " +
                (m_dir.path() / "state/live/web").string() +
                " of credential 'x' is also the output dir of credential 'web' (" +
                shown("config.yaml") + ":7:3); give each credential its own output dir");
}

TEST_F(ConfigFiles, ACopyInsideAnotherFilesOutputDirNamesBothFiles) {
  write_text(main_file(), k_main);
  write_text(drop_in("x.yaml"),
             "credentials:\n  x:\n    issuer: ca\n    sans: [\"DNS:x\"]\n    output:\n"
             "      copies: [{ path: ../state/live/web/x.pem, content: cert }]\n");
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  const std::string& message = config.error().message;
  EXPECT_EQ(message.substr(0, message.find(';')),
            shown("conf.d/x.yaml") + ":6:24: copy " +
                (m_dir.path() / "state/live/web/x.pem").string() +
                " of credential 'x' is inside the output dir " +
                (m_dir.path() / "state/live/web").string() + " of credential 'web' (" +
                shown("config.yaml") + ":7:3)");
}

TEST_F(ConfigFiles, AMissingMainFileIsReported) {
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            main_file().string() +
                ": cannot read the configuration: No such file or directory; check that it is a "
                "regular file that exists and that certrotd may read it");
}

// load_config on a path that may be a FIFO: if it blocks in open(2), this becomes the writer it
// waits for after a while, so that a regression fails the test instead of hanging it.
Result<Config> load_without_hanging(const fs::path& file, const fs::path& fifo) {
  auto loading = std::async(std::launch::async, [&] { return load_config(file); });
  if (loading.wait_for(std::chrono::seconds(20)) == std::future_status::timeout) {
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (writer >= 0) ::close(writer);
  }
  return loading.get();
}

TEST_F(ConfigFiles, AMainFileThatIsAFifoIsRefusedWithoutWaiting) {
  ASSERT_EQ(::mkfifo(main_file().c_str(), 0600), 0);
  const auto config = load_without_hanging(main_file(), main_file());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            main_file().string() +
                ": cannot read the configuration: it is a named pipe (FIFO), not a regular file; "
                "check that it is a regular file that exists and that certrotd may read it");
}

TEST_F(ConfigFiles, AMainFileThatIsAFolderIsRefused) {
  fs::create_directories(main_file());
  const auto config = load_config(main_file());
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find(": cannot read the configuration: it is a folder, not a "
                                        "regular file;"),
            std::string::npos)
      << config.error().message;
}

TEST_F(ConfigFiles, ADropInThatIsAFifoIsRefusedWithoutWaiting) {
  write_text(main_file(), k_main);
  ASSERT_EQ(::mkfifo(drop_in("web.yaml").c_str(), 0600), 0);
  const auto config = load_without_hanging(main_file(), drop_in("web.yaml"));
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            shown("conf.d/web.yaml") +
                ": cannot read the configuration: it is a named pipe (FIFO), not a regular file; "
                "check that it is a regular file that exists and that certrotd may read it");
}

TEST_F(ConfigFiles, AMissingConfDFolderIsFine) {
  fs::remove(m_dir.path() / "conf.d");
  write_text(main_file(), k_main);
  const auto config = load_config(main_file());
  ASSERT_TRUE(config) << config.error().message;
}

TEST(ShippedConfigs, TheExampleConfigLoadsAndCoversEveryOption) {
  const auto config = load_config(fs::path(CERTROTD_SOURCE_DIR) / "config/certrotd.example.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->state_dir, "/var/lib/certrotd");
  ASSERT_EQ(config->credentials.size(), 2U);
  const CredentialConfig& web = config->credentials[0];
  EXPECT_EQ(web.output.dir, "/var/lib/certrotd/live/web");
  EXPECT_EQ(web.output.secret_mode, 0640U);
  EXPECT_TRUE(web.output.owner.gid.has_value());
  EXPECT_EQ(web.output.copies.size(), 2U);
  EXPECT_EQ(web.key, (x509::KeySpec{x509::KeyType::ec, "P-384", 2048}));
  EXPECT_EQ(web.lifetime, std::optional<Millis>(12h));
  EXPECT_TRUE(web.key_passphrase_file.has_value());
  const auto& local = issuer::options_as<issuer::LocalIssuerOptions>(
      *config->issuers.at("dev-ca").options);
  EXPECT_TRUE(local.ca_key_passphrase_file && local.chain && local.roots);
  EXPECT_EQ(config->credentials[1].output.dir, "/var/lib/certrotd/live/api");
}

TEST(ShippedConfigs, TheDemoConfigTemplateLoadsOnceItsFolderIsFilledIn) {
  TempDir dir;
  std::string text = read_text(fs::path(CERTROTD_SOURCE_DIR) / "config/demo.yaml.in");
  for (auto pos = text.find("@DEMO_DIR@"); pos != std::string::npos;
       pos = text.find("@DEMO_DIR@", pos)) {
    text.replace(pos, 10, dir.path().string());
  }
  const auto config = parse_config(text, "demo.yaml", dir.path());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials.size(), 2U);
}

}  // namespace
}  // namespace certrotd::config::test
