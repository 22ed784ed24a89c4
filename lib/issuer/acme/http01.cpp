#include "issuer/acme/http01.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/errno_text.hpp"
#include "util/files.hpp"
#include "util/trusted_path.hpp"

namespace certrotd::issuer::acme {

namespace {

using yaml::Field;
using yaml::Reader;

constexpr std::string_view k_http01_example =
    "http-01: { listen: \"0.0.0.0:80\" }  (or { webroot: /var/www/html } or { socket: systemd })";

// "0.0.0.0:80", ":80", "127.0.0.1:5002".
bool parse_listen(const std::string& text, Http01Options& out) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos) {
    return false;
  }
  const unsigned long value = std::stoul(port);
  if (value > 65535) return false;
  in_addr addr{};
  if (!host.empty() && inet_pton(AF_INET, host.c_str(), &addr) != 1) return false;
  out.host = host;
  out.port = static_cast<unsigned short>(value);
  return true;
}

std::shared_ptr<const ChallengeOptions> read_http01(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "challenge http-01",
                                    {"listen", "socket", "webroot"}, k_http01_example);
  if (!fields) return nullptr;
  auto options = std::make_shared<Http01Options>();
  if (fields->all().size() > 1) {
    reader.add(field.key_mark, "http-01 takes one of listen, socket or webroot",
               "write " + std::string(k_http01_example));
    return nullptr;
  }
  if (const Field* f = fields->get("listen")) {
    const auto text = reader.string(*f);
    if (!text || !parse_listen(*text, *options)) {
      reader.add(f->value_mark, "listen must be ADDRESS:PORT with an IPv4 address (or none)",
                 "write listen: \"0.0.0.0:80\"");
      return nullptr;
    }
  } else if (const Field* s = fields->get("socket")) {
    const auto text = reader.string(*s);
    if (!text || *text != "systemd") {
      reader.add(s->value_mark, "socket must be systemd (certrotd-acme.socket passes it)",
                 "write socket: systemd");
      return nullptr;
    }
    options->mode = Http01Options::Mode::systemd;
  } else if (const Field* w = fields->get("webroot")) {
    auto dir = reader.path(*w);
    if (!dir) return nullptr;
    options->mode = Http01Options::Mode::webroot;
    options->webroot = *dir;
  }
  return options;
}

Result<std::shared_ptr<ChallengeSolver>> create_http01(const ChallengeOptions& options,
                                                       const SolverContext& context) {
  const auto& http = dynamic_cast<const Http01Options&>(options);
  switch (http.mode) {
    case Http01Options::Mode::webroot:
      return std::shared_ptr<ChallengeSolver>(std::make_shared<WebrootSolver>(http.webroot));
    case Http01Options::Mode::systemd: {
      if (context.activated_socket < 0) {
        return fail(Reason::config,
                    "http-01 socket: systemd, but the service manager passed no socket named "
                    "'acme' (is certrotd-acme.socket enabled?)");
      }
      Fd dup(fcntl(context.activated_socket, F_DUPFD_CLOEXEC, 3));
      if (!dup)
        return fail(Reason::io, "http-01: duplicating the passed socket: " + errno_text(errno));
      return std::shared_ptr<ChallengeSolver>(
          std::make_shared<Http01Responder>(std::string(), 0, std::move(dup)));
    }
    case Http01Options::Mode::listen: break;
  }
  return std::shared_ptr<ChallengeSolver>(
      std::make_shared<Http01Responder>(http.host, http.port, Fd()));
}

// Tokens are base64url (RFC 8555 §8.1); anything else would be a path or a header injection.
bool is_token(std::string_view token) {
  if (token.empty() || token.size() > 256) return false;
  for (const char c : token) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

MHD_Result respond(MHD_Connection* connection, unsigned status, std::string_view body) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                          status == MHD_HTTP_OK ? "application/octet-stream" : "text/plain");
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);  // the connection holds its own reference
  return queued;
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method,
                      const char* /*version*/, const char* /*upload*/, size_t* /*upload_size*/,
                      void** /*state*/) {
  const auto* responder = static_cast<const Http01Responder*>(cls);
  if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
    return respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "");
  }
  const std::string_view path(url);
  if (path.starts_with(k_challenge_path)) {
    if (auto answer = responder->answer(path.substr(k_challenge_path.size()))) {
      return respond(connection, MHD_HTTP_OK, *answer);
    }
  }
  return respond(connection, MHD_HTTP_NOT_FOUND, "");
}

Result<Fd> listen_on(const std::string& host, unsigned short port) {
  const std::string where = (host.empty() ? "0.0.0.0" : host) + ":" + std::to_string(port);
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(Reason::io, "http-01 responder: socket: " + errno_text(errno), where);
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (!host.empty()) inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd.get(), 64) != 0) {
    // Retryable: whoever holds the port may let go of it.
    return fail(Reason::io,
                "http-01 responder cannot listen on " + where + ": " + errno_text(errno), where,
                ErrorKind::retryable);
  }
  return fd;
}

}  // namespace

ChallengeType http01_challenge_type() {
  return ChallengeType{"http-01", read_http01, create_http01};
}

void Http01Responder::Stop::operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }

Http01Responder::Http01Responder(std::string host, unsigned short port, Fd socket)
    : m_host(std::move(host)), m_port(port), m_socket(std::move(socket)) {}

Http01Responder::~Http01Responder() = default;

std::optional<std::string> Http01Responder::answer(std::string_view token) const {
  const std::lock_guard lock(m_mutex);
  const auto it = m_tokens.find(token);
  if (it == m_tokens.end()) return std::nullopt;
  return it->second;
}

unsigned short Http01Responder::bound_port() const {
  const std::lock_guard lock(m_mutex);
  return m_bound;
}

Result<void> Http01Responder::start_locked() {
  if (m_daemon) return {};
  if (!m_socket) {
    auto fd = listen_on(m_host, m_port);
    if (!fd) return fail(fd.error());
    m_socket = std::move(*fd);
  }
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(m_socket.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    m_bound = ntohs(addr.sin_port);
  }
  // The CA's validation servers make a handful of requests per challenge; 10 s is plenty.
  MHD_Daemon* raw = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr,
                                     nullptr, &on_request, this, MHD_OPTION_LISTEN_SOCKET,
                                     m_socket.get(), MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                     MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
  if (raw == nullptr) return fail_retryable("http-01 responder: libmicrohttpd did not start");
  m_socket.release();  // libmicrohttpd closes the listening socket when it stops
  m_daemon.reset(raw);
  return {};
}

Result<void> Http01Responder::present(const ChallengeTask& task) {
  if (!is_token(task.token)) return fail(Reason::invalid_answer, "the ACME token is not base64url");
  const std::lock_guard lock(m_mutex);
  if (auto started = start_locked(); !started) return started;
  m_tokens[task.token] = task.key_authorization;
  return {};
}

Result<void> Http01Responder::cleanup(const ChallengeTask& task) {
  const std::lock_guard lock(m_mutex);
  m_tokens.erase(task.token);
  return {};
}

Result<void> WebrootSolver::present(const ChallengeTask& task) {
  if (!is_token(task.token)) return fail(Reason::invalid_answer, "the ACME token is not base64url");
  const auto dir_path = m_webroot / ".well-known" / "acme-challenge";
  auto dir = open_trusted_dir(dir_path, PathTrust::of_this_process(), MissingFolders::create, 0755);
  if (!dir) return fail(dir.error().wrap("http-01 webroot"));
  // The web server reads it as another user: 0644 from the start.
  auto file = AtomicFile::create_in(dir->fd.get(), task.token, dir_path / task.token, 0644);
  if (!file) return fail(file.error());
  if (auto w = file->write(task.key_authorization); !w) return w;
  return file->commit();
}

Result<void> WebrootSolver::cleanup(const ChallengeTask& task) {
  if (!is_token(task.token)) return {};
  const auto dir_path = m_webroot / ".well-known" / "acme-challenge";
  auto dir = open_trusted_dir(dir_path, PathTrust::of_this_process(), MissingFolders::refuse);
  if (!dir) return fail(dir.error().wrap("http-01 webroot"));
  if (unlinkat(dir->fd.get(), task.token.c_str(), 0) != 0 && errno != ENOENT) {
    return fail(Reason::io, "removing the token file: " + errno_text(errno), dir_path / task.token);
  }
  return {};
}

}  // namespace certrotd::issuer::acme
