// What the hardened unit (systemd/certrotd.service) would refuse at run time although the
// configuration is valid: under ProtectSystem=strict only the unit's ReadWritePaths= are
// writable, and ProtectHome=/PrivateTmp= hide /home, /root, /run/user and /tmp from the daemon
// and from the hooks it starts. `certrotd check` prints these as warnings.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace certrotd::cli {

struct SandboxReport {
  // One line per path that would fail: "credential 'web': copy /etc/nginx/tls/web.crt: ...".
  std::vector<std::string> warnings;
  // The folders to add to ReadWritePaths=, each once, in the order met.
  std::vector<std::filesystem::path> missing;
};

// `writable` is the unit's ReadWritePaths= (daemon/ compiles them in from the shipped unit).
// Checked: state_dir, each output folder, the folder of each copy (a copy is replaced by a
// rename inside it), and each exec hook's program (it must not lie in a hidden folder).
SandboxReport check_sandbox(const config::Config& config,
                            const std::vector<std::filesystem::path>& writable);

// The drop-in that makes `missing` writable, as `systemctl edit certrotd` takes it.
std::string read_write_paths_drop_in(const std::vector<std::filesystem::path>& missing);

// A polkit rules file (JavaScript) that lets the `user` the unit runs as do exactly what the
// configuration's `systemd:` actions on the system bus do: each unit named, with only the verbs
// its actions use (reload, restart, try-restart, reload-or-restart, kill). `certrotd check
// --polkit-rule` prints it, for /etc/polkit-1/rules.d/50-certrotd.rules.
std::string polkit_rule(const config::Config& config, const std::string& user);

}  // namespace certrotd::cli
