// `type: sap-service-manager` in the configuration: the issuer's keys, each credential's `sap:`,
// the factory and the roots.
#include "issuer/network/network_options.hpp"
#include "issuer/sap_service_manager/sap_service_manager.hpp"

namespace certrotd::issuer {

namespace {

using yaml::Field;
using yaml::Fields;
using yaml::Reader;

constexpr std::string_view k_sap_example =
    "btp: { type: sap-service-manager, sm_url: https://service-manager.cfapps.eu10.hana."
    "ondemand.com, ca_bundle: /etc/ssl/certs/ca-certificates.crt, token: { url: https://"
    "mysub.authentication.cert.eu10.hana.ondemand.com/oauth/token, client_id: \"sb-sm!b1\", "
    "method: tls_client_auth }, auth: { mtls: credential:sm } }";

constexpr std::string_view k_sap_credential_example =
    "sap: { service_instance_name: my-event-mesh, wrap: xsuaa, x509: { key-length: 2048, "
    "validity: 7, validity-type: DAYS } }";

std::vector<std::string> sap_keys() {
  std::vector<std::string> keys;
  for (auto& k : network_keys()) keys.push_back(k == "url" ? "sm_url" : std::move(k));
  keys.emplace_back("token");
  keys.emplace_back("host");
  return keys;
}

std::shared_ptr<const IssuerOptions> read_sap(const Field& entry, const Reader& reader) {
  const auto fields = issuer_fields(entry, reader, sap_keys(), k_sap_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<SapIssuerOptions>();
  bool ok = read_network_options(*fields, entry, reader, "sap-service-manager",
                                 BootstrapToken::allowed, *options, "sm_url");
  if (const Field* t = fields->get("token")) {
    if (auto token = read_token(*t, reader)) {
      options->token = std::move(*token);
    } else {
      ok = false;
    }
  } else {
    reader.add(entry.key_mark,
               "issuer " + in_quotes(entry.key) + " of type sap-service-manager needs token",
               "write token: { url: https://<subdomain>.authentication.cert.<landscape>/oauth/"
               "token, client_id: <clientid of the Service Manager binding>, method: "
               "tls_client_auth }");
    ok = false;
  }
  yaml::read_if_present(
      *fields, "host", [&](const Field& f) { return reader.string(f); }, options->host, ok);
  if (ok && auth::uses_mtls(options->token.method) &&
      options->mtls.source == MtlsAuth::Source::none) {
    reader.add(entry.key_mark,
               "issuer " + in_quotes(entry.key) + ": token method " +
                   std::string(auth::to_string(options->token.method)) +
                   " needs a client certificate",
               "write auth: { mtls: credential:<the credential of the Service Manager "
               "binding> }");
    ok = false;
  }
  if (!ok) return nullptr;
  return options;
}

// `x509: { key-length, validity, validity-type }`, the names SAP documents (protocols.md §2.5).
bool read_x509(const Field& field, const Reader& reader, SapCredentialOptions& out) {
  const auto fields = reader.fields(*field.value, field.value_mark, "x509",
                                    {"key-length", "validity", "validity-type"},
                                    "x509: { key-length: 2048, validity: 7, validity-type: DAYS }");
  if (!fields) return false;
  bool ok = true;
  if (const Field* f = fields->get("key-length")) {
    const auto bits = reader.integer(*f, 2048, 8192);
    if (bits && *bits != 2048 && *bits != 4096 && *bits != 8192) {
      reader.add(f->value_mark, "key-length " + std::to_string(*bits) + " is not offered",
                 "write 2048, 4096 or 8192");
      ok = false;
    } else if (bits) {
      out.key_length = static_cast<int>(*bits);
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("validity")) {
    // SAP documents 1 to 30 days; MONTHS and YEARS exist for other brokers.
    if (auto v = reader.integer(*f, 1, 3650)) {
      out.validity = static_cast<int>(*v);
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->get("validity-type")) {
    auto t = reader.string(*f);
    if (t && (*t == "DAYS" || *t == "MONTHS" || *t == "YEARS")) {
      out.validity_type = *t;
    } else {
      if (t) {
        reader.add(f->value_mark, "validity-type " + in_quotes(*t) + " is unknown",
                   "write DAYS (or MONTHS, YEARS where the service offers them)");
      }
      ok = false;
    }
  }
  return ok;
}

// `self_managed: { issuer }`.
std::optional<SapSelfManaged> read_self_managed(const Field& field, const Reader& reader,
                                                yaml::Mark& issuer_mark) {
  const auto fields = reader.fields(*field.value, field.value_mark, "self_managed", {"issuer"},
                                    "self_managed: { issuer: <an issuer of the configuration> }");
  if (!fields) return std::nullopt;
  SapSelfManaged out;
  bool ok = true;
  yaml::read_if_present(
      *fields, "issuer", [&](const Field& f) { return reader.string(f); }, out.issuer, ok);
  if (const Field* f = fields->get("issuer")) issuer_mark = f->value_mark;
  if (ok && out.issuer.empty()) {
    reader.add(field.key_mark, "self_managed needs issuer",
               "write self_managed: { issuer: <the issuer that makes the certificate> }");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

bool read_instance(const Fields& fields, const Field& field, const Reader& reader,
                   SapCredentialOptions& out) {
  bool ok = true;
  const auto string = [&](const Field& f) { return reader.string(f); };
  yaml::read_if_present(fields, "service_instance_id", string, out.service_instance_id, ok);
  yaml::read_if_present(fields, "service_instance_name", string, out.service_instance_name, ok);
  if (!ok) return false;
  if (out.service_instance_id.empty() == out.service_instance_name.empty()) {
    reader.add(field.key_mark,
               "sap: needs exactly one of service_instance_id and service_instance_name",
               "write service_instance_name: <the instance's name> (looked up once), or "
               "service_instance_id: <its id>");
    return false;
  }
  return true;
}

std::optional<SapWrap> read_wrap(const Field& field, const Reader& reader) {
  auto text = reader.string(field);
  if (!text) return std::nullopt;
  if (*text == "xsuaa") return SapWrap::xsuaa;
  if (*text == "none") return SapWrap::none;
  reader.add(field.value_mark, "wrap " + in_quotes(*text) + " is unknown",
             "write wrap: xsuaa for services that delegate to XSUAA (Event Mesh, Audit Log), or "
             "wrap: none for an XSUAA or Service Manager instance");
  return std::nullopt;
}

// Every binding the state remembers carries its name, prefix included, in the 4 KiB state.
std::optional<std::string> read_name_prefix(const Field& field, const Reader& reader) {
  auto text = reader.string(field);
  if (text && text->size() > k_max_name_prefix) {
    reader.add(field.value_mark,
               "name_prefix is " + std::to_string(text->size()) + " characters long, more than " +
                   std::to_string(k_max_name_prefix),
               "write a shorter name_prefix: every binding name also carries the host name and "
               "a time, and certrotd keeps the names of the bindings it made in its state");
    return std::nullopt;
  }
  return text;
}

std::shared_ptr<const CredentialOptions> read_sap_credential(const Field& field,
                                                             const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "sap",
                                    {"service_instance_id", "service_instance_name", "wrap", "x509",
                                     "name_prefix", "retire_after", "service_key", "self_managed"},
                                    k_sap_credential_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<SapCredentialOptions>();
  bool ok = read_instance(*fields, field, reader, *options);
  yaml::read_if_present(
      *fields, "wrap", [&](const Field& f) { return read_wrap(f, reader); }, options->wrap, ok);
  if (const Field* f = fields->get("x509")) ok = read_x509(*f, reader, *options) && ok;
  yaml::read_if_present(
      *fields, "name_prefix", [&](const Field& f) { return read_name_prefix(f, reader); },
      options->name_prefix, ok);
  yaml::read_if_present(
      *fields, "retire_after", [&](const Field& f) { return reader.duration(f, Millis(0)); },
      options->retire_after, ok);
  yaml::read_if_present(
      *fields, "service_key", [&](const Field& f) { return reader.boolean(f); },
      options->service_key, ok);
  if (const Field* f = fields->get("self_managed")) {
    if (auto self = read_self_managed(*f, reader, options->self_managed_issuer_mark)) {
      options->self_managed = std::move(*self);
    } else {
      ok = false;
    }
    if (const Field* x = fields->get("x509"); x != nullptr && options->self_managed) {
      reader.add(x->key_mark, "x509 parameters are for certificates the service makes",
                 "remove x509: with self_managed, the credential's key: and the other issuer "
                 "decide key and validity");
      ok = false;
    }
  }
  if (!ok) return nullptr;
  return options;
}

Result<std::shared_ptr<Issuer>> create_sap(const IssuerOptions& options,
                                           const IssuerContext& context) {
  SapIssuerOptions sap = options_as<SapIssuerOptions>(options);
  auto deps = network_deps(sap, context);
  if (!deps) return fail(deps.error());
  if (sap.bootstrap) {
    if (auto r = resolve_secret(sap.bootstrap->token, context); !r) return fail(r.error());
  }
  auto issuer = SapServiceManagerIssuer::create(std::move(sap), std::move(*deps), context.issuer);
  if (!issuer) return fail(issuer.error());
  return std::shared_ptr<Issuer>(std::move(*issuer));
}

}  // namespace

std::optional<x509::KeySpec> SapCredentialOptions::key() const {
  if (self_managed) return std::nullopt;
  x509::KeySpec spec;
  spec.type = x509::KeyType::rsa;
  spec.rsa_bits = key_length;
  return spec;
}

std::vector<CredentialOptions::IssuerReference> SapCredentialOptions::issuers_named() const {
  if (!self_managed) return {};
  return {IssuerReference{self_managed->issuer, self_managed_issuer_mark}};
}

std::optional<CredentialOptions::Refusal> SapCredentialOptions::refuses_staged() const {
  return Refusal{
      "activation: staged does not work with a sap-service-manager issuer yet: its "
      "upkeep deletes the staged version's binding, which is newer than the live "
      "one, and activating it would make a certificate live that no longer gets a "
      "token",
      "remove activation:, or write activation: { mode: immediate }; retire_after "
      "keeps the replaced binding usable while consumers move to the new one"};
}

IssuerType sap_service_manager_issuer_type() {
  IssuerType type{"sap-service-manager", true, read_sap, create_sap, network_anchors, {}};
  type.credential_key = "sap";
  type.read_credential = read_sap_credential;
  type.credential_key_required = true;
  type.credential_example = std::string(k_sap_credential_example);
  return type;
}

}  // namespace certrotd::issuer
