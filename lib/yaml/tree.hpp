// A compact, read-only YAML document built from yaml-cpp's parser events.
//
// yaml-cpp's own node tree (YAML::Load) costs about 7 KB of heap per line of a typical
// credential entry: 70 MB to hold a 10,000-credential file that is 1 MB of text, and half a
// second to build. The config reader needs only what was written and where, so this tree keeps
// exactly that: kind, scalar text, whether the scalar was quoted, position, children.
//
// A configuration is untrusted input to a root daemon, so the tree is bounded by the size of
// the text: an alias (*name) shares the anchored node instead of copying it, and a document is
// refused when it would be larger than YamlLimits allows once every alias is counted as a copy
// (what the config reader walks), or nested deeper than a few dozen levels.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/exceptions.h>

namespace certrotd::yaml {

class YamlNode {
public:
  enum class Kind { null, scalar, sequence, map };

  YamlNode() = default;
  YamlNode(Kind kind, int line, int column) : m_kind(kind), m_line(line), m_column(column) {}

  // Every accessor answers for the node an alias names, so readers never see the alias itself.
  Kind kind() const { return target().m_kind; }
  bool is_null() const { return kind() == Kind::null; }
  bool is_scalar() const { return kind() == Kind::scalar; }
  bool is_sequence() const { return kind() == Kind::sequence; }
  bool is_map() const { return kind() == Kind::map; }

  // The text of a scalar as written (after unquoting); empty for other kinds.
  const std::string& scalar() const { return target().m_scalar; }
  // An unquoted scalar: YAML may read it as a number, a boolean or null.
  bool is_plain() const { return target().m_plain; }

  // 1-based position of the node's first character (of the anchored node, for an alias);
  // 0 when unknown.
  int line() const { return target().m_line; }
  int column() const { return target().m_column; }

  // Items of a sequence, or keys and values of a mapping alternating (key, value, key, ...).
  std::size_t size() const { return is_map() ? items().size() / 2 : items().size(); }
  const std::vector<YamlNode>& items() const { return target().m_children; }
  const YamlNode& key_at(std::size_t i) const { return items()[2 * i]; }
  const YamlNode& value_at(std::size_t i) const { return items()[2 * i + 1]; }
  // The value of the first scalar key equal to `key` in a mapping; null if there is none.
  const YamlNode* find(std::string_view key) const;

private:
  friend class YamlTreeBuilder;

  const YamlNode& target() const { return m_alias ? *m_alias : *this; }

  Kind m_kind = Kind::null;
  bool m_plain = false;
  int m_line = 0;
  int m_column = 0;
  std::string m_scalar;
  std::vector<YamlNode> m_children;
  // Set for an anchored node and every alias of it: the one shared copy of its content.
  std::shared_ptr<const YamlNode> m_alias;
};

// What a document may cost.
struct YamlLimits {
  // The document's size with every alias counted as a copy of what it names: each value costs
  // sizeof(YamlNode) plus its text. An alias-free configuration measures about 10 times its
  // text (10,000 credentials as bench/run writes them: 1.4 MB of text, 14 MB).
  std::size_t max_expanded_bytes = 0;
  // Mappings and lists inside one another. certrotd's own schema nests 7 levels deep (an exec
  // hook's command list).
  int max_depth = 64;
};

// The limits for a text of `text_size` bytes: expanded size at most 64 times the text (six
// times what an alias-free configuration measures, so any of those loads, however large), and
// at least 16 MiB (room for a small file that shares settings through aliases). A 40 KB alias
// bomb is refused at 16 MiB instead of the gigabytes it names; what the reader and the loader
// build from the tree is a small multiple of the expanded size.
YamlLimits limits_for(std::size_t text_size);

// A document refused for its size or nesting rather than its syntax; `instead` says what to
// write.
class YamlLimitError : public YAML::ParserException {
public:
  YamlLimitError(const YAML::Mark& at, const std::string& what, std::string instead_)
      : YAML::ParserException(at, what), instead(std::move(instead_)) {}
  std::string instead;
};

// Every document of a YAML text, in order (none for an empty text). A syntax error throws
// YAML::ParserException, with its position, as YAML::Load does; a text beyond `limits` throws
// YamlLimitError at the node where the limit was passed.
std::vector<YamlNode> parse_yaml_documents(const std::string& text, const YamlLimits& limits);
// With limits_for(text.size()).
std::vector<YamlNode> parse_yaml_documents(const std::string& text);

}  // namespace certrotd::yaml
