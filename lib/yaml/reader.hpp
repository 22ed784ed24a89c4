// Typed reads of YAML nodes that report every problem at its position
// instead of throwing, so one run of `certrotd check` shows all mistakes in a file at once.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/clock.hpp"
#include "yaml/mark.hpp"
#include "yaml/tree.hpp"

namespace certrotd::yaml {

// Every problem of one load. Kept apart from the values so that reading can go on after a
// mistake and report the next one too.
class Problems {
public:
  // Files in the order they are read; problems are reported in this order.
  void add_source(const std::string& file);

  // "<mark>: <what>; <instead>".
  void add(const Mark& mark, std::string_view what, std::string_view instead);
  // For a file that cannot be read at all, where no line applies: "<file>: <what>; <instead>".
  void add_unpositioned(const std::string& file, std::string_view what, std::string_view instead);

  bool empty() const { return m_problems.empty(); }
  std::size_t count() const { return m_problems.size(); }
  // One problem per line, by file (in reading order), then line, then column.
  std::string render() const;

private:
  struct Problem {
    std::size_t source = 0;
    int line = 0;
    int column = 0;
    std::string text;
  };
  std::size_t source_index(const std::string& file) const;

  std::vector<std::string> m_sources;
  std::vector<Problem> m_problems;
};

// One `key: value` of a mapping.
struct Field {
  std::string key;
  Mark key_mark;
  const YamlNode* value = nullptr;  // into the document, which outlives every Field
  Mark value_mark;                  // the key's mark when the value has none (an empty value)
};

// The checked keys of a mapping, in file order.
class Fields {
public:
  Fields(Mark mark, std::vector<Field> fields)
      : m_mark(std::move(mark)), m_fields(std::move(fields)) {}
  const Field* get(std::string_view key) const;
  const std::vector<Field>& all() const { return m_fields; }
  const Mark& mark() const { return m_mark; }

private:
  Mark m_mark;
  std::vector<Field> m_fields;
};

// A string together with where it was written, e.g. one SAN of a list.
struct MarkedString {
  std::string value;
  Mark mark;
};

// Reads the nodes of one file; relative paths resolve against that file's directory.
class Reader {
public:
  Reader(std::string file, std::filesystem::path base_dir, Problems& problems)
      : m_file(std::make_shared<const std::string>(std::move(file))),
        m_base_dir(std::move(base_dir)),
        m_problems(problems) {}

  const std::string& file() const { return *m_file; }
  const std::filesystem::path& base_dir() const { return m_base_dir; }
  Problems& problems() const { return m_problems; }

  // The node's position; `fallback` for nodes without one.
  Mark mark(const YamlNode& node, const Mark& fallback) const;
  void add(const Mark& mark, std::string_view what, std::string_view instead) const {
    m_problems.add(mark, what, instead);
  }

  // Checks that `node` is a mapping (an empty value counts as an empty mapping) whose keys are
  // plain names from `valid`, each given once. Inline secrets and unknown keys are reported (with
  // a "did you mean" hint) and left out of the result. `where` names the mapping in messages,
  // e.g. "credential 'web'"; `example` shows how to write it. nullopt when it is not a mapping.
  std::optional<Fields> fields(const YamlNode& node, const Mark& at, std::string_view where,
                               const std::vector<std::string>& valid,
                               std::string_view example) const;
  // Like fields(), for mappings whose keys are names the user chooses (issuers, credentials):
  // any plain key is accepted once.
  std::optional<Fields> entries(const YamlNode& node, const Mark& at, std::string_view where,
                                std::string_view example) const;

  // A single scalar value, as written (quoted or not).
  std::optional<std::string> string(const Field& field) const;
  std::optional<std::string> string(const YamlNode& node, const Mark& at,
                                    std::string_view what) const;
  // A non-empty path; relative ones are resolved against base_dir().
  std::optional<std::filesystem::path> path(const Field& field) const;
  // A duration such as "24h", at least `min`.
  std::optional<Millis> duration(const Field& field, Millis min) const;
  // A percentage such as "66%", as a fraction in [0, 1]; range checks are the caller's.
  std::optional<double> percentage(const Field& field) const;
  // true or false; anything else is a problem with "write KEY: true" as the hint.
  std::optional<bool> boolean(const Field& field) const;
  // A whole number in [min, max].
  std::optional<long long> integer(const Field& field, long long min, long long max) const;
  // A quoted octal permission string such as "0640".
  std::optional<mode_t> mode(const Field& field) const;
  // A list of strings; an empty value is an empty list. `example` is a whole line to write.
  std::optional<std::vector<MarkedString>> string_list(const Field& field,
                                                       std::string_view example) const;

private:
  std::optional<Fields> collect(const YamlNode& node, const Mark& at, std::string_view where,
                                const std::vector<std::string>* valid,
                                std::string_view example) const;

  std::shared_ptr<const std::string> m_file;  // shared by every Mark made here
  std::filesystem::path m_base_dir;
  Problems& m_problems;
};

// Reads `key` of `fields`, when it is there, with `read` (a callable taking the Field and
// returning an optional) into `out`; clears `ok` when the value is wrong (`read` reported it).
template <class T, class Read>
void read_if_present(const Fields& fields, std::string_view key, const Read& read, T& out,
                     bool& ok) {
  const Field* field = fields.get(key);
  if (!field) return;
  if (auto value = read(*field)) {
    out = std::move(*value);
  } else {
    ok = false;
  }
}

// "a mapping", "a list", "a single value", "an empty value": what a node is, for messages.
std::string_view describe(const YamlNode& node);

}  // namespace certrotd::yaml
