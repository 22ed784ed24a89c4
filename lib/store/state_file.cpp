#include "store/state_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "util/encoding.hpp"
#include "util/files.hpp"
#include "util/rfc3339.hpp"
#include "util/strings.hpp"
#include "util/trusted_path.hpp"

namespace certrotd::store {

namespace {

using nlohmann::json;

// Bumped when a field changes meaning; older files are read as far as they are understood.
constexpr int k_format_version = 1;
// NAME_MAX is 255; leave room for ".json" and AtomicFile's ".certrotd-tmp.<name>.XXXXXX".
constexpr std::size_t k_max_name_length = 200;

Result<void> check_name(const std::string& name) {
  if (name.empty()) return fail("credential name is empty");
  if (name.size() > k_max_name_length) {
    return fail(
        "credential name is longer than " + std::to_string(k_max_name_length) + " characters",
        name);
  }
  if (name.front() == '.') return fail("credential name must not start with '.'", name);
  for (const char c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    if (!safe) {
      return fail("credential name may only contain letters, digits, '.', '-' and '_'", name);
    }
  }
  return {};
}

json time_to_json(const std::optional<SystemTime>& t) {
  // With the fraction, so a saved state reads back exactly equal.
  return t ? json(format_rfc3339(*t, Fraction::when_nonzero)) : json(nullptr);
}

Result<std::optional<SystemTime>> time_from_json(const json& doc, const char* key) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::optional<SystemTime>{};
  if (!it->is_string()) return fail(std::string(key) + " must be an RFC 3339 time string");
  const auto t = parse_rfc3339(it->get<std::string>());
  if (!t) return fail(std::string(key) + " is not an RFC 3339 time: " + it->get<std::string>());
  return std::optional<SystemTime>(*t);
}

Result<std::string> string_from_json(const json& doc, const char* key) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string{};
  if (!it->is_string()) return fail(std::string(key) + " must be a string");
  return it->get<std::string>();
}

// 16 hex digits. Anything else (such as the longer text form of earlier versions) reads as 0,
// "unknown": the certificate is then parsed once more and the cache rewritten.
std::uint64_t parse_files_id(std::string_view text) {
  std::uint64_t value = 0;
  if (text.size() != 16) return 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return ec == std::errc() && ptr == text.data() + text.size() ? value : 0;
}

std::string format_files_id(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

Result<CertCache> cert_cache_from_json(const json& doc) {
  CertCache cache;
  auto files_id = string_from_json(doc, "files_id");
  if (!files_id) return fail(files_id.error());
  cache.files_id = parse_files_id(*files_id);
  auto serial = string_from_json(doc, "serial");
  if (!serial) return fail(serial.error());
  cache.serial = std::move(*serial);
  auto fingerprint_text = string_from_json(doc, "fingerprint");
  if (!fingerprint_text) return fail(fingerprint_text.error());
  const auto fingerprint = parse_fingerprint(*fingerprint_text);
  if (!fingerprint) return fail("live_cert.fingerprint is not a SHA-256 fingerprint");
  cache.fingerprint = *fingerprint;
  for (const auto& [key, field] : {std::pair{"not_before", &CertCache::not_before},
                                   std::pair{"not_after", &CertCache::not_after}}) {
    auto t = time_from_json(doc, key);
    if (!t) return fail(t.error());
    if (!*t) return fail(std::string("live_cert.") + key + " is missing");
    cache.*field = **t;
  }
  return cache;
}

Result<void> check_issuer_state(const std::optional<std::string>& state) {
  if (!state || state->size() <= k_max_issuer_state) return {};
  return fail("issuer_state is longer than " + std::to_string(k_max_issuer_state) + " bytes");
}

// "issuer_state", "issuer_pending" and "renewal_window": written only when set.
Result<void> issuer_fields_from_json(const json& doc, CredentialState& state) {
  auto hex = string_from_json(doc, "issuer_state");
  if (!hex) return fail(hex.error());
  if (!hex->empty()) {
    // Issuer state is opaque bytes; JSON strings must be UTF-8, so the file holds it as hex.
    auto bytes = hex_decode(*hex);
    if (!bytes) return fail("issuer_state must be hex");
    state.issuer_state = std::move(*bytes);
    if (auto r = check_issuer_state(state.issuer_state); !r) return r;
  }
  if (const auto it = doc.find("issuer_pending"); it != doc.end() && !it->is_null()) {
    if (!it->is_boolean()) return fail("issuer_pending must be true or false");
    state.issuer_pending = it->get<bool>();
  }
  const auto it = doc.find("renewal_window");
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_object()) return fail("renewal_window must be an object");
  auto start = time_from_json(*it, "start");
  if (!start) return fail(start.error());
  auto end = time_from_json(*it, "end");
  if (!end) return fail(end.error());
  if (!*start || !*end) return fail("renewal_window needs start and end");
  auto explanation = string_from_json(*it, "explanation_url");
  if (!explanation) return fail(explanation.error());
  state.renewal_window = RenewalWindow{**start, **end, std::move(*explanation)};
  return {};
}

// {"<next_key>": time, "failures": n} under `key`: when a side job of the issuer is due next and
// how many in a row failed. Absent in older files and for issuers without that job.
Result<void> next_and_failures_from_json(const json& doc, const std::string& key,
                                         const char* next_key, std::optional<SystemTime>& next,
                                         int& failures) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_object()) return fail(key + " must be an object");
  auto when = time_from_json(*it, next_key);
  if (!when) return fail(when.error());
  next = *when;
  if (const auto n = it->find("failures"); n != it->end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<std::int64_t>() < 0 ||
        n->get<std::int64_t>() > std::numeric_limits<int>::max()) {
      return fail(key + ".failures must be a non-negative integer");
    }
    failures = n->get<int>();
  }
  return {};
}

// "renewal_info": {"next_ask": time, "failures": n} (ACME ARI).
Result<void> renewal_info_from_json(const json& doc, CredentialState& state) {
  return next_and_failures_from_json(doc, "renewal_info", "next_ask", state.renewal_info_next,
                                     state.renewal_info_failures);
}

// "upkeep": {"next": time, "failures": n} (issuer::Issuer::upkeep).
Result<void> upkeep_from_json(const json& doc, CredentialState& state) {
  return next_and_failures_from_json(doc, "upkeep", "next", state.upkeep_next,
                                     state.upkeep_failures);
}

void issuer_fields_to_json(const CredentialState& state, json& doc) {
  if (state.issuer_state) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(state.issuer_state->data());
    doc["issuer_state"] = hex_encode(std::span(bytes, state.issuer_state->size()));
  }
  if (state.issuer_pending) doc["issuer_pending"] = true;
  if (state.renewal_window) {
    doc["renewal_window"] = json{
        {"start", format_rfc3339(state.renewal_window->start, Fraction::when_nonzero)},
        {"end", format_rfc3339(state.renewal_window->end, Fraction::when_nonzero)}};
    if (!state.renewal_window->explanation_url.empty()) {
      doc["renewal_window"]["explanation_url"] = state.renewal_window->explanation_url;
    }
  }
  if (!state.revoked_serial.empty()) doc["revoked_serial"] = state.revoked_serial;
  if (state.renewal_info_next || state.renewal_info_failures > 0) {
    doc["renewal_info"] = json{{"next_ask", time_to_json(state.renewal_info_next)},
                               {"failures", state.renewal_info_failures}};
  }
  if (state.upkeep_next || state.upkeep_failures > 0) {
    doc["upkeep"] = json{{"next", time_to_json(state.upkeep_next)},
                         {"failures", state.upkeep_failures}};
  }
}

// "key_renewals": written only when set, so files of older versions load with 0.
Result<void> key_renewals_from_json(const json& doc, CredentialState& state) {
  const auto it = doc.find("key_renewals");
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
      it->get<std::int64_t>() > std::numeric_limits<int>::max()) {
    return fail("key_renewals must be a non-negative integer");
  }
  state.key_renewals = it->get<int>();
  return {};
}

// The names of the expiry thresholds in the file, by level (see CredentialState::alerted).
constexpr std::array<std::string_view, 4> k_alert_names = {"", "expiring", "critical", "expired"};

Result<void> alerted_from_json(const json& doc, CredentialState& state) {
  const auto it = doc.find("alerted");
  if (it == doc.end() || it->is_null()) return {};  // older files, or nothing reported yet
  if (!it->is_object()) return fail("alerted must be an object");
  auto serial = string_from_json(*it, "serial");
  if (!serial) return fail(serial.error());
  auto threshold = string_from_json(*it, "threshold");
  if (!threshold) return fail(threshold.error());
  for (std::size_t level = 1; level < k_alert_names.size(); ++level) {
    if (*threshold == k_alert_names[level]) {
      state.alerted_serial = std::move(*serial);
      state.alerted = static_cast<std::uint8_t>(level);
      return {};
    }
  }
  return fail("alerted.threshold must be expiring, critical or expired");
}

Result<void> staged_from_json(const json& doc, CredentialState& state) {
  const auto it = doc.find("staged");
  if (it == doc.end() || it->is_null()) return {};  // older files, or nothing staged
  if (!it->is_object()) return fail("staged must be an object");
  StagedVersion staged;
  for (const auto& [key, field] : {std::pair{"version", &StagedVersion::version},
                                   std::pair{"serial", &StagedVersion::serial}}) {
    auto text = string_from_json(*it, key);
    if (!text) return fail(text.error());
    if (text->empty()) return fail(std::string("staged.") + key + " must not be empty");
    staged.*field = std::move(*text);
  }
  auto fingerprint = string_from_json(*it, "fingerprint");
  if (!fingerprint) return fail(fingerprint.error());
  auto parsed = parse_fingerprint(*fingerprint);
  if (!parsed) return fail("staged.fingerprint must be a SHA-256 fingerprint");
  staged.fingerprint = *parsed;
  for (const auto& [key, field] : {std::pair{"not_before", &StagedVersion::not_before},
                                   std::pair{"not_after", &StagedVersion::not_after},
                                   std::pair{"staged_at", &StagedVersion::staged_at}}) {
    auto t = time_from_json(*it, key);
    if (!t) return fail(t.error());
    if (!*t) return fail(std::string("staged.") + key + " must be set");
    staged.*field = **t;
  }
  if (const auto reused = it->find("key_reused"); reused != it->end() && !reused->is_null()) {
    if (!reused->is_boolean()) return fail("staged.key_reused must be true or false");
    staged.key_reused = reused->get<bool>();
  }
  state.staged = std::move(staged);
  return {};
}

void staged_to_json(const CredentialState& state, json& doc) {
  if (!state.staged) return;
  const StagedVersion& s = *state.staged;
  doc["staged"] = json{{"version", s.version},
                       {"serial", s.serial},
                       {"fingerprint", format_fingerprint(s.fingerprint)},
                       {"not_before", format_rfc3339(s.not_before, Fraction::when_nonzero)},
                       {"not_after", format_rfc3339(s.not_after, Fraction::when_nonzero)},
                       {"staged_at", format_rfc3339(s.staged_at, Fraction::when_nonzero)}};
  if (s.key_reused) doc["staged"]["key_reused"] = true;
}

// The fields later versions added, each optional so that older files still load.
Result<void> later_fields_from_json(const json& doc, CredentialState& state) {
  if (auto r = issuer_fields_from_json(doc, state); !r) return r;
  if (auto r = renewal_info_from_json(doc, state); !r) return r;
  if (auto r = upkeep_from_json(doc, state); !r) return r;
  auto revoked = string_from_json(doc, "revoked_serial");
  if (!revoked) return fail(revoked.error());
  state.revoked_serial = std::move(*revoked);
  if (auto r = key_renewals_from_json(doc, state); !r) return r;
  if (auto r = staged_from_json(doc, state); !r) return r;
  return alerted_from_json(doc, state);
}

Result<CredentialState> state_from_json(const json& doc) {
  if (!doc.is_object()) return fail("expected a JSON object");
  CredentialState state;
  struct TimeField {
    const char* key;
    std::optional<SystemTime> CredentialState::*field;
  };
  const TimeField times[] = {{"last_attempt", &CredentialState::last_attempt},
                             {"last_success", &CredentialState::last_success},
                             {"next_attempt", &CredentialState::next_attempt},
                             {"installed_at", &CredentialState::installed_at}};
  for (const auto& [key, field] : times) {
    auto t = time_from_json(doc, key);
    if (!t) return fail(t.error());
    state.*field = *t;
  }
  auto installed_serial = string_from_json(doc, "installed_serial");
  if (!installed_serial) return fail(installed_serial.error());
  if (const auto it = doc.find("live_cert"); it != doc.end() && it->is_object()) {
    auto cache = cert_cache_from_json(*it);
    if (!cache) return fail(cache.error());
    cache->installed = !installed_serial->empty() && *installed_serial == cache->serial;
    state.live_cert = std::move(*cache);
  }
  auto error = string_from_json(doc, "last_error");
  if (!error) return fail(error.error());
  state.last_error = std::move(*error);
  if (const auto it = doc.find("failures"); it != doc.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > std::numeric_limits<int>::max()) {
      return fail("failures must be a non-negative integer");
    }
    state.failures = it->get<int>();
  }
  // Written only when set, so older files (and older readers) stay as they were.
  auto reason = string_from_json(doc, "last_reason");
  if (!reason) return fail(reason.error());
  state.last_reason = std::move(*reason);
  for (const auto& [key, flag] : {std::pair{"needs_attention", &CredentialState::needs_attention},
                                  std::pair{"copies_missing", &CredentialState::copies_missing}}) {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_boolean()) return fail(std::string(key) + " must be true or false");
    state.*flag = it->get<bool>();
  }
  if (auto r = later_fields_from_json(doc, state); !r) return fail(r.error());
  return state;
}

json state_to_json(const CredentialState& state) {
  json doc{
      {"format", k_format_version},
      {"last_attempt", time_to_json(state.last_attempt)},
      {"last_success", time_to_json(state.last_success)},
      {"next_attempt", time_to_json(state.next_attempt)},
      {"installed_at", time_to_json(state.installed_at)},
      {"installed_serial",
       state.live_cert && state.live_cert->installed ? state.live_cert->serial : std::string()},
      {"last_error", state.last_error},
      {"failures", state.failures}};
  if (state.needs_attention) doc["needs_attention"] = true;
  if (!state.last_reason.empty()) doc["last_reason"] = state.last_reason;
  if (state.copies_missing) doc["copies_missing"] = true;
  if (state.live_cert) {
    const CertCache& c = *state.live_cert;
    doc["live_cert"] = json{{"files_id", format_files_id(c.files_id)},
                            {"serial", c.serial},
                            {"fingerprint", format_fingerprint(c.fingerprint)},
                            {"not_before", format_rfc3339(c.not_before, Fraction::when_nonzero)},
                            {"not_after", format_rfc3339(c.not_after, Fraction::when_nonzero)}};
  }
  issuer_fields_to_json(state, doc);
  if (state.key_renewals > 0) doc["key_renewals"] = state.key_renewals;
  if (state.alerted > 0 && state.alerted < k_alert_names.size()) {
    doc["alerted"] = json{{"serial", state.alerted_serial},
                          {"threshold", std::string(k_alert_names[state.alerted])}};
  }
  staged_to_json(state, doc);
  return doc;
}

}  // namespace

std::string format_fingerprint(const Fingerprint& fingerprint) {
  return hex_encode(fingerprint, ':');
}

std::optional<Fingerprint> parse_fingerprint(std::string_view text) {
  auto bytes = hex_decode(text, ':');
  Fingerprint out{};
  if (!bytes || bytes->size() != out.size()) return std::nullopt;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::filesystem::path StateFiles::path_of(const std::string& credential) const {
  return m_dir / "state" / (credential + ".json");
}

Result<CredentialState> StateFiles::load(const std::string& credential) const {
  if (auto r = check_name(credential); !r) return fail(r.error());
  const std::filesystem::path path = path_of(credential);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return CredentialState{};
    return fail_retryable("cannot stat: " + errno_text(errno), path.string());
  }
  auto text = read_file(path);
  if (!text) return fail(text.error());
  // Parsing without exceptions: a corrupt file is an expected input, not a program error.
  const json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("not valid JSON", path.string());
  auto state = state_from_json(doc);
  if (!state) return fail(state.error().message, path.string());
  return state;
}

Result<void> StateFiles::save(const std::string& credential, const CredentialState& state) const {
  if (auto r = check_name(credential); !r) return r;
  if (auto r = check_issuer_state(state.issuer_state); !r)
    return fail(r.error().message, credential);
  // Each component judged on the way, the file written relative to the folder's descriptor.
  auto dir = open_trusted_dir(m_dir / "state", PathTrust::of_this_process(), MissingFolders::create,
                              0700);
  if (!dir) return fail(dir.error().wrap("cannot open state folder"));
  // dump() throws on invalid UTF-8 (last_error can quote a peer); replace instead of failing.
  const std::string text = state_to_json(state).dump(2, ' ', false, json::error_handler_t::replace);
  auto file = AtomicFile::create_in(dir->fd.get(), credential + ".json", path_of(credential), 0600);
  if (!file) return fail(file.error());
  if (auto r = file->write(text + "\n"); !r) return r;
  return file->commit();
}

Result<int> StateFiles::remove_leftovers() const {
  int removed = 0;
  for (const char* folder : {"state", "pending"}) {
    const std::filesystem::path dir = m_dir / folder;
    auto opened = open_trusted_dir(dir, PathTrust::of_this_process(), MissingFolders::accept);
    if (!opened) return fail(opened.error().wrap("cannot open state folder"));
    if (!opened->fd) continue;
    auto count = remove_temp_files(opened->fd.get(), {}, dir);
    if (!count) return fail(count.error());
    removed += *count;
  }
  return removed;
}

std::filesystem::path StateFiles::pending_path_of(const std::string& credential) const {
  return m_dir / "pending" / (credential + ".pem");
}

Result<void> StateFiles::save_pending(const std::string& credential, std::string_view pem) const {
  if (auto r = check_name(credential); !r) return r;
  auto dir = open_trusted_dir(m_dir / "pending", PathTrust::of_this_process(),
                              MissingFolders::create, 0700);
  if (!dir) return fail(dir.error().wrap("cannot open the pending-request folder"));
  auto file = AtomicFile::create_in(dir->fd.get(), credential + ".pem", pending_path_of(credential),
                                    0600);
  if (!file) return fail(file.error());
  if (auto r = file->write(pem); !r) return r;
  return file->commit();
}

Result<std::optional<Secret>> StateFiles::load_pending(const std::string& credential) const {
  if (auto r = check_name(credential); !r) return fail(r.error());
  auto dir = open_trusted_dir(m_dir / "pending", PathTrust::of_this_process(),
                              MissingFolders::accept);
  if (!dir) return fail(dir.error().wrap("cannot open the pending-request folder"));
  if (!dir->fd) return std::optional<Secret>{};
  auto text = read_file_at(dir->fd.get(), credential + ".pem", pending_path_of(credential));
  if (!text) return fail(text.error());
  if (!*text) return std::optional<Secret>{};
  std::optional<Secret> out(std::in_place, **text);
  OPENSSL_cleanse((*text)->data(), (*text)->size());
  return out;
}

Result<void> StateFiles::remove_pending(const std::string& credential) const {
  if (auto r = check_name(credential); !r) return r;
  auto dir = open_trusted_dir(m_dir / "pending", PathTrust::of_this_process(),
                              MissingFolders::accept);
  if (!dir) return fail(dir.error().wrap("cannot open the pending-request folder"));
  if (!dir->fd) return {};
  const std::string name = credential + ".pem";
  if (::unlinkat(dir->fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return fail_retryable("cannot remove: " + errno_text(errno),
                          pending_path_of(credential).string());
  }
  // A removal lost in a power cut would only send the old request once more.
  (void)::fsync(dir->fd.get());
  return {};
}

}  // namespace certrotd::store
