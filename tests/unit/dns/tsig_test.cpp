// TSIG and BIND key files, against what BIND's tools make at test time: keys from tsig-keygen,
// and queries and updates signed by dig and nsupdate, which certrotd must verify and, signing the
// same bytes at the same time, reproduce exactly.
#include <gtest/gtest.h>

#include <chrono>

#include "bind_tools.hpp"
#include "dns/tsig.hpp"
#include "support/test_support.hpp"

namespace certrotd::dns {
namespace {

using certrotd::testing::TempDir;
using testing::bind_tool;
using testing::Started;
using testing::UdpCatcher;

class TsigWithBind : public ::testing::Test {
protected:
  void SetUp() override {
    keygen = bind_tool("tsig-keygen");
    dig = bind_tool("dig");
    nsupdate = bind_tool("nsupdate");
    if (!keygen || !dig || !nsupdate) {
      GTEST_SKIP() << "BIND's tools are not installed (scripts/setup installs bind9, "
                      "bind9-dnsutils)";
    }
  }

  // A key file written by tsig-keygen.
  std::filesystem::path make_key(const std::string& algorithm, const std::string& name) {
    const auto file = dir / (name + ".key");
    const auto made = certrotd::testing::run_command(
        {"/bin/sh", "-c", *keygen + " -a " + algorithm + " " + name + " > " + file.string()});
    EXPECT_EQ(made.exit_code, 0) << made.output;
    return file;
  }

  TempDir dir;
  std::optional<std::string> keygen, dig, nsupdate;
};

SystemTime now() { return std::chrono::system_clock::now(); }

// The message without its last record (the TSIG) and with ARCOUNT one less, as it was before it
// was signed; and its Time Signed.
std::pair<std::string, std::uint64_t> unsigned_part(const std::string& wire, const Message& m) {
  const Record& tsig = m.additional.back();
  std::string before = wire.substr(0, tsig.offset);
  const std::uint16_t arcount = read_u16(before, 10) - 1;
  before[10] = static_cast<char>(arcount >> 8);
  before[11] = static_cast<char>(arcount & 0xff);
  std::size_t at = 0;
  EXPECT_TRUE(read_name(tsig.rdata, at));
  const std::uint64_t time = (static_cast<std::uint64_t>(read_u16(tsig.rdata, at)) << 32) |
                             read_u32(tsig.rdata, at + 2);
  return {before, time};
}

TEST_F(TsigWithBind, ReadsTheKeysTsigKeygenWrites) {
  auto k256 = read_key_file(make_key("hmac-sha256", "certrotd-test"));
  ASSERT_TRUE(k256) << k256.error().what();
  EXPECT_EQ(k256->name, "certrotd-test.");
  EXPECT_EQ(k256->algorithm, TsigAlgorithm::hmac_sha256);
  EXPECT_EQ(k256->secret.size(), 32U);
  auto k512 = read_key_file(make_key("hmac-sha512", "other.key.name"));
  ASSERT_TRUE(k512) << k512.error().what();
  EXPECT_EQ(k512->name, "other.key.name.");
  EXPECT_EQ(k512->algorithm, TsigAlgorithm::hmac_sha512);
  EXPECT_EQ(k512->secret.size(), 64U);
}

// dig's signed query, caught; verified; and our signature over the same bytes at the same time
// is byte for byte the one dig made.
void check_dig_query(TsigWithBind& t, const std::string& algorithm, const std::string& dig,
                     const std::filesystem::path& key_file) {
  auto key = read_key_file(key_file);
  ASSERT_TRUE(key) << key.error().what();
  UdpCatcher catcher;
  Started running({dig, "-k", key_file.string(), "-p", std::to_string(catcher.port()), "@127.0.0.1",
                   "+tries=1", "+timeout=30", "www.example.com", "TXT"});
  ASSERT_TRUE(running.ok());
  auto wire = catcher.catch_one();
  ASSERT_TRUE(wire) << "dig sent nothing";
  auto m = parse_message(*wire);
  ASSERT_TRUE(m) << m.error().what();
  ASSERT_EQ(m->questions.size(), 1U);
  EXPECT_EQ(m->questions[0].name, "www.example.com.");
  EXPECT_EQ(m->questions[0].type, k_type_txt);

  auto verified = verify(*wire, *m, *key, std::nullopt, now());
  EXPECT_TRUE(verified) << algorithm << ": " << verified.error().what();

  auto [before, time] = unsigned_part(*wire, *m);
  sign_at(before, *key, time);
  EXPECT_EQ(before, *wire) << algorithm << ": our signature differs from dig's";
  (void)t;
}

TEST_F(TsigWithBind, VerifiesAndReproducesDigsHmacSha256Signature) {
  check_dig_query(*this, "hmac-sha256", *dig, make_key("hmac-sha256", "certrotd-test"));
}

TEST_F(TsigWithBind, VerifiesAndReproducesDigsHmacSha512Signature) {
  check_dig_query(*this, "hmac-sha512", *dig, make_key("hmac-sha512", "certrotd-test"));
}

TEST_F(TsigWithBind, RefusesATamperedMessageAndAnotherKey) {
  const auto key_file = make_key("hmac-sha256", "certrotd-test");
  auto key = read_key_file(key_file);
  auto other = read_key_file(make_key("hmac-sha256", "certrotd-test-2"));
  ASSERT_TRUE(key && other);
  UdpCatcher catcher;
  Started running({*dig, "-k", key_file.string(), "-p", std::to_string(catcher.port()),
                   "@127.0.0.1", "+tries=1", "+timeout=30", "www.example.com", "TXT"});
  auto wire = catcher.catch_one();
  ASSERT_TRUE(wire);
  auto m = parse_message(*wire);
  ASSERT_TRUE(m);

  std::string tampered = *wire;
  tampered[13] ^= 0x20;  // a letter of the question's name, in another case
  auto tm = parse_message(tampered);
  ASSERT_TRUE(tm);
  auto bad = verify(tampered, *tm, *key, std::nullopt, now());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("signature"), std::string::npos) << bad.error().message;

  auto wrong_key = verify(*wire, *m, *other, std::nullopt, now());
  ASSERT_FALSE(wrong_key);
  EXPECT_NE(wrong_key.error().message.find("another key"), std::string::npos);

  auto late = verify(*wire, *m, *key, std::nullopt, now() + std::chrono::minutes(6));
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("clocks"), std::string::npos);
}

TEST_F(TsigWithBind, BuildsTheUpdateNsupdateSendsAndSignsItTheSame) {
  const auto key_file = make_key("hmac-sha256", "certrotd-test");
  auto key = read_key_file(key_file);
  ASSERT_TRUE(key);
  UdpCatcher catcher;
  const auto script = dir / "update.txt";
  certrotd::testing::write_text(
      script, "server 127.0.0.1 " + std::to_string(catcher.port()) +
                  "\nzone example.com\n"
                  "update add _acme-challenge.www.example.com. 60 TXT \"token-value\"\n"
                  "update delete _acme-challenge.www.example.com. TXT \"old-value\"\nsend\n");
  Started running({*nsupdate, "-k", key_file.string(), "-t", "30", script.string()});
  auto wire = catcher.catch_one();
  ASSERT_TRUE(wire) << "nsupdate sent nothing";
  auto m = parse_message(*wire);
  ASSERT_TRUE(m) << m.error().what();
  ASSERT_TRUE(verify(*wire, *m, *key, std::nullopt, now()));

  const std::vector<Record> updates = {
      {"_acme-challenge.www.example.com.", k_type_txt, k_class_in, 60, txt_rdata("token-value"), 0},
      {"_acme-challenge.www.example.com.", k_type_txt, k_class_none, 0, txt_rdata("old-value"), 0}};
  auto ours = parse_message(build_update(m->id, "example.com.", updates));
  ASSERT_TRUE(ours);
  EXPECT_EQ(ours->flags, m->flags);
  ASSERT_EQ(m->questions.size(), 1U);
  EXPECT_EQ(m->questions[0].name, ours->questions[0].name);
  EXPECT_EQ(m->questions[0].type, ours->questions[0].type);
  ASSERT_EQ(m->authority.size(), updates.size());
  for (std::size_t i = 0; i < updates.size(); ++i) {
    EXPECT_EQ(m->authority[i].name, ours->authority[i].name);
    EXPECT_EQ(m->authority[i].type, ours->authority[i].type);
    EXPECT_EQ(m->authority[i].klass, ours->authority[i].klass) << i;
    EXPECT_EQ(m->authority[i].ttl, ours->authority[i].ttl) << i;
    EXPECT_EQ(m->authority[i].rdata, ours->authority[i].rdata) << i;
  }

  auto [before, time] = unsigned_part(*wire, *m);
  sign_at(before, *key, time);
  EXPECT_EQ(before, *wire) << "our signature differs from nsupdate's";
}

TEST(TsigKeyFile, RefusesWhatIsNotAKeyWithoutShowingTheSecret) {
  const std::string secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==";
  const auto error_of = [](const std::string& text) {
    auto key = parse_key_file(text, "/etc/certrotd/tsig.key");
    return key ? std::string() : key.error().what();
  };
  EXPECT_NE(error_of("secret \"" + secret + "\";").find("not a BIND key file"), std::string::npos);
  EXPECT_NE(error_of("key \"k\" { algorithm hmac-md5; secret \"" + secret + "\"; };")
                .find("not supported"),
            std::string::npos);
  EXPECT_NE(error_of("key \"k\" { algorithm hmac-sha256; };").find("no secret"), std::string::npos);
  EXPECT_NE(error_of("key \"k\" { secret \"" + secret + "\"; };").find("no algorithm"),
            std::string::npos);
  const std::string not_base64 = error_of("key \"k\" { algorithm hmac-sha256; secret \"" +
                                          secret.substr(0, 10) + "!!\"; };");
  EXPECT_NE(not_base64.find("not base64"), std::string::npos);
  EXPECT_EQ(not_base64.find(secret.substr(0, 10)), std::string::npos);
  EXPECT_NE(not_base64.find("/etc/certrotd/tsig.key"), std::string::npos);
}

TEST(TsigKeyFile, AcceptsCommentsAndTheAlgorithmWithATrailingDot) {
  auto key = parse_key_file(
      "# made by hand\nkey k.example { // the name\n algorithm hmac-sha512.; /* x */ secret "
      "\"c2VjcmV0\"; };\n",
      "f");
  ASSERT_TRUE(key) << key.error().what();
  EXPECT_EQ(key->name, "k.example.");
  EXPECT_EQ(key->algorithm, TsigAlgorithm::hmac_sha512);
  EXPECT_EQ(key->secret.view(), "secret");
}

}  // namespace
}  // namespace certrotd::dns
