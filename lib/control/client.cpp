#include "control/client.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "notify/bus.hpp"
#include "notify/sd_bus_handles.hpp"
#include "util/errno_text.hpp"

namespace certrotd::control {

using notify::BusError;
using notify::BusKind;
using notify::SdBusMessagePtr;
using notify::SdBusPtr;

namespace {

// No daemon on the bus is retryable (fall back); anything the daemon said is permanent.
tl::unexpected<Error> call_failure(BusError& error, int r) {
  if (error.is_set()) {
    const std::string name = error.name();
    const std::string text = name + ": " + error.message();
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
      return fail_retryable("no certrotd daemon on the bus (" + text + ")");
    }
    if (name == "org.certrotd.Error.UnknownCredential") {
      return fail(Reason::config, error.message());
    }
    return fail(error.message());
  }
  return fail_retryable("D-Bus call failed: " + errno_text(-r));
}

// Calls that make the daemon ask an issuer over the network (ACME revokeCert, keyChange) wait
// longer than sd-bus's 25 s default.
constexpr std::uint64_t k_network_timeout_usec = 120ULL * 1000 * 1000;

// A call of `method` with string arguments, answered by one string; `timeout_usec` 0: sd-bus's
// default.
Result<std::string> call_returning_string(BusKind kind, const char* method,
                                          const std::vector<std::string>& args,
                                          std::uint64_t timeout_usec = 0) {
  auto bus = open_bus(kind);
  if (!bus) return fail(bus.error());
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus->get(), &raw, k_control_name, k_control_path,
                                         k_control_interface, method);
  if (r < 0) return fail("cannot build the call: " + errno_text(-r));
  SdBusMessagePtr call(raw);  // ours until sent
  for (const std::string& arg : args) {
    if (r = sd_bus_message_append(call.get(), "s", arg.c_str()); r < 0) {
      return fail("cannot build the call: " + errno_text(-r));
    }
  }
  BusError error;
  sd_bus_message* reply = nullptr;
  r = sd_bus_call(bus->get(), call.get(), timeout_usec, error.get(), &reply);
  SdBusMessagePtr owned(reply);  // the reply is ours to free
  if (r < 0) return call_failure(error, r);
  const char* text = nullptr;
  if (int rr = sd_bus_message_read(reply, "s", &text); rr < 0) {
    return fail("unexpected reply from certrotd: " + errno_text(-rr));
  }
  return std::string(text);
}

// A call of `method` with one `as` argument.
Result<SdBusMessagePtr> new_call(sd_bus* bus, const char* method,
                                 const std::vector<std::string>& names) {
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus, &raw, k_control_name, k_control_path,
                                         k_control_interface, method);
  if (r < 0) return fail("cannot build the call: " + errno_text(-r));
  SdBusMessagePtr call(raw);  // ours until sent
  std::vector<const char*> list;
  for (const auto& n : names) list.push_back(n.c_str());
  list.push_back(nullptr);
  r = sd_bus_message_append_strv(call.get(), const_cast<char**>(list.data()));
  if (r < 0) return fail("cannot build the call: " + errno_text(-r));
  return call;
}

}  // namespace

Result<ControlClient::Status> ControlClient::status(const std::vector<std::string>& names) const {
  auto bus = open_bus(m_bus);
  if (!bus) return fail(bus.error());
  auto call = new_call(bus->get(), "StatusOf", names);
  if (!call) return fail(call.error());
  BusError error;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_call(bus->get(), call->get(), 0, error.get(), &reply);
  SdBusMessagePtr owned(reply);  // the reply is ours to free
  if (r < 0) return call_failure(error, r);
  const char* config = nullptr;
  const char* json = nullptr;
  Status out;
  r = sd_bus_message_read(reply, "sus", &config, &out.pid, &json);
  char** unknown = nullptr;
  if (r >= 0) r = sd_bus_message_read_strv(reply, &unknown);
  if (r < 0) return fail("unexpected reply from certrotd: " + errno_text(-r));
  out.config = config;
  out.json = json;
  for (char** p = unknown; p && *p; ++p) {
    out.unknown.emplace_back(*p);
    std::free(*p);  // read_strv hands us a malloc'd copy
  }
  std::free(unknown);
  return out;
}

Result<void> ControlClient::reload() const {
  auto bus = open_bus(m_bus);
  if (!bus) return fail(bus.error());
  BusError error;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call_method(bus->get(), k_control_name, k_control_path, k_control_interface,
                                   "Reload", error.get(), &reply, "");
  SdBusMessagePtr owned(reply);
  if (r < 0) return call_failure(error, r);
  return {};
}

Result<std::string> ControlClient::rollback(const std::string& name) const {
  return call_returning_string(m_bus, "Rollback", {name});
}

Result<std::string> ControlClient::activate(const std::string& name) const {
  return call_returning_string(m_bus, "Activate", {name});
}

Result<std::string> ControlClient::rollback_to(const std::string& name, const std::string& target,
                                               bool force) const {
  auto bus = open_bus(m_bus);
  if (!bus) return fail(bus.error());
  BusError error;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call_method(bus->get(), k_control_name, k_control_path, k_control_interface,
                                   "RollbackTo", error.get(), &reply, "ssb", name.c_str(),
                                   target.c_str(), static_cast<int>(force));
  SdBusMessagePtr owned(reply);  // the reply is ours to free
  if (r < 0) return call_failure(error, r);
  const char* text = nullptr;
  if (int rr = sd_bus_message_read(reply, "s", &text); rr < 0) {
    return fail("unexpected reply from certrotd: " + errno_text(-rr));
  }
  return std::string(text);
}

Result<void> ControlClient::rotate(const std::vector<std::string>& names) const {
  auto bus = open_bus(m_bus);
  if (!bus) return fail(bus.error());
  auto call = new_call(bus->get(), "Rotate", names);
  if (!call) return fail(call.error());
  BusError error;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call(bus->get(), call->get(), 0, error.get(), &reply);
  SdBusMessagePtr owned(reply);
  if (r < 0) return call_failure(error, r);
  return {};
}

Result<std::vector<RotateResult>> ControlClient::rotate_and_wait(
    const std::vector<std::string>& names, std::chrono::milliseconds timeout) const {
  auto bus = open_bus(m_bus);
  if (!bus) return fail(bus.error());
  auto call = new_call(bus->get(), "RotateAndWait", names);
  if (!call) return fail(call.error());
  BusError error;
  sd_bus_message* reply = nullptr;
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  int r = sd_bus_call(bus->get(), call->get(), static_cast<std::uint64_t>(usec), error.get(),
                      &reply);
  SdBusMessagePtr owned(reply);
  if (r == -ETIMEDOUT) {
    return fail(Reason::network,
                "the rotations did not all end within the timeout; they go on "
                "in the daemon (certrotd status)");
  }
  if (r < 0) return call_failure(error, r);
  std::vector<RotateResult> out;
  r = sd_bus_message_enter_container(reply, 'a', "(sbs)");
  while (r > 0) {
    const char* name = nullptr;
    int renewed = 0;
    const char* detail = nullptr;
    r = sd_bus_message_read(reply, "(sbs)", &name, &renewed, &detail);
    if (r > 0) out.push_back(RotateResult{name, renewed != 0, detail});
  }
  if (r >= 0) r = sd_bus_message_exit_container(reply);
  if (r < 0) return fail("unexpected reply from certrotd: " + errno_text(-r));
  return out;
}

Result<std::string> ControlClient::revoke(const std::string& name,
                                          const std::string& reason) const {
  return call_returning_string(m_bus, "Revoke", {name, reason}, k_network_timeout_usec);
}

Result<std::string> ControlClient::acme_key_change(const std::string& issuer) const {
  return call_returning_string(m_bus, "AcmeKeyChange", {issuer}, k_network_timeout_usec);
}

}  // namespace certrotd::control
