// The daemon's metrics, put together from the `metrics:` configuration: the registry, the event
// sink that feeds it, and the exporters asked for (textfile, HTTP). The daemon hands sink() to
// the engine next to the journal sink, and tells it about configuration loads.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "metrics/exporter.hpp"
#include "metrics/registry.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::metrics {

class Metrics {
public:
  // null when the configuration asks for no metrics. Fails when the HTTP port cannot be bound
  // or the timer not made; a textfile that cannot be written is reported through `on_error`
  // at each attempt, and the daemon carries on.
  static Result<std::unique_ptr<Metrics>> create(const config::MetricsConfig& config,
                                                 sd_event* loop, const Clock& clock,
                                                 std::string version,
                                                 TextfileWriter::ErrorHandler on_error);

  engine::EventSink& sink() { return m_sink; }
  const Registry& registry() const { return m_registry; }
  // A configuration was loaded (start-up, reload) or rejected. Loop thread.
  void config_loaded(bool ok, SystemTime when);
  // Drops the series of credentials the configuration no longer has. Loop thread.
  void retain(const std::function<bool(const std::string&)>& keep);

private:
  Metrics(const Clock& clock, std::string version)
      : m_registry(std::move(version)), m_sink(m_registry, clock) {}
  void changed() {
    if (m_textfile) m_textfile->mark_dirty();
  }

  Registry m_registry;
  MetricsEventSink m_sink;
  std::unique_ptr<TextfileWriter> m_textfile;
  std::unique_ptr<HttpExporter> m_http;  // stopped first: its thread reads the registry
};

}  // namespace certrotd::metrics
