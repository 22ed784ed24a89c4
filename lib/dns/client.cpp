#include "dns/client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/duration.hpp"
#include "util/errno_text.hpp"
#include "util/fd.hpp"

namespace certrotd::dns {

namespace {

tl::unexpected<Error> network_error(std::string message, const std::string& server) {
  return fail(Reason::network, std::move(message), "DNS server " + server, ErrorKind::retryable);
}

// Milliseconds left until `deadline`, at least 0, for poll().
int remaining(const Clock& clock, MonoTime deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - clock.mono_now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
}

// Waits until `fd` is ready for `events`; false once the deadline passed.
Result<bool> wait_ready(int fd, short events, const Clock& clock, MonoTime deadline) {
  for (;;) {
    const int left = remaining(clock, deadline);
    if (left == 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_retryable("poll failed: " + errno_text(errno));
    if (n > 0) return true;
  }
}

Fd open_socket(const ServerAddress& server, int type) {
  return Fd(::socket(server.address.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
}

Result<void> read_exactly(int fd, char* out, std::size_t size, const Clock& clock,
                          MonoTime deadline, const std::string& server) {
  std::size_t got = 0;
  while (got < size) {
    auto ready = wait_ready(fd, POLLIN, clock, deadline);
    if (!ready) return fail(ready.error());
    if (!*ready) return network_error("no complete answer over TCP in time", server);
    const ssize_t n = ::recv(fd, out + got, size - got, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return network_error("TCP read failed: " + errno_text(errno), server);
    if (n == 0) return network_error("the server closed the TCP connection early", server);
    got += static_cast<std::size_t>(n);
  }
  return {};
}

// What an UPDATE's rcode means to the operator.
tl::unexpected<Error> update_refused(int rcode, std::string_view zone, const std::string& server) {
  const std::string z(zone);
  const std::string name = rcode_name(rcode);
  switch (rcode) {
    case 9:  // NOTAUTH
      return fail(Reason::config,
                  "the server is not authoritative for zone '" + z + "' (" + name +
                      "); set `zone:` to a zone it serves as primary",
                  "DNS server " + server);
    case 10:  // NOTZONE
      return fail(Reason::config, "the record is not inside zone '" + z + "' (" + name + ")",
                  "DNS server " + server);
    case 5:  // REFUSED
      return fail(Reason::config,
                  "the server refused the update of zone '" + z + "' (" + name +
                      "); its update-policy or allow-update must allow the TSIG key",
                  "DNS server " + server);
    case 2:  // SERVFAIL
      return network_error("the update of zone '" + z + "' failed on the server (" + name + ")",
                           server);
    default:
      return fail(Reason::invalid_answer,
                  "the server answered the update of zone '" + z + "' with " + name,
                  "DNS server " + server);
  }
}

}  // namespace

Result<ServerAddress> parse_server(std::string_view text) {
  ServerAddress out;
  out.shown = std::string(text);
  std::string host(text);
  std::string port = "53";
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail(Reason::config, "missing ']'");
    host = std::string(text.substr(1, close - 1));
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return fail(Reason::config, "expected ':PORT' after ']'");
      port = std::string(text.substr(close + 2));
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const std::size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  }
  char* end = nullptr;
  const unsigned long number = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || number == 0 || number > 65535) {
    return fail(Reason::config, "port '" + port + "' is not a number from 1 to 65535");
  }
  const auto net_port = htons(static_cast<std::uint16_t>(number));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.address);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = net_port;
    out.length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = net_port;
    out.length = sizeof(sockaddr_in6);
  } else {
    return fail(Reason::config, "'" + host + "' is not an IPv4 or IPv6 address");
  }
  return out;
}

Result<std::string> Client::over_udp(std::string_view request, MonoTime deadline) {
  const std::string& server = m_server.shown;
  Fd fd = open_socket(m_server, SOCK_DGRAM);
  if (!fd) return network_error("cannot open a UDP socket: " + errno_text(errno), server);
  // Connected: the kernel drops datagrams from any other address.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&m_server.address), m_server.length) !=
      0) {
    return network_error("cannot reach: " + errno_text(errno), server);
  }
  if (::send(fd.get(), request.data(), request.size(), 0) < 0) {
    return network_error("cannot send: " + errno_text(errno), server);
  }
  const std::uint16_t id = read_u16(request, 0);
  std::string buffer(k_max_message, '\0');
  for (;;) {
    auto ready = wait_ready(fd.get(), POLLIN, m_deps.clock, deadline);
    if (!ready) return fail(ready.error());
    if (!*ready) return network_error("no answer in time", server);
    const ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return network_error("no answer: " + errno_text(errno), server);
    // A stray or late datagram (another ID) is not our answer: keep waiting for it.
    if (static_cast<std::size_t>(n) < k_header_size || read_u16(buffer, 0) != id) continue;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }
}

Result<std::string> Client::over_tcp(std::string_view request, MonoTime deadline) {
  const std::string& server = m_server.shown;
  Fd fd = open_socket(m_server, SOCK_STREAM);
  if (!fd) return network_error("cannot open a TCP socket: " + errno_text(errno), server);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&m_server.address), m_server.length) !=
          0 &&
      errno != EINPROGRESS) {
    return network_error("cannot connect over TCP: " + errno_text(errno), server);
  }
  auto ready = wait_ready(fd.get(), POLLOUT, m_deps.clock, deadline);
  if (!ready) return fail(ready.error());
  if (!*ready) return network_error("TCP connection not established in time", server);
  int error = 0;
  socklen_t length = sizeof error;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return network_error("cannot connect over TCP: " + errno_text(error), server);

  // RFC 1035 §4.2.2: each message is preceded by its length as two bytes.
  std::string framed;
  append_u16(framed, static_cast<std::uint16_t>(request.size()));
  framed.append(request);
  std::size_t sent = 0;
  while (sent < framed.size()) {
    auto writable = wait_ready(fd.get(), POLLOUT, m_deps.clock, deadline);
    if (!writable) return fail(writable.error());
    if (!*writable) return network_error("cannot send over TCP in time", server);
    const ssize_t n = ::send(fd.get(), framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return network_error("TCP send failed: " + errno_text(errno), server);
    sent += static_cast<std::size_t>(n);
  }
  char prefix[2];
  if (auto r = read_exactly(fd.get(), prefix, 2, m_deps.clock, deadline, server); !r) {
    return fail(r.error());
  }
  // At most 65535 bytes, by the width of the prefix.
  std::string answer(read_u16(std::string_view(prefix, 2), 0), '\0');
  if (auto r = read_exactly(fd.get(), answer.data(), answer.size(), m_deps.clock, deadline, server);
      !r) {
    return fail(r.error());
  }
  return answer;
}

Result<Message> Client::exchange(std::string request, const TsigKey* key, Millis timeout) {
  const MonoTime deadline = m_deps.clock.mono_now() + timeout;
  const auto id = static_cast<std::uint16_t>(m_deps.random.next_u64() & 0xffff);
  request[0] = static_cast<char>(id >> 8);
  request[1] = static_cast<char>(id & 0xff);
  std::string mac;
  if (key) mac = sign(request, *key, m_deps.clock.wall_now());

  auto wire = over_udp(request, deadline);
  if (!wire) return fail(wire.error());
  auto answer = parse_message(*wire);
  if (!answer) return fail(answer.error().wrap("DNS server " + m_server.shown));
  if (answer->truncated()) {
    wire = over_tcp(request, deadline);
    if (!wire) return fail(wire.error());
    answer = parse_message(*wire);
    if (!answer) return fail(answer.error().wrap("DNS server " + m_server.shown));
  }
  if (!answer->response() || answer->id != id) {
    return fail(Reason::invalid_answer, "the answer is not a response to our message",
                "DNS server " + m_server.shown);
  }
  if (key) {
    if (auto ok = verify(*wire, *answer, *key, mac, m_deps.clock.wall_now()); !ok) {
      Error e = ok.error();
      e.context = "DNS server " + m_server.shown;
      return fail(e);
    }
  }
  return answer;
}

Result<void> Client::update(std::string_view zone, const std::vector<Record>& updates,
                            const TsigKey& key, Millis timeout) {
  auto answer = exchange(build_update(0, zone, updates), &key, timeout);
  if (!answer) return fail(answer.error());
  if (answer->rcode() != 0) return update_refused(answer->rcode(), zone, m_server.shown);
  return {};
}

Result<std::vector<std::string>> Client::query_txt(std::string_view name, Millis timeout) {
  auto answer = exchange(build_query(0, name, k_type_txt), nullptr, timeout);
  if (!answer) return fail(answer.error());
  std::vector<std::string> texts;
  if (answer->rcode() == 3) return texts;  // NXDOMAIN
  if (answer->rcode() != 0) {
    return fail(Reason::invalid_answer,
                "the TXT query for " + std::string(name) + " was answered with " +
                    rcode_name(answer->rcode()),
                "DNS server " + m_server.shown, ErrorKind::retryable);
  }
  for (const auto& record : answer->answers) {
    if (record.type != k_type_txt || record.name != name) continue;
    auto text = txt_text(record);
    if (!text) return fail(text.error());
    texts.push_back(std::move(*text));
  }
  return texts;
}

}  // namespace certrotd::dns
