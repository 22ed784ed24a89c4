#include "issuer/acme/dns01_solver.hpp"

#include <algorithm>

#include "util/duration.hpp"
#include "util/trusted_path.hpp"

namespace certrotd::issuer::acme {

namespace {

using yaml::Field;
using yaml::Reader;

constexpr std::string_view k_example =
    "dns-01: { nameserver: \"192.0.2.53:53\", zone: example.com, tsig_key_file: "
    "/etc/certrotd/tsig.key }";

std::vector<dns::Record> txt_change(const std::string& name, const std::string& value,
                                    std::uint16_t klass, std::uint32_t ttl) {
  return {dns::Record{name, dns::k_type_txt, klass, ttl, dns::txt_rdata(value), 0}};
}

std::optional<dns::ServerAddress> read_nameserver(const Field& field, const Reader& reader) {
  auto text = reader.string(field);
  if (!text) return std::nullopt;
  auto server = dns::parse_server(*text);
  if (!server) {
    reader.add(field.value_mark, "nameserver '" + *text + "': " + server.error().message,
               "write the primary server's address and port, e.g. nameserver: \"192.0.2.53:53\" "
               "or \"[2001:db8::53]:53\"");
    return std::nullopt;
  }
  return std::move(*server);
}

std::optional<std::string> read_zone(const Field& field, const Reader& reader) {
  auto text = reader.string(field);
  if (!text) return std::nullopt;
  auto zone = dns::normalize_name(*text);
  if (!zone || *zone == ".") {
    reader.add(field.value_mark,
               "zone '" + *text + "' is not a DNS zone name" +
                   (zone ? std::string() : ": " + zone.error().message),
               "write the zone the nameserver is primary for, e.g. zone: example.com");
    return std::nullopt;
  }
  return std::move(*zone);
}

std::shared_ptr<const dns::TsigKey> read_key(const Field& field, const Reader& reader,
                                             std::filesystem::path& path) {
  auto file = reader.path(field);
  if (!file) return nullptr;
  path = *file;
  auto key = dns::read_key_file(*file);
  if (!key) {
    reader.add(field.value_mark, key.error().what(),
               "point tsig_key_file at a key made with `tsig-keygen -a hmac-sha256 NAME > FILE` "
               "(mode 0600) that the server allows to update the zone");
    return nullptr;
  }
  // Whoever can replace the file chooses the key certrotd (as root) signs updates with.
  auto trusted = check_trusted_file(*file, PathTrust::of_this_process());
  if (!trusted && !trusted.error().retryable()) {
    reader.add(field.value_mark, "TSIG key file " + file->string() + ": " + trusted.error().message,
               "make the file and its folders owned by root and writable only by root");
    return nullptr;
  }
  return std::make_shared<const dns::TsigKey>(std::move(*key));
}

}  // namespace

Dns01Solver::Dns01Solver(Dns01Options options, const SolverContext& context)
    : m_options(std::move(options)),
      m_context(context),
      m_client(m_options.nameserver, dns::ClientDeps{*context.clock, *context.random}) {}

Result<std::string> Dns01Solver::record_name(const ChallengeTask& task) {
  auto name = dns::normalize_name("_acme-challenge." + task.identifier);
  if (!name)
    return fail(Reason::config,
                "no dns-01 record name for '" + task.identifier + "': " + name.error().message);
  return name;
}

Result<std::string> Dns01Solver::name_in_zone(const ChallengeTask& task) const {
  if (task.ip) {
    return fail(Reason::config,
                "dns-01 cannot prove an IP address (" + task.identifier + "); use http-01 for it");
  }
  auto name = record_name(task);
  if (!name) return name;
  if (!dns::in_zone(*name, m_options.zone)) {
    return fail(Reason::config, "'" + task.identifier + "' is not in zone '" + m_options.zone +
                                    "' of the dns-01 solver; set `zone:` to a zone that holds it");
  }
  return name;
}

bool Dns01Solver::can_solve(const ChallengeTask& task) const {
  return static_cast<bool>(name_in_zone(task));
}

std::string Dns01Solver::why_not(const ChallengeTask& task) const {
  auto name = name_in_zone(task);
  return name ? std::string() : name.error().message;
}

Result<void> Dns01Solver::present(const ChallengeTask& task) {
  auto name = name_in_zone(task);
  if (!name) return fail(name.error());
  auto added = m_client.update(m_options.zone,
                               txt_change(*name, task.dns_txt, dns::k_class_in, m_options.ttl),
                               *m_options.key, m_options.exchange_timeout);
  if (!added) return fail(added.error().wrap("cannot add TXT " + *name));
  return wait_until_visible(*name, task.dns_txt);
}

Result<void> Dns01Solver::wait_until_visible(const std::string& name, const std::string& value) {
  const Clock& clock = *m_context.clock;
  const MonoTime deadline = clock.mono_now() + m_options.propagation_timeout;
  std::string last_problem = "it answered without the record";
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - clock.mono_now());
    auto texts = m_client.query_txt(name, std::clamp(left, Millis(1), m_options.exchange_timeout));
    if (texts && std::find(texts->begin(), texts->end(), value) != texts->end()) return {};
    if (!texts) last_problem = texts.error().message;
    if (clock.mono_now() + m_options.poll_interval > deadline) break;
    if (m_context.sleep) m_context.sleep(m_options.poll_interval);
  }
  return fail(Reason::network,
              "TXT " + name + " not visible at " + m_client.shown() + " within " +
                  format_duration(m_options.propagation_timeout) + " (" + last_problem + ")",
              {}, ErrorKind::retryable);
}

Result<void> Dns01Solver::cleanup(const ChallengeTask& task) {
  auto name = name_in_zone(task);
  if (!name) return fail(name.error());
  // Class NONE deletes this one RR from the RRset (RFC 2136 §2.5.4); deleting an RR that is
  // not there succeeds, so a cleanup after a failed present() is safe.
  auto removed = m_client.update(m_options.zone,
                                 txt_change(*name, task.dns_txt, dns::k_class_none, 0),
                                 *m_options.key, m_options.exchange_timeout);
  if (!removed) return fail(removed.error().wrap("cannot delete TXT " + *name));
  return {};
}

std::optional<Dns01Options> read_dns01_options(const Field& field, const Reader& reader) {
  const auto fields = reader.fields(*field.value, field.value_mark, "challenge 'dns-01'",
                                    {"nameserver", "zone", "tsig_key_file", "propagation_timeout"},
                                    k_example);
  if (!fields) return std::nullopt;
  bool ok = true;
  for (const char* required : {"nameserver", "zone", "tsig_key_file"}) {
    if (!fields->get(required)) {
      reader.add(fields->mark(), "challenge 'dns-01' has no " + std::string(required),
                 "write " + std::string(k_example));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  Dns01Options options;
  if (auto server = read_nameserver(*fields->get("nameserver"), reader)) {
    options.nameserver = std::move(*server);
  } else {
    ok = false;
  }
  if (auto zone = read_zone(*fields->get("zone"), reader)) {
    options.zone = std::move(*zone);
  } else {
    ok = false;
  }
  options.key = read_key(*fields->get("tsig_key_file"), reader, options.tsig_key_file);
  if (!options.key) ok = false;
  yaml::read_if_present(
      *fields, "propagation_timeout",
      [&](const Field& f) { return reader.duration(f, Millis(std::chrono::seconds(1))); },
      options.propagation_timeout, ok);
  if (!ok) return std::nullopt;
  return options;
}

SolverFactory read_dns01_solver(const Field& field, const Reader& reader) {
  auto options = read_dns01_options(field, reader);
  if (!options) return {};
  return [options = std::move(*options)](
             const SolverContext& context) -> Result<std::shared_ptr<ChallengeSolver>> {
    return std::make_shared<Dns01Solver>(options, context);
  };
}

}  // namespace certrotd::issuer::acme
