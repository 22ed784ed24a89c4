// An issuer's housekeeping on a timer of its own (Issuer::upkeep): an EST CA bundle refreshed
// from /cacerts, replaced SAP Service Manager bindings deleted when their grace period ends.
//
// When the issuer is called:
//   - at start-up (or when a reload adds the credential) when no next time is persisted, or the
//     persisted one is due; at every start-up for UpkeepMode::also_at_start;
//   - after an issuance, when the issuer named a time with it (IssueOutcome::upkeep_after);
//   - after each upkeep, when the issuer named a time (UpkeepOutcome::next);
//   - after an error, with the credential's backoff (schedule::retry_delay).
// The times share the credential's entry in the deadline heap, so an issuer without upkeep costs
// nothing and one with upkeep adds no wake-up while nothing is due. The next time and the
// failures in a row are persisted ("upkeep" in the state file), so a restart keeps them.
#include <utility>

#include "engine/engine.hpp"
#include "util/duration.hpp"

namespace certrotd::engine {

namespace {

// The roots of the live ca.pem; empty when there is none (or it holds none).
std::vector<x509::Certificate> roots_of(const std::optional<store::CredentialFiles>& files) {
  if (!files || files->ca.empty()) return {};
  auto certs = x509::parse_certificates(files->ca);
  return certs ? std::move(*certs) : std::vector<x509::Certificate>{};
}

}  // namespace

Result<Installed> run_upkeep(const CredentialPlan& plan, IssuerExchange& exchange) {
  auto live = read_live(plan.config);
  if (!live) return fail(live.error());
  auto files = plan.store.load_current();
  if (!files) return fail(files.error());
  Installed facts{*live ? (*live)->chain.front().info() : x509::CertInfo{}, {}, std::nullopt};
  issuer::UpkeepRequest request{plan.config.name, std::nullopt, roots_of(*files), exchange.state_in,
                                plan.config.issuer_options};
  if (*live) {
    request.current = issuer::CurrentCredential{std::move((*live)->chain), std::move((*live)->key)};
  }
  const std::string who = "issuer " + plan.config.issuer;
  auto outcome = plan.issuer->upkeep(request);
  if (!outcome) return fail(outcome.error().wrap(who));
  if (outcome->state && outcome->state->size() > issuer::k_max_issuer_state) {
    return fail(Reason::invalid_answer, who + " returned more private state than certrotd keeps");
  }
  if (outcome->ca && *live && *files) {
    // The issuer vouches for these roots as it does for those of an issuance (EST filters
    // /cacerts through trust_anchors and bootstrap_fingerprints before it names them).
    const std::string pem = x509::to_pem(*outcome->ca);
    if (pem != (*files)->ca) {
      if (auto written = plan.store.replace_ca(pem); !written) {
        return fail(written.error().wrap("cannot write the refreshed ca.pem"));
      }
      // ca.pem is live now: the dependents are told whatever the copies do; a copy that fails
      // is retried from the live version, as after a rotation (JobKind::copies).
      exchange.ca_changed = true;
      (*files)->ca = pem;
      if (auto copied = plan.store.write_copies(**files); !copied) {
        const Error& e = copied.error();
        facts.copy_error = e.reason == Reason::unspecified ? e.because(Reason::io) : e;
      }
    }
  }
  exchange.upkeep = std::move(*outcome);
  return facts;
}

std::optional<SystemTime> Engine::upkeep_due(const Tracked& tracked) const {
  if (!tracked.plan->issuer || tracked.plan->issuer->upkeep_mode() == issuer::UpkeepMode::none) {
    return std::nullopt;
  }
  return tracked.persisted.upkeep_next;
}

void Engine::ensure_upkeep(Tracked& tracked, bool starting) {
  if (!tracked.plan->issuer) return;
  const issuer::UpkeepMode mode = tracked.plan->issuer->upkeep_mode();
  if (mode == issuer::UpkeepMode::none) return;
  const SystemTime now = m_deps.clock.wall_now();
  auto& next = tracked.persisted.upkeep_next;
  if (!next || (starting && mode == issuer::UpkeepMode::also_at_start && *next > now)) next = now;
}

void Engine::after_issuance_upkeep(Tracked& tracked, const IssuerExchange& exchange) {
  if (!exchange.upkeep_after || !tracked.plan->issuer ||
      tracked.plan->issuer->upkeep_mode() == issuer::UpkeepMode::none) {
    return;
  }
  tracked.persisted.upkeep_failures = 0;
  tracked.persisted.upkeep_next = m_deps.clock.wall_now() + *exchange.upkeep_after;
}

void Engine::dispatch_upkeep(const std::string& name, Tracked& tracked, std::vector<Job>& jobs) {
  // One job of a credential at a time, as for renewal information: the upkeep never sees a
  // rotation half-way, and the issuer's state it replaces is the one it was handed.
  tracked.in_flight = true;
  tracked.asking = true;
  ++m_in_flight;
  Job job{name, tracked.plan, m_deps.clock.wall_now(), tracked.cert() ? tracked.cert()->serial : "",
          JobKind::upkeep};
  job.open_folder = !tracked.folder_ready;
  job.issuer_state = tracked.persisted.issuer_state;
  jobs.push_back(std::move(job));
}

void Engine::complete_upkeep(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  const SystemTime now = m_deps.clock.wall_now();
  store::CredentialState& state = tracked.persisted;
  // Due already (`certrotd rotate`, or the renewal time came meanwhile): stays due.
  const bool due = tracked.renew_due <= m_deps.clock.mono_now();
  if (done.result && done.issuer.upkeep) {
    const issuer::UpkeepOutcome& outcome = *done.issuer.upkeep;
    state.upkeep_failures = 0;
    state.issuer_state = outcome.state;
    state.upkeep_next = outcome.next ? std::optional(now + *outcome.next) : std::nullopt;
    if (done.issuer.ca_changed) tracked.dependents = done.actions;
    std::string text = outcome.summary.empty() ? "nothing to do" : outcome.summary;
    if (outcome.next) text += "; next in " + format_duration(*outcome.next);
    emit(EventKind::upkeep, outcome.summary.empty() ? Severity::debug : Severity::info, name,
         tracked, std::move(text));
    if (done.result->copy_error) {
      // The copies job (next_kind) writes it from the live version, with the ordinary backoff.
      state.copies_missing = true;
      record_failure(name, tracked, *done.result->copy_error, EventKind::copy_failed,
                     "ca.pem is updated but a copy is missing: ");
      return;
    }
  } else if (!done.result) {
    const Error& error = done.result.error();
    state.upkeep_failures += 1;
    const store::CertCache* cert = tracked.cert();
    const Millis remaining = cert ? std::chrono::duration_cast<Millis>(cert->not_after - now)
                                  : Millis{0};
    const Millis delay = schedule::retry_delay(
        state.upkeep_failures, remaining, tracked.plan->config.policy, m_deps.random,
        error.retryable() ? schedule::ErrorClass::retryable : schedule::ErrorClass::permanent,
        error.retry_after);
    state.upkeep_next = now + delay;
    // The certificate and its renewal stay as they are: upkeep trouble never stops them.
    emit(EventKind::upkeep_failed, Severity::warning, name, tracked,
         "issuer upkeep failed: " + error.what() + "; the credential is unchanged; attempt " +
             std::to_string(state.upkeep_failures) + ", retry in " + format_duration(delay),
         error.reason);
  }
  // A change on disk while the issuer was called: handled now.
  if (due || tracked.adopt_pending) tracked.renew_due = m_deps.clock.mono_now();
  arm(name, tracked, tracked.renew_due);
}

}  // namespace certrotd::engine
