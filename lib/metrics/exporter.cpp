#include "metrics/exporter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <systemd/sd-event.h>

#include <cstring>

#include "util/errno_text.hpp"
#include "util/files.hpp"

namespace certrotd::metrics {

namespace {

constexpr const char* k_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

Result<std::unique_ptr<TextfileWriter>> TextfileWriter::create(sd_event* loop,
                                                               std::filesystem::path path,
                                                               const Registry& registry,
                                                               ErrorHandler on_error,
                                                               std::chrono::milliseconds delay) {
  std::unique_ptr<TextfileWriter> writer(
      new TextfileWriter(std::move(path), registry, std::move(on_error), delay));
  sd_event_source* raw = nullptr;
  // Created disabled; mark_dirty() arms it.
  if (int r = sd_event_add_time_relative(loop, &raw, CLOCK_MONOTONIC, UINT64_MAX / 2, 0,
                                         &TextfileWriter::on_timer, writer.get());
      r < 0) {
    return fail(Reason::io, "cannot create the metrics textfile timer: " + errno_text(-r));
  }
  writer->m_timer.reset(raw);  // owned by the writer now (it outlives no callback)
  sd_event_source_set_enabled(raw, SD_EVENT_OFF);
  return writer;
}

void TextfileWriter::mark_dirty() {
  if (m_armed) return;
  const auto usec = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(m_delay).count());
  if (sd_event_source_set_time_relative(m_timer.get(), usec) < 0 ||
      sd_event_source_set_enabled(m_timer.get(), SD_EVENT_ONESHOT) < 0) {
    return;  // a write comes with the next change
  }
  m_armed = true;
}

Result<void> TextfileWriter::write_now() const {
  return write_file_atomic(m_path, m_registry.render(), 0644);
}

int TextfileWriter::on_timer(sd_event_source*, std::uint64_t, void* userdata) {
  auto* self = static_cast<TextfileWriter*>(userdata);
  self->m_armed = false;
  if (auto written = self->write_now(); !written && self->m_on_error) {
    self->m_on_error(written.error());
  }
  return 0;
}

Result<std::unique_ptr<HttpExporter>> HttpExporter::create(const std::string& host,
                                                           std::uint16_t port,
                                                           const Registry& registry) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return fail(Reason::config, "metrics listen address is not IPv4: " + host);
  }
  std::unique_ptr<HttpExporter> exporter(new HttpExporter(registry));
  MHD_Daemon* raw = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, port, nullptr,
                                     nullptr, &HttpExporter::on_request, exporter.get(),
                                     MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_TIMEOUT,
                                     10u, MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_END);
  if (!raw) {
    return fail(Reason::io, "cannot listen for metrics on " + host + ":" + std::to_string(port));
  }
  exporter->m_daemon.reset(raw);  // stopped (thread joined) before the exporter goes
  const MHD_DaemonInfo* info = MHD_get_daemon_info(raw, MHD_DAEMON_INFO_BIND_PORT);
  exporter->m_port = info ? info->port : port;
  return exporter;
}

MHD_Result HttpExporter::on_request(void* cls, MHD_Connection* connection, const char* url,
                                    const char* method, const char*, const char*, std::size_t*,
                                    void**) {
  auto* self = static_cast<HttpExporter*>(cls);
  const bool head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  unsigned status = MHD_HTTP_OK;
  std::string body;
  if (!head && std::strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
    body = "only GET and HEAD\n";
  } else if (std::strcmp(url, "/metrics") != 0) {
    status = MHD_HTTP_NOT_FOUND;
    body = "certrotd serves /metrics only\n";
  } else {
    body = self->m_registry.render();
  }
  MHD_Response* response = MHD_create_response_from_buffer(body.size(), body.data(),
                                                           MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                          status == MHD_HTTP_OK ? k_content_type : "text/plain");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  }
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);  // the connection holds its own reference
  return queued;
}

}  // namespace certrotd::metrics
