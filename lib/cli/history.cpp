// `history NAME [--json]`: a credential's kept versions from its output folder, newest first,
// read without the daemon (and without changing anything, so it may run next to one).
#include <sysexits.h>

#include <algorithm>
#include <array>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "config/config.hpp"
#include "engine/history.hpp"
#include "store/credential_store.hpp"
#include "util/rfc3339.hpp"

namespace certrotd::cli {

namespace {

struct Row {
  std::array<std::string, 8> cells;  // the columns of k_history_header, in order
};

constexpr std::array<std::string_view, 8> k_history_header = {
    "VERSION", "SERIAL", "NOT BEFORE", "NOT AFTER", "LIVE FROM", "LIVE UNTIL", "ENDED", "ISSUER"};

std::string time_or_dash(const std::optional<SystemTime>& t) {
  return t ? format_rfc3339(*t) : std::string("-");
}

// "live" for the live version (whatever the history says), "staged" for the one waiting as
// next/, else how it ended, or "-".
std::string ended_text(const store::VersionInfo& v) {
  if (v.live) return "live";
  if (v.staged) return "staged";
  return v.span.ended ? std::string(store::to_string(*v.span.ended)) : std::string("-");
}

Row row_of(const engine::HistoryEntry& e) {
  const auto& cert = e.cert;
  return Row{{e.version.id, cert ? engine::display_serial(cert->serial) : "-",
              cert ? format_rfc3339(cert->not_before) : "-",
              cert ? format_rfc3339(cert->not_after) : "-", time_or_dash(e.version.span.from),
              e.version.live ? "-" : time_or_dash(e.version.span.until), ended_text(e.version),
              cert ? cert->issuer : "-"}};
}

nlohmann::json json_of(const engine::HistoryEntry& e) {
  const auto optional_time = [](const std::optional<SystemTime>& t) {
    return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json(nullptr);
  };
  const auto& cert = e.cert;
  const std::string ended = ended_text(e.version);
  nlohmann::json out = {
      {"version", e.version.id},
      {"live", e.version.live},
      {"serial", cert ? nlohmann::json(engine::display_serial(cert->serial)) : nullptr},
      {"not_before", cert ? optional_time(cert->not_before) : nullptr},
      {"not_after", cert ? optional_time(cert->not_after) : nullptr},
      {"live_from", optional_time(e.version.span.from)},
      {"live_until", e.version.live ? nullptr : optional_time(e.version.span.until)},
      {"ended", ended == "-" || e.version.staged ? nlohmann::json(nullptr) : nlohmann::json(ended)},
      {"issuer", cert ? nlohmann::json(cert->issuer) : nullptr},
  };
  if (e.version.staged) out["staged"] = true;  // only then, so other answers read as before
  return out;
}

void print_table(std::ostream& out, const std::vector<engine::HistoryEntry>& history) {
  std::vector<Row> rows;
  rows.reserve(history.size());
  for (const auto& e : history) rows.push_back(row_of(e));
  std::array<std::size_t, k_history_header.size()> widths{};
  for (std::size_t i = 0; i < widths.size(); ++i) {
    widths[i] = k_history_header[i].size();
    for (const Row& r : rows) widths[i] = std::max(widths[i], r.cells[i].size());
  }
  const auto line = [&](const auto& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      // The last column is not padded: no trailing blanks.
      text += i + 1 == cells.size() ? std::string(cells[i]) : padded(cells[i], widths[i]) + "  ";
    }
    out << text << "\n";
  };
  line(k_history_header);
  for (const Row& r : rows) line(r.cells);
}

}  // namespace

int history(const Options& options, Context& context) {
  auto config = config::load_config(options.config);
  if (!config) return report_config_error(context.err, config.error());
  const auto* credential = config->find_credential(options.credential);
  if (!credential) {
    context.err << "certrotd history: no credential named '" << options.credential << "' in "
                << options.config << "\n";
    return EX_USAGE;
  }
  // reopen(): recovers nothing, so a daemon writing there at the same time is never disturbed.
  const auto store = store::CredentialStore::reopen(
      std::make_shared<const store::StoreOptions>(credential->output));
  auto history = engine::read_history(store);
  if (!history) {
    context.err << "certrotd history: " << history.error().what() << "\n";
    return EX_NOINPUT;
  }
  if (options.json) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& e : *history) all.push_back(json_of(e));
    context.out << all.dump(2) << "\n";
  } else {
    print_table(context.out, *history);
  }
  return 0;
}

}  // namespace certrotd::cli
