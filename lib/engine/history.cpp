#include "engine/history.hpp"

#include <algorithm>
#include <cctype>

#include "util/rfc3339.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {

namespace {

// Lower case, without leading zeros ("0" for zero), as x509::CertInfo keeps a serial.
std::string canonical_serial(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == ':') continue;  // as some tools print it: 0A:1B:...
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? (out.empty() ? out : "0") : out.substr(first);
}

}  // namespace

Result<std::vector<HistoryEntry>> read_history(const store::CredentialStore& store) {
  auto versions = store.versions();
  if (!versions) return fail(versions.error());
  std::vector<HistoryEntry> out;
  out.reserve(versions->size());
  for (auto it = versions->rbegin(); it != versions->rend(); ++it) {
    HistoryEntry entry{std::move(*it), std::nullopt};
    if (auto files = store.load_version(entry.version.id); files) {
      if (auto cert = x509::parse_certificate(files->cert); cert) entry.cert = cert->info();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::string display_serial(std::string_view serial) {
  std::string out(serial.size() % 2 == 1 ? "0" : "");
  for (const char c : serial) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool names_version(const HistoryEntry& entry, std::string_view target) {
  if (target.empty()) return false;
  const std::string_view prefix = "..v-";
  const std::string_view id = target.substr(0, prefix.size()) == prefix
                                  ? target.substr(prefix.size())
                                  : target;
  if (entry.version.id == id) return true;
  return entry.cert && canonical_serial(target) == canonical_serial(entry.cert->serial);
}

Result<std::string> pick_version(const std::vector<HistoryEntry>& history, std::string_view target,
                                 SystemTime now, Expired expired) {
  const auto found = std::find_if(history.begin(), history.end(),
                                  [&](const HistoryEntry& e) { return names_version(e, target); });
  if (found == history.end()) {
    return fail("no kept version has the serial or version '" + std::string(target) +
                "' (see certrotd history)");
  }
  const std::string& id = found->version.id;
  if (found->version.live) return fail("version " + id + " is live already");
  if (found->cert && found->cert->not_after <= now && expired == Expired::refuse) {
    return fail("version " + id + " (serial " + display_serial(found->cert->serial) +
                ") expired at " + format_rfc3339(found->cert->not_after) +
                "; --force restores it anyway");
  }
  return id;
}

}  // namespace certrotd::engine
