// The client against a server in the test: a truncated UDP answer is asked again over TCP, and a
// datagram with another ID is not taken for the answer.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <thread>

#include "bind_tools.hpp"
#include "dns/client.hpp"

namespace certrotd::dns {
namespace {

using namespace std::chrono_literals;
using testing::UdpCatcher;

// The answer to `query` with the flags `flags` and, unless empty, one TXT record of `text`.
std::string answer_to(const std::string& query, std::uint16_t flags, const std::string& text) {
  std::string out = query;  // header and question
  out[2] = static_cast<char>(flags >> 8);
  out[3] = static_cast<char>(flags & 0xff);
  if (!text.empty()) {
    out[7] = 1;
    out += std::string("\xc0\x0c", 2);
    append_u16(out, k_type_txt);
    append_u16(out, k_class_in);
    append_u32(out, 60);
    const std::string rdata = txt_rdata(text);
    append_u16(out, static_cast<std::uint16_t>(rdata.size()));
    out += rdata;
  }
  return out;
}

Fd tcp_listener(unsigned port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  ::listen(fd.get(), 1);
  return fd;
}

TEST(DnsClient, AsksAgainOverTcpWhenTheUdpAnswerIsTruncated) {
  UdpCatcher udp;
  Fd tcp = tcp_listener(udp.port());
  ASSERT_TRUE(tcp) << "port " << udp.port() << " is taken for TCP";
  std::thread server([&] {
    sockaddr_in from{};
    auto query = udp.catch_one(&from);
    if (!query) return;
    const std::string truncated = answer_to(*query, k_flag_qr | k_flag_aa | k_flag_tc, "");
    ::sendto(udp.fd(), truncated.data(), truncated.size(), 0, reinterpret_cast<sockaddr*>(&from),
             sizeof from);
    // Bounded, so a client that never asks over TCP fails the test instead of hanging it.
    pollfd p{tcp.get(), POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return;
    Fd conn(::accept4(tcp.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char prefix[2];
    if (::recv(conn.get(), prefix, 2, MSG_WAITALL) != 2) return;
    std::string request(read_u16(std::string_view(prefix, 2), 0), '\0');
    if (::recv(conn.get(), request.data(), request.size(), MSG_WAITALL) !=
        static_cast<ssize_t>(request.size())) {
      return;
    }
    std::string framed;
    const std::string full = answer_to(request, k_flag_qr | k_flag_aa, "over tcp");
    append_u16(framed, static_cast<std::uint16_t>(full.size()));
    framed += full;
    ::send(conn.get(), framed.data(), framed.size(), MSG_NOSIGNAL);
  });
  RealClock clock;
  SeededRandom random(1);
  auto address = parse_server("127.0.0.1:" + std::to_string(udp.port()));
  ASSERT_TRUE(address);
  Client client(*address, {clock, random});
  auto texts = client.query_txt("_acme-challenge.example.com.", 20s);
  server.join();
  ASSERT_TRUE(texts) << texts.error().what();
  EXPECT_EQ(*texts, std::vector<std::string>{"over tcp"});
}

TEST(DnsClient, WaitsPastADatagramWithAnotherId) {
  UdpCatcher udp;
  std::thread server([&] {
    sockaddr_in from{};
    auto query = udp.catch_one(&from);
    if (!query) return;
    std::string stray = answer_to(*query, k_flag_qr | k_flag_aa, "stray");
    stray[1] = static_cast<char>(stray[1] ^ 1);
    std::string real = answer_to(*query, k_flag_qr | k_flag_aa, "real");
    for (const auto* m : {&stray, &real}) {
      ::sendto(udp.fd(), m->data(), m->size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof from);
    }
  });
  RealClock clock;
  SeededRandom random(2);
  Client client(*parse_server("127.0.0.1:" + std::to_string(udp.port())), {clock, random});
  auto texts = client.query_txt("_acme-challenge.example.com.", 20s);
  server.join();
  ASSERT_TRUE(texts) << texts.error().what();
  EXPECT_EQ(*texts, std::vector<std::string>{"real"});
}

TEST(DnsServerAddress, TakesAddressesAndPortsButNoHostNames) {
  EXPECT_TRUE(parse_server("192.0.2.53:5353"));
  EXPECT_TRUE(parse_server("192.0.2.53"));
  EXPECT_TRUE(parse_server("[2001:db8::53]:53"));
  EXPECT_TRUE(parse_server("2001:db8::53"));
  EXPECT_FALSE(parse_server("ns1.example.com:53"));
  EXPECT_FALSE(parse_server("192.0.2.53:0"));
  EXPECT_FALSE(parse_server("192.0.2.53:99999"));
  EXPECT_FALSE(parse_server("192.0.2.53:dns"));
  EXPECT_FALSE(parse_server("[2001:db8::53"));
}

}  // namespace
}  // namespace certrotd::dns
