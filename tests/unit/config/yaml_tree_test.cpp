// The compact YAML tree the config reader works on: what was written, where, and nothing more.
#include <gtest/gtest.h>
#include <yaml-cpp/exceptions.h>

#include "allocation_peak.hpp"
#include "config/config.hpp"
#include "yaml/tree.hpp"

namespace certrotd::yaml {
namespace {

using Kind = YamlNode::Kind;
using config::parse_config;
using config::test::AllocationPeak;

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

TEST(YamlTree, AnAliasSharesTheNodeItNamesInsteadOfCopyingIt) {
  const auto docs = parse_yaml_documents("base: &b [1, 2]\ncopy: *b\n");
  const YamlNode* base = docs.at(0).find("base");
  const YamlNode* copy = docs.at(0).find("copy");
  EXPECT_EQ(&base->items(), &copy->items());
  EXPECT_EQ(copy->line(), 1);  // where the anchored node was written
}

// Ten strings of 4,000 bytes, each level a list of ten aliases of the one before: 40 KB of
// text that names 10^5 copies of the strings, 4 GB as copies.
std::string alias_bomb() {
  const std::string big(4000, 'x');
  std::string text = "s: &s [";
  for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + big;
  text += "]\n";
  std::string previous = "s";
  for (int level = 1; level <= 5; ++level) {
    const std::string name = "l" + std::to_string(level);
    text += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", *" : "*") + previous;
    text += "]\n";
    previous = name;
  }
  return text;
}

// The classic: nine levels of ten aliases each, 10^9 "lol"s from under 1 KB.
std::string billion_laughs() {
  std::string text = "lol0: &lol0 lol\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string name = "lol" + std::to_string(level);
    text += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", *lol" : "*lol") + std::to_string(level - 1);
    text += "]\n";
  }
  return text;
}

void expect_refused_for_size(const std::string& text, int line) {
  try {
    parse_yaml_documents(text);
    FAIL() << "no exception";
  } catch (const YamlLimitError& e) {
    EXPECT_EQ(e.msg,
              "the document expands to more than 16 MiB once every alias (*name) stands for "
              "what it names");
    EXPECT_EQ(e.mark.line + 1, line);
    EXPECT_NE(e.instead.find("fewer aliases"), std::string::npos);
  }
}

TEST(YamlTree, RefusesAnAliasBombOfLongStrings) {
  const AllocationPeak peak;
  // Level 3 names 10^3 copies of 40 KB: the first that passes 16 MiB.
  expect_refused_for_size(alias_bomb(), 4);
  if (AllocationPeak::available()) {
    EXPECT_LT(peak.bytes(), std::size_t{4} << 20);
  }
}

TEST(YamlTree, RefusesTheBillionLaughs) {
  const AllocationPeak peak;
  expect_refused_for_size(billion_laughs(), 7);
  if (AllocationPeak::available()) {
    EXPECT_LT(peak.bytes(), std::size_t{1} << 20);
  }
}

TEST(YamlTree, AllowsExpansionUpToTheLimit) {
  // 2^k values of sizeof(YamlNode) plus a few bytes each, doubled per level.
  std::string text = "l0: &l0 [x, x]\n";
  for (int i = 1; i <= 10; ++i) {
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) +
            ", *l" + std::to_string(i - 1) + "]\n";
  }
  YamlLimits limits;
  limits.max_expanded_bytes = std::size_t{1} << 20;
  EXPECT_NO_THROW(parse_yaml_documents(text, limits));
  limits.max_expanded_bytes = std::size_t{100} << 10;
  EXPECT_THROW(parse_yaml_documents(text, limits), YamlLimitError);
}

TEST(YamlTree, TheLimitIsSixtyFourTimesTheTextAndAtLeastSixteenMiB) {
  EXPECT_EQ(limits_for(1000).max_expanded_bytes, std::size_t{16} << 20);
  EXPECT_EQ(limits_for(std::size_t{1} << 20).max_expanded_bytes, std::size_t{64} << 20);
}

std::string nested_lists(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(YamlTree, RefusesNestingDeeperThanTheLimitWithItsPosition) {
  EXPECT_NO_THROW(parse_yaml_documents(nested_lists(64)));
  for (const std::size_t depth : {65U, 100'000U}) {
    try {
      parse_yaml_documents(nested_lists(depth));
      FAIL() << "no exception at depth " << depth;
    } catch (const YamlLimitError& e) {
      EXPECT_EQ(e.msg, "nesting deeper than 64 levels");
      EXPECT_EQ(e.mark.line, 0);
      EXPECT_EQ(e.mark.column, 64);  // the 65th '['
    }
  }
}

TEST(YamlTree, RefusesDeepBracketsBeforeTheParserQueuesThem) {
  // yaml-cpp keeps every token of an open [ ... ] until it closes: 290 MB for this 2 MB text.
  const std::string text = "x: " + nested_lists(1'000'000) + "\n";
  const AllocationPeak peak;
  try {
    parse_yaml_documents(text);
    FAIL() << "no exception";
  } catch (const YamlLimitError& e) {
    EXPECT_EQ(e.msg, "nesting deeper than 64 levels");
    EXPECT_EQ(e.mark.column, 3 + 63);  // the 64th '[', inside the top mapping
  }
  if (AllocationPeak::available()) {
    EXPECT_LT(peak.bytes(), std::size_t{8} << 20);
  }
}

TEST(YamlTree, BracketsInQuotesCommentsAndPlainTextAreNotNesting) {
  const std::string many(5000, '[');
  const std::string text = "a: '" + many + "'\nb: \"" + many + "\\\"\"\n# " + many + "\nc: x" +
                           many + "\nd: [ok, \"" + many + "\"]\n";
  const auto docs = parse_yaml_documents(text);
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(docs[0].find("c")->scalar(), "x" + many);
  EXPECT_EQ(docs[0].find("d")->items()[1].scalar(), many);
}

TEST(YamlTree, CountsTheDepthThatAliasesAdd) {
  // Each line nests the previous one once more: flat text, 100 levels once expanded.
  std::string text = "l0: &l0 [x]\n";
  for (int i = 1; i <= 100; ++i) {
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) +
            "]\n";
  }
  try {
    parse_yaml_documents(text);
    FAIL() << "no exception";
  } catch (const YamlLimitError& e) {
    EXPECT_EQ(e.msg, "nesting deeper than 64 levels");
    EXPECT_EQ(e.mark.line + 1, 64);  // l63: 64 levels of its own, inside the top mapping
  }
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

TEST(YamlTree, AConfigThatExpandsTooFarIsRefusedWithItsPosition) {
  const auto config = parse_config(billion_laughs(), "config.yaml", "/etc/certrotd");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message.substr(0, config.error().message.find(';')),
            "config.yaml:7:14: the document expands to more than 16 MiB once every alias "
            "(*name) stands for what it names");
}

TEST(YamlTree, AConfigNestedTooDeeplyIsRefusedWithItsPosition) {
  const auto config = parse_config("credentials: " + nested_lists(100'000) + "\n", "config.yaml",
                                   "/etc");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "config.yaml:1:77: nesting deeper than 64 levels; certrotd's settings nest a few "
            "levels deep; write this part flatter");
}

TEST(YamlTree, TenThousandCredentialsWithoutAliasesLoad) {
  // As bench/run writes them.
  std::string text =
      "state_dir: /var/lib/certrotd\nissuers:\n"
      "  ca: { type: local, ca_cert: /ca/ca.pem, ca_key: /ca/ca.key, lifetime: 24h }\n"
      "credentials:\n";
  for (int i = 1; i <= 10'000; ++i) {
    const std::string n = "c" + std::to_string(i);
    text += "  " + n + ": { issuer: ca, subject: { common_name: " + n +
            ".bench }, sans: [\"DNS:" + n +
            ".bench\"], output: { dir: /var/lib/certrotd-bench/live/" + n + " } }\n";
  }
  const auto config = parse_config(text, "config.yaml", "/etc/certrotd");
  ASSERT_TRUE(config) << config.error().message.substr(0, 500);
  EXPECT_EQ(config->credentials.size(), 10'000U);
  // It measures about 10 times its text: the 64 times allowed leave ample room.
  YamlLimits limits;
  limits.max_expanded_bytes = 11 * text.size();
  EXPECT_NO_THROW(parse_yaml_documents(text, limits));
  limits.max_expanded_bytes = 9 * text.size();
  EXPECT_THROW(parse_yaml_documents(text, limits), YamlLimitError);
}

}  // namespace
}  // namespace certrotd::yaml
