// `type: acme` in the configuration: its keys, its factory and its roots.
#include <thread>

#include "issuer/acme/acme.hpp"
#include "issuer/acme/http01.hpp"
#include "issuer/network/network_options.hpp"

namespace certrotd::issuer {

namespace {

using yaml::Field;
using yaml::Fields;
using yaml::Reader;

constexpr std::string_view k_acme_example =
    "le: { type: acme, directory: https://acme-v02.api.letsencrypt.org/directory, ca_bundle: "
    "/etc/ssl/certs/ca-certificates.crt, trust_anchors: /etc/certrotd/acme-roots.pem, "
    "challenge: { http-01: { listen: \":80\" } } }";

std::vector<std::string> acme_keys() {
  return {"directory",
          "ca_bundle",
          "trust_anchors",
          "contact",
          "terms_of_service_agreed",
          "eab",
          "profile",
          "preferred_chain",
          "challenge",
          "account_key",
          "connect_timeout",
          "timeout"};
}

std::optional<acme::AccountKeyType> read_account_key(const Field& field, const Reader& reader) {
  auto s = reader.string(field);
  if (s && *s == "ES256") return acme::AccountKeyType::es256;
  if (s && *s == "RS256") return acme::AccountKeyType::rs256;
  reader.add(field.value_mark, "account_key must be ES256 (EC P-256) or RS256 (RSA 2048)",
             "write account_key: ES256");
  return std::nullopt;
}

std::optional<AcmeEab> read_eab(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "eab", {"kid", "hmac_key_file"},
                                    "eab: { kid: kid-1, hmac_key_file: /etc/certrotd/eab.key }");
  if (!fields) return std::nullopt;
  const Field* kid = fields->get("kid");
  const Field* key = fields->get("hmac_key_file");
  if (!kid || !key) {
    reader.add(field.key_mark, "eab needs both kid and hmac_key_file",
               "write eab: { kid: KID, hmac_key_file: FILE }");
    return std::nullopt;
  }
  auto k = reader.string(*kid);
  auto f = reader.path(*key);
  if (!k || !f) return std::nullopt;
  return AcmeEab{*k, *f};
}

std::optional<std::vector<std::string>> read_contact(const Field& field, const Reader& reader) {
  auto list = reader.string_list(field, "contact: [\"mailto:ops@example.com\"]");
  if (!list) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& item : *list) {
    if (!item.value.starts_with("mailto:")) {
      reader.add(item.mark, "a contact is a mailto: URL (RFC 8555 §7.3)",
                 "write \"mailto:" + item.value + "\"");
      return std::nullopt;
    }
    out.push_back(item.value);
  }
  return out;
}

bool require(const Fields& fields, const Field& entry, const Reader& reader, const char* key,
             const char* example) {
  if (fields.get(key)) return true;
  reader.add(entry.key_mark, "issuer " + in_quotes(entry.key) + " (type acme) needs " + key,
             std::string("write ") + example);
  return false;
}

std::shared_ptr<const IssuerOptions> read_acme(const Field& entry, const Reader& reader) {
  const auto fields = issuer_fields(entry, reader, acme_keys(), k_acme_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<AcmeIssuerOptions>();
  bool ok = require(*fields, entry, reader, "directory",
                    "directory: https://acme-v02.api.letsencrypt.org/directory");
  ok = require(*fields, entry, reader, "ca_bundle",
               "ca_bundle: /etc/ssl/certs/ca-certificates.crt") &&
       ok;
  // The roots of the issued chain are not the roots of the server's TLS certificate.
  ok = require(*fields, entry, reader, "trust_anchors",
               "trust_anchors: /etc/certrotd/acme-roots.pem") &&
       ok;
  const auto string = [&](const Field& f) { return reader.string(f); };
  const auto path = [&](const Field& f) { return reader.path(f); };
  yaml::read_if_present(
      *fields, "directory",
      [&](const Field& f) -> std::optional<std::string> {
        auto url = reader.string(f);
        if (url && url->starts_with("https://")) return url;
        reader.add(f.value_mark, "directory must be an https:// URL",
                   "write directory: https://acme.example.com/directory");
        return std::nullopt;
      },
      options->url, ok);
  yaml::read_if_present(*fields, "ca_bundle", path, options->ca_bundle, ok);
  yaml::read_if_present(*fields, "trust_anchors", path, options->trust_anchors, ok);
  yaml::read_if_present(
      *fields, "contact", [&](const Field& f) { return read_contact(f, reader); }, options->contact,
      ok);
  yaml::read_if_present(
      *fields, "terms_of_service_agreed", [&](const Field& f) { return reader.boolean(f); },
      options->terms_of_service_agreed, ok);
  yaml::read_if_present(
      *fields, "eab", [&](const Field& f) { return read_eab(f, reader); }, options->eab, ok);
  yaml::read_if_present(*fields, "profile", string, options->profile, ok);
  yaml::read_if_present(*fields, "preferred_chain", string, options->preferred_chain, ok);
  yaml::read_if_present(
      *fields, "account_key", [&](const Field& f) { return read_account_key(f, reader); },
      options->account_key, ok);
  const auto timeout = [&](const Field& f) { return reader.duration(f, Millis(100)); };
  yaml::read_if_present(*fields, "connect_timeout", timeout, options->connect_timeout, ok);
  yaml::read_if_present(*fields, "timeout", timeout, options->timeout, ok);
  yaml::read_if_present(
      *fields, "challenge", [&](const Field& f) { return acme::read_challenges(f, reader); },
      options->challenges, ok);
  if (ok && options->challenges.empty()) {
    // Nothing written: the responder on port 80, as for most hosts that serve the name.
    options->challenges.push_back(acme::ChallengeConfig{acme::http01_challenge_type(),
                                                        std::make_shared<acme::Http01Options>()});
  }
  if (!ok) return nullptr;
  return options;
}

Result<std::shared_ptr<Issuer>> create_acme(const IssuerOptions& options,
                                            const IssuerContext& context) {
  const auto& acme_options = options_as<AcmeIssuerOptions>(options);
  if (!context.transport) return fail("no HTTP transport available");
  if (!context.state_directory) return fail("the acme issuer needs the state directory");
  AcmeDeps deps;
  deps.transport = context.transport;
  deps.clock = context.clock;
  deps.account_dir = *context.state_directory / "acme" / context.name;
  deps.sleep = [](Millis wait) { std::this_thread::sleep_for(wait); };
  acme::SolverContext solver_context;
  solver_context.clock = context.clock;
  solver_context.random = context.random;
  solver_context.sleep = deps.sleep;
  solver_context.issuer = context.name;
  solver_context.activated_socket = context.acme_socket;
  for (const auto& challenge : acme_options.challenges) {
    auto solver = challenge.type.create(*challenge.options, solver_context);
    if (!solver) return fail(solver.error().wrap("challenge " + challenge.type.name));
    deps.solvers.push_back(std::move(*solver));
  }
  auto issuer = AcmeIssuer::create(acme_options, std::move(deps));
  if (!issuer) return fail(issuer.error());
  return std::shared_ptr<Issuer>(std::move(*issuer));
}

}  // namespace

IssuerType acme_issuer_type() {
  return IssuerType{"acme", true, read_acme, create_acme, network_anchors, {}};
}

}  // namespace certrotd::issuer
