// Renewal information (ACME ARI, RFC 9773; protocols.md §6): when the engine asks an issuer
// that reports it, and what it makes of the answers. lib/schedule decides the renewal instant
// from the window; this file only keeps the window and the times to ask.
//
// When the issuer is asked about the live certificate:
//   - at start-up (or when a reload adds the credential) when no next ask is persisted, or the
//     persisted one is due;
//   - after an issuance that did not carry a window itself (one that did is asked about after
//     the long-term default), and after an adoption or a rollback made another certificate live;
//   - after each answer, per its Retry-After (schedule::renewal_info_delay);
//   - after an error, with backoff (schedule::renewal_info_error_delay).
// Never once the live certificate has expired (RFC 9773 §4.3: stop polling). The asks share the
// credential's entry in the deadline heap: an issuer without renewal information costs nothing.
#include <utility>

#include "engine/engine.hpp"
#include "util/duration.hpp"
#include "util/rfc3339.hpp"

namespace certrotd::engine {

Result<Installed> ask_renewal_info(const CredentialPlan& plan, IssuerExchange& exchange) {
  auto live = read_live(plan.config);
  if (!live) return fail(live.error());
  if (!*live) return fail("no certificate is live", plan.config.output.dir);
  Installed facts{(*live)->chain.front().info(), {}, std::nullopt};
  issuer::RenewalInfoRequest request{plan.config.name, std::move((*live)->chain),
                                     exchange.state_in};
  auto info = plan.issuer->renewal_info(request);
  if (!info) return fail(info.error());
  exchange.renewal_info = std::move(*info);
  return facts;
}

bool Engine::asks_renewal_info(const Tracked& tracked) const {
  const store::CertCache* cert = tracked.cert();
  return cert && tracked.plan->issuer && tracked.plan->issuer->reports_renewal_info() &&
         cert->not_after > m_deps.clock.wall_now();
}

void Engine::ask_again_now(Tracked& tracked) {
  tracked.persisted.renewal_info_failures = 0;
  tracked.invalid_window_logged = false;
  tracked.persisted.renewal_info_next = asks_renewal_info(tracked)
                                            ? std::optional(m_deps.clock.wall_now())
                                            : std::nullopt;
}

void Engine::ensure_asking(Tracked& tracked) {
  if (asks_renewal_info(tracked) && !tracked.persisted.renewal_info_next) {
    tracked.persisted.renewal_info_next = m_deps.clock.wall_now();
  }
}

std::optional<SystemTime> Engine::ask_due(const Tracked& tracked) const {
  if (!tracked.persisted.renewal_info_next || !asks_renewal_info(tracked)) return std::nullopt;
  return tracked.persisted.renewal_info_next;
}

void Engine::dispatch_renewal_info(const std::string& name, Tracked& tracked,
                                   std::vector<Job>& jobs) {
  // Counted as a job in flight like an alert job: the credential has one job at a time, so an
  // answer is always about the certificate that is live when it is applied.
  tracked.in_flight = true;
  tracked.asking = true;
  ++m_in_flight;
  Job job{name, tracked.plan, m_deps.clock.wall_now(), tracked.cert()->serial,
          JobKind::renewal_info};
  job.issuer_state = tracked.persisted.issuer_state;
  jobs.push_back(std::move(job));
}

void Engine::complete_renewal_info(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  const store::CertCache* cert = tracked.cert();
  // Due already (`certrotd rotate`, or the renewal time came while the issuer was asked):
  // stays due whatever the answer says.
  const bool due = tracked.renew_due <= m_deps.clock.mono_now();
  if (cert && cert->serial == done.job.old_serial) {
    if (done.result && done.issuer.renewal_info) {
      apply_renewal_info(name, tracked, *done.issuer.renewal_info);
    } else if (!done.result) {
      renewal_info_failed(name, tracked, done.result.error());
    }
  }
  // A change on disk while the issuer was asked: handled now.
  if (due || tracked.adopt_pending) tracked.renew_due = m_deps.clock.mono_now();
  arm(name, tracked, tracked.renew_due);
}

void Engine::apply_renewal_info(const std::string& name, Tracked& tracked,
                                const issuer::RenewalInfo& info) {
  const SystemTime now = m_deps.clock.wall_now();
  const store::CertCache& cert = *tracked.cert();
  store::CredentialState& state = tracked.persisted;
  state.renewal_info_failures = 0;
  const Millis delay = schedule::renewal_info_delay(info.retry_after);
  state.renewal_info_next = now + delay;
  const std::string ask_again = "; asking again in " + format_duration(delay);
  if (!info.window) {
    // No advice: the policy decides again.
    if (!state.renewal_window) return;
    state.renewal_window.reset();
    schedule_next(name, tracked);
    emit(EventKind::renewal_info, Severity::info, name, tracked,
         "the issuer no longer suggests a renewal window; renewing by the policy" + ask_again);
    return;
  }
  const issuer::RenewalWindow& window = *info.window;
  schedule::Validity validity{cert.not_before, cert.not_after, std::nullopt,
                              schedule::Window{window.start, window.end}};
  if (!schedule::window_usable(validity)) {
    // RFC 9773 §4.2: an invalid window is no answer; what was known before stays. Logged once,
    // not at every ask, until a valid window comes.
    if (tracked.invalid_window_logged) return;
    tracked.invalid_window_logged = true;
    emit(EventKind::renewal_info, Severity::warning, name, tracked,
         "ignoring the issuer's renewal window " + format_rfc3339(window.start) + " to " +
             format_rfc3339(window.end) + ": it must end after it starts and no later than " +
             "notAfter " + format_rfc3339(cert.not_after) + ask_again,
         Reason::invalid_answer);
    return;
  }
  tracked.invalid_window_logged = false;
  std::string url = info.explanation_url.value_or(window.explanation_url.value_or(""));
  store::RenewalWindow kept{window.start, window.end, std::move(url)};
  if (state.renewal_window == kept) return;
  state.renewal_window = std::move(kept);
  schedule_next(name, tracked);
  std::string text = "renewal window " + format_rfc3339(window.start) + " to " +
                     format_rfc3339(window.end) + "; renewing at " +
                     format_rfc3339(*state.next_attempt);
  if (!state.renewal_window->explanation_url.empty()) {
    text += "; explanation: " + state.renewal_window->explanation_url;
  }
  emit(EventKind::renewal_info, Severity::info, name, tracked, text + ask_again);
}

void Engine::renewal_info_failed(const std::string& name, Tracked& tracked, const Error& error) {
  const SystemTime now = m_deps.clock.wall_now();
  store::CredentialState& state = tracked.persisted;
  state.renewal_info_failures += 1;
  const Millis remaining = std::chrono::duration_cast<Millis>(tracked.cert()->not_after - now);
  const Millis delay = schedule::renewal_info_error_delay(
      state.renewal_info_failures, remaining, tracked.plan->config.policy, m_deps.random,
      error.retryable() ? schedule::ErrorClass::retryable : schedule::ErrorClass::permanent,
      error.retry_after);
  state.renewal_info_next = now + delay;
  // The renewal stays where it was: ARI trouble never stops or delays it.
  emit(EventKind::renewal_info_failed, Severity::warning, name, tracked,
       "cannot get renewal information: " + error.what() + "; renewing by " +
           (state.renewal_window ? "the window known before" : "the policy") +
           "; asking again in " + format_duration(delay),
       error.reason);
}

}  // namespace certrotd::engine
