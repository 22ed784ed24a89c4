// `certrotd revoke`: the engine's side. The issuer revokes the live certificate on a worker;
// afterwards the certificate is useless (RFC 5280 relying parties that check revocation refuse
// it), so the credential is rotated at once, and a restart before that rotation still rotates
// it (CredentialState::revoked_serial).
#include <array>
#include <utility>

#include "engine/engine.hpp"

namespace certrotd::engine {

namespace {

struct ReasonName {
  issuer::RevocationReason reason;
  std::string_view name;
};

// RFC 5280 §5.3.1 CRLReason names, as `--reason` takes them; the codes ACME accepts (RFC 8555
// §7.6 refers to them).
constexpr std::array<ReasonName, 5> k_reason_names = {{
    {issuer::RevocationReason::unspecified, "unspecified"},
    {issuer::RevocationReason::key_compromise, "keyCompromise"},
    {issuer::RevocationReason::affiliation_changed, "affiliationChanged"},
    {issuer::RevocationReason::superseded, "superseded"},
    {issuer::RevocationReason::cessation_of_operation, "cessationOfOperation"},
}};

}  // namespace

std::optional<issuer::RevocationReason> revocation_reason_named(std::string_view name) {
  for (const auto& entry : k_reason_names) {
    if (entry.name == name) return entry.reason;
  }
  return std::nullopt;
}

std::string_view to_string(issuer::RevocationReason reason) {
  for (const auto& entry : k_reason_names) {
    if (entry.reason == reason) return entry.name;
  }
  return "unspecified";
}

Result<Installed> revoke_live(const CredentialPlan& plan, issuer::RevocationReason reason,
                              const std::optional<std::string>& state) {
  auto live = read_live(plan.config);
  if (!live) return fail(live.error());
  if (!*live) return fail("no certificate is live", plan.config.output.dir);
  Installed facts{(*live)->chain.front().info(), {}, std::nullopt};
  issuer::RevokeRequest request{plan.config.name, std::move((*live)->chain), reason, state};
  if (auto done = plan.issuer->revoke(request); !done) return fail(done.error());
  return facts;
}

Result<void> Engine::request_revocation(const std::string& name, issuer::RevocationReason reason) {
  auto it = m_tracked.find(name);
  if (it == m_tracked.end()) return fail("no credential named '" + name + "'");
  Tracked& tracked = it->second;
  if (!tracked.cert()) return fail("'" + name + "' has no live certificate to revoke");
  if (!tracked.plan->issuer || !tracked.plan->issuer->can_revoke()) {
    return fail(Reason::config,
                "issuer '" + tracked.plan->config.issuer + "' (type " +
                    std::string(tracked.plan->issuer ? tracked.plan->issuer->type() : "?") +
                    ") cannot revoke certificates");
  }
  if (tracked.in_flight || tracked.revoke_pending) {
    return fail_retryable("a job of '" + name + "' is in flight; try again when it ended");
  }
  tracked.revoke_pending = reason;
  arm(name, tracked, m_deps.clock.mono_now());
  return {};
}

void Engine::complete_revocation(const JobResult& done, Tracked& tracked) {
  const std::string& name = done.job.name;
  const std::string why = std::string(to_string(done.job.revocation_reason));
  if (!done.result) {
    emit(EventKind::revoke_failed, Severity::error, name, tracked,
         "certificate " + done.job.old_serial + " was not revoked (reason " + why +
             "): " + done.result.error().what() + "; it stays live and on its schedule",
         done.result.error().reason);
    schedule_next(name, tracked);
    if (tracked.adopt_pending) arm(name, tracked, m_deps.clock.mono_now());
    return;
  }
  tracked.persisted.revoked_serial = done.result->info.serial;
  emit(EventKind::revoked, Severity::warning, name, tracked,
       "certificate " + done.result->info.serial + " revoked (reason " + why +
           "); rotating at once");
  schedule_next(name, tracked);
}

}  // namespace certrotd::engine
