// The dns-01 challenge (RFC 8555 §8.4) answered by an RFC 2136 dynamic update of the zone's
// primary server, signed with TSIG:
//
//   challenge:
//     dns-01: { nameserver: "192.0.2.53:53", zone: example.com,
//               tsig_key_file: /etc/certrotd/tsig.key, propagation_timeout: 120s }
//
// present() adds the TXT record `_acme-challenge.<identifier>.` with the challenge's value (TTL
// 60 s) and returns once that nameserver answers it: the CA's resolver may ask any of the zone's
// servers, but the primary is the one certrotd can know about, and secondaries follow it by
// NOTIFY. cleanup() deletes exactly that record, leaving other values of the same name alone
// (a wildcard and its base name share one name, and other clients may use it too).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "dns/client.hpp"
#include "dns/tsig.hpp"
#include "issuer/acme/challenge.hpp"
#include "issuer/acme/challenges.hpp"
#include "yaml/reader.hpp"

namespace certrotd::issuer::acme {

struct Dns01Options {
  dns::ServerAddress nameserver;
  std::string zone;  // normalized, "example.com."
  std::filesystem::path tsig_key_file;
  std::shared_ptr<const dns::TsigKey> key;  // read from tsig_key_file at load
  // How long present() waits for the nameserver to answer the record.
  Millis propagation_timeout = std::chrono::seconds(120);
  // Between two checks while waiting; and the limit of one exchange with the server.
  Millis poll_interval = std::chrono::seconds(2);
  Millis exchange_timeout = std::chrono::seconds(10);
  std::uint32_t ttl = 60;
};

class Dns01Solver final : public ChallengeSolver {
public:
  Dns01Solver(Dns01Options options, const SolverContext& context);

  std::string_view type() const override { return "dns-01"; }
  // Names in the zone (wildcards too: their record is the base name's); never IP addresses.
  bool can_solve(const ChallengeTask& task) const override;
  // "'www.example.org' is not in zone 'example.com.' ...", or why an IP address cannot be.
  std::string why_not(const ChallengeTask& task) const override;
  // Errors: an identifier outside the zone (permanent, config); the update refused (NOTAUTH,
  // REFUSED, a TSIG error: permanent); no answer, SERVFAIL, or the record not visible within
  // propagation_timeout (retryable).
  Result<void> present(const ChallengeTask& task) override;
  // Deletes the one record present() added; a record that is already gone is no error.
  Result<void> cleanup(const ChallengeTask& task) override;

  // "_acme-challenge.www.example.com." for www.example.com and for *.www.example.com.
  static Result<std::string> record_name(const ChallengeTask& task);

private:
  Result<std::string> name_in_zone(const ChallengeTask& task) const;
  Result<void> wait_until_visible(const std::string& name, const std::string& value);

  Dns01Options m_options;
  SolverContext m_context;
  dns::Client m_client;
};

// Reads `dns-01: {...}` (the Field under `challenge:`): every problem goes to the reader at its
// position with what to write instead. The key file is read and checked here, so a missing or
// malformed key stops the load (exit 78). nullopt when something was wrong.
std::optional<Dns01Options> read_dns01_options(const yaml::Field& field,
                                               const yaml::Reader& reader);
// The same, as the factory the acme issuer's challenge table keeps; empty when something was
// wrong.
SolverFactory read_dns01_solver(const yaml::Field& field, const yaml::Reader& reader);

}  // namespace certrotd::issuer::acme
