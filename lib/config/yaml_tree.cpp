#include "config/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <sstream>

namespace certrotd::config::detail {

const YamlNode* YamlNode::find(std::string_view key) const {
  if (!is_map()) return nullptr;
  for (std::size_t i = 0; i < size(); ++i) {
    if (key_at(i).is_scalar() && key_at(i).scalar() == key) return &value_at(i);
  }
  return nullptr;
}

// Receives yaml-cpp's parser events and assembles nodes on a stack of open collections.
class YamlTreeBuilder : public YAML::EventHandler {
public:
  explicit YamlTreeBuilder(std::size_t max_nodes) : m_max_nodes(max_nodes) {}

  std::vector<YamlNode> take_documents() { return std::move(m_documents); }

  void OnDocumentStart(const YAML::Mark&) override { m_anchors.clear(); }
  void OnDocumentEnd() override {
    // A document with no content at all still counts, as an empty (null) value.
    if (!m_document_done) m_documents.emplace_back();
    m_document_done = false;
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(YamlNode(YamlNode::Kind::null, line_of(mark), column_of(mark)), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = m_anchors.find(anchor);
    if (it == m_anchors.end()) {
      throw YAML::ParserException(mark, "an alias names an anchor that is not defined before it");
    }
    YamlNode copy = it->second;
    count(weight(copy) - 1, mark);  // add() counts the copy's root
    add(std::move(copy), YAML::NullAnchor);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode node(YamlNode::Kind::scalar, line_of(mark), column_of(mark));
    node.m_scalar = value;
    // yaml-cpp tags a plain scalar "?" and a quoted one "!".
    node.m_plain = tag == "?";
    add(std::move(node), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(YamlNode(YamlNode::Kind::sequence, line_of(mark), column_of(mark)), anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(YamlNode(YamlNode::Kind::map, line_of(mark), column_of(mark)), anchor);
  }
  void OnMapEnd() override { close(); }

private:
  struct Open {
    YamlNode node;
    YAML::anchor_t anchor;
  };

  static int line_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.line + 1; }
  static int column_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.column + 1; }

  static std::size_t weight(const YamlNode& node) {
    std::size_t n = 1;
    for (const auto& child : node.items()) n += weight(child);
    return n;
  }

  void count(std::size_t nodes, const YAML::Mark& mark) {
    m_nodes += nodes;
    if (m_nodes > m_max_nodes) {
      throw YAML::ParserException(
          mark, "the document expands to more than " + std::to_string(m_max_nodes) +
                    " values; are aliases (*name) repeating large parts?");
    }
  }

  void open(YamlNode node, YAML::anchor_t anchor) {
    m_open.push_back(Open{std::move(node), anchor});
  }

  void close() {
    Open done = std::move(m_open.back());
    m_open.pop_back();
    add(std::move(done.node), done.anchor);
  }

  void add(YamlNode node, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) m_anchors[anchor] = node;
    if (m_open.empty()) {
      m_documents.push_back(std::move(node));
      m_document_done = true;
      return;
    }
    count(1, YAML::Mark::null_mark());
    m_open.back().node.m_children.push_back(std::move(node));
  }

  std::size_t m_max_nodes;
  std::size_t m_nodes = 0;
  std::vector<YamlNode> m_documents;
  bool m_document_done = false;
  std::vector<Open> m_open;
  std::map<YAML::anchor_t, YamlNode> m_anchors;
};

std::vector<YamlNode> parse_yaml_documents(const std::string& text, std::size_t max_nodes) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  YamlTreeBuilder builder(max_nodes);
  while (parser.HandleNextDocument(builder)) {
  }
  return builder.take_documents();
}

}  // namespace certrotd::config::detail
