#include "issuer/acme/challenges.hpp"

#include "issuer/acme/http01.hpp"

namespace certrotd::issuer::acme {

using yaml::Field;

// One line per challenge type.
std::vector<ChallengeType> challenge_types() { return {http01_challenge_type()}; }

std::optional<std::vector<ChallengeConfig>> read_challenges(const yaml::Field& field,
                                                            const yaml::Reader& reader) {
  std::vector<std::string> names;
  const auto types = challenge_types();
  for (const auto& t : types) names.push_back(t.name);
  const auto fields = reader.fields(*field.value, field.value_mark, "challenge", names,
                                    "challenge: { http-01: { listen: \"0.0.0.0:80\" } }");
  if (!fields) return std::nullopt;
  std::vector<ChallengeConfig> out;
  bool ok = true;
  for (const Field& f : fields->all()) {
    for (const auto& t : types) {
      if (t.name != f.key) continue;
      if (auto options = t.read(f, reader)) {
        out.push_back(ChallengeConfig{t, std::move(options)});
      } else {
        ok = false;
      }
    }
  }
  if (!ok) return std::nullopt;
  if (out.empty() && fields->all().empty()) {
    reader.add(field.key_mark, "challenge names no challenge type",
               "write challenge: { http-01: { listen: \"0.0.0.0:80\" } }");
    return std::nullopt;
  }
  return out;
}

}  // namespace certrotd::issuer::acme
