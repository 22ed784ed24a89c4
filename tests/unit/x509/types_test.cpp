#include <gtest/gtest.h>

#include "x509/types.hpp"

namespace certrotd::x509 {
namespace {

TEST(KeySpecText, NamesTheTypeAndItsSize) {
  EXPECT_EQ(to_string(KeySpec{KeyType::ec, "P-384", 2048}), "ec P-384");
  EXPECT_EQ(to_string(KeySpec{KeyType::rsa, "P-256", 3072}), "rsa 3072");
  EXPECT_EQ(to_string(KeySpec{KeyType::ed25519, "P-256", 2048}), "ed25519");
}

TEST(ParseSan, AcceptsEachTypeWithACaseInsensitivePrefix) {
  const auto dns = parse_san("dns:web.example");
  ASSERT_TRUE(dns) << dns.error().what();
  EXPECT_EQ(*dns, (San{SanType::dns, "web.example"}));

  const auto ip = parse_san("Ip:10.0.0.5");
  ASSERT_TRUE(ip) << ip.error().what();
  EXPECT_EQ(*ip, (San{SanType::ip, "10.0.0.5"}));

  const auto uri = parse_san("URI:spiffe://td/ns/x");
  ASSERT_TRUE(uri) << uri.error().what();
  EXPECT_EQ(*uri, (San{SanType::uri, "spiffe://td/ns/x"}));

  const auto email = parse_san("EMAIL:ops@example.com");
  ASSERT_TRUE(email) << email.error().what();
  EXPECT_EQ(*email, (San{SanType::email, "ops@example.com"}));
}

TEST(ParseSan, CanonicalisesIpv6Addresses) {
  const auto full = parse_san("IP:2001:0DB8:0000:0000:0000:0000:0000:0001");
  ASSERT_TRUE(full) << full.error().what();
  EXPECT_EQ(full->value, "2001:db8::1");
  const auto loopback = parse_san("IP:0:0:0:0:0:0:0:1");
  ASSERT_TRUE(loopback) << loopback.error().what();
  EXPECT_EQ(loopback->value, "::1");
}

TEST(ParseSan, RejectsInvalidIpAddresses) {
  EXPECT_FALSE(parse_san("IP:10.0.0.256"));
  EXPECT_FALSE(parse_san("IP:web.example"));
  EXPECT_FALSE(parse_san("IP:2001:db8::1::2"));
  EXPECT_FALSE(parse_san("IP:10.0.0"));
}

TEST(ParseSan, RejectsUnknownTypesMissingPrefixesAndEmptyValues) {
  const auto unknown = parse_san("RID:1.2.3");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("RID"), std::string::npos);
  EXPECT_FALSE(parse_san("web.example"));
  EXPECT_FALSE(parse_san("DNS:"));
  EXPECT_FALSE(parse_san("DNS:web example"));
}

TEST(SanText, RoundTripsThroughParse) {
  for (const auto* text : {"DNS:web.example", "IP:10.0.0.5", "IP:2001:db8::5",
                           "URI:spiffe://td/ns/x", "email:ops@example.com"}) {
    const auto san = parse_san(text);
    ASSERT_TRUE(san) << text;
    EXPECT_EQ(to_string(*san), text);
  }
}

TEST(ExtendedUsageText, ParsesBothUsagesAndRoundTrips) {
  const auto server = parse_extended_usage("serverAuth");
  ASSERT_TRUE(server);
  EXPECT_EQ(*server, ExtendedUsage::server_auth);
  const auto client = parse_extended_usage("clientauth");
  ASSERT_TRUE(client);
  EXPECT_EQ(*client, ExtendedUsage::client_auth);
  EXPECT_EQ(to_string(ExtendedUsage::server_auth), "serverAuth");
  EXPECT_EQ(to_string(ExtendedUsage::client_auth), "clientAuth");
}

TEST(ExtendedUsageText, RejectsOtherUsages) {
  const auto bad = parse_extended_usage("codeSigning");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("codeSigning"), std::string::npos);
}

TEST(Subject, KeepsAttributesInNameOrderAndSetReplaces) {
  using Attribute = Subject::Attribute;
  Subject subject;
  subject.add(Attribute::organizational_unit, "Web");
  subject.add(Attribute::organization, "Example");
  subject.add(Attribute::organizational_unit, "Ops");
  subject.add(Attribute::country, "DE");
  EXPECT_EQ(subject.attributes.front().first, Attribute::country);
  EXPECT_EQ(subject.values(Attribute::organizational_unit),
            (std::vector<std::string>{"Web", "Ops"}));
  subject.set(Attribute::country, "FR");
  EXPECT_EQ(subject.values(Attribute::country), std::vector<std::string>{"FR"});
  EXPECT_EQ(subject.value(Attribute::locality), "");

  Subject same;  // the same attributes given in another order compare equal
  same.add(Attribute::country, "FR");
  same.add(Attribute::organizational_unit, "Web");
  same.add(Attribute::organizational_unit, "Ops");
  same.add(Attribute::organization, "Example");
  EXPECT_EQ(subject, same);
}

}  // namespace
}  // namespace certrotd::x509
