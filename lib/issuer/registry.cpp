#include "issuer/registry.hpp"

#include <algorithm>
#include <cstdlib>

namespace certrotd::issuer {

void IssuerRegistry::add(IssuerType type) {
  if (find(type.name)) std::abort();  // two entries of one name in builtin_issuers()
  // Two types reading one credential key could not tell whose it is.
  if (!type.credential_key.empty() && find_by_credential_key(type.credential_key)) std::abort();
  m_types.push_back(std::make_shared<const IssuerType>(std::move(type)));
}

std::shared_ptr<const IssuerType> IssuerRegistry::find(std::string_view name) const {
  const auto it = std::find_if(m_types.begin(), m_types.end(),
                               [&](const auto& type) { return type->name == name; });
  return it == m_types.end() ? nullptr : *it;
}

std::vector<std::string> IssuerRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(m_types.size());
  for (const auto& type : m_types) out.push_back(type->name);
  return out;
}

std::shared_ptr<const IssuerType> IssuerRegistry::find_by_credential_key(
    std::string_view key) const {
  const auto it = std::find_if(m_types.begin(), m_types.end(), [&](const auto& type) {
    return !type->credential_key.empty() && type->credential_key == key;
  });
  return it == m_types.end() ? nullptr : *it;
}

std::vector<std::string> IssuerRegistry::credential_keys() const {
  std::vector<std::string> out;
  for (const auto& type : m_types) {
    if (!type->credential_key.empty()) out.push_back(type->credential_key);
  }
  return out;
}

std::vector<std::string> common_issuer_keys() { return {"type", "max_concurrent"}; }

std::optional<yaml::Fields> issuer_fields(const yaml::Field& entry, const yaml::Reader& reader,
                                          const std::vector<std::string>& keys,
                                          std::string_view example) {
  // `type` first and the other common keys last, so "the keys allowed here" reads as written.
  std::vector<std::string> valid{"type"};
  valid.insert(valid.end(), keys.begin(), keys.end());
  for (auto& key : common_issuer_keys()) {
    if (key != "type") valid.push_back(std::move(key));
  }
  return reader.fields(*entry.value, entry.value_mark, "issuer " + in_quotes(entry.key), valid,
                       example);
}

std::string in_quotes(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace certrotd::issuer
