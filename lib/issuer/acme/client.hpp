// One ACME server as seen by one issuer (RFC 8555 §7): the directory (fetched once and cached),
// a small pool of recent nonces taken from every Replay-Nonce, and signed requests that survive
// `badNonce` by retrying with the nonce of the refusal (bounded). Everything goes through the
// injected http::Transport, so one issuer shares one connection pool and unit tests use a fake.
//
// Error answers are problem documents (RFC 7807, RFC 8555 §6.7). They become Errors that name the
// problem type, its detail and each subproblem; `rateLimited`, `serverInternal` and 5xx are
// retryable (with Retry-After), the rest permanent.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "http/transport.hpp"
#include "issuer/acme/jws.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::issuer::acme {

struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::string revoke_cert;
  std::string key_change;
  std::optional<std::string> renewal_info;  // RFC 9773 §3
  std::optional<std::string> terms_of_service;
  bool external_account_required = false;
  std::map<std::string, std::string> profiles;  // meta.profiles: name -> description
};

// A 2xx answer: the body parsed as JSON when it is JSON (else null), and the raw response.
struct Reply {
  http::Response response;
  nlohmann::json json;
  std::optional<std::string> location;
};

// Who signs a request: the account key with its account URL (`kid`), or the key alone (`jwk`,
// for newAccount).
struct Signer {
  const AccountKey* key = nullptr;
  std::optional<std::string> kid;
};

// A problem document's short type ("badNonce" for urn:ietf:params:acme:error:badNonce), or the
// whole type when it is not an ACME one; "" when `body` is no problem document.
std::string problem_type(const nlohmann::json& body);

// The Error for a non-2xx answer to `what`: "<what>: <type>: <detail> (<identifier>: <type>:
// <detail>; ...)". Retryable for rateLimited, serverInternal and 5xx; Retry-After is kept.
Error problem_error(const http::Response& response, const std::string& what, SystemTime now);

struct ClientSettings {
  std::string directory_url;
  http::TlsOptions tls;  // ca_bundle: trusts the ACME server's TLS certificate
  Millis connect_timeout = std::chrono::seconds(10);
  Millis timeout = std::chrono::seconds(60);
};

class Client {
public:
  // How often a request refused with badNonce is sent again with the fresh nonce.
  static constexpr int k_bad_nonce_retries = 5;
  // At most this many nonces are kept; more are dropped (each is single-use anyway). A burst of
  // rotations (start-up, SIGUSR1) needs one per rotation in flight at once, and each one not
  // kept costs a newNonce (bench/acme, 20 credentials rotated at once: 14 newNonce with 8
  // kept, none with 64).
  static constexpr std::size_t k_nonce_pool = 64;
  // A kept nonce older than this is dropped unused: servers forget nonces after a while (RFC
  // 8555 §6.5 sets no bound), and each stale one would cost a refused signed POST. After an idle
  // spell the whole pool is stale; one newNonce is cheaper than that.
  static constexpr Millis k_nonce_max_age = std::chrono::minutes(5);
  // Certificates and ACME objects are small; a chain of 4 certificates is ~8 KiB.
  static constexpr std::size_t k_max_body = std::size_t{256} << 10;

  Client(ClientSettings settings, std::shared_ptr<http::Transport> transport, const Clock& clock);

  // The directory, fetched on first use and kept.
  Result<Directory> directory();
  // The directory if it was fetched already; never touches the network.
  std::optional<Directory> cached_directory() const;
  // A signed POST of `payload` (serialised JSON; nullopt: POST-as-GET with the empty payload).
  // A badNonce refusal is retried with its own Replay-Nonce up to k_bad_nonce_retries times.
  // Non-2xx answers are problem_error()s; `refused_type` then gets the problem_type().
  Result<Reply> post(const std::string& url, const std::optional<nlohmann::json>& payload,
                     const Signer& signer, const std::string& what,
                     const std::string& accept = "application/json",
                     std::string* refused_type = nullptr);
  // An unauthenticated GET (the directory, ARI renewalInfo).
  Result<Reply> get(const std::string& url, const std::string& what);
  // How many HTTPS requests this client made (for the benchmark and tests).
  std::size_t requests() const;

private:
  // A kept nonce younger than k_nonce_max_age (the newest), after dropping the stale ones.
  Result<std::string> take_nonce();
  std::optional<std::string> take_kept_nonce();
  void keep_nonce(const http::Response& response);
  http::Request request(http::Method method, std::string url) const;
  Result<http::Response> perform(const http::Request& request, const std::string& what);

  ClientSettings m_settings;
  std::shared_ptr<http::Transport> m_transport;
  const Clock& m_clock;
  mutable std::mutex m_mutex;
  std::optional<Directory> m_directory;
  struct KeptNonce {
    std::string value;
    MonoTime arrived;
  };
  std::deque<KeptNonce> m_nonces;  // oldest first
  std::size_t m_requests = 0;
};

}  // namespace certrotd::issuer::acme
