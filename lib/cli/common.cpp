#include "cli/common.hpp"

#include <sysexits.h>

#include "engine/events.hpp"
#include "util/duration.hpp"

namespace certrotd::cli {

int health_exit(bool needs_attention, bool dependent_failed) {
  if (needs_attention) return k_exit_needs_attention;
  return dependent_failed ? k_exit_dependent_failed : 0;
}

int report_config_error(std::ostream& err, const Error& error) {
  err << error.what() << "\n";
  return EX_CONFIG;
}

int report_lock_error(std::ostream& err, std::string_view command, const Error& error) {
  err << "certrotd " << command << ": " << error.what() << "\n";
  return error.retryable() ? EX_TEMPFAIL : EX_CANTCREAT;
}

int daemon_refusal(std::ostream& err, std::string_view command, const Error& error) {
  err << "certrotd " << command << ": " << error.what() << "\n";
  return error.reason == Reason::config ? EX_USAGE : EX_UNAVAILABLE;
}

void report_dependents_not_told(std::ostream& err, std::string_view command,
                                const std::string& credential) {
  err << "certrotd " << command
      << ": the daemon is not running, so its on_rotate actions did not "
         "run; reload the dependents of "
      << credential << " yourself (certrotd where-used " << credential << ")\n";
}

std::string when_text(std::optional<SystemTime> t, SystemTime now) {
  if (!t) return "-";
  const auto delta = std::chrono::duration_cast<Millis>(*t - now);
  const std::string rel = delta.count() >= 0 ? "in " + format_duration(delta)
                                             : format_duration(-delta) + " ago";
  return format_rfc3339(*t) + " (" + rel + ")";
}

std::string padded(std::string_view text, std::size_t width) {
  std::string out(text);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

}  // namespace certrotd::cli
