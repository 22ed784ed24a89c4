// BIND's own tools as the source of known-good messages: a test starts dig or nsupdate against a
// UDP socket of its own and takes the datagram they send, signed by BIND's TSIG code.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace certrotd::dns::testing {

// The tool's path, or nullopt when bind9-dnsutils / bind9 is not installed.
inline std::optional<std::string> bind_tool(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/sbin/"}) {
    const std::string path = dir + name;
    if (std::filesystem::exists(path)) return path;
  }
  return std::nullopt;
}

// A UDP socket on 127.0.0.1 and a port the kernel picked.
class UdpCatcher {
public:
  UdpCatcher() : m_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(m_fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t length = sizeof a;
    ::getsockname(m_fd.get(), reinterpret_cast<sockaddr*>(&a), &length);
    m_port = ntohs(a.sin_port);
  }
  int fd() const { return m_fd.get(); }
  unsigned port() const { return m_port; }

  // The first datagram to arrive within 20 s (a generous bound for a loaded machine; the tools
  // send at once), with the sender's address.
  std::optional<std::string> catch_one(sockaddr_in* from = nullptr) const {
    pollfd p{m_fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return std::nullopt;
    std::string buffer(65535, '\0');
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    const ssize_t n = ::recvfrom(m_fd.get(), buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&peer), &length);
    if (n < 0) return std::nullopt;
    if (from) *from = peer;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

private:
  Fd m_fd;
  unsigned m_port = 0;
};

// A started tool, killed and reaped when the test is done with it (it would wait for an answer).
class Started {
public:
  explicit Started(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0);
    if (::posix_spawn(&m_pid, args[0], &files, nullptr, args.data(), environ) != 0) m_pid = -1;
    posix_spawn_file_actions_destroy(&files);
  }
  Started(const Started&) = delete;
  Started& operator=(const Started&) = delete;
  ~Started() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  bool ok() const { return m_pid > 0; }

private:
  pid_t m_pid = -1;
};

}  // namespace certrotd::dns::testing
