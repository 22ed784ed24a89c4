// Where the rendered metrics go: the node_exporter textfile collector (a file rewritten
// atomically, at most once per `delay`, only after something changed) and an HTTP endpoint
// (libmicrohttpd on its own thread, serving GET/HEAD /metrics only).
#pragma once

#include <microhttpd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "metrics/registry.hpp"
#include "service/sd_handles.hpp"
#include "util/result.hpp"

namespace certrotd::metrics {

// Coalesces: mark_dirty() arms one one-shot timer when none is armed; when it fires the file is
// written once, however many events came in between. An idle daemon has no timer at all.
class TextfileWriter {
public:
  using ErrorHandler = std::function<void(const Error&)>;
  static Result<std::unique_ptr<TextfileWriter>> create(
      sd_event* loop, std::filesystem::path path, const Registry& registry, ErrorHandler on_error,
      std::chrono::milliseconds delay = std::chrono::seconds(1));
  // Loop thread only.
  void mark_dirty();
  // Renders and writes the file now (0644, AtomicFile).
  Result<void> write_now() const;
  bool armed() const { return m_armed; }

private:
  TextfileWriter(std::filesystem::path path, const Registry& registry, ErrorHandler on_error,
                 std::chrono::milliseconds delay)
      : m_path(std::move(path)),
        m_registry(registry),
        m_on_error(std::move(on_error)),
        m_delay(delay) {}
  static int on_timer(sd_event_source*, std::uint64_t, void* userdata);

  std::filesystem::path m_path;
  const Registry& m_registry;
  ErrorHandler m_on_error;
  std::chrono::milliseconds m_delay;
  service::SdEventSourcePtr m_timer;
  bool m_armed = false;
};

struct MhdStop {
  void operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }
};
using MhdDaemonPtr = std::unique_ptr<MHD_Daemon, MhdStop>;

class HttpExporter {
public:
  // Listens on host:port (an IPv4 address; port 0 picks one, see port()).
  static Result<std::unique_ptr<HttpExporter>> create(const std::string& host, std::uint16_t port,
                                                      const Registry& registry);
  std::uint16_t port() const { return m_port; }

private:
  explicit HttpExporter(const Registry& registry) : m_registry(registry) {}
  static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                               const char* method, const char* version, const char* upload_data,
                               std::size_t* upload_data_size, void** request_state);

  const Registry& m_registry;
  MhdDaemonPtr m_daemon;
  std::uint16_t m_port = 0;
};

}  // namespace certrotd::metrics
