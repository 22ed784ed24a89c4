#include "metrics/registry.hpp"

#include <charconv>
#include <iterator>

#include <fmt/format.h>

namespace certrotd::metrics {

namespace {

using engine::EventKind;

constexpr std::array k_states = {schedule::State::missing,     schedule::State::valid,
                                 schedule::State::due,         schedule::State::renewing,
                                 schedule::State::backing_off, schedule::State::expiring,
                                 schedule::State::expired,     schedule::State::needs_attention};

std::int64_t unix_seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string reason_label(Reason reason) {
  const std::string_view text = to_string(reason);
  return text.empty() ? "unspecified" : std::string(text);
}

// Label values in the text format: backslash, double quote and line feed escaped.
void append_escaped(std::string& out, std::string_view raw) {
  if (raw.find_first_of("\\\"\n") == std::string_view::npos) {
    out += raw;
    return;
  }
  for (char c : raw) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

class Writer {
public:
  explicit Writer(std::string& out) : m_out(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(m_out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  // name{label="value",...} number; labels given as (name, raw value) pairs.
  template <typename Number>
  void sample(std::string_view name,
              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              Number value) {
    m_out += name;
    if (labels.size() != 0) {
      m_out += '{';
      bool first = true;
      for (const auto& [label, raw] : labels) {
        if (!first) m_out += ',';
        first = false;
        m_out += label;
        m_out += "=\"";
        append_escaped(m_out, raw);
        m_out += '"';
      }
      m_out += '}';
    }
    // to_chars: the shortest text that reads back as the same value, without fmt's overhead
    // (one scrape at 10,000 credentials is about 130,000 samples).
    char buf[32];
    buf[0] = ' ';
    const auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 1, value);
    *end = '\n';
    m_out.append(buf, static_cast<std::size_t>(end + 1 - buf));
  }

private:
  std::string& m_out;
};

}  // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  append_escaped(out, value);
  return out;
}

void Registry::observe(const engine::Event& event, MonoTime now) {
  std::lock_guard lock(m_mutex);
  if (event.kind == EventKind::reload_rejected) {
    m_reload_ok = false;
    return;
  }
  if (event.credential.empty()) return;
  Credential& c = m_credentials[event.credential];
  if (!event.issuer.empty()) c.issuer = event.issuer;
  if (event.issuer_http_requests && !event.issuer.empty()) {
    m_issuer_http_requests[event.issuer] = *event.issuer_http_requests;
  }
  // Engine events carry the facts after the step; worker events (no state) only count.
  if (event.state) {
    c.state = event.state;
    c.not_before = event.not_before;
    c.not_after = event.not_after;
    c.staged_not_after = event.staged_not_after;
    c.next_renewal = event.next_renewal;
  }
  switch (event.kind) {
    case EventKind::renewing:
      // The engine's, as the job is handed out; a network issuer's warnings during the
      // rotation share the kind and come from the worker (no state).
      if (event.state) c.renewing_since = now;
      break;
    case EventKind::renewed:
      ++c.rotations;
      finish_rotation(c, "success", now);
      break;
    case EventKind::renew_failed:
      ++c.failures[reason_label(event.reason)];
      finish_rotation(c, reason_label(event.reason), now);
      break;
    case EventKind::dependent_failed: ++c.dependent_failures; break;
    // Not a rotation: the certificate stayed as it was, so neither failures nor a duration.
    case EventKind::upkeep_failed: ++c.upkeep_failures[reason_label(event.reason)]; break;
    default: break;
  }
}

void Registry::finish_rotation(Credential& c, const std::string& outcome, MonoTime now) {
  if (!c.renewing_since) return;  // not a rotation we saw start (start-up, adoption)
  ++m_issuer_requests[{c.issuer, outcome}];
  const double seconds = std::chrono::duration<double>(now - *c.renewing_since).count();
  c.renewing_since.reset();
  Histogram& h = m_durations[c.issuer];
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < k_duration_buckets.size(); ++i) {
    if (seconds <= k_duration_buckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
}

void Registry::config_loaded(bool ok, SystemTime when) {
  std::lock_guard lock(m_mutex);
  m_reload_ok = ok;
  if (ok) m_reload_success = when;
}

void Registry::retain(const std::function<bool(const std::string&)>& keep) {
  std::lock_guard lock(m_mutex);
  std::erase_if(m_credentials, [&](const auto& entry) { return !keep(entry.first); });
}

namespace {

// The samples of certrotd_credential_state: eight per credential, the bulk of a scrape, so the
// common prefix is built once per credential rather than through Writer::sample.
template <class Credentials>
void append_states(std::string& out, const Credentials& credentials) {
  std::string prefix;
  for (const auto& [credential, c] : credentials) {
    if (!c.state) continue;
    prefix = "certrotd_credential_state{credential=\"";
    prefix += escape_label(credential);
    prefix += "\",state=\"";
    for (schedule::State s : k_states) {
      out += prefix;
      out += schedule::to_string(s);
      out += s == *c.state ? "\"} 1\n" : "\"} 0\n";
    }
  }
}

}  // namespace

std::string Registry::render() const {
  std::lock_guard lock(m_mutex);
  std::string out;
  out.reserve(256 + m_credentials.size() * 1400);
  Writer w(out);

  w.family("certrotd_build_info", "gauge", "Version of the running certrotd, always 1.");
  w.sample("certrotd_build_info", {{"version", m_version}}, 1);
  w.family("certrotd_config_last_reload_successful", "gauge",
           "1 if the last configuration load or reload was accepted.");
  w.sample("certrotd_config_last_reload_successful", {}, m_reload_ok ? 1 : 0);
  w.family("certrotd_config_last_reload_success_timestamp_seconds", "gauge",
           "Unix time of the last accepted configuration.");
  w.sample("certrotd_config_last_reload_success_timestamp_seconds", {},
           m_reload_success ? unix_seconds(*m_reload_success) : 0);

  const auto per_credential_time = [&](std::string_view name, std::string_view help,
                                       std::optional<SystemTime> Credential::*field) {
    w.family(name, "gauge", help);
    for (const auto& [credential, c] : m_credentials) {
      if (c.*field) w.sample(name, {{"credential", credential}}, unix_seconds(*(c.*field)));
    }
  };
  per_credential_time("certrotd_certificate_not_after_timestamp_seconds",
                      "notAfter of the live certificate, Unix time.", &Credential::not_after);
  per_credential_time("certrotd_staged_certificate_not_after_timestamp_seconds",
                      "notAfter of the certificate staged as next/ (activation: staged), Unix "
                      "time; absent while none is staged.",
                      &Credential::staged_not_after);
  per_credential_time("certrotd_certificate_not_before_timestamp_seconds",
                      "notBefore of the live certificate, Unix time.", &Credential::not_before);
  per_credential_time("certrotd_next_renewal_timestamp_seconds",
                      "When the next renewal attempt is due, Unix time.",
                      &Credential::next_renewal);

  w.family("certrotd_credential_state", "gauge",
           "1 for the credential's current state, 0 for the others.");
  append_states(out, m_credentials);

  w.family("certrotd_rotations_total", "counter", "Rotations that installed a new certificate.");
  for (const auto& [credential, c] : m_credentials) {
    w.sample("certrotd_rotations_total", {{"credential", credential}}, c.rotations);
  }
  w.family("certrotd_rotation_failures_total", "counter",
           "Failed rotation attempts, by reason class; the old credential stayed live.");
  for (const auto& [credential, c] : m_credentials) {
    for (const auto& [reason, n] : c.failures) {
      w.sample("certrotd_rotation_failures_total", {{"credential", credential}, {"reason", reason}},
               n);
    }
  }
  w.family("certrotd_upkeep_failures_total", "counter",
           "Failed issuer upkeep rounds (trust refresh, binding clean-up), by reason class; the "
           "credential stayed as it was.");
  for (const auto& [credential, c] : m_credentials) {
    for (const auto& [reason, n] : c.upkeep_failures) {
      w.sample("certrotd_upkeep_failures_total", {{"credential", credential}, {"reason", reason}},
               n);
    }
  }
  w.family("certrotd_dependent_failures_total", "counter",
           "on_rotate actions that failed after their retries.");
  for (const auto& [credential, c] : m_credentials) {
    w.sample("certrotd_dependent_failures_total", {{"credential", credential}},
             c.dependent_failures);
  }

  w.family("certrotd_issuer_requests_total", "counter",
           "Rotation attempts per issuer, by outcome (success or the failure's reason class).");
  for (const auto& [key, n] : m_issuer_requests) {
    w.sample("certrotd_issuer_requests_total", {{"issuer", key.first}, {"outcome", key.second}}, n);
  }
  if (!m_issuer_http_requests.empty()) {
    w.family("certrotd_issuer_http_requests_total", "counter",
             "HTTPS requests per issuer, for the issuer types that count them (acme).");
    for (const auto& [issuer, n] : m_issuer_http_requests) {
      w.sample("certrotd_issuer_http_requests_total", {{"issuer", issuer}}, n);
    }
  }

  w.family("certrotd_rotation_duration_seconds", "histogram",
           "Time from the start of a rotation to its result, per issuer.");
  for (const auto& [issuer, h] : m_durations) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < k_duration_buckets.size(); ++i) {
      cumulative += h.buckets[i];
      w.sample("certrotd_rotation_duration_seconds_bucket",
               {{"issuer", issuer}, {"le", fmt::format("{}", k_duration_buckets[i])}}, cumulative);
    }
    w.sample("certrotd_rotation_duration_seconds_bucket", {{"issuer", issuer}, {"le", "+Inf"}},
             h.count);
    w.sample("certrotd_rotation_duration_seconds_sum", {{"issuer", issuer}}, h.sum);
    w.sample("certrotd_rotation_duration_seconds_count", {{"issuer", issuer}}, h.count);
  }
  return out;
}

void MetricsEventSink::emit(const engine::Event& event) {
  m_registry.observe(event, m_clock.mono_now());
  if (m_on_change && std::this_thread::get_id() == m_loop_thread) m_on_change();
}

}  // namespace certrotd::metrics
