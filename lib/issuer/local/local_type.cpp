// `type: local` in the configuration: its keys, its factory and its roots.
#include "issuer/local/local.hpp"
#include "util/files.hpp"

namespace certrotd::issuer {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_local_example =
    "dev-ca: { type: local, ca_cert: /etc/certrotd/ca/ca.pem, ca_key: /etc/certrotd/ca/ca.key }";

std::vector<std::string> local_keys() {
  return {"ca_cert", "ca_key", "ca_key_passphrase_file", "chain", "roots", "lifetime", "backdate"};
}

void require_ca_files(const yaml::Fields& fields, const yaml::Field& entry,
                      const yaml::Reader& reader, bool& ok) {
  for (const char* required : {"ca_cert", "ca_key"}) {
    if (!fields.get(required)) {
      reader.add(entry.key_mark,
                 "issuer " + in_quotes(entry.key) + " of type local needs " + required,
                 std::string("write ") + required + ": /etc/certrotd/ca/" +
                     (std::string_view(required) == "ca_cert" ? "ca.pem" : "ca.key"));
      ok = false;
    }
  }
}

void read_duration(const yaml::Fields& fields, const char* key, Millis min,
                   const yaml::Reader& reader, Millis& out, bool& ok) {
  const yaml::Field* f = fields.get(key);
  if (!f) return;
  if (auto d = reader.duration(*f, min))
    out = *d;
  else
    ok = false;
}

std::shared_ptr<const IssuerOptions> read_local(const yaml::Field& entry,
                                                const yaml::Reader& reader) {
  const auto fields = issuer_fields(entry, reader, local_keys(), k_local_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<LocalIssuerOptions>();
  bool ok = true;
  require_ca_files(*fields, entry, reader, ok);
  const auto read_path = [&](const char* key) -> std::optional<fs::path> {
    const yaml::Field* f = fields->get(key);
    if (!f) return std::nullopt;
    auto p = reader.path(*f);
    if (!p) ok = false;
    return p;
  };
  if (auto p = read_path("ca_cert")) options->ca_cert = *p;
  if (auto p = read_path("ca_key")) options->ca_key = *p;
  options->ca_key_passphrase_file = read_path("ca_key_passphrase_file");
  options->chain = read_path("chain");
  options->roots = read_path("roots");
  read_duration(*fields, "lifetime", Millis(std::chrono::seconds(1)), reader, options->lifetime,
                ok);
  read_duration(*fields, "backdate", Millis(0), reader, options->backdate, ok);
  if (!ok) return nullptr;
  return options;
}

Result<std::shared_ptr<Issuer>> create_local(const IssuerOptions& options,
                                             const IssuerContext& context) {
  auto local = LocalIssuer::create(options_as<LocalIssuerOptions>(options), *context.clock,
                                   *context.random);
  if (!local) return fail(local.error());
  return std::shared_ptr<Issuer>(std::move(*local));
}

// The local CA hands out its roots with every chain (IssuedCredential::ca).
Result<Anchors> no_anchors(const IssuerOptions&) { return Anchors{}; }

// An imported chain verifies to the CA's roots: `roots`, or its own certificate.
Result<Anchors> local_roots(const IssuerOptions& options) {
  const auto& local = options_as<LocalIssuerOptions>(options);
  auto text = read_file(local.roots ? *local.roots : local.ca_cert);
  if (!text) return fail(text.error());
  return x509::parse_certificates(*text);
}

}  // namespace

IssuerType local_issuer_type() {
  return IssuerType{"local", false, read_local, create_local, no_anchors, local_roots};
}

}  // namespace certrotd::issuer
