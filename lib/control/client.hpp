// The daemon's D-Bus control interface: its names, and the client the CLI uses.
//
//   bus name   org.certrotd.Daemon
//   object     /org/certrotd/Daemon
//   interface  org.certrotd.Daemon1
//     Status()           -> s   JSON array, one object per credential (see `certrotd status
//     --json`) StatusOf(as names) -> (s config, u pid, s json, as unknown)
//                              the daemon's configuration file and PID, the JSON array for the
//                              named credentials (all when empty; found by name, so asking for
//                              one costs the same with 10 or 10,000) and the names it does not know
//     Rotate(as names)   -> ()  rotate the named credentials (all when empty) now
//     RotateAndWait(as names) -> a(sbs)
//                              the same, answered once each of those rotations ended: per
//                              credential its name, whether it was renewed, and the new serial
//                              ("serial 1a2b...") or the error
//     Rollback(s name)   -> s   make the previous version live; returns the version now live
//     RollbackTo(s name, s target, b force) -> s
//                              make the kept version `target` names live (a serial as
//                              `certrotd history` prints it, any case, leading zeros optional,
//                              or a version folder); an expired one only with `force`
//     Activate(s name)   -> s   make the staged version (activation: staged) live now; returns
//                              the version now live; nothing staged is an error
//   A name the daemon does not know is the error org.certrotd.Error.UnknownCredential.
//     Reload()           -> ()  re-read the configuration file, as on SIGHUP; a rejected file is
//                              the error org.certrotd.Error.ReloadRejected with file:line:col
//     Revoke(s name, s reason) -> s
//                              revoke the live certificate through its issuer (reason: an RFC
//                              5280 CRLReason name, see `certrotd revoke`), answered once the
//                              issuer answered ("serial 1a2b... revoked; rotating at once"); an
//                              issuer that cannot revoke, or that refused, is
//                              org.certrotd.Error.Failed with why
//     AcmeKeyChange(s issuer) -> s
//                              roll the account key of an acme issuer over (RFC 8555 §7.3.5),
//                              answered once the server answered ("issuer le: the account key
//                              was changed; new key thumbprint ..."); an issuer no credential
//                              uses, one of another type, or a refusal is
//                              org.certrotd.Error.Failed with why
//
// The server side is server.hpp (it needs the service); the policy file
// packaging/dbus/org.certrotd.Daemon.conf lets only root call it on the system bus.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "notify/action.hpp"
#include "util/result.hpp"

namespace certrotd::control {

inline constexpr const char* k_control_name = "org.certrotd.Daemon";
inline constexpr const char* k_control_path = "/org/certrotd/Daemon";
inline constexpr const char* k_control_interface = "org.certrotd.Daemon1";

// How one rotation asked for with RotateAndWait ended.
struct RotateResult {
  std::string name;
  bool renewed = false;
  std::string detail;
};

// Calls into a running daemon. Errors are retryable when no daemon answers on that bus (the CLI
// then falls back to reading the files), permanent when the daemon refused; a name the daemon
// does not know has Reason::config, and a rotate_and_wait that ran out of time Reason::network.
// Virtual so that the subcommands' tests (tests/unit/cli) can stand in for a daemon.
class ControlClient {
public:
  explicit ControlClient(notify::BusKind bus) : m_bus(bus) {}
  virtual ~ControlClient() = default;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  struct Status {
    std::string config;  // the daemon's configuration file
    std::uint32_t pid = 0;
    std::string json;  // see StatusOf above
    std::vector<std::string> unknown;
  };

  virtual Result<Status> status(const std::vector<std::string>& names) const;
  virtual Result<void> reload() const;
  virtual Result<void> rotate(const std::vector<std::string>& names) const;
  // Returns when every named rotation (all when empty) ended, in the order asked, or fails
  // once `timeout` passed.
  virtual Result<std::vector<RotateResult>> rotate_and_wait(
      const std::vector<std::string>& names, std::chrono::milliseconds timeout) const;
  virtual Result<std::string> rollback(const std::string& name) const;
  virtual Result<std::string> activate(const std::string& name) const;
  virtual Result<std::string> rollback_to(const std::string& name, const std::string& target,
                                          bool force) const;

  // Returns the daemon's detail once the issuer answered; fails when it refused or could not.
  virtual Result<std::string> revoke(const std::string& name, const std::string& reason) const;
  // The same for the account key change of an acme issuer.
  virtual Result<std::string> acme_key_change(const std::string& issuer) const;

private:
  notify::BusKind m_bus;
};

}  // namespace certrotd::control
