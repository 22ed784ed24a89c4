#include "engine/control.hpp"

#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "notify/control.hpp"

namespace certrotd::engine {

namespace {

constexpr const char* k_error_failed = "org.certrotd.Error.Failed";

std::string error_text(int r) { return std::strerror(-r); }

}  // namespace

std::string status_json(const std::vector<CredentialStatus>& status) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : status) {
    nlohmann::json item;
    item["name"] = s.name;
    item["issuer"] = s.issuer;
    item["state"] = std::string(schedule::to_string(s.state));
    item["serial"] = s.cert ? s.cert->serial : "";
    item["not_after"] = s.cert ? format_time(s.cert->not_after) : "";
    item["next_renewal"] = s.next_attempt ? format_time(*s.next_attempt) : "";
    item["failures"] = s.failures;
    item["last_error"] = s.last_error;
    item["reason"] = s.reason;
    if (!s.warning.empty()) item["warning"] = s.warning;
    item["dir"] = s.dir.string();
    nlohmann::json deps = nlohmann::json::array();
    for (const auto& d : s.dependents) {
      deps.push_back({{"action", d.action}, {"ok", d.ok}, {"attempts", d.attempts},
                      {"detail", d.detail}});
    }
    item["dependents"] = std::move(deps);
    out.push_back(std::move(item));
  }
  return out.dump(2);
}

Result<std::unique_ptr<ControlServer>> ControlServer::create(sd_event* loop, notify::BusKind kind,
                                                             Service& service) {
  std::unique_ptr<ControlServer> server(new ControlServer(service));
  sd_bus* raw = nullptr;
  int r = kind == notify::BusKind::user ? sd_bus_open_user(&raw) : sd_bus_open_system(&raw);
  if (r < 0) {
    return fail_retryable("cannot connect to the " + std::string(notify::to_string(kind)) +
                          " bus: " + error_text(r));
  }
  server->m_bus.reset(raw);  // owned by the server from here on
  // Constant data; sd-bus keeps a pointer to it for the life of the slot.
  static const sd_bus_vtable k_vtable[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_METHOD_WITH_ARGS("Status", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), &on_status,
                              SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD_WITH_ARGS("Rotate", SD_BUS_ARGS("as", names), SD_BUS_NO_RESULT, &on_rotate, 0),
      SD_BUS_METHOD_WITH_ARGS("Rollback", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", version),
                              &on_rollback, 0),
      SD_BUS_VTABLE_END,
  };
  sd_bus_slot* slot = nullptr;
  r = sd_bus_add_object_vtable(raw, &slot, notify::k_control_path, notify::k_control_interface,
                               k_vtable, server.get());
  if (r < 0) return fail("cannot export the control object: " + error_text(r));
  server->m_slot.reset(slot);
  r = sd_bus_request_name(raw, notify::k_control_name, 0);
  if (r < 0) {
    return fail("cannot own " + std::string(notify::k_control_name) + " on the " +
                std::string(notify::to_string(kind)) + " bus: " + error_text(r) +
                " (is another certrotd running, or the D-Bus policy file missing?)");
  }
  r = sd_bus_attach_event(raw, loop, 0);
  if (r < 0) return fail("cannot attach the bus to the event loop: " + error_text(r));
  return server;
}

int ControlServer::on_status(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const std::string json = status_json(self->m_service.engine().status());
  return sd_bus_reply_method_return(m, "s", json.c_str());
}

int ControlServer::on_rotate(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  char** raw = nullptr;
  if (int r = sd_bus_message_read_strv(m, &raw); r < 0) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "bad arguments: %s", error_text(r).c_str());
  }
  std::vector<std::string> names;
  for (char** p = raw; p && *p; ++p) {
    names.emplace_back(*p);
    std::free(*p);  // read_strv hands us a malloc'd copy
  }
  std::free(raw);
  if (auto done = self->m_service.rotate(names); !done) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", done.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "");
}

int ControlServer::on_rollback(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const char* name = nullptr;
  if (int r = sd_bus_message_read(m, "s", &name); r < 0) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "bad arguments: %s", error_text(r).c_str());
  }
  auto version = self->m_service.rollback(name);
  if (!version) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", version.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "s", version->c_str());
}

}  // namespace certrotd::engine
