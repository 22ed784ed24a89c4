#include "metrics/metrics.hpp"

namespace certrotd::metrics {

Result<std::unique_ptr<Metrics>> Metrics::create(const config::MetricsConfig& config,
                                                 sd_event* loop, const Clock& clock,
                                                 std::string version,
                                                 TextfileWriter::ErrorHandler on_error) {
  if (!config.textfile && !config.listen_host) return std::unique_ptr<Metrics>();
  std::unique_ptr<Metrics> metrics(new Metrics(clock, std::move(version)));
  if (config.textfile) {
    auto writer = TextfileWriter::create(loop, *config.textfile, metrics->m_registry,
                                         std::move(on_error));
    if (!writer) return fail(writer.error());
    metrics->m_textfile = std::move(*writer);
    metrics->m_sink.set_on_change([m = metrics.get()] { m->changed(); });
  }
  if (config.listen_host) {
    auto http = HttpExporter::create(*config.listen_host, config.listen_port, metrics->m_registry);
    if (!http) return fail(http.error());
    metrics->m_http = std::move(*http);
  }
  return metrics;
}

void Metrics::config_loaded(bool ok, SystemTime when) {
  m_registry.config_loaded(ok, when);
  changed();
}

void Metrics::retain(const std::function<bool(const std::string&)>& keep) {
  m_registry.retain(keep);
  changed();
}

}  // namespace certrotd::metrics
