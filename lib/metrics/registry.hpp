// Prometheus metrics of the daemon: a registry of values kept up to date from the engine's
// events, rendered in the text exposition format 0.0.4 on demand (an HTTP scrape, the
// node_exporter textfile). The registry holds numbers only; rendering walks it once, so one
// scrape at 10,000 credentials is one pass over them and no other work (bench/run measures it).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/events.hpp"
#include "util/clock.hpp"

namespace certrotd::metrics {

// Upper bounds (seconds) of the rotation duration histogram; +Inf follows.
inline constexpr std::array<double, 10> k_duration_buckets = {0.1, 0.25, 0.5, 1,  2.5,
                                                              5,   10,   30,  60, 300};

class Registry {
public:
  explicit Registry(std::string version) : m_version(std::move(version)) {}

  // Applies one event. Thread-safe (workers emit too); `now` times rotations (renewing ->
  // renewed / renew-failed).
  void observe(const engine::Event& event, MonoTime now);
  // A configuration was loaded (`ok`) or a reload rejected, at `when`.
  void config_loaded(bool ok, SystemTime when);
  // Forgets credentials `keep` says no to (after a reload removed them).
  void retain(const std::function<bool(const std::string&)>& keep);

  // The whole exposition, text format 0.0.4, credentials sorted by name.
  std::string render() const;

private:
  struct Histogram {
    std::array<std::uint64_t, k_duration_buckets.size()> buckets{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct Credential {
    std::string issuer;
    std::optional<SystemTime> not_before;
    std::optional<SystemTime> not_after;
    std::optional<SystemTime> staged_not_after;  // of the version staged as next/, if any
    std::optional<SystemTime> next_renewal;
    std::optional<schedule::State> state;
    std::optional<MonoTime> renewing_since;
    std::uint64_t rotations = 0;
    std::uint64_t dependent_failures = 0;
    std::map<std::string, std::uint64_t> failures;         // by reason class
    std::map<std::string, std::uint64_t> upkeep_failures;  // by reason class
  };

  void finish_rotation(Credential& credential, const std::string& outcome, MonoTime now);

  mutable std::mutex m_mutex;
  std::string m_version;
  std::map<std::string, Credential> m_credentials;
  std::map<std::pair<std::string, std::string>, std::uint64_t>
      m_issuer_requests;                         // issuer, outcome
  std::map<std::string, Histogram> m_durations;  // by issuer
  // HTTPS requests by issuer, for the issuers that count them.
  std::map<std::string, std::uint64_t> m_issuer_http_requests;
  bool m_reload_ok = true;
  std::optional<SystemTime> m_reload_success;
};

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string escape_label(std::string_view value);

// Feeds the registry from the event stream. `on_change` runs after an event that arrived on the
// thread that made the sink (the loop thread); the textfile writer arms its timer from there.
// Events from workers are always followed by one on the loop thread (complete()).
class MetricsEventSink final : public engine::EventSink {
public:
  MetricsEventSink(Registry& registry, const Clock& clock, std::function<void()> on_change = {})
      : m_registry(registry),
        m_clock(clock),
        m_on_change(std::move(on_change)),
        m_loop_thread(std::this_thread::get_id()) {}
  void set_on_change(std::function<void()> on_change) { m_on_change = std::move(on_change); }
  void emit(const engine::Event& event) override;

private:
  Registry& m_registry;
  const Clock& m_clock;
  std::function<void()> m_on_change;
  std::thread::id m_loop_thread;
};

}  // namespace certrotd::metrics
