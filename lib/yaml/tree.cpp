#include "yaml/tree.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>

namespace certrotd::yaml {

namespace {

constexpr std::size_t k_min_expanded_bytes = std::size_t{16} << 20;
constexpr std::size_t k_expansion_factor = 64;

constexpr const char* k_depth_advice =
    "certrotd's settings nest a few levels deep; write this part flatter";

std::string depth_message(int depth) {
  return "nesting deeper than " + std::to_string(depth) + " levels";
}

std::string mib(std::size_t bytes) { return std::to_string((bytes + (1U << 20) - 1) >> 20); }

// yaml-cpp's scanner holds every token of a flow collection ([...] or {...}) until the
// collection ends, about 140 bytes per opening bracket: 2 MB of '[' cost 290 MB before the
// first event reached the tree's own depth check. So the text is scanned first for brackets
// nested beyond this many levels. The scan does not know YAML's whole grammar (a '[' inside a
// plain scalar may count), which is why its bound is far above max_depth; the exact check, with
// the node's position, stays the tree's.
constexpr int k_bracket_depth_bound = 1000;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Where brackets nest deeper than `bound`, outside quoted scalars and comments: the text up to
// the first bracket past the bound with the brackets still open closed after it, and the
// position of the first bracket past `max_depth`. Inside
// brackets every bracket counts (a plain scalar there cannot hold one); outside, only one that
// starts a value, not the '[' of "a[0]".
struct DeepBrackets {
  std::string prefix;
  YAML::Mark first_too_deep;
};

std::optional<DeepBrackets> find_deep_brackets(const std::string& text, int bound, int max_depth) {
  std::string open;  // the brackets open, innermost last
  int line = 0;
  std::size_t line_start = 0;
  char quote = 0;  // ' or " while inside a quoted scalar
  YAML::Mark too_deep;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      continue;
    }
    if (quote) {
      if (quote == '"' && c == '\\') {
        ++i;  // an escaped character
      } else if (c == quote) {
        quote = 0;  // '' inside single quotes closes and reopens: the same in effect
      }
      continue;
    }
    const char before = i == line_start ? ' ' : text[i - 1];
    const int depth = static_cast<int>(open.size());
    const bool value_start = is_space(before) || before == ':' ||
                             (depth > 0 && (before == '[' || before == '{' || before == ','));
    if (c == '#' && is_space(before)) {
      const auto end = text.find('\n', i);
      if (end == std::string::npos) break;
      i = end - 1;
    } else if ((c == '\'' || c == '"') && value_start) {
      quote = c;
    } else if ((c == '[' || c == '{') && (value_start || depth > 0)) {
      open.push_back(c);
      if (depth + 1 == max_depth + 1) {
        too_deep.pos = static_cast<int>(i);
        too_deep.line = line;
        too_deep.column = static_cast<int>(i - line_start);
      }
      if (depth + 1 > bound) {
        std::string prefix = text.substr(0, i + 1);
        for (auto it = open.rbegin(); it != open.rend(); ++it) prefix += *it == '[' ? ']' : '}';
        return DeepBrackets{std::move(prefix), too_deep};
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      open.pop_back();
    }
  }
  return std::nullopt;
}

}  // namespace

YamlLimits limits_for(std::size_t text_size) {
  YamlLimits limits;
  limits.max_expanded_bytes = std::max(k_min_expanded_bytes, k_expansion_factor * text_size);
  return limits;
}

const YamlNode* YamlNode::find(std::string_view key) const {
  if (!is_map()) return nullptr;
  for (std::size_t i = 0; i < size(); ++i) {
    if (key_at(i).is_scalar() && key_at(i).scalar() == key) return &value_at(i);
  }
  return nullptr;
}

// Receives yaml-cpp's parser events and assembles nodes on a stack of open collections.
//
// Sizes are counted as if every alias were a copy, because that is what the config reader
// walks; the tree itself holds each anchored node once. Each finished node knows its expanded
// size and height, so an alias costs O(1) to count however much it names.
class YamlTreeBuilder : public YAML::EventHandler {
public:
  explicit YamlTreeBuilder(const YamlLimits& limits) : m_limits(limits) {}

  std::vector<YamlNode> take_documents() { return std::move(m_documents); }

  void OnDocumentStart(const YAML::Mark&) override { m_anchors.clear(); }
  void OnDocumentEnd() override {
    // A document with no content at all still counts, as an empty (null) value.
    if (!m_document_done) m_documents.emplace_back();
    m_document_done = false;
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(YamlNode(YamlNode::Kind::null, line_of(mark), column_of(mark)), anchor, mark);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = m_anchors.find(anchor);
    if (it == m_anchors.end()) {
      throw YAML::ParserException(mark, "an alias names an anchor that is not defined before it");
    }
    const Anchored& named = it->second;
    check_depth(depth() + named.height, mark);
    count(named.expanded_bytes, mark);
    YamlNode alias;
    alias.m_alias = named.node;
    place(std::move(alias), Size{named.expanded_bytes, named.height});
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode node(YamlNode::Kind::scalar, line_of(mark), column_of(mark));
    node.m_scalar = value;
    // yaml-cpp tags a plain scalar "?" and a quoted one "!".
    node.m_plain = tag == "?";
    add(std::move(node), anchor, mark);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(YamlNode(YamlNode::Kind::sequence, line_of(mark), column_of(mark)), anchor, mark);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(YamlNode(YamlNode::Kind::map, line_of(mark), column_of(mark)), anchor, mark);
  }
  void OnMapEnd() override { close(); }

private:
  // A node's cost with its aliases expanded, and how many collection levels it spans.
  struct Size {
    std::size_t expanded_bytes = 0;
    int height = 0;
  };
  struct Open {
    YamlNode node;
    YAML::anchor_t anchor;
    YAML::Mark mark;
    Size children;  // the sum of the children's sizes, the tallest child's height
  };
  struct Anchored {
    std::shared_ptr<const YamlNode> node;
    std::size_t expanded_bytes;
    int height;
  };

  static int line_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.line + 1; }
  static int column_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.column + 1; }

  int depth() const { return static_cast<int>(m_open.size()); }

  void check_depth(int depth, const YAML::Mark& mark) const {
    if (depth <= m_limits.max_depth) return;
    throw YamlLimitError(mark, depth_message(m_limits.max_depth), k_depth_advice);
  }

  void count(std::size_t bytes, const YAML::Mark& mark) {
    // Both terms are at most the limit, so the sum cannot wrap.
    m_expanded_bytes += bytes;
    if (m_expanded_bytes <= m_limits.max_expanded_bytes) return;
    throw YamlLimitError(
        mark,
        "the document expands to more than " + mib(m_limits.max_expanded_bytes) +
            " MiB once every alias (*name) stands for what it names",
        "write the repeated parts out, or use fewer aliases: a configuration may expand to 64 "
        "times its size (at least 16 MiB)");
  }

  void open(YamlNode node, YAML::anchor_t anchor, const YAML::Mark& mark) {
    check_depth(depth() + 1, mark);
    m_open.push_back(Open{std::move(node), anchor, mark, {}});
  }

  void close() {
    Open done = std::move(m_open.back());
    m_open.pop_back();
    finish(std::move(done.node), done.children, done.anchor, done.mark);
  }

  void add(YamlNode node, YAML::anchor_t anchor, const YAML::Mark& mark) {
    finish(std::move(node), Size{}, anchor, mark);
  }

  // `children` is what the node's children cost; the node adds itself and its text.
  void finish(YamlNode node, Size children, YAML::anchor_t anchor, const YAML::Mark& mark) {
    const bool collection = node.m_kind == YamlNode::Kind::sequence ||
                            node.m_kind == YamlNode::Kind::map;
    const std::size_t own = sizeof(YamlNode) + node.m_scalar.size();
    count(own, mark);
    const Size size{own + children.expanded_bytes, children.height + (collection ? 1 : 0)};
    if (anchor != YAML::NullAnchor) {
      auto shared = std::make_shared<const YamlNode>(std::move(node));
      m_anchors[anchor] = Anchored{shared, size.expanded_bytes, size.height};
      node = YamlNode();
      node.m_alias = std::move(shared);
    }
    place(std::move(node), size);
  }

  // Puts a finished node (or an alias) into the collection that is open, or makes it a
  // document.
  void place(YamlNode node, Size size) {
    if (m_open.empty()) {
      m_documents.push_back(std::move(node));
      m_document_done = true;
      return;
    }
    Open& parent = m_open.back();
    parent.children.expanded_bytes += size.expanded_bytes;
    parent.children.height = std::max(parent.children.height, size.height);
    parent.node.m_children.push_back(std::move(node));
  }

  YamlLimits m_limits;
  std::size_t m_expanded_bytes = 0;
  std::vector<YamlNode> m_documents;
  bool m_document_done = false;
  std::vector<Open> m_open;
  std::map<YAML::anchor_t, Anchored> m_anchors;
};

namespace {

std::vector<YamlNode> parse_text(const std::string& text, const YamlLimits& limits) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  YamlTreeBuilder builder(limits);
  try {
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard (500 levels, "bad file") only fires when max_depth is set above it.
    throw YamlLimitError(e.mark, depth_message(e.depth()), k_depth_advice);
  }
  return builder.take_documents();
}

}  // namespace

std::vector<YamlNode> parse_yaml_documents(const std::string& text, const YamlLimits& limits) {
  if (const auto deep = find_deep_brackets(text, std::max(k_bracket_depth_bound, limits.max_depth),
                                           limits.max_depth)) {
    // The text up to there is enough for the tree's own check to name the node exactly.
    try {
      parse_text(deep->prefix, limits);
    } catch (const YamlLimitError&) {
      throw;
    } catch (const YAML::Exception&) {
      // Cut off mid-way, it cannot be valid YAML; the scan's position stands.
    }
    throw YamlLimitError(deep->first_too_deep, depth_message(limits.max_depth), k_depth_advice);
  }
  return parse_text(text, limits);
}

std::vector<YamlNode> parse_yaml_documents(const std::string& text) {
  return parse_yaml_documents(text, limits_for(text.size()));
}

}  // namespace certrotd::yaml
