#include "engine/rotation.hpp"

#include <sys/stat.h>

#include "engine/validate.hpp"
#include "util/files.hpp"
#include "x509/csr.hpp"

namespace certrotd::engine {

namespace {

Result<std::optional<std::string>> key_passphrase(const config::CredentialConfig& config) {
  if (!config.key_passphrase_file) return std::optional<std::string>{};
  auto pass = read_passphrase(*config.key_passphrase_file);
  if (!pass) return fail(pass.error());
  return std::optional<std::string>(std::move(*pass));
}

Result<std::string> optional_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::string{};
  return read_file(path);
}

std::vector<x509::Certificate> tail(const std::vector<x509::Certificate>& chain) {
  return {chain.begin() + (chain.empty() ? 0 : 1), chain.end()};
}

Event event_for(const CredentialPlan& plan, EventKind kind, const x509::CertInfo& info,
                std::string message) {
  return Event{kind, Severity::info, plan.config.name, plan.config.issuer, info.serial,
               info.not_after, std::move(message)};
}

}  // namespace

Result<std::string> read_passphrase(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return fail(text.error().wrap("cannot read passphrase file"));
  std::string value = std::move(*text);
  const auto end = value.find_first_of("\r\n");
  if (end != std::string::npos) value.resize(end);
  if (value.empty()) return fail("passphrase file is empty", file.string());
  return value;
}

std::uint64_t live_files_id(const config::CredentialConfig& config) {
  // FNV-1a: stable across builds and versions, which std::hash is not promised to be.
  std::uint64_t id = 0xcbf29ce484222325ULL;
  const auto mix = [&id](std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      id ^= (value >> (8 * i)) & 0xff;
      id *= 0x100000001b3ULL;
    }
  };
  for (const auto content : {store::Content::cert, store::Content::key}) {
    struct stat st {};
    const std::string path = config.output.dir + "/" + std::string(store::file_name(content));
    if (::stat(path.c_str(), &st) != 0) return 0;
    mix(static_cast<std::uint64_t>(st.st_dev));
    mix(static_cast<std::uint64_t>(st.st_ino));
    mix(static_cast<std::uint64_t>(st.st_size));
    mix(static_cast<std::uint64_t>(st.st_mtim.tv_sec));
    mix(static_cast<std::uint64_t>(st.st_mtim.tv_nsec));
  }
  return id == 0 ? 1 : id;  // 0 means "unknown"
}

Result<std::optional<LiveCredential>> read_live(const config::CredentialConfig& config) {
  const auto live_path = [&](store::Content c) {
    return std::filesystem::path(config.output.dir) / store::file_name(c);
  };
  std::error_code ec;
  if (!std::filesystem::exists(live_path(store::Content::cert), ec)) {
    return std::optional<LiveCredential>{};
  }
  auto cert_text = read_file(live_path(store::Content::cert));
  if (!cert_text) return fail(cert_text.error());
  auto chain_text = optional_file(live_path(store::Content::chain));
  if (!chain_text) return fail(chain_text.error());
  auto key_text = read_file(live_path(store::Content::key));
  if (!key_text) return fail(key_text.error());

  auto chain = x509::parse_certificates(*cert_text + *chain_text);
  if (!chain) return fail(chain.error().wrap("cannot parse the live certificate"));
  auto pass = key_passphrase(config);
  if (!pass) return fail(pass.error());
  auto key = x509::parse_private_key(*key_text, *pass ? std::optional<std::string_view>(**pass)
                                                       : std::nullopt);
  if (!key) return fail(key.error().wrap("cannot parse the live key"));
  if (!x509::key_matches(*key, chain->front())) {
    return fail("the live key does not match the live certificate",
                live_path(store::Content::key).string());
  }
  return std::optional<LiveCredential>(LiveCredential{std::move(*chain), std::move(*key)});
}

Result<Installed> rotate(const CredentialPlan& plan, const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;

  // The current credential authenticates the renewal where the issuer needs it; a broken or
  // missing one just means the issuer must accept us without it.
  std::optional<issuer::CurrentCredential> current;
  std::optional<std::string> current_fingerprint;
  if (auto live = read_live(config); live && *live) {
    current_fingerprint = (*live)->chain.front().info().sha256_fingerprint;
    current = issuer::CurrentCredential{std::move((*live)->chain), std::move((*live)->key)};
  }

  issuer::IssueRequest request{config.name, std::nullopt, config.request, config.key,
                               config.lifetime, std::move(current)};
  std::optional<x509::PrivateKey> key;
  if (!plan.issuer->generates_keys()) {
    auto generated = x509::generate_key(config.key);
    if (!generated) return fail(generated.error().wrap("cannot generate key"));
    auto csr = x509::build_csr(*generated, config.request);
    if (!csr) return fail(csr.error().wrap("cannot build CSR"));
    request.csr_pem = std::move(*csr);
    key = std::move(*generated);
  }

  auto issued = plan.issuer->issue(request);
  if (!issued) return fail(issued.error().wrap("issuer " + plan.config.issuer));
  if (issued->key) {
    key = std::move(issued->key);
  }
  if (!key) {
    return fail("issuer " + plan.config.issuer + " returned no key and none was generated");
  }

  const std::vector<x509::Certificate>& anchors =
      plan.anchors && !plan.anchors->empty() ? *plan.anchors : issued->ca;
  const Expectations expected{config.request,  config.key,  anchors, env.clock.wall_now(),
                              env.min_remaining_validity, std::chrono::minutes(5),
                              current_fingerprint};
  if (auto valid = validate_issued(issued->chain, *key, expected); !valid) {
    return fail(valid.error().wrap("issuer " + plan.config.issuer + " answer rejected"));
  }
  const x509::CertInfo& info = issued->chain.front().info();
  env.events.emit(event_for(plan, EventKind::validated, info, {}));

  auto pass = key_passphrase(config);
  if (!pass) return fail(pass.error());
  auto key_pem = key->to_pkcs8_pem(*pass ? std::optional<std::string_view>(**pass) : std::nullopt);
  if (!key_pem) return fail(key_pem.error());

  store::CredentialFiles files{issued->chain.front().to_pem(), x509::to_pem(tail(issued->chain)),
                               std::move(*key_pem), x509::to_pem(anchors)};
  auto version = plan.store.install(files, info.serial);
  if (!version) return fail(version.error().wrap("cannot install the new credential"));
  env.events.emit(event_for(plan, EventKind::swapped, info, "version " + *version));
  return Installed{info, std::move(*version)};
}

std::vector<notify::ActionOutcome> notify_dependents(const CredentialPlan& plan,
                                                     const std::string& old_serial,
                                                     const Installed& installed,
                                                     const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  if (config.on_rotate.empty() || !env.actions) return {};
  const notify::RotationFacts facts{config.name, config.output.dir, old_serial,
                                    installed.info.serial, format_time(installed.info.not_after)};
  const notify::RetryPolicy retry{3, config.policy.backoff_base, config.policy.backoff_cap};
  auto outcomes = env.actions->run(config.on_rotate, facts, retry);
  for (const auto& outcome : outcomes) {
    Event event = event_for(plan, outcome.ok ? EventKind::dependent_reloaded
                                             : EventKind::dependent_failed,
                            installed.info, {});
    event.severity = outcome.ok ? Severity::info : Severity::error;
    event.message = outcome.action + ": " + outcome.detail;
    if (!outcome.ok) {
      event.message += " (after " + std::to_string(outcome.attempts) +
                       " attempts; the new credential stays live)";
    }
    if (!outcome.output.empty()) event.message += "; output: " + outcome.output;
    env.events.emit(event);
  }
  return outcomes;
}

}  // namespace certrotd::engine
