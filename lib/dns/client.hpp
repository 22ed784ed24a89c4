// Talking to one authoritative DNS server: RFC 2136 updates signed with TSIG, and plain queries
// to see what it serves.
//
// Each exchange goes over UDP first and is repeated over TCP when the answer comes back truncated
// (RFC 1035 §4.2, RFC 7766 §5): an UPDATE of one TXT record and its answer fit in one datagram,
// so the usual case is one round trip with no connection set up, yet a server that insists on TCP
// still works. Everything waits at most until the caller's timeout, by the injected clock's
// monotonic time. An answer is accepted only from the server's address, with our message ID, and
// (for signed requests) with a valid TSIG; other datagrams are dropped while waiting.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

#include "dns/tsig.hpp"
#include "dns/wire.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace certrotd::dns {

struct ServerAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string shown;  // as configured, for messages
};

// "192.0.2.53:53", "[2001:db8::53]:5353", or an address alone (port 53). Host names are refused:
// the server that is updated must not depend on what the system resolver says.
Result<ServerAddress> parse_server(std::string_view text);

struct ClientDeps {
  const Clock& clock;  // monotonic for timeouts, wall for TSIG times
  Random& random;      // message IDs
};

class Client {
public:
  Client(ServerAddress server, ClientDeps deps) : m_server(std::move(server)), m_deps(deps) {}

  // Sends the UPDATE of `zone` with `updates`, signed with `key`, and checks the answer:
  // NOERROR, signed by the same key. NOTAUTH, NOTZONE and REFUSED are permanent errors that say
  // which zone and what the server meant; SERVFAIL and timeouts are retryable.
  Result<void> update(std::string_view zone, const std::vector<Record>& updates, const TsigKey& key,
                      Millis timeout);

  // The texts of the TXT records the server answers for `name` (normalized); empty when it has
  // none (NXDOMAIN or no TXT records). Errors for other rcodes and timeouts.
  Result<std::vector<std::string>> query_txt(std::string_view name, Millis timeout);

  const std::string& shown() const { return m_server.shown; }

private:
  // One request and its parsed answer; `key` signs the request and verifies the answer.
  Result<Message> exchange(std::string request, const TsigKey* key, Millis timeout);
  Result<std::string> over_udp(std::string_view request, MonoTime deadline);
  Result<std::string> over_tcp(std::string_view request, MonoTime deadline);

  ServerAddress m_server;
  ClientDeps m_deps;
};

}  // namespace certrotd::dns
