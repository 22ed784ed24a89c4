// The compact YAML tree the config reader works on: what was written, where, and nothing more.
#include <gtest/gtest.h>
#include <yaml-cpp/exceptions.h>

#include "config/config.hpp"
#include "config/yaml_tree.hpp"

namespace certrotd::config::detail {
namespace {

using Kind = YamlNode::Kind;

TEST(YamlTree, KeepsKindsTextsAndPositions) {
  const auto docs = parse_yaml_documents("a: 1\nb:\n  - x\n  - 'y'\nc:\n");
  ASSERT_EQ(docs.size(), 1U);
  const YamlNode& root = docs[0];
  ASSERT_TRUE(root.is_map());
  ASSERT_EQ(root.size(), 3U);
  EXPECT_EQ(root.key_at(0).scalar(), "a");
  EXPECT_EQ(root.value_at(0).scalar(), "1");
  EXPECT_EQ(root.value_at(0).line(), 1);
  EXPECT_EQ(root.value_at(0).column(), 4);
  const YamlNode* b = root.find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->is_sequence());
  ASSERT_EQ(b->size(), 2U);
  EXPECT_EQ(b->items()[1].scalar(), "y");
  EXPECT_EQ(b->items()[1].line(), 4);
  EXPECT_EQ(b->items()[1].column(), 5);
  EXPECT_TRUE(root.find("c")->is_null());
  EXPECT_EQ(root.find("missing"), nullptr);
}

TEST(YamlTree, TellsPlainScalarsFromQuotedOnes) {
  const auto docs = parse_yaml_documents("plain: 0640\nquoted: \"0640\"\nsingle: '0640'\n");
  const YamlNode& root = docs.at(0);
  EXPECT_TRUE(root.find("plain")->is_plain());
  EXPECT_FALSE(root.find("quoted")->is_plain());
  EXPECT_FALSE(root.find("single")->is_plain());
  EXPECT_EQ(root.find("quoted")->scalar(), "0640");
}

TEST(YamlTree, ReadsNullSpellingsAsNull) {
  const auto docs = parse_yaml_documents("a: ~\nb: null\nc: 'null'\n");
  const YamlNode& root = docs.at(0);
  EXPECT_TRUE(root.find("a")->is_null());
  EXPECT_TRUE(root.find("b")->is_null());
  EXPECT_TRUE(root.find("c")->is_scalar());
}

TEST(YamlTree, ExpandsAliases) {
  const auto docs = parse_yaml_documents("base: &b { x: 1, y: [2, 3] }\ncopy: *b\n");
  const YamlNode* copy = docs.at(0).find("copy");
  ASSERT_NE(copy, nullptr);
  ASSERT_TRUE(copy->is_map());
  EXPECT_EQ(copy->find("x")->scalar(), "1");
  EXPECT_EQ(copy->find("y")->size(), 2U);
}

TEST(YamlTree, RefusesAliasesThatExpandWithoutBound) {
  // Each level doubles the one before it: 2^20 values from a few lines.
  std::string text = "l0: &l0 [x, x]\n";
  for (int i = 1; i <= 20; ++i) {
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" +
            std::to_string(i - 1) + ", *l" + std::to_string(i - 1) + "]\n";
  }
  EXPECT_THROW(parse_yaml_documents(text, 100'000), YAML::ParserException);
  EXPECT_NO_THROW(parse_yaml_documents("l0: &l0 [x, x]\nl1: [*l0, *l0]\n", 100));
}

TEST(YamlTree, ReturnsEveryDocumentAndNoneForAnEmptyText) {
  EXPECT_TRUE(parse_yaml_documents("").empty());
  EXPECT_TRUE(parse_yaml_documents("# only a comment\n").empty());
  const auto docs = parse_yaml_documents("a: 1\n---\nb: 2\n");
  ASSERT_EQ(docs.size(), 2U);
  EXPECT_EQ(docs[1].find("b")->scalar(), "2");
}

TEST(YamlTree, ThrowsOnSyntaxErrorsWithTheirPosition) {
  try {
    parse_yaml_documents("a: [1, 2\nb: 3\n");
    FAIL() << "no exception";
  } catch (const YAML::ParserException& e) {
    EXPECT_GE(e.mark.line, 0);
  }
}

TEST(YamlTree, AConfigUsingAnAliasForSharedSettingsLoads) {
  const auto config = parse_config(R"(
issuers:
  ca: { type: local, ca_cert: /ca.pem, ca_key: /ca.key }
credentials:
  web:
    issuer: ca
    subject: &subject { common_name: shared.example }
    output: { dir: /srv/web }
  api:
    issuer: ca
    subject: *subject
    output: { dir: /srv/api }
)",
                                   "config.yaml", "/etc/certrotd");
  ASSERT_TRUE(config) << config.error().what();
  ASSERT_EQ(config->credentials.size(), 2U);
  EXPECT_EQ(config->credentials[1].request.subject.common_name, "shared.example");
}

}  // namespace
}  // namespace certrotd::config::detail
