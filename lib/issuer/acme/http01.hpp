// The http-01 challenge (RFC 8555 §8.3): the CA fetches
// http://<identifier>/.well-known/acme-challenge/<token> on port 80 and expects the key
// authorization. Two ways to answer:
//  - certrotd's own responder (libmicrohttpd on its own thread), which answers GET for the tokens
//    in flight and 404 for everything else. It listens on `listen:` (default ":80"), opened when
//    the first challenge needs it, or on a socket the service manager passed (`socket: systemd`,
//    certrotd-acme.socket), so the hardened unit needs no CAP_NET_BIND_SERVICE;
//  - `webroot: DIR`: the token file is written into DIR/.well-known/acme-challenge/ for a web
//    server that already serves the name, and removed afterwards.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "issuer/acme/challenges.hpp"
#include "util/fd.hpp"

struct MHD_Daemon;

namespace certrotd::issuer::acme {

struct Http01Options : ChallengeOptions {
  enum class Mode { listen, systemd, webroot };
  Mode mode = Mode::listen;
  std::string host;          // listen: an IPv4 address, "" for any
  unsigned short port = 80;  // listen
  std::filesystem::path webroot;
};

ChallengeType http01_challenge_type();

// The path a token is served under.
inline constexpr std::string_view k_challenge_path = "/.well-known/acme-challenge/";

class Http01Responder final : public ChallengeSolver {
public:
  // `socket` is used when valid (socket activation); otherwise host:port is opened on first use.
  Http01Responder(std::string host, unsigned short port, Fd socket);
  ~Http01Responder() override;
  Http01Responder(const Http01Responder&) = delete;
  Http01Responder& operator=(const Http01Responder&) = delete;

  std::string_view type() const override { return "http-01"; }
  bool can_solve(const ChallengeTask& task) const override { return !task.wildcard; }
  Result<void> present(const ChallengeTask& task) override;
  Result<void> cleanup(const ChallengeTask& task) override;

  // The key authorization for `token`, when it is in flight (what the responder serves).
  std::optional<std::string> answer(std::string_view token) const;
  // The port listened on (after the first present(); 0 before).
  unsigned short bound_port() const;

private:
  Result<void> start_locked();

  std::string m_host;
  unsigned short m_port;
  Fd m_socket;
  mutable std::mutex m_mutex;
  std::map<std::string, std::string, std::less<>> m_tokens;  // token -> key authorization
  struct Stop {
    void operator()(MHD_Daemon* d) const;
  };
  std::unique_ptr<MHD_Daemon, Stop> m_daemon;
  unsigned short m_bound = 0;
};

class WebrootSolver final : public ChallengeSolver {
public:
  explicit WebrootSolver(std::filesystem::path webroot) : m_webroot(std::move(webroot)) {}
  std::string_view type() const override { return "http-01"; }
  bool can_solve(const ChallengeTask& task) const override { return !task.wildcard; }
  // Writes <webroot>/.well-known/acme-challenge/<token> (0644, created with that mode, no link
  // followed; the two folders are made when missing).
  Result<void> present(const ChallengeTask& task) override;
  Result<void> cleanup(const ChallengeTask& task) override;

private:
  std::filesystem::path m_webroot;
};

}  // namespace certrotd::issuer::acme
