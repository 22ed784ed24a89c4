// The dns-01 solver's flow against a DNS server played by the test (the real one is BIND, in
// dns_update_test.sh): present() updates, then asks until the record is answered, and gives up
// after propagation_timeout by the injected clock; cleanup() deletes exactly its value.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "issuer/acme/dns01_solver.hpp"
#include "unit/dns/bind_tools.hpp"

namespace certrotd::issuer::acme {
namespace {

using namespace std::chrono_literals;

// Answers UPDATEs (NOERROR, signed with `key`) and TXT queries (with `value` once `visible_after`
// queries have been answered without it), recording what it got, until stopped.
class FakeServer {
public:
  FakeServer(const dns::TsigKey& key, const Clock& clock, std::string value, int visible_after)
      : m_key(key), m_clock(clock), m_value(std::move(value)), m_visible_after(visible_after) {
    m_thread = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    m_stop = true;
    m_thread.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(m_udp.port()); }
  std::vector<dns::Message> updates() const {
    std::lock_guard lock(m_mutex);
    return m_updates;
  }
  int queries() const { return m_queries; }

private:
  void serve() {
    while (!m_stop) {
      pollfd p{m_udp.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      sockaddr_in from{};
      auto wire = m_udp.catch_one(&from);
      if (!wire) continue;
      auto m = dns::parse_message(*wire);
      if (!m) continue;
      const std::string answer = m->opcode() == dns::Opcode::update ? answer_update(*wire, *m)
                                                                    : answer_query(*wire, *m);
      ::sendto(m_udp.fd(), answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from),
               sizeof from);
    }
  }

  std::string answer_update(const std::string& wire, const dns::Message& m) {
    {
      std::lock_guard lock(m_mutex);
      m_updates.push_back(m);
    }
    // The request without its TSIG, as a response, signed over the request's MAC.
    const dns::Record& tsig = m.additional.back();
    std::string answer = wire.substr(0, tsig.offset);
    answer[2] = static_cast<char>(answer[2] | 0x80);
    answer[11] = static_cast<char>(answer[11] - 1);
    auto fields = dns::read_tsig_fields(tsig.rdata);
    dns::sign_answer(answer, m_key, fields ? fields->mac : "", m_clock.wall_now());
    return answer;
  }

  std::string answer_query(const std::string& wire, const dns::Message&) {
    std::string out = wire;
    out[2] = static_cast<char>(0x84);  // QR, AA
    if (m_queries++ >= m_visible_after) {
      out[7] = 1;
      out += std::string("\xc0\x0c", 2);
      dns::append_u16(out, dns::k_type_txt);
      dns::append_u16(out, dns::k_class_in);
      dns::append_u32(out, 60);
      const std::string rdata = dns::txt_rdata(m_value);
      dns::append_u16(out, static_cast<std::uint16_t>(rdata.size()));
      out += rdata;
    }
    return out;
  }

  const dns::TsigKey& m_key;
  const Clock& m_clock;  // the solver's, whose wall time the signature must be near
  std::string m_value;
  int m_visible_after;
  dns::testing::UdpCatcher m_udp;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_queries{0};
  mutable std::mutex m_mutex;
  std::vector<dns::Message> m_updates;
  std::thread m_thread;
};

dns::TsigKey test_key(const std::string& secret = "c2VjcmV0") {
  auto key = dns::parse_key_file(
      "key certrotd { algorithm hmac-sha256; secret \"" + secret + "\"; };", "test");
  EXPECT_TRUE(key);
  return std::move(*key);
}

struct Harness {
  dns::TsigKey key = test_key();
  ManualClock clock;
  SeededRandom random{3};
  std::vector<Millis> sleeps;
  Dns01Options options;

  void serve_at(const std::string& server) {
    options.nameserver = *dns::parse_server(server);
    options.zone = "example.com.";
    options.key = std::shared_ptr<const dns::TsigKey>(&key, [](const dns::TsigKey*) {});
    options.propagation_timeout = 10s;
    options.poll_interval = 2s;
  }
  SolverContext context() {
    return SolverContext{&clock, &random,
                         [this](Millis d) {
                           sleeps.push_back(d);
                           clock.advance(d);
                         },
                         "test", -1};
  }
};

const ChallengeTask k_task{"web", "www.example.com", false, false, "tok", "tok.thumb", "txt-1"};

TEST(Dns01Solver, PresentAddsTheRecordAndWaitsUntilTheServerAnswersIt) {
  Harness s;
  FakeServer server(s.key, s.clock, "txt-1", 3);
  s.serve_at(server.address());
  Dns01Solver solver(s.options, s.context());
  auto presented = solver.present(k_task);
  ASSERT_TRUE(presented) << presented.error().what();
  EXPECT_EQ(server.queries(), 4);
  EXPECT_EQ(s.sleeps, (std::vector<Millis>{2s, 2s, 2s}));

  const auto updates = server.updates();
  ASSERT_EQ(updates.size(), 1U);
  ASSERT_EQ(updates[0].questions.size(), 1U);
  EXPECT_EQ(updates[0].questions[0].name, "example.com.");
  ASSERT_EQ(updates[0].authority.size(), 1U);
  const dns::Record& add = updates[0].authority[0];
  EXPECT_EQ(add.name, "_acme-challenge.www.example.com.");
  EXPECT_EQ(add.klass, dns::k_class_in);
  EXPECT_EQ(add.ttl, 60U);
  EXPECT_EQ(*dns::txt_text(add), "txt-1");
}

TEST(Dns01Solver, PresentGivesUpWhenTheRecordIsNotAnsweredWithinThePropagationTimeout) {
  Harness s;
  FakeServer server(s.key, s.clock, "txt-1", 1000);
  s.serve_at(server.address());
  Dns01Solver solver(s.options, s.context());
  auto presented = solver.present(k_task);
  ASSERT_FALSE(presented);
  EXPECT_TRUE(presented.error().retryable());
  EXPECT_NE(presented.error().message.find("TXT _acme-challenge.www.example.com. not visible at " +
                                           server.address() + " within 10s"),
            std::string::npos)
      << presented.error().message;
  EXPECT_EQ(server.queries(), 6);  // at 0, 2, 4, 6, 8 and 10 s
}

TEST(Dns01Solver, AnAnswerSignedWithAnotherSecretIsRefused) {
  Harness s;
  const dns::TsigKey other = test_key("b3RoZXI=");
  FakeServer server(other, s.clock, "txt-1", 0);
  s.serve_at(server.address());
  Dns01Solver solver(s.options, s.context());
  auto presented = solver.present(k_task);
  ASSERT_FALSE(presented);
  EXPECT_NE(presented.error().message.find("the TSIG signature of the server's answer is wrong"),
            std::string::npos)
      << presented.error().message;
  EXPECT_EQ(server.queries(), 0) << "an unverified answer was taken for success";
}

TEST(Dns01Solver, CleanupDeletesExactlyItsOwnValue) {
  Harness s;
  FakeServer server(s.key, s.clock, "txt-1", 0);
  s.serve_at(server.address());
  Dns01Solver solver(s.options, s.context());
  auto cleaned = solver.cleanup(k_task);
  ASSERT_TRUE(cleaned) << cleaned.error().what();
  const auto updates = server.updates();
  ASSERT_EQ(updates.size(), 1U);
  ASSERT_EQ(updates[0].authority.size(), 1U);
  const dns::Record& remove = updates[0].authority[0];
  EXPECT_EQ(remove.name, "_acme-challenge.www.example.com.");
  EXPECT_EQ(remove.type, dns::k_type_txt);
  // Class NONE and TTL 0: this one RR, not the RRset (RFC 2136 §2.5.4).
  EXPECT_EQ(remove.klass, dns::k_class_none);
  EXPECT_EQ(remove.ttl, 0U);
  EXPECT_EQ(*dns::txt_text(remove), "txt-1");
  EXPECT_EQ(server.queries(), 0);
}

}  // namespace
}  // namespace certrotd::issuer::acme
