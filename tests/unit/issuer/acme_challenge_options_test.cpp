// The options readers of the dns-01 and exec challenge solvers: what they accept, and every
// mistake reported at its position with what to write instead.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "issuer/acme/dns01_solver.hpp"
#include "issuer/acme/exec_solver.hpp"
#include "support/test_support.hpp"
#include "yaml/reader.hpp"
#include "yaml/tree.hpp"

namespace certrotd::issuer::acme {
namespace {

using certrotd::testing::TempDir;
using certrotd::testing::write_text;

// A key file as tsig-keygen writes it; the secret is arbitrary test input.
constexpr const char* k_key_file =
    "key \"certrotd\" {\n\talgorithm hmac-sha256;\n"
    "\tsecret \"q8fw6VjaM3Te9OBjYmkXC1JeA7rDMC0s0a7MiRmUGK4=\";\n};\n";

// Reads the one `name: {...}` of `text` with `read`, relative paths against `base`.
template <class Read>
auto read_one(const std::string& text, const std::filesystem::path& base, yaml::Problems& problems,
              Read read) {
  problems.add_source("test.yaml");
  const auto documents = yaml::parse_yaml_documents(text);
  const yaml::YamlNode& root = documents.at(0);
  const yaml::Reader reader("test.yaml", base, problems);
  const yaml::YamlNode& key = root.key_at(0);
  const yaml::Mark key_mark{"test.yaml", key.line(), key.column()};
  const yaml::Field entry{key.scalar(), key_mark, &root.value_at(0),
                          reader.mark(root.value_at(0), key_mark)};
  return read(entry, reader);
}

class Dns01Options_ : public ::testing::Test {
protected:
  void SetUp() override { write_text(dir / "tsig.key", k_key_file); }
  std::optional<Dns01Options> read(const std::string& text) {
    return read_one(text, dir.path(), problems, read_dns01_options);
  }
  TempDir dir;
  yaml::Problems problems;
};

TEST_F(Dns01Options_, ReadsTheServerTheZoneAndTheKey) {
  auto o = read(
      "dns-01: { nameserver: \"127.0.0.1:5353\", zone: Example.COM, tsig_key_file: tsig.key, "
      "propagation_timeout: 30s }\n");
  ASSERT_TRUE(o) << problems.render();
  EXPECT_EQ(o->nameserver.shown, "127.0.0.1:5353");
  EXPECT_EQ(o->zone, "example.com.");
  EXPECT_EQ(o->tsig_key_file, dir / "tsig.key");
  ASSERT_TRUE(o->key);
  EXPECT_EQ(o->key->name, "certrotd.");
  EXPECT_EQ(o->propagation_timeout, std::chrono::seconds(30));
}

TEST_F(Dns01Options_, NamesEveryMissingKey) {
  EXPECT_FALSE(read("dns-01: { zone: example.com }\n"));
  const std::string text = problems.render();
  EXPECT_NE(text.find("test.yaml:1:9: challenge 'dns-01' has no nameserver"), std::string::npos)
      << text;
  EXPECT_NE(text.find("has no tsig_key_file"), std::string::npos) << text;
}

TEST_F(Dns01Options_, RefusesAHostNameForTheServerAndABadZone) {
  EXPECT_FALSE(
      read("dns-01: { nameserver: ns1.example.com, zone: \"exa mple.com\", "
           "tsig_key_file: tsig.key }\n"));
  const std::string text = problems.render();
  EXPECT_NE(text.find("nameserver 'ns1.example.com': 'ns1.example.com' is not an IPv4 or IPv6"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("zone 'exa mple.com' is not a DNS zone name"), std::string::npos) << text;
}

TEST_F(Dns01Options_, RefusesAMissingOrMalformedKeyFileWithoutItsSecret) {
  EXPECT_FALSE(
      read("dns-01: { nameserver: 127.0.0.1, zone: example.com, "
           "tsig_key_file: missing.key }\n"));
  EXPECT_NE(problems.render().find("cannot read the TSIG key file"), std::string::npos)
      << problems.render();
  EXPECT_NE(problems.render().find("tsig-keygen"), std::string::npos);

  yaml::Problems more;
  write_text(dir / "bad.key", "key \"certrotd\" { algorithm hmac-md5; secret \"c2VjcmV0\"; };\n");
  EXPECT_FALSE(
      read_one("dns-01: { nameserver: 127.0.0.1, zone: example.com, "
               "tsig_key_file: bad.key }\n",
               dir.path(), more, read_dns01_options));
  EXPECT_NE(more.render().find("hmac-md5' is not supported"), std::string::npos) << more.render();
  EXPECT_EQ(more.render().find("c2VjcmV0"), std::string::npos);
}

TEST_F(Dns01Options_, RefusesAKeyFileOthersCanWrite) {
  ::chmod((dir / "tsig.key").c_str(), 0666);
  EXPECT_FALSE(
      read("dns-01: { nameserver: 127.0.0.1, zone: example.com, "
           "tsig_key_file: tsig.key }\n"));
  EXPECT_NE(problems.render().find("TSIG key file " + (dir / "tsig.key").string()),
            std::string::npos)
      << problems.render();
  EXPECT_NE(problems.render().find("writable only by root"), std::string::npos);
}

TEST_F(Dns01Options_, TheFactoryBuildsASolverForNamesInItsZoneOnly) {
  auto factory = read_one(
      "dns-01: { nameserver: 127.0.0.1, zone: example.com, "
      "tsig_key_file: tsig.key }\n",
      dir.path(), problems, read_dns01_solver);
  ASSERT_TRUE(factory) << problems.render();
  const ManualClock clock;
  SeededRandom random(1);
  auto solver = factory(SolverContext{&clock, &random, {}, "test", -1});
  ASSERT_TRUE(solver);
  EXPECT_EQ((*solver)->type(), "dns-01");
  ChallengeTask task{"web", "www.example.com", false, false, "tok", "tok.thumb", "txt"};
  EXPECT_TRUE((*solver)->can_solve(task));
  task.wildcard = true;
  EXPECT_TRUE((*solver)->can_solve(task));
  task.identifier = "www.badexample.com";
  EXPECT_FALSE((*solver)->can_solve(task));
  EXPECT_EQ((*solver)->why_not(task),
            "'www.badexample.com' is not in zone 'example.com.' of the dns-01 solver; set `zone:` "
            "to a zone that holds it");
  // Refused before anything is sent: the server (nothing listens on 127.0.0.1:53 here or
  // not) is never asked.
  auto presented = (*solver)->present(task);
  ASSERT_FALSE(presented);
  EXPECT_EQ(presented.error().reason, Reason::config);
  EXPECT_NE(presented.error().message.find("not in zone 'example.com.'"), std::string::npos);
  task = ChallengeTask{"web", "192.0.2.1", false, true, "tok", "tok.thumb", "txt"};
  EXPECT_FALSE((*solver)->can_solve(task));
}

TEST(Dns01RecordName, IsTheIdentifierUnderAcmeChallenge) {
  ChallengeTask task{"web", "WWW.Example.com", true, false, "", "", ""};
  EXPECT_EQ(*Dns01Solver::record_name(task), "_acme-challenge.www.example.com.");
}

TEST(ExecSolverOptions_, ReadsTheCommandTimeoutAndType) {
  yaml::Problems problems;
  auto o = read_one("exec: { command: [/bin/true, --flag], timeout: 90s, type: http-01 }\n",
                    "/etc/certrotd", problems, read_exec_solver_options);
  ASSERT_TRUE(o) << problems.render();
  EXPECT_EQ(o->command, (std::vector<std::string>{"/bin/true", "--flag"}));
  EXPECT_EQ(o->timeout, std::chrono::seconds(90));
  EXPECT_EQ(o->type, "http-01");

  yaml::Problems defaults;
  auto d = read_one("exec: { command: [hook] }\n", "/etc/certrotd", defaults,
                    read_exec_solver_options);
  ASSERT_TRUE(d) << defaults.render();
  EXPECT_EQ(d->type, "dns-01");
  EXPECT_EQ(d->timeout, std::chrono::seconds(60));
}

TEST(ExecSolverOptions_, RefusesAShellLineAMissingCommandAndAnUnknownType) {
  yaml::Problems problems;
  EXPECT_FALSE(read_one("exec: { command: \"/bin/hook present\" }\n", "/", problems,
                        read_exec_solver_options));
  EXPECT_NE(problems.render().find("command must be a list of arguments"), std::string::npos);
  yaml::Problems missing;
  EXPECT_FALSE(read_one("exec: { timeout: 10s }\n", "/", missing, read_exec_solver_options));
  EXPECT_NE(missing.render().find("challenge 'exec' has no command"), std::string::npos);
  yaml::Problems type;
  EXPECT_FALSE(read_one("exec: { command: [/bin/true], type: tls-alpn-01 }\n", "/", type,
                        read_exec_solver_options));
  EXPECT_NE(type.render().find("test.yaml:1:37: challenge type 'tls-alpn-01' cannot be answered"),
            std::string::npos)
      << type.render();
}

}  // namespace
}  // namespace certrotd::issuer::acme
