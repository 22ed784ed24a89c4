// A credential's kept versions as `certrotd history` shows them and `rollback --to` picks them:
// each version's certificate facts next to what the store's history knows of it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/credential_store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"
#include "x509/types.hpp"

namespace certrotd::engine {

struct HistoryEntry {
  store::VersionInfo version;
  std::optional<x509::CertInfo> cert;  // nullopt when the version's cert.pem does not parse
};

// Every complete version, newest first.
Result<std::vector<HistoryEntry>> read_history(const store::CredentialStore& store);

// A serial as `openssl x509 -serial` prints it: upper-case hex, an even number of digits.
std::string display_serial(std::string_view serial);

// Whether `target` names this entry: its version folder name (with or without the "..v-"
// prefix), or its serial in any case, with or without leading zeros.
bool names_version(const HistoryEntry& entry, std::string_view target);

enum class Expired { refuse, allow };

// The id of the version `target` names (the newest such), ready to be made live: an error when
// none does, when it is live already, or when its certificate expired before `now` and
// `expired` says refuse.
Result<std::string> pick_version(const std::vector<HistoryEntry>& history, std::string_view target,
                                 SystemTime now, Expired expired);

}  // namespace certrotd::engine
