// When to renew, how long to back off, and what state a credential is in.
//
// Pure functions of (certificate dates, policy, credential id, now, randomness): no I/O, no clock
// reads. The engine turns the wall-clock instants computed here into monotonic timer deadlines.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/random.hpp"

namespace certrotd::schedule {

struct RenewPolicy {
  // Renew at this fraction of the lifetime (default 2/3, as step and cert-manager do).
  double renew_at = 2.0 / 3.0;
  // Renew this long before notAfter instead; wins when it is earlier than `renew_at`.
  std::optional<Millis> renew_before;
  // Stable per-credential jitter, as a fraction of the lifetime, applied as +/- around the
  // renewal point so a fleet does not renew in lock-step.
  double jitter = 0.05;
  // Failure backoff: full jitter, U[0, min(cap', base * 2^(failures-1))], where cap' shrinks to
  // 10% of the remaining lifetime as expiry nears (but never below `min_delay`).
  Millis backoff_base = std::chrono::seconds(30);
  Millis backoff_cap = std::chrono::hours(1);
  Millis min_delay = std::chrono::seconds(1);
  // A credential with less than this fraction of its lifetime left and no successful renewal is
  // "expiring" (logged once as a warning). `expiring_before` (config `expiring_at: 7d`) names a
  // fixed time before notAfter instead.
  double expiring_at = 0.10;
  std::optional<Millis> expiring_before;
  // The second, error-level threshold (`critical_at`): 3% of the lifetime (about 2.7 days of a
  // 90-day certificate, 43 minutes of a day-long one), or a fixed time before notAfter.
  double critical_at = 0.03;
  std::optional<Millis> critical_before;
};

// A renewal window reported by the issuer for the certificate it issued.
struct Window {
  SystemTime start;
  SystemTime end;

  friend bool operator==(const Window&, const Window&) = default;
};

// The validity of the certificate currently installed.
struct Validity {
  SystemTime not_before;
  SystemTime not_after;
  // When certrotd installed this certificate, if it did. Used as the effective start of the
  // lifetime when it is later than notBefore: issuers backdate notBefore for clock skew (step-ca
  // 1 min, Let's Encrypt 1 h), and on a 2-minute certificate that backdating alone would make a
  // fresh certificate look due at once.
  std::optional<SystemTime> installed_at;
  // When the issuer suggests renewing (ACME ARI suggestedWindow, a Service Manager validity).
  std::optional<Window> window = std::nullopt;
};

// The instant the credential should be renewed. Never before the effective start, never later
// than the point that still leaves room for retries before notAfter.
//
// Exactly (L = lifetime, fractions clamped to [0, 1]):
//   start      = max(notBefore, installed_at if set)
//   L          = notAfter - start                      (L <= 0: returns notAfter, due at once)
//   point      = start + renew_at * L
//   point      = min(point, notAfter - renew_before)   (if renew_before > 0; saturated at L)
//   point     += jitter * L * (2u - 1), u in [0, 1) from stable_hash(credential_id) put through
//                the splitmix64 finalizer: the same on every host and restart
//   earliest   = start + 10% of L                      (a fresh certificate is never due at once)
//   retry_room = min(max(2 * backoff_base, 10% of L), L / 2)
//   result     = clamp(point, earliest, notAfter - retry_room)
//
// With an issuer's window that is usable (start < end <= notAfter) the window replaces the
// lifetime fraction, `renew_before`, the jitter and `earliest` (an issuer may ask for an early
// renewal, after a revocation say):
//   result     = min(start + u * (end - start), notAfter - retry_room)
// with u in [0, 1) from the same stable hash, so a fleet spreads over the window and a restart
// picks the same instant. A window already over gives an instant in the past: due at once. A
// window that ends after notAfter, or ends before it starts, is ignored (the issuer is wrong
// about its own certificate) and the policy above applies.
SystemTime renewal_time(const Validity& validity, const RenewPolicy& policy,
                        std::string_view credential_id);

// Whether renewal_time() follows `validity.window` (false: no window, or one it ignores).
bool window_usable(const Validity& validity);

// Delay before retry number `failures` (1 = first failure). `remaining` is the time left until
// notAfter (zero or negative when missing or expired: then the cap is `backoff_cap`, scaled to
// `backoff_base` at most for the first try).
//
// Exactly: cap'   = remaining > 0 ? min(backoff_cap, max(min_delay, remaining / 10)) : backoff_cap
//          upper  = min(cap', backoff_base * 2^(max(failures, 1) - 1))   (saturating, no overflow)
//          result = max(U[0, upper] drawn from `random`, min_delay, 1 ms)
Millis backoff_delay(int failures, Millis remaining, const RenewPolicy& policy, Random& random);

// The next attempt after a failure, from the error contract (util/result.hpp):
//   permanent: the effective cap (cap' above), so an unfixable error is retried rarely;
//   otherwise: backoff_delay(), raised to `retry_after` when the other side asked for longer.
// Never longer than what still leaves k_retries_before_expiry waits of cap' before notAfter
// (at least min_delay), so a long Retry-After cannot make the certificate expire unrenewed.
// `remaining` as for backoff_delay(); with no certificate (remaining <= 0) only cap' applies to
// permanent errors and retry_after is taken as given (the HTTP layer has clamped it already).
inline constexpr int k_retries_before_expiry = 3;

enum class ErrorClass { retryable, permanent };

Millis retry_delay(int failures, Millis remaining, const RenewPolicy& policy, Random& random,
                   ErrorClass error, std::optional<Millis> retry_after);

// How long to wait before asking an issuer again that answered "not yet" (issuer::NotYet):
//   asked  = retry_after, or backoff_base when the issuer named no time
//   result = clamp(asked, max(min_delay, 1 s), 1 h)
// and, with a certificate (remaining > 0), never past the point that still leaves
// k_retries_before_expiry waits of cap' (as in retry_delay()) before notAfter.
inline constexpr Millis k_not_yet_max = std::chrono::hours(1);
inline constexpr Millis k_not_yet_min = std::chrono::seconds(1);

Millis not_yet_delay(std::optional<Millis> retry_after, Millis remaining,
                     const RenewPolicy& policy);

// When to ask an issuer that reports renewal information (ACME ARI, RFC 9773 §4.3) again.
// Its Retry-After is the interval it wants, both the least and the most: RFC 9773 §4.3.2
// suggests clamping it to [1 min, 1 day], which also keeps a CA that says "0" from being asked
// in a loop and one that says "a year" from never being asked again before the certificate
// expires. With no Retry-After the RFC's "long-term" default of 6 hours applies.
inline constexpr Millis k_renewal_info_min = std::chrono::minutes(1);
inline constexpr Millis k_renewal_info_max = std::chrono::hours(24);
inline constexpr Millis k_renewal_info_default = std::chrono::hours(6);
// Retryable errors (network, 5xx) are retried with the policy's backoff this many times in a
// row; then, and after any other error, the issuer is asked again after the long-term default
// (RFC 9773 §4.3.3: "exponential backoff with a capped number of tries, then long-term").
inline constexpr int k_renewal_info_quick_retries = 3;

// After an answer: clamp(retry_after or k_renewal_info_default, k_renewal_info_min,
// k_renewal_info_max).
Millis renewal_info_delay(std::optional<Millis> retry_after);

// After the `failures`-th error in a row (1 = the first):
//   retryable and failures <= k_renewal_info_quick_retries: backoff_delay(), raised to
//     retry_after when the issuer asked for longer;
//   otherwise: k_renewal_info_default, or retry_after when longer;
// and always clamped to [k_renewal_info_min, k_renewal_info_max]. Only the next ask waits for
// this: the renewal itself stays where the policy (or the window known before) put it.
Millis renewal_info_error_delay(int failures, Millis remaining, const RenewPolicy& policy,
                                Random& random, ErrorClass error,
                                std::optional<Millis> retry_after);

// The expiry thresholds a live certificate crosses, in the order it crosses them. Each is
// reported once per certificate (the engine persists the last one reported, with its serial).
enum class Alert { none, expiring, critical, expired };

std::string_view to_string(Alert alert);  // "expiring", "critical", "expired"

// The instant `alert` is crossed (L = notAfter - notBefore):
//   expiring: notAfter - expiring_before if set, else notAfter - expiring_at * L
//   critical: likewise with critical_before / critical_at, never before expiring
//   expired:  notAfter
// A threshold further from notAfter than notBefore is crossed at notBefore; `none` is notBefore.
SystemTime alert_time(const Validity& validity, const RenewPolicy& policy, Alert alert);

// The highest threshold crossed at `now` (none before the expiring one). A critical threshold
// set earlier than the expiring one makes both cross at the critical instant.
Alert alert_at(const Validity& validity, const RenewPolicy& policy, SystemTime now);

// When the first threshold above `reported` is crossed; nullopt once expired was reported.
std::optional<SystemTime> next_alert_time(const Validity& validity, const RenewPolicy& policy,
                                          Alert reported);

enum class State {
  missing,
  valid,
  due,
  renewing,
  backing_off,
  expiring,
  expired,
  needs_attention,  // the last attempt failed in a way retrying will not fix
};

std::string_view to_string(State state);

struct StateInputs {
  std::optional<Validity> validity;  // unset: no credential on disk
  bool renewing = false;             // a rotation is in flight
  int failures = 0;                  // consecutive failed attempts
  bool needs_attention = false;      // the last failure was permanent
};

// Precedence: needs-attention > missing > renewing > expired > expiring > backing-off > due >
// valid. needs-attention: failures > 0 and the last failure was permanent (it outranks missing:
// a first issuance refused for good must not look like one that is merely pending).
// expired: now >= notAfter, or notAfter <= notBefore (valid at no instant).
// expiring: now > alert_time(expiring) (less than the expiring threshold left).
// backing-off: failures > 0.  due: now >= renewal_time().
State classify(const StateInputs& inputs, const RenewPolicy& policy, std::string_view credential_id,
               SystemTime now);

}  // namespace certrotd::schedule
