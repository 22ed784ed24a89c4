#include "issuer/acme/challenges.hpp"

#include "issuer/acme/dns01_solver.hpp"
#include "issuer/acme/exec_solver.hpp"
#include "issuer/acme/http01.hpp"

namespace certrotd::issuer::acme {

using yaml::Field;

namespace {

// The options of a type whose reader checks everything at load and hands back a factory.
class FactoryOptions : public ChallengeOptions {
public:
  explicit FactoryOptions(SolverFactory made) : factory(std::move(made)) {}
  SolverFactory factory;
};

using FactoryReader = SolverFactory (*)(const yaml::Field&, const yaml::Reader&);

ChallengeType factory_challenge_type(std::string name, FactoryReader read) {
  return ChallengeType{
      std::move(name),
      [read](const Field& field,
             const yaml::Reader& reader) -> std::shared_ptr<const ChallengeOptions> {
        auto factory = read(field, reader);
        if (!factory) return nullptr;
        return std::make_shared<FactoryOptions>(std::move(factory));
      },
      [](const ChallengeOptions& options, const SolverContext& context) {
        return dynamic_cast<const FactoryOptions&>(options).factory(context);
      }};
}

}  // namespace

// One line per challenge type.
std::vector<ChallengeType> challenge_types() {
  return {http01_challenge_type(), factory_challenge_type("dns-01", read_dns01_solver),
          factory_challenge_type("exec", read_exec_solver)};
}

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
