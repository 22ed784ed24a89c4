#include "schedule/policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "util/strings.hpp"

namespace certrotd::schedule {

namespace {

using Dur = SystemTime::duration;

// A fresh certificate is never due before this fraction of its lifetime has passed, however far
// back notBefore was dated or however large `renew_before` is.
constexpr double k_min_elapsed_fraction = 0.10;
// Room kept before notAfter for retries, as a fraction of the lifetime (at least two backoff
// bases, at most half the lifetime).
constexpr double k_retry_room_fraction = 0.10;

// Policy fractions come from the config; a NaN or out-of-range value must not turn into an
// overflowing duration.
double unit_fraction(double v) { return v >= 0.0 ? std::min(v, 1.0) : 0.0; }

// `d * f` for |f| <= 1, rounded to the clock's resolution.
Dur scale(Dur d, double f) {
  return Dur(static_cast<Dur::rep>(std::llround(static_cast<double>(d.count()) * f)));
}

// A configured duration in the clock's resolution, saturated at `limit` (> 0) so that a huge value
// (say renew_before: 1000y) cannot overflow the nanosecond clock. Negative values count as zero.
Dur saturate(Millis d, Dur limit) {
  if (d <= Millis::zero()) {
    return Dur::zero();
  }
  if (d >= std::chrono::floor<Millis>(limit)) {
    return limit;
  }
  return std::chrono::duration_cast<Dur>(d);
}

// FNV-1a alone mixes the last characters of an id poorly into the high bits, and ids in a fleet
// tend to differ only there ("db-01", "db-02"). The splitmix64 finalizer spreads them evenly and
// is just as stable.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

// A stable value in [-1, 1) for the credential.
double stable_unit(std::string_view credential_id) {
  const std::uint64_t h = mix(stable_hash(credential_id));
  // The top 53 bits fill a double's mantissa exactly: uniform in [0, 1).
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return 2.0 * u - 1.0;
}

// Room kept before notAfter for retries (see renewal_time()).
Dur retry_room(Dur lifetime, const RenewPolicy& policy) {
  const Dur two_bases = 2 * saturate(policy.backoff_base, lifetime);
  return std::min(std::max(two_bases, scale(lifetime, k_retry_room_fraction)), lifetime / 2);
}

// The stable instant inside the issuer's window, kept clear of the last retries. The part of the
// window before notBefore is cut off (it only says "renew now", and an absurd start must not
// overflow the span).
SystemTime window_point(const Window& window, SystemTime not_before, SystemTime latest,
                        std::string_view credential_id) {
  const SystemTime start = std::max(window.start, not_before);
  if (start >= window.end) return std::min(window.end, latest);
  const double u = (stable_unit(credential_id) + 1.0) / 2.0;  // [0, 1)
  return std::min(start + scale(window.end - start, u), latest);
}

}  // namespace

bool window_usable(const Validity& validity) {
  return validity.window && validity.window->start < validity.window->end &&
         validity.window->end <= validity.not_after;
}

SystemTime renewal_time(const Validity& validity, const RenewPolicy& policy,
                        std::string_view credential_id) {
  SystemTime start = validity.not_before;
  if (validity.installed_at && *validity.installed_at > start) {
    start = *validity.installed_at;
  }
  const SystemTime not_after = validity.not_after;
  if (not_after <= start) {
    // Nothing left of the lifetime (or nonsense dates): renew at once.
    return not_after;
  }
  const Dur lifetime = not_after - start;
  const SystemTime latest = not_after - retry_room(lifetime, policy);
  if (window_usable(validity)) {
    return window_point(*validity.window, validity.not_before, latest, credential_id);
  }

  SystemTime point = start + scale(lifetime, unit_fraction(policy.renew_at));
  if (policy.renew_before) {
    const Dur before = saturate(*policy.renew_before, lifetime);
    if (before > Dur::zero() && not_after - before < point) {
      point = not_after - before;
    }
  }
  point += scale(lifetime, unit_fraction(policy.jitter) * stable_unit(credential_id));

  const SystemTime earliest = start + scale(lifetime, k_min_elapsed_fraction);
  // earliest (start + 10%) < latest (at least start + 50%), so the clamp is well-formed.
  return std::clamp(point, earliest, latest);
}

Millis backoff_delay(int failures, Millis remaining, const RenewPolicy& policy, Random& random) {
  // Never zero: a zero delay would turn a failing issuer into a busy loop.
  const Millis floor = std::max(policy.min_delay, Millis(1));

  Millis cap = policy.backoff_cap;
  if (remaining > Millis::zero()) {
    // Near expiry an hour-long wait could outlast the certificate; retry more often instead.
    cap = std::min(cap, std::max(policy.min_delay, remaining / 10));
  }
  if (cap <= Millis::zero()) {
    return floor;
  }

  // base * 2^(failures-1), saturated at the cap without ever computing an overflowing product.
  const int shift = std::max(failures, 1) - 1;
  const Millis::rep base = std::max<Millis::rep>(policy.backoff_base.count(), 0);
  Millis::rep upper = cap.count();
  if (shift < 62 && base <= (upper >> shift)) {
    upper = base << shift;
  }

  const std::uint64_t bound = static_cast<std::uint64_t>(upper) + 1;  // U[0, upper] inclusive
  const Millis drawn(static_cast<Millis::rep>(random.below(bound)));
  return std::max(drawn, floor);
}

namespace {

// cap' of backoff_delay(): the cap, shrunk to a tenth of what is left near expiry.
Millis effective_cap(Millis remaining, const RenewPolicy& policy) {
  Millis cap = policy.backoff_cap;
  if (remaining > Millis::zero()) cap = std::min(cap, std::max(policy.min_delay, remaining / 10));
  return std::max(cap, std::max(policy.min_delay, Millis(1)));
}

}  // namespace

Millis retry_delay(int failures, Millis remaining, const RenewPolicy& policy, Random& random,
                   ErrorClass error, std::optional<Millis> retry_after) {
  const Millis cap = effective_cap(remaining, policy);
  Millis delay = cap;
  if (error == ErrorClass::retryable) delay = backoff_delay(failures, remaining, policy, random);
  if (retry_after && *retry_after > delay) delay = *retry_after;
  if (remaining > Millis::zero()) {
    const Millis latest = std::max(std::max(policy.min_delay, Millis(1)),
                                   remaining - k_retries_before_expiry * cap);
    delay = std::min(delay, latest);
  }
  return delay;
}

Millis not_yet_delay(std::optional<Millis> retry_after, Millis remaining,
                     const RenewPolicy& policy) {
  const Millis floor = std::max(policy.min_delay, k_not_yet_min);
  Millis delay = std::clamp(retry_after.value_or(policy.backoff_base), floor,
                            std::max(floor, k_not_yet_max));
  if (remaining > Millis::zero()) {
    const Millis cap = effective_cap(remaining, policy);
    delay = std::min(delay, std::max(floor, remaining - k_retries_before_expiry * cap));
  }
  return delay;
}

Millis renewal_info_delay(std::optional<Millis> retry_after) {
  return std::clamp(retry_after.value_or(k_renewal_info_default), k_renewal_info_min,
                    k_renewal_info_max);
}

Millis renewal_info_error_delay(int failures, Millis remaining, const RenewPolicy& policy,
                                Random& random, ErrorClass error,
                                std::optional<Millis> retry_after) {
  Millis delay = k_renewal_info_default;
  if (error == ErrorClass::retryable && failures <= k_renewal_info_quick_retries) {
    delay = backoff_delay(failures, remaining, policy, random);
  }
  if (retry_after && *retry_after > delay) delay = *retry_after;
  return std::clamp(delay, k_renewal_info_min, k_renewal_info_max);
}

namespace {

SystemTime before_expiry(const Validity& validity, double fraction, std::optional<Millis> before) {
  const Dur lifetime = std::max(validity.not_after - validity.not_before, Dur::zero());
  const Dur offset = before ? saturate(*before, lifetime)
                            : scale(lifetime, unit_fraction(fraction));
  return validity.not_after - offset;
}

}  // namespace

std::string_view to_string(Alert alert) {
  switch (alert) {
    case Alert::none: return "none";
    case Alert::expiring: return "expiring";
    case Alert::critical: return "critical";
    case Alert::expired: return "expired";
  }
  return "unknown";
}

SystemTime alert_time(const Validity& validity, const RenewPolicy& policy, Alert alert) {
  switch (alert) {
    case Alert::none: return validity.not_before;
    case Alert::expiring:
      return before_expiry(validity, policy.expiring_at, policy.expiring_before);
    case Alert::critical:
      // Never before the expiring threshold: crossing the critical one crosses both.
      return std::max(before_expiry(validity, policy.critical_at, policy.critical_before),
                      alert_time(validity, policy, Alert::expiring));
    case Alert::expired: return validity.not_after;
  }
  return validity.not_after;
}

Alert alert_at(const Validity& validity, const RenewPolicy& policy, SystemTime now) {
  for (Alert a : {Alert::expired, Alert::critical, Alert::expiring}) {
    if (now >= alert_time(validity, policy, a)) return a;
  }
  return Alert::none;
}

std::optional<SystemTime> next_alert_time(const Validity& validity, const RenewPolicy& policy,
                                          Alert reported) {
  if (reported == Alert::expired) return std::nullopt;
  return alert_time(validity, policy, static_cast<Alert>(static_cast<int>(reported) + 1));
}

std::string_view to_string(State state) {
  switch (state) {
    case State::missing: return "missing";
    case State::valid: return "valid";
    case State::due: return "due";
    case State::renewing: return "renewing";
    case State::backing_off: return "backing-off";
    case State::expiring: return "expiring";
    case State::expired: return "expired";
    case State::needs_attention: return "needs-attention";
  }
  return "unknown";
}

State classify(const StateInputs& inputs, const RenewPolicy& policy, std::string_view credential_id,
               SystemTime now) {
  if (inputs.failures > 0 && inputs.needs_attention) {
    return State::needs_attention;
  }
  if (!inputs.validity) {
    return State::missing;
  }
  if (inputs.renewing) {
    return State::renewing;
  }
  const Validity& validity = *inputs.validity;
  // notAfter <= notBefore is a certificate that is valid at no instant.
  if (now >= validity.not_after || validity.not_after <= validity.not_before) {
    return State::expired;
  }
  if (now > alert_time(validity, policy, Alert::expiring)) {
    return State::expiring;
  }
  if (inputs.failures > 0) {
    return State::backing_off;
  }
  if (now >= renewal_time(validity, policy, credential_id)) {
    return State::due;
  }
  return State::valid;
}

}  // namespace certrotd::schedule
