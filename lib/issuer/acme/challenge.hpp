// How certrotd proves control of an identifier to an ACME server (RFC 8555 §8): one solver per
// challenge type the configuration enables, tried in the configured order of preference.
#pragma once

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace certrotd::issuer::acme {

// One challenge of one authorization, as a solver needs it.
struct ChallengeTask {
  std::string credential;  // for logs and hook environments; never secret
  // The identifier's value: "www.example.com" (for a wildcard, without its "*."), or an IP
  // address (RFC 8738).
  std::string identifier;
  bool wildcard = false;
  bool ip = false;
  std::string token;              // the challenge's token (RFC 8555 §8.1)
  std::string key_authorization;  // token "." base64url(JWK thumbprint)
  // dns-01: base64url(SHA-256(key_authorization)), the TXT record's value (§8.4).
  std::string dns_txt;
};

class ChallengeSolver {
public:
  virtual ~ChallengeSolver() = default;
  // "http-01", "dns-01": the challenge type this solver answers.
  virtual std::string_view type() const = 0;
  // Whether it can answer for this identifier at all (http-01: no wildcards; dns-01: names in
  // its zone, never IP addresses).
  virtual bool can_solve(const ChallengeTask& task) const = 0;
  // Why can_solve() says no, for the error when no solver can (dns-01: the name is outside its
  // zone); empty when there is nothing to add to the solver's type.
  virtual std::string why_not(const ChallengeTask& /*task*/) const { return {}; }
  // Makes the answer visible and returns once it is (dns-01: once the authoritative server
  // answers the TXT record). Called on worker threads, for several tasks at once.
  [[nodiscard]] virtual Result<void> present(const ChallengeTask& task) = 0;
  // Removes what present() made; called after validation, also after a failed one or a
  // failed present().
  [[nodiscard]] virtual Result<void> cleanup(const ChallengeTask& task) = 0;
};

}  // namespace certrotd::issuer::acme
