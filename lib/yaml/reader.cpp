#include "yaml/reader.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <system_error>

#include "util/duration.hpp"
#include "util/strings.hpp"

namespace certrotd::yaml {

namespace {

// Values that must never sit in the config file, which is often world-readable, versioned and
// copied into bug reports. The operator writes `<key>_file: /path` and the file is read at use.
constexpr std::string_view k_secret_words[] = {"passphrase", "password", "secret", "token"};

constexpr std::pair<std::string_view, std::string_view> k_subject_short_names[] = {
    {"cn", "common_name"}, {"o", "organization"}, {"ou", "organizational_unit"},
    {"c", "country"},      {"st", "state"},       {"l", "locality"},
};

bool is_inline_secret(std::string_view key) {
  const std::string lower = to_lower(key);
  const std::string_view k = lower;
  for (const std::string_view word : k_secret_words) {
    if (k == word) return true;
    if (k.size() > word.size() && k.ends_with(word) && k[k.size() - word.size() - 1] == '_') {
      return true;
    }
  }
  return false;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool is_plain_scalar(const YamlNode& node) { return node.is_scalar() && node.is_plain(); }

bool is_number(std::string_view text, double& value) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

std::string format_number(double value) {
  std::string text = std::to_string(value);
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

}  // namespace

std::string_view describe(const YamlNode& node) {
  switch (node.kind()) {
    case YamlNode::Kind::map: return "a mapping";
    case YamlNode::Kind::sequence: return "a list";
    case YamlNode::Kind::scalar: return "a single value";
    case YamlNode::Kind::null: break;
  }
  return "an empty value";
}

void Problems::add_source(const std::string& file) { m_sources.push_back(file); }

std::size_t Problems::source_index(const std::string& file) const {
  const auto it = std::find(m_sources.begin(), m_sources.end(), file);
  return static_cast<std::size_t>(it - m_sources.begin());
}

void Problems::add(const Mark& mark, std::string_view what, std::string_view instead) {
  std::string text = mark.to_string() + ": " + std::string(what);
  if (!instead.empty()) text += "; " + std::string(instead);
  // A setting in `defaults:` is checked once per credential that inherits it; say it once.
  for (const auto& p : m_problems) {
    if (p.text == text) return;
  }
  m_problems.push_back({source_index(mark.file()), mark.line, mark.column, std::move(text)});
}

void Problems::add_unpositioned(const std::string& file, std::string_view what,
                                std::string_view instead) {
  std::string text = file + ": " + std::string(what);
  if (!instead.empty()) text += "; " + std::string(instead);
  m_problems.push_back({source_index(file), 0, 0, std::move(text)});
}

std::string Problems::render() const {
  std::vector<Problem> sorted = m_problems;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
    if (a.source != b.source) return a.source < b.source;
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
  std::string out;
  for (const auto& p : sorted) {
    if (!out.empty()) out += '\n';
    out += p.text;
  }
  return out;
}

const Field* Fields::get(std::string_view key) const {
  for (const auto& f : m_fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

Mark Reader::mark(const YamlNode& node, const Mark& fallback) const {
  if (node.line() <= 0) return fallback;
  return Mark{m_file, node.line(), node.column()};
}

std::optional<Fields> Reader::fields(const YamlNode& node, const Mark& at, std::string_view where,
                                     const std::vector<std::string>& valid,
                                     std::string_view example) const {
  return collect(node, at, where, &valid, example);
}

std::optional<Fields> Reader::entries(const YamlNode& node, const Mark& at, std::string_view where,
                                      std::string_view example) const {
  return collect(node, at, where, nullptr, example);
}

std::optional<Fields> Reader::collect(const YamlNode& node, const Mark& at, std::string_view where,
                                      const std::vector<std::string>* valid,
                                      std::string_view example) const {
  const Mark map_mark = mark(node, at);
  if (node.is_null()) return Fields(map_mark, {});
  if (!node.is_map()) {
    add(map_mark,
        std::string(where) + " must be a mapping of keys to values, not " +
            std::string(describe(node)),
        "write " + std::string(example));
    return std::nullopt;
  }
  std::vector<Field> out;
  std::map<std::string, Mark> seen;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YamlNode& key_node = node.key_at(i);
    const YamlNode& value_node = node.value_at(i);
    const Mark key_mark = mark(key_node, map_mark);
    if (!key_node.is_scalar()) {
      add(key_mark, "a key in " + std::string(where) + " is " + std::string(describe(key_node)),
          "keys are plain names, written before a colon");
      continue;
    }
    const std::string& key = key_node.scalar();
    if (const auto prev = seen.find(key); prev != seen.end()) {
      add(key_mark,
          "'" + key + "' is given twice in " + std::string(where) + " (first at line " +
              std::to_string(prev->second.line) + ")",
          "keep only one of them");
      continue;
    }
    seen.emplace(key, key_mark);
    if (valid && std::find(valid->begin(), valid->end(), key) == valid->end()) {
      if (is_inline_secret(key)) {
        add(key_mark,
            "'" + key + "' must not be written inline: the config file is no place for secrets",
            "write " + key + "_file: /path instead, naming a file only certrotd can read");
        continue;
      }
      std::string hint = closest_match(key, *valid);
      // X.509 short names (CN, O, OU, ...) are what people know from openssl; map them too.
      for (const auto& [short_name, long_name] : k_subject_short_names) {
        if (to_lower(key) == short_name &&
            std::find(valid->begin(), valid->end(), long_name) != valid->end()) {
          hint = long_name;
        }
      }
      if (!hint.empty()) {
        add(key_mark, "unknown key '" + key + "' in " + std::string(where),
            "did you mean '" + hint + "'?");
      } else {
        add(key_mark, "unknown key '" + key + "' in " + std::string(where),
            "the keys allowed here are: " + join(*valid));
      }
      continue;
    }
    // yaml-cpp places an empty value at the next token, often on a later line: point at the key.
    const Mark value_mark = value_node.is_null() ? key_mark : mark(value_node, key_mark);
    out.push_back(Field{key, key_mark, &value_node, value_mark});
  }
  return Fields(map_mark, std::move(out));
}

std::optional<std::string> Reader::string(const YamlNode& node, const Mark& at,
                                          std::string_view what) const {
  if (node.is_scalar()) return node.scalar();
  if (node.is_null()) {
    add(at, std::string(what) + " has no value", "write a value after the colon or remove the key");
  } else {
    add(at, std::string(what) + " must be a single value, not " + std::string(describe(node)),
        "write it as one value, e.g. " + std::string(what) + ": something");
  }
  return std::nullopt;
}

std::optional<std::string> Reader::string(const Field& field) const {
  return string(*field.value, field.value_mark, field.key);
}

std::optional<std::filesystem::path> Reader::path(const Field& field) const {
  auto text = string(field);
  if (!text) return std::nullopt;
  if (text->empty()) {
    add(field.value_mark, field.key + " is empty", "write a path, e.g. " + field.key + ": /path");
    return std::nullopt;
  }
  std::filesystem::path p(*text);
  if (p.is_relative()) p = m_base_dir / p;
  p = p.lexically_normal();
  // "/srv/tls/web/" and "/srv/tls/web" name one folder; compare them as one.
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

std::optional<Millis> Reader::duration(const Field& field, Millis min) const {
  auto text = string(field);
  if (!text) return std::nullopt;
  auto parsed = parse_duration(*text);
  if (!parsed) {
    add(field.value_mark, field.key + " '" + *text + "' is not a duration",
        "write a number with a unit, e.g. " + field.key +
            ": 24h (units: ms, s, m, h, d, w; combined as in 1h30m)");
    return std::nullopt;
  }
  if (*parsed < min) {
    add(field.value_mark,
        field.key + " must be at least " + format_duration(min) + ", got '" + *text + "'",
        "write a longer duration, e.g. " + field.key + ": " +
            format_duration(std::max(min, Millis(std::chrono::minutes(1)))));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<double> Reader::percentage(const Field& field) const {
  auto text = string(field);
  if (!text) return std::nullopt;
  if (double number = 0; is_number(*text, number)) {
    // Fractions (0.66) and bare numbers (66) are both plausible readings; accept one form only.
    const double percent = number <= 1.0 ? number * 100.0 : number;
    add(field.value_mark, field.key + " must be a percentage, got '" + *text + "'",
        "write " + field.key + ": " + format_number(percent) + "%");
    return std::nullopt;
  }
  auto parsed = parse_percentage(*text);
  if (!parsed) {
    add(field.value_mark,
        field.key + " must be a percentage between 0% and 100%, got '" + *text + "'",
        "write e.g. " + field.key + ": 66%");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<bool> Reader::boolean(const Field& field) const {
  const auto text = string(field);
  if (!text) return std::nullopt;  // string() said what is wrong
  if (*text == "true" || *text == "false") return *text == "true";
  add(field.value_mark, field.key + " must be true or false", "write " + field.key + ": true");
  return std::nullopt;
}

std::optional<long long> Reader::integer(const Field& field, long long min, long long max) const {
  auto text = string(field);
  if (!text) return std::nullopt;
  long long value = 0;
  const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || text->empty()) {
    add(field.value_mark, field.key + " must be a whole number, got '" + *text + "'",
        "write e.g. " + field.key + ": " + std::to_string(min));
    return std::nullopt;
  }
  if (value < min || value > max) {
    add(field.value_mark,
        field.key + " must be between " + std::to_string(min) + " and " + std::to_string(max) +
            ", got " + *text,
        "write a number in that range");
    return std::nullopt;
  }
  return value;
}

std::optional<mode_t> Reader::mode(const Field& field) const {
  auto text = string(field);
  if (!text) return std::nullopt;
  const bool octal_digits = !text->empty() && text->size() <= 4 &&
                            text->find_first_not_of("01234567") == std::string::npos;
  if (is_plain_scalar(*field.value)) {
    // YAML 1.1 reads 0640 as octal (416), YAML 1.2 as decimal 640: the reader's version decides,
    // so an unquoted mode is refused rather than guessed.
    std::string octal = *text;
    if (octal_digits && octal.size() == 3) octal = "0" + octal;
    add(field.value_mark,
        field.key + " " + *text +
            " is not quoted, and YAML may read an unquoted number as "
            "decimal or octal",
        "write it as a quoted octal string: " + field.key + ": \"" +
            (octal_digits ? octal : std::string("0640")) + "\"");
    return std::nullopt;
  }
  if (!octal_digits || text->size() < 3 || (text->size() == 4 && (*text)[0] != '0')) {
    add(field.value_mark, field.key + " '" + *text + "' is not an octal file permission",
        "write read/write bits for owner, group and others, e.g. " + field.key + ": \"0640\"");
    return std::nullopt;
  }
  mode_t value = 0;
  for (const char c : *text) value = static_cast<mode_t>(value * 8U + static_cast<mode_t>(c - '0'));
  return value;
}

std::optional<std::vector<MarkedString>> Reader::string_list(const Field& field,
                                                             std::string_view example) const {
  const YamlNode& node = *field.value;
  if (node.is_null()) return std::vector<MarkedString>{};
  if (!node.is_sequence()) {
    add(field.value_mark, field.key + " must be a list, not " + std::string(describe(node)),
        "write " + std::string(example));
    return std::nullopt;
  }
  std::vector<MarkedString> out;
  bool ok = true;
  for (const auto& item : node.items()) {
    const Mark item_mark = mark(item, field.value_mark);
    if (!item.is_scalar()) {
      add(item_mark,
          "each entry of " + field.key + " must be a single value, not " +
              std::string(describe(item)),
          "write " + std::string(example));
      ok = false;
      continue;
    }
    out.push_back(MarkedString{item.scalar(), item_mark});
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace certrotd::yaml
