#include "engine/engine.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <limits>
#include <utility>

#include "auth/token_client.hpp"
#include "engine/issuers.hpp"
#include "http/curl_transport.hpp"
#include "util/duration.hpp"
#include "util/files.hpp"
#include "util/parallel.hpp"
#include "util/secret.hpp"

namespace certrotd::engine {

namespace {

// The roots of the credential's live ca.pem when its issuer named them (EST /cacerts), for
// `status`; nothing for other issuers, whose ca.pem is their configured trust_anchors.
std::vector<CredentialStatus::Root> ca_roots_of(const config::Config& config,
                                                const config::CredentialConfig& credential) {
  const auto issuer = config.issuers.find(credential.issuer);
  if (issuer == config.issuers.end() || !issuer->second.options ||
      !issuer->second.options->names_roots()) {
    return {};
  }
  auto text = read_file(std::filesystem::path(credential.output.dir) /
                        store::file_name(store::Content::ca));
  if (!text) return {};
  auto certs = x509::parse_certificates(*text);
  if (!certs) return {};
  std::vector<CredentialStatus::Root> roots;
  for (const auto& cert : *certs) roots.push_back({cert.info().subject, cert.info().not_after});
  return roots;
}

using PlanMap = std::map<std::string, std::shared_ptr<const CredentialPlan>>;

// Whether a credential's output folder is already open in this process.
using IsOpen = std::function<bool(const config::CredentialConfig&)>;

// The issuers of a configuration and the roots of every issuer a credential uses: all that
// starting (or reloading) refuses before a folder is touched, and what `certrotd check` runs.
struct PreparedIssuers {
  IssuerMap issuers;
  // Loaded once per issuer in use: thousands of credentials share one issuer's roots.
  std::map<std::string, std::shared_ptr<const std::vector<x509::Certificate>>> anchors;
};

Result<PreparedIssuers> prepare_issuers(const config::Config& config, const EngineDeps& deps) {
  const NetworkContext network{deps.transport, deps.tokens, deps.credentials_directory,
                               &deps.events, deps.acme_socket};
  auto issuers = build_issuers(config, deps.clock, deps.random, network);
  if (!issuers) return fail(issuers.error());
  PreparedIssuers prepared{std::move(*issuers), {}};
  for (const auto& credential : config.credentials) {
    auto& issuer_roots = prepared.anchors[credential.issuer];
    if (issuer_roots) continue;
    auto loaded = issuer_anchors(config.issuers.at(credential.issuer));
    if (!loaded) {
      return fail(loaded.error().wrap(credential.mark.to_string() + ": credential '" +
                                      credential.name + "'"));
    }
    issuer_roots = std::make_shared<const std::vector<x509::Certificate>>(std::move(*loaded));
  }
  return prepared;
}

// Issuers, stores and plans for a configuration; nothing of the running engine is touched, so
// a reload that fails here changes nothing. Folders already open are not recovered again: a
// rotation in flight may be writing there.
Result<PlanMap> build_plans(const std::shared_ptr<const config::Config>& generation,
                            const EngineDeps& deps, const IsOpen& is_open) {
  const config::Config& config = *generation;
  auto prepared = prepare_issuers(config, deps);
  if (!prepared) return fail(prepared.error());
  // Opening a store recovers its folder from an interrupted swap: a dozen syscalls each, most
  // of the start-up time with 10,000 credentials, and independent of one another.
  const auto& credentials = config.credentials;
  std::vector<std::optional<Result<store::CredentialStore>>> stores(credentials.size());
  parallel_for(credentials.size(), chore_threads(), [&](std::size_t i) {
    // The store shares the options inside `generation` instead of copying them.
    std::shared_ptr<const store::StoreOptions> options(generation, &credentials[i].output);
    stores[i] = is_open(credentials[i]) ? store::CredentialStore::reopen(std::move(options))
                                        : store::CredentialStore::open(std::move(options));
  });
  const auto issuers = std::make_shared<const IssuerMap>(std::move(prepared->issuers));
  PlanMap plans;
  for (std::size_t i = 0; i < credentials.size(); ++i) {
    const config::CredentialConfig& credential = credentials[i];
    Result<store::CredentialStore>& store = *stores[i];
    std::optional<Error> folder_error;
    if (!store) {
      // Not a configuration error: the folder may become creatable (a mount, a permission), and
      // the other credentials must not wait for it. The credential's jobs open it first.
      folder_error = store.error().reason == Reason::unspecified ? store.error().because(Reason::io)
                                                                 : store.error();
      std::shared_ptr<const store::StoreOptions> options(generation, &credential.output);
      store = store::CredentialStore::reopen(std::move(options));
    }
    auto plan = std::make_shared<CredentialPlan>(generation, credential, std::move(*store));
    plan->folder_error = std::move(folder_error);
    plan->issuer = issuers->at(credential.issuer);
    plan->issuers = issuers;
    plan->anchors = prepared->anchors.at(credential.issuer);
    plans.emplace(credential.name, std::move(plan));
  }
  return plans;
}

// HTTPS and the token client, made only when a network issuer needs them: a daemon with local
// issuers only never initialises libcurl.
Result<void> ensure_network(EngineDeps& deps, const config::Config& config) {
  const auto is_network = [](const auto& entry) { return entry.second.kind->needs_network; };
  const bool needed = std::any_of(config.issuers.begin(), config.issuers.end(), is_network);
  if (!needed) return {};
  if (!deps.transport) {
    auto transport = http::CurlTransport::create();
    if (!transport) return fail(transport.error());
    deps.transport = std::shared_ptr<http::Transport>(std::move(*transport));
  }
  if (!deps.tokens) deps.tokens = std::make_shared<auth::TokenClient>(*deps.transport, deps.clock);
  return {};
}

MonoTime to_mono(const Clock& clock, SystemTime when) {
  const auto wait = when - clock.wall_now();
  if (wait <= SystemTime::duration::zero()) return clock.mono_now();
  return clock.mono_now() + std::chrono::duration_cast<MonoTime::duration>(wait);
}

// The live certificate's dates and the issuer's window for it, as the schedule sees them.
schedule::Validity validity_of(const store::CredentialState& state) {
  schedule::Validity validity{state.live_cert->not_before, state.live_cert->not_after,
                              state.live_installed_at()};
  if (state.renewal_window) {
    validity.window = schedule::Window{state.renewal_window->start, state.renewal_window->end};
  }
  return validity;
}

// What the issuer asked to keep after a rotate job: its answer replaces the state; an error
// keeps it (a network error while an order is pending must not lose the order), except a
// permanent one, after which a fresh start is what a retry at the backoff cap needs.
void keep_issuer_state(store::CredentialState& state, const JobResult& done) {
  state.issuer_pending = false;
  if (done.issuer.answered) {
    state.issuer_state = done.issuer.state_out;
  } else if (!done.result && !done.result.error().retryable()) {
    state.issuer_state.reset();
  }
}

// A failed attempt's backoff, or the time an issuer that answered "not yet" is asked again.
bool keeps_next_attempt(const store::CredentialState& state) {
  return (state.failures > 0 || state.issuer_pending) && state.next_attempt.has_value();
}

// What `status` shows of the issuer's renewal window: the window, the instant chosen inside it
// (only when the schedule uses it) and its explanation URL.
void renewal_status(const store::CredentialState& state, const schedule::RenewPolicy& policy,
                    const std::string& name, CredentialStatus& status) {
  if (!state.renewal_window) return;
  status.renewal_window = schedule::Window{state.renewal_window->start, state.renewal_window->end};
  status.explanation_url = state.renewal_window->explanation_url;
  if (!state.live_cert) return;
  const schedule::Validity validity = validity_of(state);
  if (schedule::window_usable(validity)) {
    status.renewal_instant = schedule::renewal_time(validity, policy, name);
  }
}

// The renewals the live key has seen after a new certificate went live: one more for the same
// key, saturating rather than wrapping (a key renewed hourly for 245,000 years), 0 for a new one.
int renewals_after(int renewals, bool key_reused) {
  if (!key_reused) return 0;
  return renewals < std::numeric_limits<int>::max() ? renewals + 1 : renewals;
}

store::CertCache cache_of(const x509::CertInfo& cert, std::uint64_t files_id) {
  return store::CertCache{
      files_id, cert.serial,
      store::parse_fingerprint(cert.sha256_fingerprint).value_or(store::Fingerprint{}),
      cert.not_before, cert.not_after};
}

// What the engine needs of a certificate it does not parse again: the cached facts.
x509::CertInfo info_of(const store::CertCache& cache) {
  x509::CertInfo info;
  info.serial = cache.serial;
  info.sha256_fingerprint = store::format_fingerprint(cache.fingerprint);
  info.not_before = cache.not_before;
  info.not_after = cache.not_after;
  return info;
}

// The live certificate's facts: from the state file's cache while the files are unchanged,
// otherwise parsed (and checked: key matches certificate). nullopt when there is none.
// `cache` is updated to what was found.
Result<std::optional<x509::CertInfo>> live_info(const config::CredentialConfig& config,
                                                std::optional<store::CertCache>& cache) {
  const std::uint64_t id = live_files_id(config);
  if (id != 0 && cache && cache->files_id == id) {
    return std::optional<x509::CertInfo>(info_of(*cache));
  }
  const std::optional<store::CertCache> before = std::exchange(cache, std::nullopt);
  auto live = read_live(config);
  if (!live) return fail(live.error());
  if (!*live) return std::optional<x509::CertInfo>{};
  const x509::CertInfo& info = (*live)->chain.front().info();
  // A 0 id (a file vanished meanwhile) never matches, so the next look parses again.
  cache = cache_of(info, id);
  // The same certificate with new file facts (touched, copied back) is still the one we installed.
  cache->installed = before && before->installed && before->fingerprint == cache->fingerprint;
  return std::optional<x509::CertInfo>(info);
}

std::optional<StagedStatus> staged_status_of(const config::CredentialConfig& config,
                                             const store::CredentialState& state,
                                             const std::string& name);

}  // namespace

OnDisk read_on_disk(const config::CredentialConfig& config, const store::StateFiles& files) {
  OnDisk out;
  if (auto persisted = files.load(config.name); persisted) {
    out.state = std::move(*persisted);
  } else {
    out.read = fail(persisted.error());
  }
  const std::optional<store::CertCache> cached = out.state.live_cert;
  out.live = live_info(config, out.state.live_cert);
  if (config.activation.mode == schedule::ActivationMode::staged || out.state.staged) {
    // Non-owning: the options live in `config`, which outlives this call.
    const std::shared_ptr<const store::StoreOptions> options(
        std::shared_ptr<const store::StoreOptions>{}, &config.output);
    out.staged = store::CredentialStore::reopen(options).staged();
  }
  // Persist a refreshed cache once (after an upgrade or a change by hand), so the next start
  // does not parse this credential again.
  if (out.state.live_cert && out.state.live_cert != cached) {
    out.saved = files.save(config.name, out.state);
  }
  return out;
}

// The live certificate, for telling dependents about a version made live by a rollback.
Result<Installed> live_version(const CredentialPlan& plan) {
  auto live = read_live(plan.config);
  if (!live) return fail(live.error());
  if (!*live) return fail("no certificate is live", plan.config.output.dir);
  auto versions = plan.store.versions();
  if (!versions) return fail(versions.error());
  Installed installed{(*live)->chain.front().info(), {}, std::nullopt};
  for (const auto& v : *versions) {
    if (v.live) installed.version = v.id;
  }
  return installed;
}

Result<Installed> run_kind(const Job& job, const RotationEnv& env, IssuerExchange& exchange) {
  switch (job.kind) {
    case JobKind::rotate: return rotate(*job.plan, env, exchange);
    case JobKind::dependents: return live_version(*job.plan);
    case JobKind::copies: return rewrite_copies(*job.plan);
    case JobKind::adopt: return adopt_replacement(*job.plan, env);
    case JobKind::alert: break;  // run_job() runs only the notify actions
    case JobKind::renewal_info: return ask_renewal_info(*job.plan, exchange);
    case JobKind::revoke: return revoke_live(*job.plan, job.revocation_reason, job.issuer_state);
    case JobKind::upkeep: return run_upkeep(*job.plan, exchange);
  }
  return fail("unknown job");
}

JobResult run_job(Job job, const RotationEnv& env) {
  bool opened = false;
  if (job.open_folder) {
    // Creates and recovers the folder, as at start-up; the plan's store names the same folder.
    auto store = store::CredentialStore::open(job.plan->store.options());
    if (!store) {
      Error e = store.error().reason == Reason::unspecified ? store.error().because(Reason::io)
                                                            : store.error();
      return JobResult{std::move(job), fail(e.wrap("output folder unusable")), {}, false};
    }
    opened = true;
  }
  if (job.kind == JobKind::alert) {
    x509::CertInfo live;
    live.serial = job.old_serial;
    live.not_after = job.not_after;
    auto actions = notify_threshold(*job.plan, live, job.threshold, env);
    return JobResult{std::move(job), Installed{std::move(live), {}, std::nullopt},
                     std::move(actions), opened};
  }
  IssuerExchange exchange;
  exchange.state_in = job.issuer_state;
  auto result = run_kind(job, env, exchange);
  std::vector<notify::ActionOutcome> actions;
  // A copy that failed after the swap does not undo it: the folder's readers need the reload.
  // Asking for renewal information or revoking changed nothing the dependents read; a staged
  // version is not live: the partners learn of it (on_staged), the dependents not yet. An
  // upkeep tells them only when it changed ca.pem.
  const bool changed_nothing = job.kind == JobKind::renewal_info || job.kind == JobKind::revoke ||
                               (job.kind == JobKind::upkeep && !exchange.ca_changed);
  if (result && !changed_nothing) {
    actions = result->staged ? notify_staged(*job.plan, job.old_serial, *result, env)
                             : notify_dependents(*job.plan, job.old_serial, *result, env);
  }
  return JobResult{std::move(job), std::move(result), std::move(actions), opened,
                   std::move(exchange)};
}

Result<Installed> import_credential(const config::Config& config,
                                    const config::CredentialConfig& credential,
                                    const ImportInput& input, SystemTime now) {
  auto chain = x509::parse_certificates(input.cert);
  if (!chain) return fail(chain.error().wrap("--cert").because(Reason::config));
  std::string chain_text = input.chain;
  if (chain_text.empty() && chain->size() == 1) {
    // A leaf alone: its intermediates are most likely those of the credential it replaces,
    // as for a replacement by hand; verification below tells whether they fit.
    std::error_code ec;
    const auto live_chain = std::filesystem::path(credential.output.dir) / "chain.pem";
    if (std::filesystem::exists(live_chain, ec)) {
      auto text = read_file(live_chain);
      if (!text) return fail(text.error());
      chain_text = std::move(*text);
    }
  }
  if (!chain_text.empty()) {
    auto more = x509::parse_certificates(chain_text);
    if (!more) return fail(more.error().wrap("--chain").because(Reason::config));
    for (auto& c : *more) chain->push_back(std::move(c));
  }
  std::optional<Secret> pass;
  if (credential.key_passphrase_file) {
    auto read = read_secret_file(*credential.key_passphrase_file, "key passphrase file");
    if (!read) return fail(read.error());
    pass = std::move(*read);
  }
  auto key = x509::parse_private_key(
      input.key, pass ? std::optional<std::string_view>(pass->view()) : std::nullopt);
  if (!key) return fail(key.error().wrap("--key").because(Reason::config));
  auto anchors = import_anchors(config.issuers.at(credential.issuer));
  if (!anchors) return fail(anchors.error().wrap("issuer " + credential.issuer + " roots"));
  auto store = store::CredentialStore::open(credential.output);
  if (!store) return fail(store.error());
  return install_replacement(credential, *store, Replacement{std::move(*chain), std::move(*key)},
                             *anchors, now);
}

Engine::Engine(EngineDeps deps, std::unique_ptr<store::StateFiles> state)
    : m_deps(std::move(deps)), m_state_files(std::move(state)) {}

Result<std::unique_ptr<Engine>> Engine::create(const config::Config& config, EngineDeps deps) {
  if (auto r = ensure_network(deps, config); !r) return fail(r.error());
  auto generation = std::make_shared<const config::Config>(config);
  auto plans = build_plans(generation, deps, [](const config::CredentialConfig&) { return false; });
  if (!plans) return fail(plans.error());
  std::unique_ptr<Engine> engine(
      new Engine(deps, std::make_unique<store::StateFiles>(config.state_dir)));
  engine->m_config = std::move(generation);
  for (auto& [name, plan] : *plans) {
    Tracked& tracked = engine->m_tracked[name];
    tracked.folder_ready = !plan->folder_error;
    tracked.plan = std::move(plan);
  }
  return engine;
}

Result<void> Engine::check(const config::Config& config, EngineDeps deps) {
  if (auto r = ensure_network(deps, config); !r) return fail(r.error());
  auto prepared = prepare_issuers(config, deps);
  if (!prepared) return fail(prepared.error());
  return {};
}

RotationEnv Engine::rotation_env() const {
  return RotationEnv{m_deps.clock, m_deps.events, m_config->min_remaining_validity, m_deps.actions};
}

void Engine::start() {
  // A crash during a save leaves a temporary file next to the state file; nothing saves yet.
  // Not fatal: a state folder that cannot be opened is reported by the first save.
  (void)m_state_files->remove_leftovers();
  // Reading state files and live certificates is independent per credential: done on a few
  // threads, a chunk at a time so that what is read waits in memory only briefly.
  constexpr std::size_t k_chunk = 512;
  std::vector<std::pair<const std::string*, Tracked*>> all;
  all.reserve(m_tracked.size());
  for (auto& [name, tracked] : m_tracked) all.emplace_back(&name, &tracked);
  std::vector<std::optional<OnDisk>> found;
  for (std::size_t begin = 0; begin < all.size(); begin += k_chunk) {
    const std::size_t count = std::min(k_chunk, all.size() - begin);
    found.assign(count, std::nullopt);
    parallel_for(count, chore_threads(), [&](std::size_t i) {
      found[i] = read_on_disk(all[begin + i].second->plan->config, *m_state_files);
    });
    for (std::size_t i = 0; i < count; ++i) {
      const auto& [name, tracked] = all[begin + i];
      apply(*tracked, *found[i]);
      settle_staged(*name, *tracked, *found[i]);
      ensure_asking(*tracked);
      ensure_upkeep(*tracked, true);
      count_failing(*tracked);
      schedule_next(*name, *tracked);
      // An activation a crash interrupted after the swap: the dependents are told now.
      if (m_rolled_back.contains(*name)) arm(*name, *tracked, m_deps.clock.mono_now());
      if (!tracked->folder_ready) {
        record_failure(*name, *tracked, *tracked->plan->folder_error, EventKind::renew_failed,
                       "output folder unusable: ");
        count_failing(*tracked);
        save_state(*name, *tracked);
      }
    }
  }
}

void Engine::count_failing(Tracked& tracked) {
  const bool failing = tracked.persisted.failures > 0 ||
                       std::any_of(
                           tracked.dependents.begin(), tracked.dependents.end(),
                           [](const notify::ActionOutcome& outcome) { return !outcome.ok; });
  if (failing == tracked.counted_failing) return;
  tracked.counted_failing = failing;
  if (failing) {
    ++m_failing;
  } else {
    --m_failing;
  }
}

EngineSummary Engine::summary() const {
  EngineSummary out;
  out.credentials = m_tracked.size();
  out.renewing = m_in_flight;
  out.failing = m_failing;
  if (const std::string* next = m_queue.next_key()) {
    out.next_name = *next;
    out.next_at = m_queue.next_deadline();
  }
  return out;
}

void Engine::load(Tracked& tracked) {
  const OnDisk found = read_on_disk(tracked.plan->config, *m_state_files);
  apply(tracked, found);
  settle_staged(tracked.plan->config.name, tracked, found);
}

void Engine::apply(Tracked& tracked, const OnDisk& found) {
  const auto& config = tracked.plan->config;
  // Copied, not moved: `found` may come from another thread, and its allocations are better
  // given back than kept alive in that thread's malloc arena.
  tracked.persisted = found.state;
  if (!found.read) {
    // A corrupt state file costs us history, not correctness: dates come from the certificate.
    emit(EventKind::loaded, Severity::warning, config.name, tracked,
         "state file ignored: " + found.read.error().what());
  }
  if (!found.saved) {
    emit(EventKind::renew_failed, Severity::warning, config.name, tracked,
         "cannot persist state: " + found.saved.error().what());
  }
  if (!found.live) {
    emit(EventKind::loaded, Severity::warning, config.name, tracked,
         "live credential unusable, will request a new one: " + found.live.error().what());
    return;
  }
  // Debug, not info: a start with 10,000 credentials would otherwise log 10,000 lines that say
  // nothing is wrong. `certrotd status` lists them; problems above are warnings.
  if (!*found.live) {
    emit(EventKind::loaded, Severity::debug, config.name, tracked, "no credential yet");
    return;
  }
  emit(EventKind::loaded, Severity::debug, config.name, tracked, {});
}

void Engine::schedule_next(const std::string& name, Tracked& tracked) {
  const auto& policy = tracked.plan->config.policy;
  const SystemTime now = m_deps.clock.wall_now();
  if (const auto staged = staged_status(name, tracked); staged && !tracked.restage) {
    // No second renewal while a good version waits: the next deadline is its activation, or
    // the replacement of a stale one (or the backoff of a failed attempt at either).
    SystemTime when = staged->replace_at.value_or(staged->activate_at);
    if (tracked.persisted.failures > 0 && tracked.persisted.next_attempt) {
      when = std::max(*tracked.persisted.next_attempt, now);
    }
    schedule_at(name, tracked, when);
    return;
  }
  const store::CertCache* cert = tracked.cert();
  if (!cert || cert->not_after <= now) {
    // Missing or expired: request at once, unless a failed attempt asked us to wait.
    SystemTime when = now;
    if (keeps_next_attempt(tracked.persisted)) {
      when = std::max(now, *tracked.persisted.next_attempt);
    }
    schedule_at(name, tracked, when);
    return;
  }
  SystemTime when = schedule::renewal_time(validity_of(tracked.persisted), policy, name);
  // Revoked by `certrotd revoke`: useless now, renewed at once.
  if (tracked.persisted.revoked_serial == cert->serial) when = now;
  if (keeps_next_attempt(tracked.persisted)) {
    // Keep the backoff (or the issuer's "ask again at") a previous run or attempt decided on.
    when = std::min(std::max(*tracked.persisted.next_attempt, now), cert->not_after);
  }
  schedule_at(name, tracked, when);
}

void Engine::schedule_at(const std::string& name, Tracked& tracked, SystemTime when) {
  tracked.persisted.next_attempt = when;
  arm(name, tracked, to_mono(m_deps.clock, when));
  const store::CertCache* cert = tracked.cert();
  Event event{EventKind::scheduled,
              Severity::debug,
              name,
              tracked.plan->config.issuer,
              cert ? cert->serial : "",
              cert ? std::optional(cert->not_after) : std::nullopt,
              "next renewal " + format_rfc3339(when)};
  if (cert) event.not_before = cert->not_before;
  event.next_renewal = when;
  event.state = state_of(name, tracked);
  if (tracked.persisted.staged) event.staged_not_after = tracked.persisted.staged->not_after;
  m_deps.events.emit(event);
}

std::optional<MonoTime> Engine::next_deadline() const { return m_queue.next_deadline(); }

std::vector<Job> Engine::take_due() {
  std::vector<Job> jobs;
  // Those that waited for a slot of their issuer came due first.
  dispatch_waiting(jobs);
  const MonoTime now = m_deps.clock.mono_now();
  for (auto& name : m_queue.pop_due(now)) {
    auto it = m_tracked.find(name);
    if (it == m_tracked.end()) continue;
    Tracked& tracked = it->second;
    report_alerts(name, tracked);
    if (tracked.in_flight) continue;
    if (tracked.alert_pending != schedule::Alert::none) {
      dispatch_alert(name, tracked, jobs);
      continue;
    }
    // Only an expiry threshold or a question to the issuer came due: ask, or back into the
    // heap for the renewal (or the next one).
    if (tracked.renew_due > now) {
      dispatch_before_renewal(name, tracked, jobs);
      continue;
    }
    // Already waiting for its issuer; a job that does not ask the issuer need not wait.
    if (tracked.waiting_for_slot && next_kind(name, tracked) == JobKind::rotate) continue;
    tracked.waiting_for_slot = false;
    if (next_kind(name, tracked) == JobKind::rotate && staged_waits(name, tracked)) {
      // Its activation came due: the swap is a rename or two, done here as a rollback is; the
      // on_rotate actions follow as a dependents job.
      (void)activate_staged(name, tracked, staged_status(name, tracked)->activate_why);
      if (!m_rolled_back.contains(name) || tracked.in_flight) continue;
    }
    dispatch(name, tracked, jobs);
  }
  return jobs;
}

// Out of the heap before its renewal is due: a question to its issuer (renewal information,
// upkeep) came due, or it goes back in for the renewal (or the next of those).
void Engine::dispatch_before_renewal(const std::string& name, Tracked& tracked,
                                     std::vector<Job>& jobs) {
  const SystemTime wall = m_deps.clock.wall_now();
  if (const auto ask = ask_due(tracked); ask && *ask <= wall) {
    dispatch_renewal_info(name, tracked, jobs);
  } else if (const auto upkeep = upkeep_due(tracked); upkeep && *upkeep <= wall) {
    dispatch_upkeep(name, tracked, jobs);
  } else {
    arm(name, tracked, tracked.renew_due);
  }
}

JobKind Engine::next_kind(const std::string& name, const Tracked& tracked) const {
  if (tracked.revoke_pending) return JobKind::revoke;
  if (m_rolled_back.contains(name)) return JobKind::dependents;
  if (tracked.adopt_pending) return JobKind::adopt;
  // The live version is what the copies lack; a new certificate would not help them.
  if (tracked.persisted.copies_missing && tracked.folder_ready) return JobKind::copies;
  return JobKind::rotate;
}

bool Engine::issuer_full(const std::string& issuer) const {
  const auto config = m_config->issuers.find(issuer);
  if (config == m_config->issuers.end() || !config->second.max_concurrent) return false;
  const auto busy = m_issuer_busy.find(issuer);
  return busy != m_issuer_busy.end() &&
         busy->second >= static_cast<std::size_t>(*config->second.max_concurrent);
}

void Engine::dispatch(const std::string& name, Tracked& tracked, std::vector<Job>& jobs) {
  const JobKind kind = next_kind(name, tracked);
  const std::string& issuer = tracked.plan->config.issuer;
  if (kind == JobKind::rotate && issuer_full(issuer)) {
    // Stays due, and is no failure: handed out when a rotation with this issuer finishes, while
    // the other issuers' credentials go on.
    tracked.waiting_for_slot = true;
    m_waiting[issuer].push_back(name);
    return;
  }
  tracked.in_flight = true;
  ++m_in_flight;
  const SystemTime now = m_deps.clock.wall_now();
  if (kind == JobKind::dependents) {
    auto rolled = m_rolled_back.find(name);
    jobs.push_back(Job{name, tracked.plan, now, std::move(rolled->second), JobKind::dependents});
    m_rolled_back.erase(rolled);
    return;
  }
  Job job{name, tracked.plan, now, tracked.cert() ? tracked.cert()->serial : "", kind};
  job.open_folder = !tracked.folder_ready;
  // A revocation first; a change on disk that came before it is adopted after it.
  if (kind != JobKind::revoke) tracked.adopt_pending = false;
  if (kind == JobKind::revoke) {
    job.revocation_reason = *std::exchange(tracked.revoke_pending, std::nullopt);
    job.issuer_state = tracked.persisted.issuer_state;
  }
  if (kind == JobKind::rotate) {
    job.issuer_state = tracked.persisted.issuer_state;
    ++m_issuer_busy[issuer];
    emit(EventKind::renewing, Severity::info, name, tracked, {});
  }
  jobs.push_back(std::move(job));
}

void Engine::dispatch_waiting(std::vector<Job>& jobs) {
  for (auto it = m_waiting.begin(); it != m_waiting.end();) {
    auto& names = it->second;
    while (!names.empty() && !issuer_full(it->first)) {
      const std::string name = std::move(names.front());
      names.pop_front();
      auto tracked = m_tracked.find(name);
      // Gone, or handed out meanwhile (a job that did not need the issuer).
      if (tracked == m_tracked.end() || !tracked->second.waiting_for_slot) continue;
      tracked->second.waiting_for_slot = false;
      if (!tracked->second.in_flight) dispatch(name, tracked->second, jobs);
    }
    it = names.empty() ? m_waiting.erase(it) : std::next(it);
  }
}

Result<void> Engine::request_rotation(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (!m_tracked.contains(name)) return fail("no credential named '" + name + "'");
  }
  const MonoTime now = m_deps.clock.mono_now();
  // A rotation asked for while a version is staged replaces it with a fresh one (and tells the
  // partners again); `activate` is how a staged version goes live early.
  const auto make_due = [&](const std::string& name, Tracked& tracked) {
    if (!tracked.in_flight) {
      tracked.restage = tracked.persisted.staged.has_value();
      arm(name, tracked, now);
    } else if (tracked.asking) {
      tracked.restage = tracked.persisted.staged.has_value();
      tracked.renew_due = now;  // armed when the issuer's answer is in
    }
  };
  if (names.empty()) {
    for (auto& [name, tracked] : m_tracked) make_due(name, tracked);
  } else {
    for (const auto& name : names) make_due(name, m_tracked.at(name));
  }
  return {};
}

void Engine::complete(JobResult done) {
  if (done.job.kind == JobKind::rotate) {
    // Released even when the credential is gone: the issuer was busy with it all the same.
    auto busy = m_issuer_busy.find(done.job.plan->config.issuer);
    if (busy != m_issuer_busy.end() && busy->second > 0) --busy->second;
  }
  auto it = m_tracked.find(done.job.name);
  if (it == m_tracked.end()) return;  // removed by a reload while in flight; its files stay
  Tracked& tracked = it->second;
  if (tracked.in_flight) {
    tracked.in_flight = false;
    --m_in_flight;
  }
  tracked.asking = false;
  if (done.folder_opened) tracked.folder_ready = true;
  const std::string& name = done.job.name;
  switch (done.job.kind) {
    case JobKind::dependents:
      // Nothing was rotated: record what the dependents said and go back to the schedule (the
      // timer entry may have come due meanwhile and been dropped while this job ran).
      if (done.result) {
        tracked.dependents = std::move(done.actions);
      } else {
        emit(EventKind::dependent_failed, Severity::error, name, tracked,
             "dependents not told about the rollback: " + done.result.error().what());
      }
      count_failing(tracked);
      schedule_next(name, tracked);
      return;
    case JobKind::alert:
      // Only the notify actions ran (their outcomes are events); the schedule is unchanged.
      arm(name, tracked, tracked.renew_due);
      return;
    case JobKind::adopt: complete_adoption(done, tracked); break;
    case JobKind::renewal_info: complete_renewal_info(done, tracked); break;
    case JobKind::revoke: complete_revocation(done, tracked); break;
    case JobKind::upkeep: complete_upkeep(done, tracked); break;
    case JobKind::rotate:
    case JobKind::copies: complete_rotation(done, tracked); break;
  }
  count_failing(tracked);
  save_state(name, tracked);
}

void Engine::complete_rotation(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  const SystemTime now = m_deps.clock.wall_now();
  tracked.persisted.last_attempt = done.job.started;
  if (done.job.kind == JobKind::rotate) {
    keep_issuer_state(tracked.persisted, done);
    if (done.issuer.not_yet) {
      complete_not_yet(done, tracked);
      return;
    }
  }
  if (!done.result) {
    const Error& error = done.result.error();
    if (done.job.kind == JobKind::copies) {
      record_failure(name, tracked, error, EventKind::copy_failed,
                     "the live version is complete but a copy is still missing: ");
    } else {
      record_failure(name, tracked, error, EventKind::renew_failed, "");
    }
    return;
  }
  const Installed& installed = *done.result;
  if (installed.staged) {
    complete_staging(done, tracked);
    return;
  }
  if (done.job.kind == JobKind::rotate) {
    tracked.restage = false;
    tracked.persisted.staged.reset();  // rotate() removed a version staged before
    tracked.persisted.last_success = now;
    tracked.persisted.installed_at = now;
    tracked.persisted.live_cert = cache_of(installed.info, live_files_id(tracked.plan->config));
    tracked.persisted.live_cert->installed = true;
    tracked.persisted.key_renewals = renewals_after(tracked.persisted.key_renewals,
                                                    installed.key_reused);
    tracked.persisted.renewal_window.reset();
    tracked.persisted.revoked_serial.clear();
    if (const auto& window = done.issuer.window) {
      tracked.persisted.renewal_window = store::RenewalWindow{window->start, window->end,
                                                              window->explanation_url.value_or("")};
    }
    ask_again_now(tracked);
    // A window that came with the certificate needs no question at once; the issuer may
    // still move it later (RFC 9773 §4.3), so it is asked after the long-term default.
    if (done.issuer.window && tracked.persisted.renewal_info_next) {
      *tracked.persisted.renewal_info_next += schedule::k_renewal_info_default;
    }
    after_issuance_upkeep(tracked, done.issuer);
    emit(EventKind::renewed, Severity::info, name, tracked, "version " + installed.version);
  }
  tracked.dependents = done.actions;
  if (installed.copy_error) {
    // Our own new version is live (its fingerprint is now the one we know, so the watch will
    // not take it for a hand edit); what is missing is the copy, and that stays a failure.
    tracked.persisted.copies_missing = true;
    tracked.persisted.failures = done.job.kind == JobKind::rotate ? 0 : tracked.persisted.failures;
    record_failure(name, tracked, *installed.copy_error, EventKind::copy_failed,
                   "version " + installed.version + " is live but a copy is missing: ");
    return;
  }
  if (done.job.kind == JobKind::copies) {
    emit(EventKind::copies_written, Severity::info, name, tracked,
         "copies of version " + installed.version + " written");
  }
  tracked.persisted.copies_missing = false;
  clear_failure(tracked);
  schedule_next(name, tracked);
}

void Engine::complete_not_yet(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  const SystemTime now = m_deps.clock.wall_now();
  // The issuer answered: whatever failed before is over, and nothing failed now.
  clear_failure(tracked);
  tracked.persisted.issuer_pending = true;
  const store::CertCache* cert = tracked.cert();
  const Millis remaining = cert ? std::chrono::duration_cast<Millis>(cert->not_after - now)
                                : Millis{0};
  const Millis delay = schedule::not_yet_delay(done.issuer.not_yet->retry_after, remaining,
                                               tracked.plan->config.policy);
  emit(EventKind::issue_pending, Severity::info, name, tracked,
       done.result.error().message + "; asking again in " + format_duration(delay));
  schedule_at(name, tracked, now + delay);
}

void Engine::complete_adoption(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  refresh_live(name, tracked);
  if (!done.result) {
    // The previous credential is live again (or the folder could not be read): nothing about
    // the schedule changes.
    emit(EventKind::adopt_refused, Severity::error, name, tracked, done.result.error().what(),
         done.result.error().reason);
    schedule_next(name, tracked);
    return;
  }
  tracked.dependents = done.actions;
  tracked.persisted.installed_at.reset();
  // The issuer's window was for the certificate it issued, not for this one; and this one is
  // scheduled from its own dates, not from a pending issuance.
  tracked.persisted.renewal_window.reset();
  tracked.persisted.issuer_pending = false;
  tracked.persisted.key_renewals = 0;  // a key placed by hand: its history is not ours
  ask_again_now(tracked);              // about the certificate now live
  if (tracked.persisted.live_cert) tracked.persisted.live_cert->installed = false;
  if (done.result->copy_error) {
    tracked.persisted.copies_missing = true;
    emit(EventKind::adopted, Severity::info, name, tracked,
         "certificate replaced on disk; version " + done.result->version + " is live");
    record_failure(name, tracked, *done.result->copy_error, EventKind::copy_failed,
                   "version " + done.result->version + " is live but a copy is missing: ");
    return;
  }
  tracked.persisted.copies_missing = false;
  clear_failure(tracked);
  emit(EventKind::adopted, Severity::info, name, tracked,
       "certificate replaced on disk; version " + done.result->version +
           " is live as a complete set; scheduling from its own dates");
  schedule_next(name, tracked);
}

void Engine::clear_failure(Tracked& tracked) {
  tracked.persisted.last_error.clear();
  tracked.persisted.last_reason.clear();
  tracked.persisted.needs_attention = false;
  tracked.persisted.failures = 0;
}

void Engine::record_failure(const std::string& name, Tracked& tracked, const Error& error,
                            EventKind kind, const std::string& what) {
  const SystemTime now = m_deps.clock.wall_now();
  tracked.persisted.failures += 1;
  tracked.persisted.last_error = what + error.what();
  tracked.persisted.last_reason = std::string(to_string(error.reason));
  // Files and folders are the exception: an operator fixes a mount or a permission, and trying
  // again is cheap, so io failures keep the ordinary backoff.
  const bool permanent = !error.retryable() && error.reason != Reason::io;
  tracked.persisted.needs_attention = permanent;
  const store::CertCache* cert = tracked.cert();
  const Millis remaining = cert ? std::chrono::duration_cast<Millis>(cert->not_after - now)
                                : Millis{0};
  const Millis delay = schedule::retry_delay(
      tracked.persisted.failures, remaining, tracked.plan->config.policy, m_deps.random,
      permanent ? schedule::ErrorClass::permanent : schedule::ErrorClass::retryable,
      error.retry_after);
  std::string text = tracked.persisted.last_error;
  if (kind == EventKind::renew_failed) {
    if (cert && cert->not_after > now) {
      text += "; old credential kept";
    } else if (cert) {
      text += "; the expired credential stays in place";
    } else {
      text += "; no credential yet";
    }
  }
  text += "; attempt " + std::to_string(tracked.persisted.failures) + ", retry in " +
          format_duration(delay);
  // Permanent: the same request fails the same way until someone changes a side.
  if (permanent) text += "; will not heal by retrying, needs attention";
  emit(kind, permanent ? Severity::error : Severity::warning, name, tracked, std::move(text),
       error.reason);
  SystemTime when = now + delay;
  if (cert && cert->not_after > now) when = std::min(when, cert->not_after);
  schedule_at(name, tracked, when);
}

schedule::Alert Engine::alerted(const Tracked& tracked) const {
  const store::CertCache* cert = tracked.cert();
  if (!cert || tracked.persisted.alerted_serial != cert->serial) return schedule::Alert::none;
  return static_cast<schedule::Alert>(tracked.persisted.alerted);
}

void Engine::arm(const std::string& name, Tracked& tracked, MonoTime renew) {
  tracked.renew_due = renew;
  MonoTime at = renew;
  if (tracked.alert_pending != schedule::Alert::none) {
    at = m_deps.clock.mono_now();
  } else if (tracked.cert()) {
    const auto alert = schedule::next_alert_time(validity_of(tracked.persisted),
                                                 tracked.plan->config.policy, alerted(tracked));
    if (alert) at = std::min(at, to_mono(m_deps.clock, *alert));
  }
  // The next question to an issuer that reports renewal information shares the entry.
  if (const auto ask = ask_due(tracked)) at = std::min(at, to_mono(m_deps.clock, *ask));
  if (const auto upkeep = upkeep_due(tracked)) at = std::min(at, to_mono(m_deps.clock, *upkeep));
  m_queue.schedule(name, at);
}

// Reports the highest expiry threshold the live certificate has crossed, if it was not reported
// for this certificate yet (thresholds crossed at once, say while the daemon was stopped, are
// one report). Persisted at once, so a restart does not report it again.
void Engine::report_alerts(const std::string& name, Tracked& tracked) {
  const store::CertCache* cert = tracked.cert();
  if (!cert) return;
  const SystemTime now = m_deps.clock.wall_now();
  const schedule::Alert crossed = schedule::alert_at(validity_of(tracked.persisted),
                                                     tracked.plan->config.policy, now);
  if (crossed <= alerted(tracked)) return;
  tracked.persisted.alerted_serial = cert->serial;
  tracked.persisted.alerted = static_cast<std::uint8_t>(crossed);
  const auto left = std::chrono::duration_cast<Millis>(cert->not_after - now);
  std::string why = tracked.persisted.failures > 0
                        ? "renewal keeps failing: " + tracked.persisted.last_error
                        : "not renewed yet";
  if (const auto staged = staged_status(name, tracked); staged && tracked.persisted.failures == 0) {
    why = "renewed version " + staged->serial + " is staged, activating " +
          format_rfc3339(staged->activate_at) + " (" + staged->activate_why + ")";
  }
  switch (crossed) {
    case schedule::Alert::none: return;
    case schedule::Alert::expiring:
      emit(EventKind::expiring, Severity::warning, name, tracked,
           "certificate expires in " + format_duration(left) + "; " + why);
      break;
    case schedule::Alert::critical:
      emit(EventKind::expiring_critical, Severity::error, name, tracked,
           "certificate expires in " + format_duration(left) + " (critical); " + why);
      break;
    case schedule::Alert::expired:
      emit(EventKind::expired, Severity::error, name, tracked,
           "certificate has expired and is still live; " + why);
      break;
  }
  save_state(name, tracked);
  if (!tracked.plan->config.notify.empty() && m_deps.actions) tracked.alert_pending = crossed;
}

void Engine::dispatch_alert(const std::string& name, Tracked& tracked, std::vector<Job>& jobs) {
  const store::CertCache* cert = tracked.cert();
  const schedule::Alert alert = std::exchange(tracked.alert_pending, schedule::Alert::none);
  if (!cert) return;
  tracked.in_flight = true;
  ++m_in_flight;
  Job job{name, tracked.plan, m_deps.clock.wall_now(), cert->serial, JobKind::alert};
  job.threshold = std::string(schedule::to_string(alert));
  job.not_after = cert->not_after;
  jobs.push_back(std::move(job));
}

DiskCheck Engine::on_disk_changed(const std::string& name, bool final_look) {
  auto it = m_tracked.find(name);
  // In flight: our own swap, or a job that looks at the folder itself; complete() follows.
  // A question about renewal information does not look at the folder: the change is handled.
  if (it == m_tracked.end() || (it->second.in_flight && !it->second.asking)) {
    return DiskCheck::settled;
  }
  Tracked& tracked = it->second;
  std::optional<store::CertCache> cache = tracked.persisted.live_cert;
  auto live = live_info(tracked.plan->config, cache);
  if (!live) {
    // Half-written by hand, or a key that does not fit: give the writer time, then restore.
    if (!final_look) return DiskCheck::unsettled;
  } else if (!*live) {
    // Removed: keep the schedule we have; the next renewal writes a new version.
    return DiskCheck::settled;
  } else if (tracked.cert() && cache && tracked.cert()->fingerprint == cache->fingerprint) {
    // Our own version (or the same certificate touched or copied back): the files' identity
    // changed, the credential did not.
    tracked.persisted.live_cert = std::move(cache);
    return DiskCheck::settled;
  }
  tracked.adopt_pending = true;
  arm(name, tracked, m_deps.clock.mono_now());
  return DiskCheck::settled;
}

void Engine::refresh_live(const std::string& name, Tracked& tracked) {
  std::optional<store::CertCache> cache = tracked.persisted.live_cert;
  auto live = live_info(tracked.plan->config, cache);
  if (!live) {
    emit(EventKind::loaded, Severity::warning, name, tracked,
         "live credential unusable: " + live.error().what());
    return;
  }
  tracked.persisted.live_cert = std::move(cache);
}

Result<std::string> Engine::rollback(const std::string& name) {
  return roll_back(name, [this](const Tracked& tracked) -> Result<std::string> {
    const store::CredentialStore& store = tracked.plan->store;
    auto history = read_history(store);
    if (!history) return fail(history.error());
    // The one store.rollback() restores: the newest kept version older than the live one.
    const auto live = std::find_if(history->begin(), history->end(),
                                   [](const HistoryEntry& e) { return e.version.live; });
    if (live != history->end() && std::next(live) != history->end()) {
      if (auto r = restorable(tracked, *std::next(live)); !r) return fail(r.error());
    }
    return store.rollback(m_deps.clock.wall_now());
  });
}

Result<void> Engine::restorable(const Tracked& tracked, const HistoryEntry& entry) const {
  if (!entry.cert || !tracked.plan->issuer) return {};
  return tracked.plan->issuer->can_restore(issuer::RestoreRequest{
      tracked.plan->config.name, entry.cert->serial, tracked.persisted.issuer_state});
}

Result<std::string> Engine::rollback_to(const std::string& name, std::string_view target,
                                        Expired expired) {
  return roll_back(name, [&](const Tracked& tracked) -> Result<std::string> {
    const store::CredentialStore& store = tracked.plan->store;
    auto history = read_history(store);
    if (!history) return fail(history.error());
    const SystemTime now = m_deps.clock.wall_now();
    auto id = pick_version(*history, target, now, expired);
    if (!id) return id;
    const auto picked = std::find_if(history->begin(), history->end(),
                                     [&](const HistoryEntry& e) { return e.version.id == *id; });
    if (picked != history->end()) {
      if (auto r = restorable(tracked, *picked); !r) return fail(r.error());
    }
    return store.rollback_to(*id, now);
  });
}

Result<std::string> Engine::roll_back(
    const std::string& name, const std::function<Result<std::string>(const Tracked&)>& restore) {
  auto it = m_tracked.find(name);
  if (it == m_tracked.end()) return fail("no credential named '" + name + "'");
  Tracked& tracked = it->second;
  if (tracked.in_flight) return fail_retryable("a rotation of '" + name + "' is in flight");
  const std::string rolled_away_from = tracked.cert() ? tracked.cert()->serial : "";
  auto version = restore(tracked);
  if (!version) return fail(version.error());
  // Schedule from the restored certificate's own dates, as for any change on disk; the restored
  // version is complete, so there is nothing to adopt.
  refresh_live(name, tracked);
  if (tracked.persisted.live_cert) tracked.persisted.live_cert->installed = false;
  tracked.persisted.installed_at.reset();
  tracked.persisted.renewal_window.reset();
  tracked.persisted.issuer_pending = false;
  ask_again_now(tracked);  // about the certificate now live
  clear_failure(tracked);
  tracked.persisted.copies_missing = false;
  count_failing(tracked);
  schedule_next(name, tracked);
  save_state(name, tracked);
  emit(EventKind::rolled_back, Severity::warning, name, tracked,
       "version " + *version + " is live");
  if (!tracked.plan->config.on_rotate.empty()) {
    m_rolled_back[name] = rolled_away_from;
    arm(name, tracked, m_deps.clock.mono_now());
  }
  return version;
}

Result<void> Engine::reload(const config::Config& config) {
  if (auto r = ensure_network(m_deps, config); !r) return r;
  auto generation = std::make_shared<const config::Config>(config);
  const auto is_open = [this](const config::CredentialConfig& credential) {
    const auto it = m_tracked.find(credential.name);
    if (it == m_tracked.end()) return false;
    return it->second.plan->store.options().dir == credential.output.dir;
  };
  auto plans = build_plans(generation, m_deps, is_open);
  if (!plans) return fail(plans.error());
  // Forget credentials that are gone (their in-flight result is dropped in complete()).
  for (auto it = m_tracked.begin(); it != m_tracked.end();) {
    if (!plans->contains(it->first)) {
      m_queue.cancel(it->first);
      m_rolled_back.erase(it->first);
      if (it->second.in_flight) --m_in_flight;
      if (it->second.counted_failing) --m_failing;
      it = m_tracked.erase(it);
    } else {
      ++it;
    }
  }
  m_config = std::move(generation);
  m_state_files = std::make_unique<store::StateFiles>(config.state_dir);
  for (auto& [name, plan] : *plans) {
    auto [it, added] = m_tracked.try_emplace(name);
    const bool same_dir = !added && it->second.plan->config.output.dir == plan->config.output.dir;
    if (plan->folder_error) {
      it->second.folder_ready = false;
    } else if (!same_dir) {
      it->second.folder_ready = true;
    }
    it->second.plan = std::move(plan);
    if (added) {
      load(it->second);
      count_failing(it->second);
    }
    ensure_asking(it->second);
    ensure_upkeep(it->second, added);
    // The policy or dates may have changed; an in-flight one is rescheduled on completion.
    if (!it->second.in_flight) schedule_next(name, it->second);
  }
  return {};
}

schedule::State Engine::state_of(const std::string& name, const Tracked& tracked) const {
  schedule::StateInputs inputs;
  if (tracked.cert()) inputs.validity = validity_of(tracked.persisted);
  inputs.renewing = tracked.in_flight && !tracked.asking;
  inputs.failures = tracked.persisted.failures;
  inputs.needs_attention = tracked.persisted.needs_attention;
  return schedule::classify(inputs, tracked.plan->config.policy, name, m_deps.clock.wall_now());
}

std::vector<CredentialStatus> Engine::status() const {
  std::vector<CredentialStatus> out;
  out.reserve(m_tracked.size());
  for (const auto& credential : m_config->credentials) {
    if (auto s = status_of(credential.name)) out.push_back(std::move(*s));
  }
  return out;
}

std::optional<CredentialStatus> Engine::status_of(const std::string& name) const {
  auto it = m_tracked.find(name);
  if (it == m_tracked.end()) return std::nullopt;
  const Tracked& t = it->second;
  CredentialStatus status{name,
                          t.plan->config.issuer,
                          state_of(name, t),
                          t.cert() ? std::optional(info_of(*t.cert())) : std::nullopt,
                          t.persisted.next_attempt,
                          t.persisted.failures,
                          t.persisted.last_error,
                          t.plan->config.output.dir,
                          t.dependents,
                          t.persisted.last_reason,
                          {},
                          t.plan->config.key_reuse,
                          t.persisted.key_renewals};
  status.staged = staged_status(name, t);
  renewal_status(t.persisted, t.plan->config.policy, name, status);
  if (ask_due(t)) status.renewal_info_next = t.persisted.renewal_info_next;
  status.issuer_pending = t.persisted.issuer_pending;
  status.ca_roots = ca_roots_of(*t.plan->generation, t.plan->config);
  return status;
}

std::vector<CredentialStatus> Engine::inspect(const config::Config& config, const Clock& clock) {
  std::vector<CredentialStatus> out;
  const store::StateFiles state_files(config.state_dir);
  for (const auto& credential : config.credentials) {
    CredentialStatus status;
    status.name = credential.name;
    status.issuer = credential.issuer;
    status.dir = credential.output.dir;
    schedule::StateInputs inputs;
    store::CredentialState persisted =
        state_files.load(credential.name).value_or(store::CredentialState{});
    auto live = live_info(credential, persisted.live_cert);
    if (!live) {
      status.last_error = live.error().what();
    } else if (*live) {
      status.cert = std::move(**live);
      inputs.validity = validity_of(persisted);  // live_info() refreshed persisted.live_cert
    }
    inputs.failures = persisted.failures;
    inputs.needs_attention = persisted.needs_attention;
    status.failures = persisted.failures;
    status.reason = persisted.last_reason;
    status.key_reuse = credential.key_reuse;
    status.key_renewals = persisted.key_renewals;
    renewal_status(persisted, credential.policy, credential.name, status);
    status.renewal_info_next = persisted.renewal_info_next;
    status.staged = staged_status_of(credential, persisted, credential.name);
    status.issuer_pending = persisted.issuer_pending;
    status.ca_roots = ca_roots_of(config, credential);
    if (auto usable = store::check_folder_writable(credential.output.dir); !usable) {
      status.warning = "output folder unusable: " + usable.error().what();
    }
    if (status.last_error.empty()) status.last_error = persisted.last_error;
    status.state = schedule::classify(inputs, credential.policy, credential.name, clock.wall_now());
    if (persisted.next_attempt) {
      status.next_attempt = persisted.next_attempt;
    } else if (inputs.validity) {
      status.next_attempt = schedule::renewal_time(*inputs.validity, credential.policy,
                                                   credential.name);
    }
    out.push_back(std::move(status));
  }
  return out;
}

std::shared_ptr<issuer::Issuer> Engine::issuer_named(const std::string& name) const {
  for (const auto& [credential, tracked] : m_tracked) {
    if (tracked.plan->config.issuer == name) return tracked.plan->issuer;
  }
  return nullptr;
}

const std::string* Engine::output_dir(const std::string& name) const {
  const auto it = m_tracked.find(name);
  return it == m_tracked.end() ? nullptr : &it->second.plan->config.output.dir;
}

std::vector<std::pair<std::string, std::filesystem::path>> Engine::watch_dirs() const {
  std::vector<std::pair<std::string, std::filesystem::path>> out;
  for (const auto& [name, tracked] : m_tracked) {
    out.emplace_back(name, tracked.plan->config.output.dir);
  }
  return out;
}

namespace {

// When the staged version of `state` goes live and why, or when it is replaced if it is stale.
std::optional<StagedStatus> staged_status_of(const config::CredentialConfig& config,
                                             const store::CredentialState& state,
                                             const std::string& name) {
  const auto& staged = state.staged;
  if (!staged) return std::nullopt;
  const store::CertCache* cert = state.live_cert ? &*state.live_cert : nullptr;
  // Without a live certificate there is nothing to keep serving: due at once.
  const SystemTime live_not_after = cert ? cert->not_after : staged->staged_at;
  const schedule::ActivationTime when = schedule::activation_time(
      config.activation, staged->staged_at, live_not_after);
  StagedStatus out{staged->version,
                   staged->serial,
                   staged->not_before,
                   staged->not_after,
                   staged->staged_at,
                   when.at,
                   std::string(to_string(when.cause))};
  const schedule::Validity validity{staged->not_before, staged->not_after, staged->staged_at};
  if (schedule::staged_is_stale(validity, config.policy, name, when.at)) {
    // Replaced when it would be renewed if it were live, not at once: a fresh one staged now
    // would be just as far from its activation.
    out.replace_at = schedule::renewal_time(validity, config.policy, name);
  }
  return out;
}

}  // namespace

std::optional<StagedStatus> Engine::staged_status(const std::string& name,
                                                  const Tracked& tracked) const {
  return staged_status_of(tracked.plan->config, tracked.persisted, name);
}

bool Engine::staged_waits(const std::string& name, const Tracked& tracked) const {
  if (tracked.restage) return false;
  const auto status = staged_status(name, tracked);
  return status && !status->replace_at;
}

void Engine::complete_staging(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  const SystemTime now = m_deps.clock.wall_now();
  const Installed& installed = *done.result;
  tracked.restage = false;
  tracked.persisted.last_success = now;
  tracked.persisted.staged = store::StagedVersion{
      installed.version,
      installed.info.serial,
      store::parse_fingerprint(installed.info.sha256_fingerprint).value_or(store::Fingerprint{}),
      installed.info.not_before,
      installed.info.not_after,
      now,
      installed.key_reused};
  tracked.dependents = done.actions;  // the on_staged outcomes, until the activation's
  clear_failure(tracked);
  schedule_next(name, tracked);
  const auto status = staged_status(name, tracked);
  Event event{EventKind::staged,
              Severity::info,
              name,
              tracked.plan->config.issuer,
              installed.info.serial,
              installed.info.not_after,
              "version " + installed.version + " staged as next/; activates " +
                  format_rfc3339(status->activate_at) + " (" + status->activate_why + ")"};
  event.not_before = installed.info.not_before;
  event.next_renewal = tracked.persisted.next_attempt;
  event.state = state_of(name, tracked);
  event.staged_not_after = installed.info.not_after;
  m_deps.events.emit(event);
}

Result<std::string> Engine::activate(const std::string& name) {
  auto it = m_tracked.find(name);
  if (it == m_tracked.end()) return fail("no credential named '" + name + "'");
  Tracked& tracked = it->second;
  if (tracked.in_flight) return fail_retryable("a rotation of '" + name + "' is in flight");
  const auto& staged = tracked.persisted.staged;
  if (!staged) return fail("nothing is staged for '" + name + "'");
  if (staged->not_after <= m_deps.clock.wall_now()) {
    return fail("the staged certificate " + staged->serial + " of '" + name +
                "' has expired; `certrotd rotate " + name + "` stages a fresh one");
  }
  auto version = activate_staged(name, tracked, "on demand");
  if (!version) return version;
  if (m_rolled_back.contains(name)) arm(name, tracked, m_deps.clock.mono_now());
  return version;
}

Result<std::string> Engine::activate_staged(const std::string& name, Tracked& tracked,
                                            const std::string& why) {
  const store::StagedVersion staged = *tracked.persisted.staged;
  const std::string old_serial = tracked.cert() ? tracked.cert()->serial : "";
  const SystemTime now = m_deps.clock.wall_now();
  auto version = tracked.plan->store.activate(now);
  refresh_live(name, tracked);
  const bool live = tracked.cert() && tracked.cert()->fingerprint == staged.fingerprint;
  if (!version && !live) {
    auto still = tracked.plan->store.staged();
    if (still && !*still) {
      // Removed by hand or by recovery: renew afresh rather than wait for nothing.
      tracked.persisted.staged.reset();
      emit(EventKind::renew_failed, Severity::warning, name, tracked,
           "staged version " + staged.version + " is gone; staging a fresh one");
      schedule_next(name, tracked);
    } else {
      record_failure(name, tracked, version.error().because(Reason::io), EventKind::renew_failed,
                     "cannot activate staged version " + staged.version + ": ");
    }
    count_failing(tracked);
    save_state(name, tracked);
    return fail(version.error());
  }
  tracked.persisted.live_cert->installed = true;
  tracked.persisted.installed_at = now;
  tracked.persisted.key_renewals = renewals_after(tracked.persisted.key_renewals,
                                                  staged.key_reused);
  tracked.persisted.renewal_window.reset();
  tracked.persisted.issuer_pending = false;
  tracked.persisted.staged.reset();
  tracked.restage = false;
  emit(EventKind::activated, Severity::info, name, tracked,
       "version " + staged.version + " is live (" + why + ")");
  m_activated.push_back(name);
  if (!tracked.plan->config.on_rotate.empty()) m_rolled_back[name] = old_serial;
  if (!version) {
    // Swapped; only a copy outside the folder failed, as after an install.
    tracked.persisted.copies_missing = true;
    record_failure(name, tracked, version.error().because(Reason::io), EventKind::copy_failed,
                   "version " + staged.version + " is live but a copy is missing: ");
  } else {
    tracked.persisted.copies_missing = false;
    clear_failure(tracked);
    schedule_next(name, tracked);
  }
  count_failing(tracked);
  save_state(name, tracked);
  return staged.version;
}

void Engine::settle_staged(const std::string& name, Tracked& tracked, const OnDisk& found) {
  if (!found.staged) return;  // the folder could not be read: keep what the state file says
  const std::optional<std::string>& on_disk = *found.staged;
  auto& staged = tracked.persisted.staged;
  const store::CertCache* cert = tracked.cert();
  if (staged && cert && cert->fingerprint == staged->fingerprint) {
    // Killed during an activation, after the swap: finish it (the dependents are told now).
    const std::string version = staged->version;
    tracked.persisted.live_cert->installed = true;
    tracked.persisted.installed_at = staged->staged_at;
    staged.reset();
    emit(EventKind::activated, Severity::info, name, tracked,
         "version " + version + " is live (an activation interrupted by a restart, finished)");
    if (!tracked.plan->config.on_rotate.empty()) m_rolled_back[name] = "";
    save_state(name, tracked);
    return;
  }
  if (staged && on_disk == staged->version) return;  // waiting, as before the restart
  if (staged) {
    emit(EventKind::loaded, Severity::warning, name, tracked,
         "staged version " + staged->version + " is no longer in " +
             tracked.plan->config.output.dir +
             " (removed by hand or by crash recovery); "
             "a fresh one will be staged");
    staged.reset();
    save_state(name, tracked);
  }
  if (on_disk) {
    // `next` was made, but the staging never completed (the state file does not know it, so its
    // on_staged actions may not have run): remove it and stage afresh.
    auto removed = tracked.plan->store.unstage();
    emit(EventKind::loaded, Severity::warning, name, tracked,
         "removed next/ (version " + *on_disk + "), whose staging was interrupted" +
             (removed ? std::string() : ": " + removed.error().what()));
  }
}

void Engine::save_state(const std::string& name, const Tracked& tracked) {
  if (auto saved = m_state_files->save(name, tracked.persisted); !saved) {
    emit(EventKind::renew_failed, Severity::warning, name, tracked,
         "cannot persist state: " + saved.error().what());
  }
}

void Engine::emit(EventKind kind, Severity severity, const std::string& name,
                  const Tracked& tracked, std::string message, Reason reason) const {
  const store::CertCache* cert = tracked.cert();
  Event event{kind,
              severity,
              name,
              tracked.plan->config.issuer,
              cert ? cert->serial : "",
              cert ? std::optional(cert->not_after) : std::nullopt,
              std::move(message),
              reason};
  if (cert) event.not_before = cert->not_before;
  event.next_renewal = tracked.persisted.next_attempt;
  event.state = state_of(name, tracked);
  if (tracked.persisted.staged) event.staged_not_after = tracked.persisted.staged->not_after;
  if (tracked.plan->issuer) event.issuer_http_requests = tracked.plan->issuer->requests_made();
  m_deps.events.emit(event);
}

}  // namespace certrotd::engine
