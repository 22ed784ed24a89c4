#include "yaml/mark.hpp"

namespace certrotd::yaml {

const std::string& Mark::file() const {
  static const std::string none;
  return m_file ? *m_file : none;
}

std::string Mark::to_string() const {
  return file() + ":" + std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace certrotd::yaml
