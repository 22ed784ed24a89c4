// Private to lib/config: a compact, read-only YAML document built from yaml-cpp's parser events.
//
// yaml-cpp's own node tree (YAML::Load) costs about 7 KB of heap per line of a typical
// credential entry: 70 MB to hold a 10,000-credential file that is 1 MB of text, and half a
// second to build. The config reader needs only what was written and where, so this tree keeps
// exactly that: kind, scalar text, whether the scalar was quoted, position, children.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace certrotd::config::detail {

class YamlNode {
public:
  enum class Kind { null, scalar, sequence, map };

  YamlNode() = default;
  YamlNode(Kind kind, int line, int column) : m_kind(kind), m_line(line), m_column(column) {}

  Kind kind() const { return m_kind; }
  bool is_null() const { return m_kind == Kind::null; }
  bool is_scalar() const { return m_kind == Kind::scalar; }
  bool is_sequence() const { return m_kind == Kind::sequence; }
  bool is_map() const { return m_kind == Kind::map; }

  // The text of a scalar as written (after unquoting); empty for other kinds.
  const std::string& scalar() const { return m_scalar; }
  // An unquoted scalar: YAML may read it as a number, a boolean or null.
  bool is_plain() const { return m_plain; }

  // 1-based position of the node's first character; 0 when unknown.
  int line() const { return m_line; }
  int column() const { return m_column; }

  // Items of a sequence, or keys and values of a mapping alternating (key, value, key, ...).
  std::size_t size() const { return is_map() ? m_children.size() / 2 : m_children.size(); }
  const std::vector<YamlNode>& items() const { return m_children; }
  const YamlNode& key_at(std::size_t i) const { return m_children[2 * i]; }
  const YamlNode& value_at(std::size_t i) const { return m_children[2 * i + 1]; }
  // The value of the first scalar key equal to `key` in a mapping; null if there is none.
  const YamlNode* find(std::string_view key) const;

private:
  friend class YamlTreeBuilder;

  Kind m_kind = Kind::null;
  bool m_plain = false;
  int m_line = 0;
  int m_column = 0;
  std::string m_scalar;
  std::vector<YamlNode> m_children;
};

// Every document of a YAML text, in order (none for an empty text). A syntax error throws
// YAML::ParserException, with its position, as YAML::Load does. Aliases are expanded; a text
// whose aliases expand beyond `max_nodes` nodes (a "billion laughs" document) throws too.
std::vector<YamlNode> parse_yaml_documents(const std::string& text,
                                           std::size_t max_nodes = 10'000'000);

}  // namespace certrotd::config::detail
