// What the subcommands share: the wording and exit codes of the failures several of them report,
// and the pieces of their tables.
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::cli {

// What `status` and `check` exit with when the configuration is fine but a credential is not,
// so monitoring scripts can test them like `systemctl is-failed`: 1 when a credential is
// expired or its last renewal failed, otherwise 2 when an on_rotate action failed.
inline constexpr int k_exit_needs_attention = 1;
inline constexpr int k_exit_dependent_failed = 2;

int health_exit(bool needs_attention, bool dependent_failed);

// Bad configuration: the sysexits.h code systemd and operators know (EX_CONFIG = 78).
int report_config_error(std::ostream& err, const Error& error);

// Another certrotd holds the state directory: EX_TEMPFAIL (75), since starting again once it has
// stopped will work. A lock file that cannot be created at all: EX_CANTCREAT (73).
int report_lock_error(std::ostream& err, std::string_view command, const Error& error);

// What the daemon's refusal means for the exit code: a name it does not know is a usage error,
// as it is when the files answer.
int daemon_refusal(std::ostream& err, std::string_view command, const Error& error);

// After a rollback or import without a daemon: nobody ran the on_rotate actions.
void report_dependents_not_told(std::ostream& err, std::string_view command,
                                const std::string& credential);

// "2026-11-25T10:00:00Z (in 3h12m)", "... (5m ago)", or "-".
std::string when_text(std::optional<SystemTime> t, SystemTime now);

// `text` padded with spaces to `width` bytes, as printf's "%-Ns" does (never cut).
std::string padded(std::string_view text, std::size_t width);

}  // namespace certrotd::cli
