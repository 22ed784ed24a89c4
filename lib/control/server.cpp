#include "control/server.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

#include <nlohmann/json.hpp>

#include "control/client.hpp"
#include "issuer/acme/acme.hpp"
#include "notify/bus.hpp"
#include "util/errno_text.hpp"

namespace certrotd::control {

using engine::CredentialStatus;
using engine::Engine;
using service::RotationOutcome;
using service::Service;

namespace {

constexpr const char* k_error_failed = "org.certrotd.Error.Failed";
constexpr const char* k_error_reload_rejected = "org.certrotd.Error.ReloadRejected";
constexpr const char* k_error_unknown_credential = "org.certrotd.Error.UnknownCredential";

// An `as` argument as strings.
int read_names(sd_bus_message* m, std::vector<std::string>& names) {
  char** raw = nullptr;
  if (int r = sd_bus_message_read_strv(m, &raw); r < 0) return r;
  for (char** p = raw; p && *p; ++p) {
    names.emplace_back(*p);
    std::free(*p);  // read_strv hands us a malloc'd copy
  }
  std::free(raw);
  return 0;
}

int reply_bad_arguments(sd_bus_message* m, int r) {
  return sd_bus_reply_method_errorf(m, k_error_failed, "bad arguments: %s", errno_text(-r).c_str());
}

int reply_unknown(sd_bus_message* m, const std::string& name) {
  return sd_bus_reply_method_errorf(m, k_error_unknown_credential, "no credential named '%s'",
                                    name.c_str());
}

// The key change on its thread, with any exception turned into an error.
Result<std::string> change_key_catching(issuer::AcmeIssuer& acme) {
  try {
    return acme.change_account_key();
  } catch (const std::exception& e) {
    return fail(std::string("the key change stopped: ") + e.what());
  } catch (...) {
    return fail("the key change stopped on an unknown exception");
  }
}

}  // namespace

void append_status_json(std::string& out, const CredentialStatus& s) {
  nlohmann::json item;
  item["name"] = s.name;
  item["issuer"] = s.issuer;
  item["state"] = std::string(schedule::to_string(s.state));
  item["serial"] = s.cert ? s.cert->serial : "";
  item["not_after"] = s.cert ? format_rfc3339(s.cert->not_after) : "";
  item["next_renewal"] = s.next_attempt ? format_rfc3339(*s.next_attempt) : "";
  item["failures"] = s.failures;
  item["last_error"] = s.last_error;
  item["reason"] = s.reason;
  if (!s.warning.empty()) item["warning"] = s.warning;
  item["key_reuse"] = s.key_reuse;
  item["key_renewals"] = s.key_renewals;
  // Only while a version is staged (activation: staged), so other answers read as before.
  if (s.staged) {
    nlohmann::json staged{{"version", s.staged->version},
                          {"serial", s.staged->serial},
                          {"not_after", format_rfc3339(s.staged->not_after)},
                          {"staged_at", format_rfc3339(s.staged->staged_at)},
                          {"activate_at", format_rfc3339(s.staged->activate_at)},
                          {"activate_why", s.staged->activate_why}};
    if (s.staged->replace_at) staged["replace_at"] = format_rfc3339(*s.staged->replace_at);
    item["staged"] = std::move(staged);
  }
  if (s.issuer_pending) item["pending"] = true;
  if (!s.ca_roots.empty()) {
    nlohmann::json roots = nlohmann::json::array();
    for (const auto& r : s.ca_roots) {
      roots.push_back({{"subject", r.subject}, {"not_after", format_rfc3339(r.not_after)}});
    }
    item["ca_roots"] = std::move(roots);
  }
  item["dir"] = s.dir.string();
  // Only for issuers that report renewal information (ACME ARI), so other credentials' objects
  // read as before.
  if (s.renewal_window) {
    item["renewal_window"] = {
        {"start", format_rfc3339(s.renewal_window->start)},
        {"end", format_rfc3339(s.renewal_window->end)},
        {"chosen", s.renewal_instant ? format_rfc3339(*s.renewal_instant) : ""},
        {"explanation_url", s.explanation_url}};
  }
  if (s.renewal_info_next) item["renewal_info_next"] = format_rfc3339(*s.renewal_info_next);
  nlohmann::json deps = nlohmann::json::array();
  for (const auto& d : s.dependents) {
    deps.push_back(
        {{"action", d.action}, {"ok", d.ok}, {"attempts", d.attempts}, {"detail", d.detail}});
  }
  item["dependents"] = std::move(deps);
  if (out != "[") out += ',';
  out += item.dump();
}

std::string status_json(const std::vector<CredentialStatus>& status) {
  std::string out = "[";
  for (const auto& s : status) append_status_json(out, s);
  out += ']';
  return out;
}

Result<std::unique_ptr<ControlServer>> ControlServer::create(sd_event* loop, notify::BusKind kind,
                                                             Service& service,
                                                             ControlOptions options) {
  std::unique_ptr<ControlServer> server(new ControlServer(service, std::move(options)));
  auto bus = notify::open_bus(kind);
  if (!bus) return fail(bus.error());
  server->m_bus = std::move(*bus);
  sd_bus* raw = server->m_bus.get();  // owned by the server
  // Constant data; sd-bus keeps a pointer to it for the life of the slot.
  static const sd_bus_vtable k_vtable[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_METHOD_WITH_ARGS("Status", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), &on_status,
                              SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD_WITH_ARGS("StatusOf", SD_BUS_ARGS("as", names),
                              SD_BUS_RESULT("s", config, "u", pid, "s", json, "as", unknown),
                              &on_status_of, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD_WITH_ARGS("Rotate", SD_BUS_ARGS("as", names), SD_BUS_NO_RESULT, &on_rotate, 0),
      SD_BUS_METHOD_WITH_ARGS("RotateAndWait", SD_BUS_ARGS("as", names),
                              SD_BUS_RESULT("a(sbs)", outcomes), &on_rotate_and_wait, 0),
      SD_BUS_METHOD_WITH_ARGS("Rollback", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", version),
                              &on_rollback, 0),
      SD_BUS_METHOD_WITH_ARGS("RollbackTo", SD_BUS_ARGS("s", name, "s", target, "b", force),
                              SD_BUS_RESULT("s", version), &on_rollback_to, 0),
      SD_BUS_METHOD_WITH_ARGS("Activate", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", version),
                              &on_activate, 0),
      SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, &on_reload, 0),
      SD_BUS_METHOD_WITH_ARGS("Revoke", SD_BUS_ARGS("s", name, "s", reason),
                              SD_BUS_RESULT("s", detail), &on_revoke, 0),
      SD_BUS_METHOD_WITH_ARGS("AcmeKeyChange", SD_BUS_ARGS("s", issuer), SD_BUS_RESULT("s", detail),
                              &on_acme_key_change, 0),
      SD_BUS_VTABLE_END,
  };
  sd_bus_slot* slot = nullptr;
  int r = sd_bus_add_object_vtable(raw, &slot, k_control_path, k_control_interface, k_vtable,
                                   server.get());
  if (r < 0) return fail("cannot export the control object: " + errno_text(-r));
  server->m_slot.reset(slot);
  r = sd_bus_request_name(raw, k_control_name, 0);
  if (r < 0) {
    return fail("cannot own " + std::string(k_control_name) + " on the " +
                std::string(notify::to_string(kind)) + " bus: " + errno_text(-r) +
                " (is another certrotd running, or the D-Bus policy file missing?)");
  }
  r = sd_bus_attach_event(raw, loop, 0);
  if (r < 0) return fail("cannot attach the bus to the event loop: " + errno_text(-r));
  service.on_rotated([s = server.get()](const RotationOutcome& outcome) { s->rotated(outcome); });
  service.on_revoked([s = server.get()](const RotationOutcome& outcome) { s->revoked(outcome); });
  return server;
}

ControlServer::~ControlServer() {
  // The service outlives the server; it must not call into it any more. Callers still waiting
  // get no answer: the bus connection closes with the server.
  m_service.on_rotated({});
  m_service.on_revoked({});
  // A key change in flight finishes first (bounded by the issuer's timeouts): its thread uses
  // the issuer, and the files it writes must not be left half-way by our exit.
  for (auto& change : m_key_changes) {
    if (change.thread.joinable()) change.thread.join();
  }
}

std::optional<std::string> ControlServer::first_unknown(
    const std::vector<std::string>& names) const {
  for (const auto& name : names) {
    if (m_service.engine().output_dir(name) == nullptr) return name;
  }
  return std::nullopt;
}

std::string ControlServer::answer(const std::vector<std::string>& names,
                                  std::vector<std::string>& unknown) {
  const Engine& engine = m_service.engine();
  std::string json = "[";
  if (names.empty()) {
    for (const auto& credential : engine.config().credentials) {
      if (auto s = engine.status_of(credential.name)) append_status_json(json, *s);
    }
  } else {
    for (const auto& name : names) {
      if (auto s = engine.status_of(name)) {
        append_status_json(json, *s);
      } else {
        unknown.push_back(name);
      }
    }
  }
  json += ']';
  return json;
}

int ControlServer::on_status(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  std::vector<std::string> unknown;
  int r = 0;
  {
    const std::string json = self->answer({}, unknown);
    r = sd_bus_reply_method_return(m, "s", json.c_str());
  }
  if (self->m_options.after_large_answer) self->m_options.after_large_answer();
  return r;
}

int ControlServer::on_status_of(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  std::vector<std::string> names;
  if (int r = read_names(m, names); r < 0) return reply_bad_arguments(m, r);
  int r = 0;
  {
    std::vector<std::string> unknown;
    const std::string json = self->answer(names, unknown);
    sd_bus_message* raw = nullptr;
    r = sd_bus_message_new_method_return(m, &raw);
    if (r < 0) return r;
    notify::SdBusMessagePtr reply(raw);  // ours until sent
    std::vector<const char*> list;
    for (const auto& n : unknown) list.push_back(n.c_str());
    list.push_back(nullptr);
    r = sd_bus_message_append(reply.get(), "sus", self->m_options.config_path.c_str(),
                              static_cast<std::uint32_t>(self->m_options.pid), json.c_str());
    if (r >= 0) r = sd_bus_message_append_strv(reply.get(), const_cast<char**>(list.data()));
    if (r >= 0) r = sd_bus_send(nullptr, reply.get(), nullptr);
  }
  if (names.empty() && self->m_options.after_large_answer) self->m_options.after_large_answer();
  return r;
}

int ControlServer::on_rotate(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  std::vector<std::string> names;
  if (int r = read_names(m, names); r < 0) return reply_bad_arguments(m, r);
  if (const auto unknown = self->first_unknown(names)) return reply_unknown(m, *unknown);
  if (auto done = self->m_service.rotate(names); !done) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", done.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "");
}

int ControlServer::on_rollback(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const char* name = nullptr;
  if (int r = sd_bus_message_read(m, "s", &name); r < 0) return reply_bad_arguments(m, r);
  if (const auto unknown = self->first_unknown({name})) return reply_unknown(m, *unknown);
  auto version = self->m_service.rollback(name);
  if (!version) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", version.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "s", version->c_str());
}

int ControlServer::on_activate(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const char* name = nullptr;
  if (int r = sd_bus_message_read(m, "s", &name); r < 0) return reply_bad_arguments(m, r);
  if (const auto unknown = self->first_unknown({name})) return reply_unknown(m, *unknown);
  auto version = self->m_service.activate(name);
  if (!version) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", version.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "s", version->c_str());
}

int ControlServer::on_rollback_to(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const char* name = nullptr;
  const char* target = nullptr;
  int force = 0;
  if (int r = sd_bus_message_read(m, "ssb", &name, &target, &force); r < 0) {
    return reply_bad_arguments(m, r);
  }
  if (const auto unknown = self->first_unknown({name})) return reply_unknown(m, *unknown);
  auto version = self->m_service.rollback_to(
      name, target, force ? engine::Expired::allow : engine::Expired::refuse);
  if (!version) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", version.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "s", version->c_str());
}

// Answered later, from rotated(), once every named credential's rotation has ended. The waiter
// is in place before the rotation is asked for: one already in flight may end at once.
int ControlServer::on_rotate_and_wait(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  std::vector<std::string> names;
  if (int r = read_names(m, names); r < 0) return reply_bad_arguments(m, r);
  if (const auto unknown = self->first_unknown(names)) return reply_unknown(m, *unknown);
  Waiter waiter{notify::SdBusMessagePtr(sd_bus_message_ref(m)), {}, {}};  // our reference
  if (names.empty()) {
    for (const auto& credential : self->m_service.engine().config().credentials) {
      waiter.names.push_back(credential.name);
    }
  } else {
    for (auto& name : names) {
      if (std::find(waiter.names.begin(), waiter.names.end(), name) == waiter.names.end()) {
        waiter.names.push_back(std::move(name));
      }
    }
  }
  if (waiter.names.empty()) return reply_outcomes(waiter);
  auto it = self->m_waiters.insert(self->m_waiters.end(), std::move(waiter));
  if (auto done = self->m_service.rotate(names.empty() ? std::vector<std::string>{} : it->names);
      !done) {
    self->m_waiters.erase(it);
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", done.error().what().c_str());
  }
  return 1;  // the reply follows from rotated()
}

void ControlServer::rotated(const RotationOutcome& outcome) {
  for (auto it = m_waiters.begin(); it != m_waiters.end();) {
    Waiter& waiter = *it;
    if (std::find(waiter.names.begin(), waiter.names.end(), outcome.name) != waiter.names.end()) {
      waiter.done.insert_or_assign(outcome.name, outcome);
    }
    if (waiter.done.size() == waiter.names.size()) {
      (void)reply_outcomes(waiter);  // a caller that gave up is no error of ours
      it = m_waiters.erase(it);
    } else {
      ++it;
    }
  }
}

int ControlServer::reply_outcomes(Waiter& waiter) {
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_return(waiter.call.get(), &raw);
  if (r < 0) return r;
  notify::SdBusMessagePtr reply(raw);  // ours until sent
  r = sd_bus_message_open_container(reply.get(), 'a', "(sbs)");
  for (const auto& name : waiter.names) {
    if (r < 0) break;
    const RotationOutcome& o = waiter.done.at(name);
    r = sd_bus_message_append(reply.get(), "(sbs)", o.name.c_str(), o.renewed ? 1 : 0,
                              o.detail.c_str());
  }
  if (r >= 0) r = sd_bus_message_close_container(reply.get());
  if (r >= 0) r = sd_bus_send(nullptr, reply.get(), nullptr);
  return r;
}

// Answered later, from revoked(), once the issuer answered; the rotation that follows a
// successful revocation is not waited for (`certrotd rotate --wait` can).
int ControlServer::on_revoke(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const char* name = nullptr;
  const char* reason_name = nullptr;
  if (int r = sd_bus_message_read(m, "ss", &name, &reason_name); r < 0) {
    return reply_bad_arguments(m, r);
  }
  if (const auto unknown = self->first_unknown({name})) return reply_unknown(m, *unknown);
  const auto reason = engine::revocation_reason_named(reason_name);
  if (!reason) {
    return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS,
                                      "unknown revocation reason '%s'", reason_name);
  }
  // The waiter is in place before the revocation is asked for, as for RotateAndWait. A second
  // call for the same credential is refused by the engine while the first one is in flight.
  if (self->m_revoke_waiters.contains(name)) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "a revocation of '%s' is in flight", name);
  }
  auto it = self->m_revoke_waiters
                .emplace(name, notify::SdBusMessagePtr(sd_bus_message_ref(m)))  // our reference
                .first;
  if (auto done = self->m_service.revoke(name, *reason); !done) {
    self->m_revoke_waiters.erase(it);
    return sd_bus_reply_method_errorf(m, k_error_failed, "%s", done.error().what().c_str());
  }
  return 1;  // the reply follows from revoked()
}

void ControlServer::revoked(const RotationOutcome& outcome) {
  const auto it = m_revoke_waiters.find(outcome.name);
  if (it == m_revoke_waiters.end()) return;
  notify::SdBusMessagePtr call = std::move(it->second);
  m_revoke_waiters.erase(it);
  // A caller that gave up is no error of ours.
  if (outcome.renewed) {
    const std::string detail = outcome.detail + " revoked; rotating at once";
    (void)sd_bus_reply_method_return(call.get(), "s", detail.c_str());
  } else {
    (void)sd_bus_reply_method_errorf(call.get(), k_error_failed, "%s", outcome.detail.c_str());
  }
}

int ControlServer::on_acme_key_change(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  const char* name = nullptr;
  if (int r = sd_bus_message_read(m, "s", &name); r < 0) return reply_bad_arguments(m, r);
  auto used = self->m_service.engine().issuer_named(name);
  if (!used) {
    return sd_bus_reply_method_errorf(m, k_error_failed,
                                      "no credential of the running configuration uses an "
                                      "issuer named '%s'",
                                      name);
  }
  auto acme = std::dynamic_pointer_cast<issuer::AcmeIssuer>(used);
  if (!acme) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "issuer '%s' is of type %s, not acme",
                                      name, std::string(used->type()).c_str());
  }
  for (const auto& change : self->m_key_changes) {
    if (change.issuer == name) {
      return sd_bus_reply_method_errorf(m, k_error_failed,
                                        "a key change of issuer '%s' is in flight", name);
    }
  }
  Fd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done) return sd_bus_reply_method_errorf(m, k_error_failed, "eventfd failed");
  auto& change = self->m_key_changes.emplace_back();
  change.issuer = name;
  change.call.reset(sd_bus_message_ref(m));  // our reference, until answered
  change.done = std::move(done);
  sd_event_source* source = nullptr;
  int r = sd_event_add_io(sd_bus_get_event(self->m_bus.get()), &source, change.done.get(), EPOLLIN,
                          &on_key_changed, self);
  if (r < 0) {
    self->m_key_changes.pop_back();
    return sd_bus_reply_method_errorf(m, k_error_failed, "cannot watch the key change: %s",
                                      errno_text(-r).c_str());
  }
  change.source.reset(source);  // owned by the change
  // The thread holds the issuer, so a reload meanwhile does not pull it away. No exception may
  // leave this sd-bus callback (C frames above it), nor the thread's body (std::terminate).
  try {
    change.thread = std::thread([&change, acme = std::move(acme)] {
      change.result = change_key_catching(*acme);
      // Adding one to an eventfd fails only when its counter would overflow, which one write per
      // change cannot reach; an interrupted write is tried again.
      const std::uint64_t one = 1;
      ssize_t written = 0;
      do {
        written = ::write(change.done.get(), &one, sizeof one);
      } while (written < 0 && errno == EINTR);
    });
  } catch (const std::exception& e) {
    // No thread runs: the entry goes, so the next call is not refused as "in flight".
    self->m_key_changes.pop_back();
    return sd_bus_reply_method_errorf(m, k_error_failed, "cannot start the key change: %s",
                                      e.what());
  }
  return 1;  // the reply follows from on_key_changed()
}

int ControlServer::on_key_changed(sd_event_source* s, int, uint32_t, void* userdata) {
  auto* self = static_cast<ControlServer*>(userdata);
  for (auto it = self->m_key_changes.begin(); it != self->m_key_changes.end(); ++it) {
    if (it->source.get() != s) continue;
    it->thread.join();  // it wrote `done` as its last step
    // A caller that gave up is no error of ours.
    if (it->result) {
      const std::string detail = "issuer " + it->issuer +
                                 ": the account key was changed; new key thumbprint " + *it->result;
      (void)sd_bus_reply_method_return(it->call.get(), "s", detail.c_str());
    } else {
      (void)sd_bus_reply_method_errorf(it->call.get(), k_error_failed, "issuer %s: %s",
                                       it->issuer.c_str(), it->result.error().what().c_str());
    }
    self->m_key_changes.erase(it);
    break;
  }
  return 0;
}

int ControlServer::on_reload(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<ControlServer*>(userdata);
  if (!self->m_options.reload) {
    return sd_bus_reply_method_errorf(m, k_error_failed, "this daemon cannot reload");
  }
  if (auto done = self->m_options.reload(); !done) {
    return sd_bus_reply_method_errorf(m, k_error_reload_rejected, "%s",
                                      done.error().what().c_str());
  }
  return sd_bus_reply_method_return(m, "");
}

}  // namespace certrotd::control
