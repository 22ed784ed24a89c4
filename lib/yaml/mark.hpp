// Where something was written in a YAML file, for messages: "config.yaml:12:5".
#pragma once

#include <memory>
#include <string>
#include <utility>

namespace certrotd::yaml {

struct Mark {
  Mark() = default;
  Mark(std::string file, int line_, int column_)
      : Mark(std::make_shared<const std::string>(std::move(file)), line_, column_) {}
  // Every mark of one file shares its name: 10,000 credentials keep one copy, not 10,000.
  Mark(std::shared_ptr<const std::string> file, int line_, int column_)
      : line(line_), column(column_), m_file(std::move(file)) {}

  const std::string& file() const;
  std::string to_string() const;

  int line = 0;    // 1-based
  int column = 0;  // 1-based

private:
  std::shared_ptr<const std::string> m_file;  // null: no file
};

}  // namespace certrotd::yaml
