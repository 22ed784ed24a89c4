// DNS names and messages: normalization, zones, encoding, and parsing that refuses what an
// answer could use to make certrotd loop or allocate without bound.
#include <gtest/gtest.h>

#include "dns/wire.hpp"

namespace certrotd::dns {
namespace {

TEST(DnsName, IsLowerCasedAndEndsInADot) {
  EXPECT_EQ(*normalize_name("WWW.Example.com"), "www.example.com.");
  EXPECT_EQ(*normalize_name("_acme-challenge.example.com."), "_acme-challenge.example.com.");
  EXPECT_EQ(*normalize_name("."), ".");
}

TEST(DnsName, RefusesEmptyLabelsLongLabelsAndOtherBytes) {
  EXPECT_FALSE(normalize_name(""));
  EXPECT_FALSE(normalize_name("a..example.com"));
  EXPECT_FALSE(normalize_name(".example.com"));
  EXPECT_FALSE(normalize_name(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(normalize_name(std::string(63, 'a') + ".com"));
  EXPECT_FALSE(normalize_name("exa mple.com"));
  EXPECT_FALSE(normalize_name("example.com:53"));
}

TEST(DnsName, RefusesNamesLongerThan255BytesOnTheWire) {
  std::string name;
  for (int i = 0; i < 4; ++i) name += std::string(63, 'a') + ".";
  EXPECT_FALSE(normalize_name(name));  // 4 * 64 + 1 = 257 bytes
  EXPECT_TRUE(normalize_name(name.substr(0, 64 * 3) + std::string(61, 'a')));  // 255 bytes
}

TEST(DnsZone, HoldsItselfAndNamesBelowItOnly) {
  EXPECT_TRUE(in_zone("example.com.", "example.com."));
  EXPECT_TRUE(in_zone("_acme-challenge.www.example.com.", "example.com."));
  EXPECT_FALSE(in_zone("badexample.com.", "example.com."));
  EXPECT_FALSE(in_zone("com.", "example.com."));
  EXPECT_TRUE(in_zone("anything.", "."));
}

TEST(DnsWire, EncodesNamesAsLengthPrefixedLabels) {
  std::string out;
  append_name(out, "www.example.com.");
  EXPECT_EQ(out, std::string("\3www\7example\3com\0", 17));
  out.clear();
  append_name(out, ".");
  EXPECT_EQ(out, std::string(1, '\0'));
}

TEST(DnsWire, SplitsLongTxtIntoStringsOf255Bytes) {
  const std::string text(300, 'x');
  const std::string rdata = txt_rdata(text);
  ASSERT_EQ(rdata.size(), 302U);
  EXPECT_EQ(static_cast<unsigned char>(rdata[0]), 255);
  EXPECT_EQ(static_cast<unsigned char>(rdata[256]), 45);
  Record r;
  r.rdata = rdata;
  EXPECT_EQ(*txt_text(r), text);
}

TEST(DnsWire, AnUpdateParsesBackIntoItsSections) {
  Record add{"_acme-challenge.www.example.com.", k_type_txt, k_class_in, 60, txt_rdata("v"), 0};
  const std::string wire = build_update(0x1234, "example.com.", {add});
  auto m = parse_message(wire);
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_EQ(m->opcode(), Opcode::update);
  ASSERT_EQ(m->questions.size(), 1U);
  EXPECT_EQ(m->questions[0].name, "example.com.");
  EXPECT_EQ(m->questions[0].type, k_type_soa);
  ASSERT_EQ(m->authority.size(), 1U);  // the update section
  EXPECT_EQ(m->authority[0].name, add.name);
  EXPECT_EQ(m->authority[0].ttl, 60U);
  EXPECT_EQ(*txt_text(m->authority[0]), "v");
}

// A header claiming one answer, the question "example.com. TXT IN", and then `answer_name`.
std::string answer_with_name(const std::string& answer_name) {
  std::string wire = build_query(7, "example.com.", k_type_txt);
  wire[2] = static_cast<char>(0x80);  // QR
  wire[7] = 1;                        // ANCOUNT
  wire += answer_name;
  append_u16(wire, k_type_txt);
  append_u16(wire, k_class_in);
  append_u32(wire, 60);
  append_u16(wire, 2);
  wire += std::string("\1x", 2);
  return wire;
}

TEST(DnsParse, FollowsCompressionPointers) {
  // 0xc00c points at the question's name, right after the header.
  auto m = parse_message(answer_with_name(std::string("\xc0\x0c", 2)));
  ASSERT_TRUE(m) << m.error().what();
  ASSERT_EQ(m->answers.size(), 1U);
  EXPECT_EQ(m->answers[0].name, "example.com.");
  EXPECT_EQ(*txt_text(m->answers[0]), "x");
}

TEST(DnsParse, RefusesAPointerLoop) {
  std::string wire = answer_with_name(std::string("\xc0\x00", 2));
  // Point the answer's name at itself.
  const std::size_t at = wire.size() - 14;
  wire[at] = static_cast<char>(0xc0 | (at >> 8));
  wire[at + 1] = static_cast<char>(at & 0xff);
  auto m = parse_message(wire);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("loop"), std::string::npos) << m.error().message;
}

TEST(DnsParse, RefusesCountsTheMessageCannotHold) {
  std::string wire = build_query(7, "example.com.", k_type_txt);
  wire[6] = static_cast<char>(0xff);  // ANCOUNT 65280 in a 29-byte message
  wire[7] = 0;
  auto m = parse_message(wire);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("counts"), std::string::npos) << m.error().message;
}

TEST(DnsParse, RefusesRecordsCutShortAndTrailingBytes) {
  const std::string whole = answer_with_name(std::string("\xc0\x0c", 2));
  EXPECT_FALSE(parse_message(whole.substr(0, whole.size() - 1)));
  EXPECT_FALSE(parse_message(whole + "x"));
  EXPECT_FALSE(parse_message(whole.substr(0, 11)));
}

TEST(DnsParse, RefusesATxtStringLongerThanItsRecord) {
  Record r;
  r.rdata = std::string("\5abc", 4);
  EXPECT_FALSE(txt_text(r));
}

}  // namespace
}  // namespace certrotd::dns
