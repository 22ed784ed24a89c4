// The generic reader: positions, problems in file order, and hints, with no schema of its own.
#include <gtest/gtest.h>

#include "yaml/reader.hpp"
#include "yaml/tree.hpp"

namespace certrotd::yaml {
namespace {

class ReaderTest : public ::testing::Test {
protected:
  ReaderTest() { m_problems.add_source("x.yaml"); }

  std::optional<Fields> fields_of(const std::string& text, const std::vector<std::string>& valid) {
    m_documents = parse_yaml_documents(text);
    return m_reader.fields(m_documents.at(0), Mark{"x.yaml", 1, 1}, "the top level", valid, "a: 1");
  }

  Problems m_problems;
  Reader m_reader{"x.yaml", "/base", m_problems};
  std::vector<YamlNode> m_documents;
};

TEST_F(ReaderTest, UnknownKeysGetTheClosestValidKeyAsAHint) {
  const auto fields = fields_of("colour: red\nsize: 3\n", {"color", "size"});
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->all().size(), 1u) << "the unknown key is left out";
  EXPECT_EQ(m_problems.render(),
            "x.yaml:1:1: unknown key 'colour' in the top level; did you mean 'color'?");
}

TEST_F(ReaderTest, WithoutACloseKeyTheHintListsTheValidOnes) {
  (void)fields_of("zzz: 1\n", {"alpha", "beta"});
  EXPECT_EQ(m_problems.render(),
            "x.yaml:1:1: unknown key 'zzz' in the top level; the keys allowed here are: alpha, "
            "beta");
}

TEST_F(ReaderTest, ProblemsAreRenderedByPositionWhateverOrderTheyWereFound) {
  const auto fields = fields_of("n: 0\nm: many\n", {"n", "m"});
  ASSERT_TRUE(fields);
  (void)m_reader.integer(*fields->get("m"), 1, 9);
  (void)m_reader.integer(*fields->get("n"), 1, 9);
  EXPECT_EQ(m_problems.render(),
            "x.yaml:1:4: n must be between 1 and 9, got 0; write a number in that range\n"
            "x.yaml:2:4: m must be a whole number, got 'many'; write e.g. m: 1");
}

TEST_F(ReaderTest, BooleansAreTrueOrFalseAndAnythingElseIsOneProblem) {
  const auto fields = fields_of("t: true\nf: false\ny: yes\nl: [1]\n", {"t", "f", "y", "l"});
  ASSERT_TRUE(fields);
  EXPECT_EQ(m_reader.boolean(*fields->get("t")), true);
  EXPECT_EQ(m_reader.boolean(*fields->get("f")), false);
  EXPECT_EQ(m_reader.boolean(*fields->get("y")), std::nullopt);
  EXPECT_EQ(m_reader.boolean(*fields->get("l")), std::nullopt);
  const std::string problems = m_problems.render();
  EXPECT_NE(problems.find("x.yaml:3:4: y must be true or false; write y: true"), std::string::npos)
      << problems;
  EXPECT_EQ(problems.find("l must be true or false"), std::string::npos)
      << "a list is reported once, by string(), not twice: " << problems;
}

TEST_F(ReaderTest, RelativePathsResolveAgainstTheFilesFolder) {
  const auto fields = fields_of("p: sub/../file.pem\n", {"p"});
  ASSERT_TRUE(fields);
  EXPECT_EQ(m_reader.path(*fields->get("p")), std::filesystem::path("/base/file.pem"));
}

TEST_F(ReaderTest, ReadIfPresentLeavesTheDefaultForAMissingKeyAndFlagsAWrongOne) {
  const auto fields = fields_of("d: soon\n", {"d", "e"});
  ASSERT_TRUE(fields);
  const auto duration = [&](const Field& f) { return m_reader.duration(f, Millis(0)); };
  Millis d{7};
  Millis e{8};
  bool ok = true;
  read_if_present(*fields, "e", duration, e, ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(e, Millis(8));
  read_if_present(*fields, "d", duration, d, ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(d, Millis(7));
}

}  // namespace
}  // namespace certrotd::yaml
