#include "engine/rotation.hpp"

#include <sys/stat.h>

#include "engine/pending_request.hpp"
#include "engine/validate.hpp"
#include "util/files.hpp"
#include "util/secret.hpp"
#include "x509/csr.hpp"

namespace certrotd::engine {

namespace {

Result<std::optional<Secret>> key_passphrase(const config::CredentialConfig& config) {
  if (!config.key_passphrase_file) return std::optional<Secret>{};
  auto pass = read_secret_file(*config.key_passphrase_file, "key passphrase file");
  if (!pass) return fail(pass.error());
  return std::optional<Secret>(std::move(*pass));
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
  return Event{kind,        Severity::info, plan.config.name,  plan.config.issuer,
               info.serial, info.not_after, std::move(message)};
}

// The error of a file operation, classed as io unless the store said otherwise.
Error io_error(const Error& error) {
  return error.reason == Reason::unspecified ? error.because(Reason::io) : error;
}

// The id of the live version when its certificate is `cert_pem`: how a failed install tells
// "not swapped" from "swapped, copies missing".
Result<std::string> live_version_id(const store::CredentialStore& store,
                                    const std::string& cert_pem) {
  auto files = store.load_current();
  if (!files) return fail(files.error());
  if (!*files || (*files)->cert != cert_pem) return fail("the new version is not live");
  auto versions = store.versions();
  if (!versions) return fail(versions.error());
  for (const auto& v : *versions) {
    if (v.live) return v.id;
  }
  return fail("no version is live");
}

// What a replacement must verify to, and the ca.pem installed with it: the issuer's anchors, or
// for the local issuer (whose roots come from the issuer itself) the live ca.pem.
struct Roots {
  std::vector<x509::Certificate> certs;
  std::string pem;
};

Result<Roots> replacement_roots(const store::CredentialStore& store,
                                std::span<const x509::Certificate> anchors) {
  if (!anchors.empty()) {
    std::vector<x509::Certificate> certs(anchors.begin(), anchors.end());
    std::string pem = x509::to_pem(certs);
    return Roots{std::move(certs), std::move(pem)};
  }
  auto text = optional_file(store.live_path(store::Content::ca));
  if (!text) return fail(io_error(text.error()));
  if (text->empty()) return Roots{};
  auto parsed = x509::parse_certificates(*text);
  if (!parsed) return fail(parsed.error().wrap("cannot parse the live ca.pem"));
  return Roots{std::move(*parsed), std::move(*text)};
}

// install() failed; when the new version is live nevertheless (the failure came after the swap:
// copies, pruning), its id, and the copy error if writing the copies once more still fails (a
// pruning failure alone costs only disk space and is retried by the next install).
// nullopt when the old version is still live.
std::optional<std::pair<std::string, std::optional<Error>>> after_swap_failure(
    const store::CredentialStore& store, const store::CredentialFiles& files) {
  auto live = live_version_id(store, files.cert);
  if (!live) return std::nullopt;
  std::optional<Error> copy_error;
  if (auto r = store.write_copies(files); !r) copy_error = io_error(r.error());
  return std::pair{std::move(*live), std::move(copy_error)};
}

// The live version's own files, read through `..data` rather than through the stable names.
struct LiveVersion {
  std::string cert, chain, key, ca, fullchain, bundle;

  // As install() wrote it: fullchain.pem and bundle.pem still begin with cert.pem and key.pem.
  bool consistent() const {
    return fullchain.starts_with(cert) && bundle.starts_with(key) && !cert.empty() && !key.empty();
  }

  // The credential as install() wrote it, from bundle.pem (key, certificate, chain).
  Result<store::CredentialFiles> restored() const {
    const auto end_marker = bundle.find("-----END ");
    const auto line_end = end_marker == std::string::npos ? end_marker
                                                          : bundle.find('\n', end_marker);
    if (line_end == std::string::npos) return fail("bundle.pem holds no key");
    auto certs = x509::parse_certificates(std::string_view(bundle).substr(line_end + 1));
    if (!certs || certs->empty()) return fail("bundle.pem holds no certificate");
    return store::CredentialFiles{certs->front().to_pem(), x509::to_pem(tail(*certs)),
                                  bundle.substr(0, line_end + 1), ca};
  }
};

Result<LiveVersion> read_version(const std::string& dir) {
  const std::filesystem::path data = std::filesystem::path(dir) / "..data";
  LiveVersion out;
  for (auto [content, text] :
       {std::pair{store::Content::cert, &out.cert}, std::pair{store::Content::chain, &out.chain},
        std::pair{store::Content::key, &out.key}, std::pair{store::Content::ca, &out.ca},
        std::pair{store::Content::fullchain, &out.fullchain},
        std::pair{store::Content::bundle, &out.bundle}}) {
    auto read = optional_file(data / store::file_name(content));
    if (!read) return fail(read.error());
    *text = std::move(*read);
  }
  return out;
}

// What an operator placed under the stable names cert.pem, chain.pem and key.pem.
struct Placed {
  std::string cert_text;
  std::string key_text;
  Replacement replacement;
};

Result<Placed> read_placed(const config::CredentialConfig& config) {
  const std::filesystem::path dir = config.output.dir;
  auto cert_text = read_file(dir / store::file_name(store::Content::cert));
  if (!cert_text) return fail(cert_text.error());
  auto key_text = read_file(dir / store::file_name(store::Content::key));
  if (!key_text) return fail(key_text.error());
  auto chain = x509::parse_certificates(*cert_text);
  if (!chain) return fail(chain.error().wrap("cert.pem"));
  if (chain->size() == 1) {
    // A leaf alone: its intermediates are in chain.pem (the old ones, when only cert.pem and
    // key.pem were replaced; verification below tells whether they fit).
    auto chain_text = optional_file(dir / store::file_name(store::Content::chain));
    if (!chain_text) return fail(chain_text.error());
    if (!chain_text->empty()) {
      auto more = x509::parse_certificates(*chain_text);
      if (!more) return fail(more.error().wrap("chain.pem"));
      for (auto& c : *more) chain->push_back(std::move(c));
    }
  }
  auto pass = key_passphrase(config);
  if (!pass) return fail(pass.error());
  auto key = x509::parse_private_key(
      *key_text, *pass ? std::optional<std::string_view>((*pass)->view()) : std::nullopt);
  if (!key) return fail(key.error().wrap("key.pem"));
  return Placed{std::move(*cert_text), std::move(*key_text),
                Replacement{std::move(*chain), std::move(*key)}};
}

// Asks the issuer and records its answer besides the certificate in `exchange`.
Result<issuer::IssuedCredential> ask_issuer(const CredentialPlan& plan,
                                            const issuer::IssueRequest& request,
                                            IssuerExchange& exchange) {
  const std::string who = "issuer " + plan.config.issuer;
  auto outcome = plan.issuer->issue_outcome(request);
  if (!outcome) return fail(outcome.error().wrap(who));
  if (outcome->state && outcome->state->size() > issuer::k_max_issuer_state) {
    // Never quoted: the state may hold anything the issuer sees fit.
    return fail(Reason::invalid_answer,
                who + " returned " + std::to_string(outcome->state->size()) +
                    " bytes of private state, more than the " +
                    std::to_string(issuer::k_max_issuer_state) + " certrotd keeps");
  }
  exchange.answered = true;
  exchange.state_out = std::move(outcome->state);
  exchange.upkeep_after = outcome->upkeep_after;
  if (auto* later = std::get_if<issuer::NotYet>(&outcome->answer)) {
    exchange.not_yet = std::move(*later);
    return fail_retryable(
        who + ": not issued yet" +
        (exchange.not_yet->detail.empty() ? "" : " (" + exchange.not_yet->detail + ")"));
  }
  auto& issued = std::get<issuer::IssuedCredential>(outcome->answer);
  exchange.window = issued.renewal_window;
  return std::move(issued);
}

// The key a rotation asks for: with `key: { reuse: true }` the live one while it is of the
// type asked for (`spec`), as `getcert resubmit` and `step ca renew` do; otherwise a new one. A
// live key of another type means the operator changed `key:` (or the issuer asks for another
// type), which only a new key can honour.
struct KeyChoice {
  x509::PrivateKey key;
  bool reused = false;
};

Result<KeyChoice> choose_key(const CredentialPlan& plan,
                             const std::optional<x509::PrivateKey>& live, const x509::KeySpec& spec,
                             const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  if (config.key_reuse && live && live->spec() == spec) return KeyChoice{*live, true};
  auto generated = x509::generate_key(spec);
  if (!generated) return fail(generated.error().wrap("cannot generate key"));
  if (config.key_reuse) {
    const std::string asker = spec == config.key ? "the configuration" : "the issuer";
    const std::string why = live ? "the live key is " + x509::to_string(live->spec()) + ", " +
                                       asker + " asks for " + x509::to_string(spec)
                                 : std::string("there is no usable live key");
    env.events.emit(Event{
        EventKind::key_generated,
        Severity::info,
        config.name,
        config.issuer,
        {},
        std::nullopt,
        "key.reuse is set but " + why + ": a new " + x509::to_string(spec) + " key was generated"});
  }
  return KeyChoice{std::move(*generated), false};
}

// The key type the issuer asks for (Issuer::requested_key) when it differs from `key:`.
Result<std::optional<issuer::Issuer::RequestedKey>> asked_key(const CredentialPlan& plan,
                                                              const issuer::IssueRequest& request) {
  auto asked = plan.issuer->requested_key(request);
  if (!asked) return fail(asked.error().wrap("issuer " + plan.config.issuer));
  if (*asked && (*asked)->spec == plan.config.key) asked->reset();
  return asked;
}

// Says once per rotation why the key is not of the configured type.
void say_asked_key(const CredentialPlan& plan, const issuer::Issuer::RequestedKey& asked,
                   bool reused, const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  const std::string type = x509::to_string(asked.spec);
  env.events.emit(Event{EventKind::key_generated,
                        Severity::info,
                        config.name,
                        config.issuer,
                        {},
                        std::nullopt,
                        asked.who + " asks for an " + type + " key; key: says " +
                            x509::to_string(config.key) +
                            (reused ? ", so the live " + type + " key is kept"
                                    : ", so a new " + type + " key is made")});
}

// The key and CSR of a rotation: the request the issuer holds for approval when one is kept
// (engine/pending_request.hpp; `resumed` says so), otherwise a CSR for the key choose_key picks.
struct RequestKey {
  x509::PrivateKey key;
  std::string csr_pem;
  bool reused = false;
  bool resumed = false;
};

Result<RequestKey> request_key(const CredentialPlan& plan,
                               const std::optional<x509::PrivateKey>& live,
                               const issuer::IssueRequest& request, const RotationEnv& env) {
  auto pass = key_passphrase(plan.config);
  if (!pass) return fail(pass.error());
  const auto passphrase = *pass ? std::optional<std::string_view>((*pass)->view()) : std::nullopt;
  // A kept key of another type than `key:` goes again only while the issuer still asks for it.
  const auto still_asked = [&](const x509::KeySpec& kept) {
    auto asked = plan.issuer->requested_key(request);
    return asked && *asked && (*asked)->spec == kept;
  };
  auto pending = resume_pending(plan, passphrase, still_asked);
  if (!pending) return fail(pending.error());
  if (*pending) {
    const bool reused = live && EVP_PKEY_eq(live->get(), (*pending)->key.get()) == 1;
    return RequestKey{std::move((*pending)->key), std::move((*pending)->csr_pem), reused, true};
  }
  auto asked = asked_key(plan, request);
  if (!asked) return fail(asked.error());
  const x509::KeySpec& spec = *asked ? (*asked)->spec : plan.config.key;
  auto chosen = choose_key(plan, live, spec, env);
  if (!chosen) return fail(chosen.error());
  if (*asked) say_asked_key(plan, **asked, chosen->reused, env);
  auto csr = x509::build_csr(chosen->key, plan.config.request);
  if (!csr) return fail(csr.error().wrap("cannot build CSR"));
  return RequestKey{std::move(chosen->key), std::move(*csr), chosen->reused};
}

// After the issuer's answer to `sent`: kept for the next attempt when it said "not yet" (once:
// a resumed request is kept already), forgotten when it answered with a certificate or failed
// permanently; a transient failure changes nothing. An error here is reported in place of the
// issuer's answer (still "not yet" for the schedule): the operator learns that the next attempt
// cannot send the same request. Nothing is kept when the issuer made the key (no CSR went).
// Removing the request after an answer is clean-up: a failure there is a warning, never an error,
// or the certificate just issued would be thrown away and the next attempt would ask for another.
Result<void> settle_pending(const CredentialPlan& plan, const RotationEnv& env,
                            const std::optional<x509::PrivateKey>& key,
                            const std::optional<std::string>& csr_pem, bool resumed,
                            const IssuerExchange& exchange,
                            const Result<issuer::IssuedCredential>& issued) {
  if (!key || !csr_pem) return {};
  if (exchange.not_yet) {
    if (resumed) return {};
    auto pass = key_passphrase(plan.config);
    if (!pass) return fail(pass.error());
    return keep_pending(plan, PendingRequest{*key, *csr_pem},
                        *pass ? std::optional<std::string_view>((*pass)->view()) : std::nullopt);
  }
  const bool done = issued || issued.error().kind == ErrorKind::permanent;
  if (!done || !resumed) return {};
  if (auto r = forget_pending(plan); !r) {
    // Like a network issuer's warnings during a rotation: the kind of the job, from the worker.
    env.events.emit(Event{EventKind::renewing,
                          Severity::warning,
                          plan.config.name,
                          plan.config.issuer,
                          {},
                          std::nullopt,
                          "cannot remove the pending request (" + r.error().message +
                              "); the issuer's answer is used, the file is removed next time"});
  }
  return {};
}

}  // namespace

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
  auto key = x509::parse_private_key(
      *key_text, *pass ? std::optional<std::string_view>((*pass)->view()) : std::nullopt);
  if (!key) return fail(key.error().wrap("cannot parse the live key"));
  if (!x509::key_matches(*key, chain->front())) {
    return fail("the live key does not match the live certificate",
                live_path(store::Content::key).string());
  }
  return std::optional<LiveCredential>(LiveCredential{std::move(*chain), std::move(*key)});
}

Result<Installed> rotate(const CredentialPlan& plan, const RotationEnv& env) {
  IssuerExchange exchange;
  return rotate(plan, env, exchange);
}

Result<Installed> rotate(const CredentialPlan& plan, const RotationEnv& env,
                         IssuerExchange& exchange) {
  const config::CredentialConfig& config = plan.config;

  // The current credential authenticates the renewal where the issuer needs it; a broken or
  // missing one just means the issuer must accept us without it.
  std::optional<issuer::CurrentCredential> current;
  std::optional<std::string> current_fingerprint;
  std::optional<x509::PrivateKey> live_key;
  if (auto live = read_live(config); live && *live) {
    current_fingerprint = (*live)->chain.front().info().sha256_fingerprint;
    live_key = (*live)->key;  // shares the EVP_PKEY
    current = issuer::CurrentCredential{std::move((*live)->chain), std::move((*live)->key)};
  }

  issuer::IssueRequest request{config.name,     std::nullopt,       config.request,   config.key,
                               config.lifetime, std::move(current), exchange.state_in};
  request.options = config.issuer_options;
  std::optional<x509::PrivateKey> key;
  bool key_reused = false;
  bool resumed = false;
  // The type the certificate's key must have: `key:` for a key the issuer makes, otherwise that
  // of the key sent (what the issuer asked for, or a kept pending request's).
  x509::KeySpec key_spec = config.key;
  if (!plan.issuer->generates_keys()) {
    auto chosen = request_key(plan, live_key, request, env);
    if (!chosen) return fail(chosen.error());
    resumed = chosen->resumed;
    key_spec = chosen->key.spec();
    request.csr_pem = std::move(chosen->csr_pem);
    request.csr_key = chosen->key;  // shares the EVP_PKEY
    key = std::move(chosen->key);
    key_reused = chosen->reused;
  }

  auto issued = ask_issuer(plan, request, exchange);
  if (auto kept = settle_pending(plan, env, key, request.csr_pem, resumed, exchange, issued);
      !kept) {
    return fail(kept.error());
  }
  if (!issued) return fail(issued.error());
  if (issued->key) {
    key = std::move(issued->key);
  }
  if (!key) {
    return fail("issuer " + plan.config.issuer + " returned no key and none was generated");
  }

  const std::vector<x509::Certificate>& anchors = plan.anchors && !plan.anchors->empty()
                                                      ? *plan.anchors
                                                      : issued->ca;
  const Expectations expected{config.request,
                              key_spec,
                              anchors,
                              env.clock.wall_now(),
                              env.min_remaining_validity,
                              std::chrono::minutes(5),
                              current_fingerprint,
                              config.issuer_options && !config.issuer_options->needs_names()};
  if (auto valid = validate_issued(issued->chain, *key, expected); !valid) {
    return fail(valid.error()
                    .wrap("issuer " + plan.config.issuer + " answer rejected")
                    .because(Reason::invalid_answer));
  }
  const x509::CertInfo& info = issued->chain.front().info();
  env.events.emit(event_for(plan, EventKind::validated, info, {}));

  auto pass = key_passphrase(config);
  if (!pass) return fail(pass.error());
  auto key_pem = key->to_pkcs8_pem(*pass ? std::optional<std::string_view>((*pass)->view())
                                         : std::nullopt);
  if (!key_pem) return fail(key_pem.error());

  store::CredentialFiles files{issued->chain.front().to_pem(), x509::to_pem(tail(issued->chain)),
                               std::move(*key_pem), x509::to_pem(anchors)};
  files.extras = std::move(issued->files);
  // Partners learn a staged certificate before it is used; with nothing live there is nothing
  // to keep serving meanwhile, so a first issuance goes live at once.
  if (config.activation.mode == schedule::ActivationMode::staged && current_fingerprint) {
    auto staged = plan.store.stage(files, info.serial);
    if (!staged) return fail(io_error(staged.error()).wrap("cannot stage the new credential"));
    Installed out{info, std::move(*staged), std::nullopt, key_reused};
    out.staged = true;
    return out;
  }
  auto version = plan.store.install(files, info.serial, store::Change{env.clock.wall_now()});
  if (!version) {
    // install() writes the copies last: when they failed, the new version is live all the same,
    // and saying "old credential kept" would be false.
    if (auto live = after_swap_failure(plan.store, files); live) {
      env.events.emit(event_for(plan, EventKind::swapped, info, "version " + live->first));
      return Installed{info, std::move(live->first), std::move(live->second), key_reused};
    }
    return fail(io_error(version.error()).wrap("cannot install the new credential"));
  }
  env.events.emit(event_for(plan, EventKind::swapped, info, "version " + *version));
  // A version staged before (the mode changed to immediate) must not go live after this one.
  (void)plan.store.unstage();
  return Installed{info, std::move(*version), std::nullopt, key_reused};
}

Result<Installed> rewrite_copies(const CredentialPlan& plan) {
  auto files = plan.store.load_current();
  if (!files) return fail(io_error(files.error()));
  if (!*files) return fail(Reason::io, "no version is live", plan.config.output.dir);
  auto version = live_version_id(plan.store, (*files)->cert);
  if (!version) return fail(io_error(version.error()));
  auto leaf = x509::parse_certificate((*files)->cert);
  if (!leaf) return fail(leaf.error().wrap("cannot parse the live certificate"));
  if (auto r = plan.store.write_copies(**files); !r) return fail(io_error(r.error()));
  return Installed{leaf->info(), std::move(*version), std::nullopt};
}

Result<Installed> install_replacement(const config::CredentialConfig& config,
                                      const store::CredentialStore& store,
                                      const Replacement& replacement,
                                      std::span<const x509::Certificate> anchors, SystemTime now) {
  auto roots = replacement_roots(store, anchors);
  if (!roots) return fail(roots.error());
  if (auto r = validate_replacement(replacement.chain, replacement.key, roots->certs, now); !r) {
    return fail(r.error().because(Reason::config));
  }
  std::string ca_pem = std::move(roots->pem);
  auto pass = key_passphrase(config);
  if (!pass) return fail(pass.error());
  auto key_pem = replacement.key.to_pkcs8_pem(
      *pass ? std::optional<std::string_view>((*pass)->view()) : std::nullopt);
  if (!key_pem) return fail(key_pem.error());
  const x509::CertInfo& info = replacement.chain.front().info();
  store::CredentialFiles files{replacement.chain.front().to_pem(),
                               x509::to_pem(tail(replacement.chain)), std::move(*key_pem),
                               std::move(ca_pem)};
  auto version = store.install(files, info.serial,
                               store::Change{now, store::Ending::replaced_by_hand});
  if (!version) {
    if (auto live = after_swap_failure(store, files); live) {
      return Installed{info, std::move(live->first), std::move(live->second)};
    }
    return fail(io_error(version.error()).wrap("cannot install the replacement"));
  }
  return Installed{info, std::move(*version), std::nullopt};
}

Result<Installed> adopt_replacement(const CredentialPlan& plan, const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  const store::CredentialStore& store = plan.store;
  auto live = read_version(config.output.dir);
  if (!live) return fail(io_error(live.error()).wrap("cannot read the live version"));
  auto versions = store.versions();
  if (!versions) return fail(io_error(versions.error()));
  std::string live_id;
  for (const auto& v : *versions) {
    if (v.live) live_id = v.id;
  }
  const bool written_over = !live->consistent();
  const std::span<const x509::Certificate> anchors =
      plan.anchors ? std::span<const x509::Certificate>(*plan.anchors)
                   : std::span<const x509::Certificate>();
  auto placed = read_placed(config);
  Result<Installed> installed = fail("no replacement");
  if (placed) {
    if (!written_over && placed->cert_text == live->cert && placed->key_text == live->key) {
      // A complete version made live by someone else (offline import or rollback).
      return rewrite_copies(plan);
    }
    const SystemTime now = env.clock.wall_now();
    auto roots = replacement_roots(store, anchors);
    Result<void> usable = roots ? validate_replacement(placed->replacement.chain,
                                                       placed->replacement.key, roots->certs, now)
                                : fail(roots.error());
    if (usable && written_over) {
      // Keep what was written over as a rollback target: restored from its own bundle.pem,
      // installed just below the replacement.
      if (auto files = live->restored();
          files &&
          store.install(*files, "restored", store::Change{now, store::Ending::replaced_by_hand})) {
        if (auto r = store.discard(live_id); !r) return fail(io_error(r.error()));
      }
    }
    installed = usable ? install_replacement(config, store, placed->replacement, anchors, now)
                       : Result<Installed>(fail(usable.error().because(Reason::config)));
  }
  const bool refused = !placed || !installed;
  if (!refused && !written_over) return installed;
  // Either way the version written over must not stay a rollback target.
  if (!refused) {
    if (auto r = store.discard(live_id); !r) return fail(io_error(r.error()));
    return installed;
  }
  std::string restored_id;
  if (written_over) {
    auto files = live->restored();
    if (!files) return fail(files.error().wrap("cannot restore the version written over"));
    auto version = store.install(
        *files, "restored", store::Change{env.clock.wall_now(), store::Ending::replaced_by_hand});
    if (!version) return fail(io_error(version.error()).wrap("cannot restore the credential"));
    restored_id = *version;
    if (auto r = store.discard(live_id); !r) return fail(io_error(r.error()));
  } else if (!live_id.empty()) {
    // The stable names were replaced by files of their own: put the links back.
    store::CredentialFiles files{live->cert, live->chain, live->key, live->ca};
    auto version = store.install(files, "restored");
    if (!version) return fail(io_error(version.error()).wrap("cannot restore the credential"));
    restored_id = *version;
  }
  const Error& why = placed ? installed.error() : placed.error();
  return fail(Reason::config, "the certificate and key placed in " + config.output.dir +
                                  " were not adopted (" + why.what() +
                                  "); the previous credential is live " + "again as version " +
                                  restored_id + ". To replace it, run `certrotd import " +
                                  config.name + " --cert FILE --key FILE [--chain FILE]`");
}

std::vector<notify::ActionOutcome> notify_dependents(const CredentialPlan& plan,
                                                     const std::string& old_serial,
                                                     const Installed& installed,
                                                     const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  if (config.on_rotate.empty() || !env.actions) return {};
  const notify::RotationFacts facts{config.name, config.output.dir, old_serial,
                                    installed.info.serial,
                                    format_rfc3339(installed.info.not_after)};
  const notify::RetryPolicy retry{3, config.policy.backoff_base, config.policy.backoff_cap};
  auto outcomes = env.actions->run(config.on_rotate, facts, retry);
  for (const auto& outcome : outcomes) {
    Event event = event_for(
        plan, outcome.ok ? EventKind::dependent_reloaded : EventKind::dependent_failed,
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

std::vector<notify::ActionOutcome> notify_staged(const CredentialPlan& plan,
                                                 const std::string& live_serial,
                                                 const Installed& staged, const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  if (config.on_staged.empty() || !env.actions) return {};
  // CERTROT_DIR and the file variables name next/, where the staged files are.
  const notify::RotationFacts facts{config.name, std::filesystem::path(config.output.dir) / "next",
                                    live_serial, staged.info.serial,
                                    format_rfc3339(staged.info.not_after)};
  const notify::RetryPolicy retry{3, config.policy.backoff_base, config.policy.backoff_cap};
  auto outcomes = env.actions->run(config.on_staged, facts, retry);
  for (const auto& outcome : outcomes) {
    Event event = event_for(
        plan, outcome.ok ? EventKind::dependent_reloaded : EventKind::dependent_failed, staged.info,
        {});
    event.severity = outcome.ok ? Severity::info : Severity::error;
    event.message = "on_staged " + outcome.action + ": " + outcome.detail;
    if (!outcome.ok) {
      event.message += " (after " + std::to_string(outcome.attempts) +
                       " attempts; the version stays staged)";
    }
    if (!outcome.output.empty()) event.message += "; output: " + outcome.output;
    env.events.emit(event);
  }
  return outcomes;
}

std::vector<notify::ActionOutcome> notify_threshold(const CredentialPlan& plan,
                                                    const x509::CertInfo& live,
                                                    const std::string& threshold,
                                                    const RotationEnv& env) {
  const config::CredentialConfig& config = plan.config;
  if (config.notify.empty() || !env.actions) return {};
  notify::RotationFacts facts{config.name, config.output.dir, "", live.serial,
                              format_rfc3339(live.not_after)};
  facts.threshold = threshold;
  const notify::RetryPolicy retry{3, config.policy.backoff_base, config.policy.backoff_cap};
  auto outcomes = env.actions->run(config.notify, facts, retry);
  for (const auto& outcome : outcomes) {
    Event event = event_for(
        plan, outcome.ok ? EventKind::dependent_reloaded : EventKind::dependent_failed, live, {});
    event.severity = outcome.ok ? Severity::info : Severity::error;
    event.message = "notify (" + threshold + ") " + outcome.action + ": " + outcome.detail;
    if (!outcome.ok) event.message += " (after " + std::to_string(outcome.attempts) + " attempts)";
    if (!outcome.output.empty()) event.message += "; output: " + outcome.output;
    env.events.emit(event);
  }
  return outcomes;
}

}  // namespace certrotd::engine
