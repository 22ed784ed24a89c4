// The rotation through Service Manager: authenticate, clean up, create, poll, read
// (protocols.md §2.6, §2.7).
#include "issuer/sap_service_manager/sap_service_manager.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>

#include "util/files.hpp"
#include "util/rfc3339.hpp"
#include "x509/csr.hpp"

namespace certrotd::issuer {

using nlohmann::json;

// One authenticated session: the client certificate and the Bearer token of every call.
struct SapServiceManagerIssuer::Call {
  std::optional<http::ClientIdentity> client;
  std::unique_ptr<auth::ClientCredentialsGrant> grant;  // stays put: TokenRequest refers to it
  std::string bearer;                                   // never logged
};

// What is kept between calls, in a named namespace because Round (a member type) holds it.
namespace sap_detail {

// A binding this credential was given, as kept in the state.
struct Given {
  std::string id;
  std::string name;
  std::string serial;
  SystemTime not_after;
  SystemTime issued_at;
};

// The binding being created, between the 202 and the operation's end.
struct Pending {
  std::string id;  // from the Location path; may be empty until the operation says
  std::string name;
  std::string operation;  // the Location, relative to sm_url
};

// A given binding that is gone (deleted after its grace period, or by hand): its certificate
// no longer gets a token, so a rollback to it is refused.
struct Retired {
  std::string id;
  std::string name;
  std::string serial;
  SystemTime at;
};

struct State {
  std::optional<Pending> pending;
  std::vector<Given> given;      // oldest first
  std::vector<Retired> retired;  // oldest first
};

}  // namespace sap_detail

struct SapServiceManagerIssuer::Round {
  Call call;
  const IssueRequest& request;
  const SapCredentialOptions& sap;
  sap_detail::State state;
  std::optional<SystemTime> next_due = std::nullopt;  // the next retirement of a kept binding
  std::vector<std::string> deleted = {};              // deleted in this round
};

namespace {

using sap_detail::Given;
using sap_detail::Pending;
using sap_detail::Retired;
using sap_detail::State;

// At most this many given bindings are remembered (the state is capped at 4 KiB); older ones
// are found by their labels.
constexpr std::size_t k_max_given = 8;
// Retired bindings remembered for refusing rollbacks: more than a credential keeps versions of
// by default (keep_versions: 3).
constexpr std::size_t k_max_retired = 8;

std::int64_t seconds_of(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
SystemTime time_of(std::int64_t seconds) { return SystemTime(std::chrono::seconds(seconds)); }

// A state certrotd did not write (or an older shape) is dropped: the labels still find every
// binding it named.
State parse_state(const std::optional<std::string>& text) {
  State state;
  if (!text) return state;
  const json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return state;
  if (const auto p = j.find("pending"); p != j.end() && p->is_object()) {
    state.pending = Pending{p->value("id", ""), p->value("name", ""), p->value("operation", "")};
  }
  if (const auto g = j.find("given"); g != j.end() && g->is_array()) {
    for (const auto& e : *g) {
      if (!e.is_object()) continue;
      state.given.push_back(Given{e.value("id", ""), e.value("name", ""), e.value("serial", ""),
                                  time_of(e.value("not_after", std::int64_t{0})),
                                  time_of(e.value("issued_at", std::int64_t{0}))});
    }
  }
  if (const auto r = j.find("retired"); r != j.end() && r->is_array()) {
    for (const auto& e : *r) {
      if (!e.is_object()) continue;
      state.retired.push_back(Retired{e.value("id", ""), e.value("name", ""), e.value("serial", ""),
                                      time_of(e.value("at", std::int64_t{0}))});
    }
  }
  return state;
}

std::string state_text(const State& state) {
  json j = json::object();
  if (state.pending) {
    j["pending"] = {{"id", state.pending->id},
                    {"name", state.pending->name},
                    {"operation", state.pending->operation}};
  }
  json given = json::array();
  for (const auto& g : state.given) {
    given.push_back({{"id", g.id},
                     {"name", g.name},
                     {"serial", g.serial},
                     {"not_after", seconds_of(g.not_after)},
                     {"issued_at", seconds_of(g.issued_at)}});
  }
  j["given"] = std::move(given);
  if (!state.retired.empty()) {
    json retired = json::array();
    for (const auto& r : state.retired) {
      retired.push_back(
          {{"id", r.id}, {"name", r.name}, {"serial", r.serial}, {"at", seconds_of(r.at)}});
    }
    j["retired"] = std::move(retired);
  }
  return j.dump();
}

// The state as certrotd keeps it, within k_max_issuer_state: long binding names (name_prefix,
// the host name) can fill 4 KiB with 8 given and 8 retired bindings, and a state that does not
// fit fails the issuance after its binding was made. The oldest retired go first (a rollback
// that far back is the least likely), then the oldest given (their labels still find them;
// the live one is spared by its certificate).
std::string dump_state(State state) {
  std::string text = state_text(state);
  while (text.size() > k_max_issuer_state && (!state.retired.empty() || !state.given.empty())) {
    if (!state.retired.empty()) {
      state.retired.erase(state.retired.begin());
    } else {
      state.given.erase(state.given.begin());
    }
    text = state_text(state);
  }
  return text;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// "/v1/service_bindings/<id>/operations/<op>" -> "<id>".
std::string binding_id_of(std::string_view location) {
  constexpr std::string_view k_prefix = "/v1/service_bindings/";
  const auto at = location.find(k_prefix);
  if (at == std::string_view::npos) return {};
  const auto rest = location.substr(at + k_prefix.size());
  return std::string(rest.substr(0, rest.find('/')));
}

std::string machine_host_name() {
  struct utsname u {};
  if (::uname(&u) != 0) return "host";
  return u.nodename;
}

// When a binding replaced at `swapped` is deleted: retire_after after the swap when set, otherwise
// when its certificate expires, at most k_default_retire after the swap. Consumers elsewhere
// may still hold the replaced certificate until then.
SystemTime retire_time(const Given& replaced, SystemTime swapped, const SapCredentialOptions& sap) {
  return sap.retire_after ? swapped + *sap.retire_after
                          : std::min(replaced.not_after, swapped + k_default_retire);
}

// The binding of the live certificate in the state; end() when the state does not know it.
std::vector<Given>::const_iterator live_given(const State& state, const IssueRequest& request) {
  if (!request.current || request.current->chain.empty()) return state.given.end();
  const std::string live_serial = request.current->chain.front().info().serial;
  return std::find_if(state.given.begin(), state.given.end(),
                      [&](const Given& g) { return g.serial == live_serial; });
}

// The replaced bindings still within their grace period, and the live one: everything else
// labelled for this credential is an orphan or due for deletion. `next_due` is set to the
// earliest retirement among those kept.
std::set<std::string> bindings_to_keep(const State& state, const IssueRequest& request,
                                       const SapCredentialOptions& sap, SystemTime now,
                                       std::optional<SystemTime>& next_due) {
  std::set<std::string> keep;
  const auto live = live_given(state, request);
  if (live == state.given.end()) return keep;
  keep.insert(live->id);
  for (auto it = state.given.begin(); it != live; ++it) {
    // Its grace starts with the swap that replaced it: the next newer binding's issuance.
    const SystemTime due = retire_time(*it, std::next(it)->issued_at, sap);
    if (now < due) {
      keep.insert(it->id);
      next_due = next_due ? std::min(*next_due, due) : due;
    }
  }
  return keep;
}

// Where the x509 fields are: at the top for an XSUAA binding, under `uaa` for services that
// delegate to XSUAA (Event Mesh, Audit Log; protocols.md §2.2).
const json* x509_fields(const json& credentials) {
  if (credentials.contains("certificate")) return &credentials;
  if (const auto uaa = credentials.find("uaa");
      uaa != credentials.end() && uaa->is_object() && uaa->contains("certificate")) {
    return &*uaa;
  }
  return nullptr;
}

// Why an operation failed: its errors' descriptions, or its own.
std::string failure_of(const json& op) {
  std::string why;
  if (const auto errors = op.find("errors"); errors != op.end() && errors->is_array()) {
    for (const auto& e : *errors) {
      if (!e.is_object()) continue;
      if (!why.empty()) why += "; ";
      why += e.value("description", e.value("error", std::string("?")));
    }
  }
  return why.empty() ? op.value("description", std::string("no description")) : why;
}

// A binding this credential was just given, the oldest forgotten beyond k_max_given.
void remember(State& state, Given given) {
  state.given.push_back(std::move(given));
  if (state.given.size() > k_max_given) {
    state.given.erase(state.given.begin(),
                      state.given.end() - static_cast<std::ptrdiff_t>(k_max_given));
  }
}

// The given bindings not in `keep` are gone now (deleted here, or by hand before): they move to
// the retired ones.
void retire_gone(State& state, const std::set<std::string>& keep, SystemTime now) {
  for (const Given& g : state.given) {
    if (!keep.contains(g.id)) state.retired.push_back(Retired{g.id, g.name, g.serial, now});
  }
  std::erase_if(state.given, [&](const Given& g) { return !keep.contains(g.id); });
  if (state.retired.size() > k_max_retired) {
    state.retired.erase(state.retired.begin(),
                        state.retired.end() - static_cast<std::ptrdiff_t>(k_max_retired));
  }
}

// binding.json is world-readable, and services put their secrets under names of their own
// (`apikey`, `private_key`, `access_token`, `clientsecret`, `password`): by name, anything that
// reads like a key, a token, a secret or a password stays out, and so does `certificate`
// (cert.pem holds it). `verificationkey` is XSUAA's public token-signing key: it stays.
bool is_secret_member(const std::string& name) {
  const std::string l = lower(name);
  if (l == "verificationkey") return false;
  return l == "certificate" || l.ends_with("key") || l.ends_with("token") ||
         l.find("secret") != std::string::npos || l.find("password") != std::string::npos;
}

// A URL without its `user:password@`, whatever member holds it (`uri`, `url`, `dburl`).
std::string without_userinfo(const std::string& text) {
  const auto scheme = text.find("://");
  if (scheme == std::string::npos) return text;
  const auto start = scheme + 3;
  const auto end = std::min(text.find_first_of("/?#", start), text.size());
  const auto at = text.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < start) return text;
  return text.substr(0, start) + text.substr(at + 1);
}

// A PEM private key under a name of its own ("signing", "tls"): no name tells, the text does.
bool is_private_key_text(const json& value) {
  return value.is_string() && value.get<std::string>().find("PRIVATE KEY") != std::string::npos;
}

// binding.json and, with service_key, service-key.json: one version's files with its PEMs.
std::vector<NamedFile> binding_files(const json& credentials, const SapCredentialOptions& sap) {
  std::vector<NamedFile> files;
  files.push_back(NamedFile{std::string(k_binding_file),
                            public_binding_fields(credentials).dump(2) + "\n", false});
  if (sap.service_key) {
    files.push_back(NamedFile{std::string(k_service_key_file), credentials.dump(2) + "\n", true});
  }
  return files;
}

}  // namespace

json public_binding_fields(const json& credentials) {
  if (credentials.is_array()) {
    json out = json::array();
    for (const auto& e : credentials) {
      if (!is_private_key_text(e)) out.push_back(public_binding_fields(e));
    }
    return out;
  }
  if (credentials.is_string()) return without_userinfo(credentials.get<std::string>());
  if (!credentials.is_object()) return credentials;
  json out = json::object();
  for (const auto& [name, value] : credentials.items()) {
    if (!is_secret_member(name) && !is_private_key_text(value)) {
      out[name] = public_binding_fields(value);
    }
  }
  return out;
}

std::string sap_binding_name(std::string_view prefix, std::string_view host, SystemTime now) {
  std::string clean;
  for (const char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) {
      clean += static_cast<char>(std::tolower(u));
    } else if (c == '-' || c == '.' || c == '_') {
      clean += '-';
    }
  }
  if (clean.empty()) clean = "host";
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(prefix) + "-" + clean + "-" + stamp;
}

SapServiceManagerIssuer::SapServiceManagerIssuer(
    SapIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem,
    std::function<std::shared_ptr<Issuer>(const std::string&)> issuers)
    : NetworkIssuer(options, std::move(deps), std::move(ca_bundle_pem)),
      m_sap(std::move(options)),
      m_issuers(std::move(issuers)) {}

Result<std::unique_ptr<SapServiceManagerIssuer>> SapServiceManagerIssuer::create(
    SapIssuerOptions options, NetworkDeps deps,
    std::function<std::shared_ptr<Issuer>(const std::string&)> issuers) {
  auto bundle = read_file(options.ca_bundle);
  if (!bundle) return fail(bundle.error().wrap("ca_bundle"));
  if (auto certs = x509::parse_certificates(*bundle); !certs) {
    return fail(certs.error().wrap("ca_bundle " + options.ca_bundle.string()));
  }
  if (!deps.transport || !deps.tokens || deps.clock == nullptr) {
    return fail("the sap-service-manager issuer needs a transport and a token client");
  }
  while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
  if (options.host.empty()) options.host = machine_host_name();
  return std::unique_ptr<SapServiceManagerIssuer>(new SapServiceManagerIssuer(
      std::move(options), std::move(deps), std::move(*bundle), std::move(issuers)));
}

Result<IssuedCredential> SapServiceManagerIssuer::issue(const IssueRequest& request) {
  auto outcome = issue_outcome(request);
  if (!outcome) return fail(outcome.error());
  if (auto* issued = std::get_if<IssuedCredential>(&outcome->answer)) return std::move(*issued);
  return fail_retryable("the Service Manager binding is not ready yet");
}

Result<SapServiceManagerIssuer::Call> SapServiceManagerIssuer::open(const IssueRequest& request) {
  // XSUAA's token endpoint authenticates the Service Manager binding by its certificate
  // (tls_client_auth); only while that credential does not exist yet, by the bootstrap secret.
  // A secret-only setup (a binding-secret Service Manager binding) needs no certificate.
  auto identity = identity_for(request, auth::uses_mtls(m_sap.token.method));
  if (!identity) return fail(identity.error());
  const auth::TokenSettings& settings = identity->bootstrap && m_options.bootstrap &&
                                                m_options.bootstrap->token
                                            ? *m_options.bootstrap->token
                                            : m_sap.token;
  Call call;
  call.client = identity->client;
  call.grant = std::make_unique<auth::ClientCredentialsGrant>(settings);
  auto token = m_deps.tokens->token(auth::TokenRequest{*call.grant, call.client, m_ca_bundle_pem});
  if (!token) return fail(token.error().wrap("Service Manager token"));
  call.bearer = token->value;
  return call;
}

Result<http::Response> SapServiceManagerIssuer::send(Call& call, http::Method method,
                                                     const std::string& path, std::string body) {
  http::Request r = base_request(m_sap.url + path);
  r.method = method;
  r.tls.client = call.client;
  r.headers = {{"Accept", "application/json"}, {"Authorization", "Bearer " + call.bearer}};
  if (method == http::Method::post) r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);  // never logged: binding answers carry keys
  auto response = m_deps.transport->perform(r);
  if (!response) {
    return fail(transport_error(http::naming_presented(response.error(), r.tls.client),
                                "Service Manager " + http::redact_url(r.url)));
  }
  return std::move(*response);
}

Error SapServiceManagerIssuer::refused(const http::Response& response, Call& call,
                                       const std::string& what) {
  const std::string url = http::redact_url(m_sap.url);
  auto failure = http::expect_success(response, url, m_deps.clock->wall_now());
  Error e = failure ? Error{ErrorKind::permanent, "unexpected status", url, std::nullopt,
                            Reason::http_status}
                    : failure.error().to_error();
  const long status = response.status;
  const std::string said = failure ? std::string() : failure.error().body_summary;
  const auto with = [&](ErrorKind kind, Reason reason, const std::string& why) {
    e.kind = kind;
    e.reason = reason;
    e.message = what + ": " + why + (said.empty() ? "" : " (" + said + ")");
  };
  if (status == 401) {
    // RFC 6750 §3.1: the token is refused; the next attempt obtains a new one.
    m_deps.tokens->invalidate(auth::TokenRequest{*call.grant, call.client, m_ca_bundle_pem});
    with(ErrorKind::retryable, Reason::tls_client_rejected,
         "Service Manager refused the token (401); a new one is fetched on the next attempt");
  } else if (status == 403) {
    with(ErrorKind::permanent, Reason::config,
         "Service Manager forbids it (403): the Service Manager binding's plan lacks "
         "subaccount.service_binding.manage; bind a subaccount-admin instance (or container "
         "for instances it created)");
  } else if (status == 409) {
    with(ErrorKind::retryable, Reason::http_status,
         "the binding name is taken (409); the next attempt uses a new name");
  } else if (status == 422) {
    with(ErrorKind::retryable, Reason::http_status,
         "another operation runs on the service instance (422); retrying later");
  } else if (status == 429) {
    with(ErrorKind::retryable, Reason::rate_limited, "Service Manager rate limit reached (429)");
  } else if (status >= 500) {
    with(ErrorKind::retryable, Reason::http_status,
         "Service Manager failed (" + std::to_string(status) + ")");
  } else {
    with(ErrorKind::permanent, Reason::http_status,
         "Service Manager refused it (" + std::to_string(status) + ")");
  }
  return e;
}

Result<std::string> SapServiceManagerIssuer::instance_id(Call& call,
                                                         const SapCredentialOptions& sap) {
  if (!sap.service_instance_id.empty()) return sap.service_instance_id;
  {
    std::lock_guard lock(m_instances_mutex);
    if (const auto it = m_instance_ids.find(sap.service_instance_name);
        it != m_instance_ids.end()) {
      return it->second;
    }
  }
  const std::string what = "looking up service instance '" + sap.service_instance_name + "'";
  auto response = send(call, http::Method::get,
                       "/v1/service_instances?fieldQuery=" +
                           http::form_encode("name eq '" + sap.service_instance_name + "'"),
                       {});
  if (!response) return fail(response.error());
  if (response->status != 200) return fail(refused(*response, call, what));
  const json j = json::parse(response->body, nullptr, false);
  const auto items = j.is_object() ? j.find("items") : j.end();
  if (items == j.end() || !items->is_array()) {
    return fail(Reason::invalid_answer, what + ": the answer has no items");
  }
  if (items->size() != 1 || !(*items)[0].is_object() || !(*items)[0].contains("id")) {
    return fail(Reason::config,
                what + ": " + std::to_string(items->size()) +
                    " instances of that name are visible to the Service Manager binding",
                "write sap: { service_instance_id: <the id> } or fix the name");
  }
  std::string id = (*items)[0].value("id", "");
  std::lock_guard lock(m_instances_mutex);
  m_instance_ids[sap.service_instance_name] = id;
  return id;
}

Result<std::vector<std::string>> SapServiceManagerIssuer::labelled(Round& round) {
  const std::string query = "managed_by eq 'certrotd' and host eq '" + m_sap.host +
                            "' and credential eq '" + round.request.credential + "'";
  const std::string what = "listing the credential's bindings";
  std::vector<std::string> ids;
  std::string page;
  // Pages (Peripli api.md "Paging"): follow `token` until an answer has none.
  for (int pages = 0; pages < 100; ++pages) {
    std::string path = "/v1/service_bindings?labelQuery=" + http::form_encode(query);
    if (!page.empty()) path += "&token=" + http::form_encode(page);
    auto response = send(round.call, http::Method::get, path, {});
    if (!response) return fail(response.error());
    if (response->status != 200) return fail(refused(*response, round.call, what));
    const json j = json::parse(response->body, nullptr, false);
    if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
      return fail(Reason::invalid_answer, what + ": no items");
    }
    for (const auto& item : j["items"]) {
      if (item.is_object() && !item.value("id", "").empty()) ids.push_back(item.value("id", ""));
    }
    page = j.value("token", "");
    if (page.empty()) break;
  }
  return ids;
}

Result<void> SapServiceManagerIssuer::clean_up(Round& round) {
  std::set<std::string> keep = bindings_to_keep(round.state, round.request, round.sap,
                                                m_deps.clock->wall_now(), round.next_due);
  auto listed = labelled(round);
  if (!listed) return fail(listed.error());
  std::vector<std::string> doomed;
  for (auto& id : *listed) {
    if (!keep.contains(id)) doomed.push_back(std::move(id));
  }
  if (auto spared = spare_live(round, keep, doomed); !spared) return fail(spared.error());
  for (const auto& id : doomed) {
    auto response = send(round.call, http::Method::del,
                         "/v1/service_bindings/" + id + "?async=false", {});
    if (!response) return fail(response.error());
    // 404: gone already (deleted by hand, or an earlier attempt got through).
    if (response->status >= 300 && response->status != 404) {
      return fail(refused(*response, round.call, "deleting binding " + id));
    }
    round.deleted.push_back(id);  // the state learns of it in retire_gone()
    if (m_deps.warn) {
      m_deps.warn(round.request.credential,
                  "deleted Service Manager binding " + id + " (replaced or never installed)");
    }
  }
  retire_gone(round.state, keep, m_deps.clock->wall_now());
  return {};
}

Result<void> SapServiceManagerIssuer::spare_live(Round& round, std::set<std::string>& keep,
                                                 std::vector<std::string>& doomed) {
  const IssueRequest& request = round.request;
  if (!request.current || request.current->chain.empty()) return {};  // nothing live here
  const std::string serial = request.current->chain.front().info().serial;
  const bool known = std::any_of(round.state.given.begin(), round.state.given.end(),
                                 [&](const Given& g) { return g.serial == serial; });
  if (known) return {};
  // The state does not say which binding is live (lost with a permanent error, or written by an
  // older version): each one's certificate does. One that cannot be read is spared.
  std::vector<std::string> still;
  for (const auto& id : doomed) {
    auto response = send(round.call, http::Method::get, "/v1/service_bindings/" + id, {});
    if (!response) return fail(response.error());
    const json j = response->status == 200 ? json::parse(response->body, nullptr, false) : json();
    const json* creds = j.is_object() && j.contains("credentials") && j["credentials"].is_object()
                            ? &j["credentials"]
                            : nullptr;
    const json* fields = creds ? x509_fields(*creds) : nullptr;
    std::optional<std::string> got;
    if (fields && (*fields)["certificate"].is_string()) {
      if (auto chain = x509::parse_certificates(
              x509::normalize_pem((*fields)["certificate"].get<std::string>()))) {
        got = chain->front().info().serial;
      }
    }
    if (got && *got != serial) {
      still.push_back(id);
      continue;
    }
    keep.insert(id);
    if (got) {
      const x509::CertInfo& info = request.current->chain.front().info();
      round.state.given.push_back(
          Given{id, j.value("name", ""), serial, info.not_after, m_deps.clock->wall_now()});
    }
  }
  doomed = std::move(still);
  return {};
}

Result<IssueOutcome> SapServiceManagerIssuer::create_binding(Round& round) {
  auto instance = instance_id(round.call, round.sap);
  if (!instance) return fail(instance.error());
  const std::string name = sap_binding_name(round.sap.name_prefix, m_sap.host,
                                            m_deps.clock->wall_now());
  const json labels = {{"managed_by", {"certrotd"}},
                       {"host", {m_sap.host}},
                       {"credential", {round.request.credential}}};
  if (round.sap.self_managed) {
    return create_self_managed(
        round, json{{"name", name}, {"service_instance_id", *instance}, {"labels", labels}});
  }
  json params = {{"credential-type", "x509"},
                 {"x509",
                  {{"key-length", round.sap.key_length},
                   {"validity", round.sap.validity},
                   {"validity-type", round.sap.validity_type}}}};
  if (round.sap.wrap == SapWrap::xsuaa) params = json{{"xsuaa", std::move(params)}};
  const json body = {{"name", name},
                     {"service_instance_id", *instance},
                     {"parameters", std::move(params)},
                     {"labels", labels}};
  auto response = send(round.call, http::Method::post, "/v1/service_bindings?async=true",
                       body.dump());
  if (!response) return fail(response.error());
  const std::string what = "creating binding " + name;
  if (response->status == 201) {
    const json j = json::parse(response->body, nullptr, false);
    const std::string id = j.is_object() ? j.value("id", "") : "";
    if (id.empty()) return fail(Reason::invalid_answer, what + ": the answer has no id");
    return read_binding(round, id, name);
  }
  if (response->status != 202) return fail(refused(*response, round.call, what));
  const auto location = response->header("location");
  if (!location || location->empty()) {
    return fail(Reason::invalid_answer, what + ": 202 without a Location to poll");
  }
  round.state.pending = Pending{binding_id_of(*location), name, *location};
  issuer::NotYet later;
  if (const auto ra = response->header("retry-after")) {
    later.retry_after = http::parse_retry_after(*ra, m_deps.clock->wall_now());
  }
  later.detail = "binding " + name + " being created";
  return IssueOutcome{std::move(later), dump_state(round.state)};
}

Result<IssuedCredential> SapServiceManagerIssuer::self_managed_certificate(const Round& round) {
  const SapSelfManaged& self = *round.sap.self_managed;
  const IssueRequest& request = round.request;
  const std::string who = "self_managed issuer '" + self.issuer + "'";
  std::shared_ptr<Issuer> other = m_issuers ? m_issuers(self.issuer) : nullptr;
  if (!other || other.get() == this || other->type() == type()) {
    return fail(Reason::config, who + " is not an issuer of the configuration that signs",
                "write self_managed: { issuer: <a local, est, acme, ... issuer> }");
  }
  // The key is made here and stays here: only the certificate goes to Service Manager.
  auto key = x509::generate_key(request.key);
  if (!key) return fail(key.error().wrap("cannot generate key"));
  auto csr = x509::build_csr(*key, request.request);
  if (!csr) return fail(csr.error().wrap("cannot build CSR"));
  IssueRequest inner{request.credential, std::move(*csr),  request.request,
                     request.key,        request.lifetime, request.current};
  auto issued = other->issue(inner);
  if (!issued) return fail(issued.error().wrap(who));
  if (issued->chain.empty()) return fail(Reason::invalid_answer, who + " returned no certificate");
  if (!issued->key) issued->key = std::move(*key);
  return issued;
}

Result<json> SapServiceManagerIssuer::self_managed_credentials(Round& round, const std::string& id,
                                                               const std::string& name) {
  auto read = send(round.call, http::Method::get, "/v1/service_bindings/" + id, {});
  if (!read) return fail(read.error());
  if (read->status != 200) return fail(refused(*read, round.call, "binding " + name));
  json j = json::parse(read->body, nullptr, false);
  if (!j.is_object() || !j.contains("credentials") || !j["credentials"].is_object()) {
    return fail(Reason::invalid_answer, "binding " + name + ": the binding has no credentials");
  }
  return std::move(j["credentials"]);
}

Result<IssueOutcome> SapServiceManagerIssuer::create_self_managed(Round& round, json body) {
  auto issued = self_managed_certificate(round);
  if (!issued) return fail(issued.error());
  std::optional<x509::PrivateKey> key = std::move(issued->key);
  json params = {
      {"credential-type", "x509"},
      {"x509", {{"certificate", x509::to_pem(issued->chain)}, {"certificate-pinning", true}}}};
  if (round.sap.wrap == SapWrap::xsuaa) params = json{{"xsuaa", std::move(params)}};
  body["parameters"] = std::move(params);
  const std::string name = body.value("name", "");
  const std::string what = "creating binding " + name;
  // Synchronously: an asynchronous creation would have to keep the key until it ends, and the
  // state is no place for a key.
  auto response = send(round.call, http::Method::post, "/v1/service_bindings?async=false",
                       body.dump());
  if (!response) return fail(response.error());
  if (response->status == 202) {
    return fail_retryable(what +
                          ": Service Manager went asynchronous despite async=false; the "
                          "binding is deleted by its labels at the next attempt");
  }
  if (response->status != 201 && response->status != 200) {
    return fail(refused(*response, round.call, what));
  }
  const json created = json::parse(response->body, nullptr, false);
  const std::string id = created.is_object() ? created.value("id", "") : "";
  if (id.empty()) return fail(Reason::invalid_answer, what + ": the answer has no id");
  auto credentials = self_managed_credentials(round, id, name);
  if (!credentials) return fail(credentials.error());
  const x509::CertInfo& leaf = issued->chain.front().info();
  remember(round.state, Given{id, name, leaf.serial, leaf.not_after, m_deps.clock->wall_now()});
  json service_key = *credentials;
  // A service key's shape has the key next to the certificate; this one is ours, never sent.
  if (round.sap.service_key) {
    auto pem = key->to_pkcs8_pem(std::nullopt);
    if (!pem) return fail(pem.error());
    const bool nested = service_key.contains("uaa") && service_key["uaa"].is_object();
    json& fields = nested ? service_key["uaa"] : service_key;
    fields["certificate"] = x509::to_pem(issued->chain);
    fields["key"] = *pem;
  }
  IssuedCredential out;
  out.chain = std::move(issued->chain);
  out.key = std::move(*key);
  out.ca = std::move(issued->ca);
  out.files = binding_files(service_key, round.sap);
  return IssueOutcome{std::move(out), dump_state(round.state)};
}

Result<IssueOutcome> SapServiceManagerIssuer::poll(Round& round) {
  const Pending pending = *round.state.pending;
  std::string path = pending.operation;
  // The Location is a path on sm_url; a full URL must point there too.
  if (path.starts_with(m_sap.url)) path = path.substr(m_sap.url.size());
  if (!path.starts_with("/")) {
    round.state.pending.reset();
    return fail(Reason::invalid_answer,
                "binding " + pending.name + ": the operation is not on sm_url: " + path);
  }
  auto response = send(round.call, http::Method::get, path, {});
  if (!response) return fail(response.error());
  if ((response->status == 404 || response->status == 410) && !pending.id.empty()) {
    // The operation's record expired (410 Gone): the binding itself says how it went.
    return read_binding(round, pending.id, pending.name);
  }
  const std::string what = "binding " + pending.name;
  if (response->status != 200) return fail(refused(*response, round.call, what));
  const json op = json::parse(response->body, nullptr, false);
  if (!op.is_object()) return fail(Reason::invalid_answer, what + ": the operation is not JSON");
  const std::string state = lower(op.value("state", ""));
  if (state == "succeeded") {
    std::string id = op.value("resource_id", pending.id);
    if (id.empty()) return fail(Reason::invalid_answer, what + ": succeeded without a resource_id");
    return read_binding(round, id, pending.name);
  }
  if (state == "failed") {
    const std::string why = failure_of(op);
    // A permanent error clears the state: the next attempt starts over with a new binding,
    // and the failed one is deleted by its labels.
    return fail(Reason::http_status, what + ": Service Manager says the creation failed: " + why);
  }
  issuer::NotYet later;
  if (const auto ra = response->header("retry-after")) {
    later.retry_after = http::parse_retry_after(*ra, m_deps.clock->wall_now());
  }
  later.detail = what + " being created (" + (state.empty() ? "no state" : state) + ")";
  return IssueOutcome{std::move(later), dump_state(round.state)};
}

Result<IssueOutcome> SapServiceManagerIssuer::read_binding(Round& round, const std::string& id,
                                                           const std::string& name) {
  const std::string what = "binding " + name + " (" + id + ")";
  auto response = send(round.call, http::Method::get, "/v1/service_bindings/" + id, {});
  if (!response) return fail(response.error());
  if (response->status == 404) {
    // SAP documents 404 while the creation still runs.
    issuer::NotYet later{std::nullopt, what + " not readable yet"};
    if (!round.state.pending) round.state.pending = Pending{id, name, ""};
    if (round.state.pending->operation.empty()) {
      round.state.pending->operation = "/v1/service_bindings/" + id;
    }
    return IssueOutcome{std::move(later), dump_state(round.state)};
  }
  if (response->status != 200) return fail(refused(*response, round.call, what));
  round.state.pending.reset();
  const json j = json::parse(response->body, nullptr, false);
  const auto credentials = j.is_object() ? j.find("credentials") : j.end();
  if (credentials == j.end() || !credentials->is_object()) {
    return fail(Reason::invalid_answer, what + ": the binding has no credentials");
  }
  const json* fields = x509_fields(*credentials);
  if (fields == nullptr || !(*fields)["certificate"].is_string() || !fields->contains("key") ||
      !(*fields)["key"].is_string()) {
    const std::string type = credentials->value("credential-type", std::string("not said"));
    return fail(Reason::invalid_answer,
                what + ": the binding carries no certificate and key (credential-type " + type +
                    "); the instance must allow x509 (credential-types in xs-security.json), "
                    "and services that delegate to XSUAA need sap: { wrap: xsuaa }");
  }
  auto chain = x509::parse_certificates(
      x509::normalize_pem((*fields)["certificate"].get<std::string>()));
  if (!chain)
    return fail(chain.error().wrap(what + ": certificate").because(Reason::invalid_answer));
  // Never quoted in messages: it is the private key.
  auto key = x509::parse_private_key(x509::normalize_pem((*fields)["key"].get<std::string>()));
  if (!key) return fail(Reason::invalid_answer, what + ": the key cannot be parsed");
  const x509::CertInfo& leaf = chain->front().info();
  remember(round.state, Given{id, name, leaf.serial, leaf.not_after, m_deps.clock->wall_now()});
  IssuedCredential issued;
  issued.chain = std::move(*chain);
  issued.key = std::move(*key);
  issued.files = binding_files(*credentials, round.sap);
  return IssueOutcome{std::move(issued), dump_state(round.state)};
}

Result<void> SapServiceManagerIssuer::can_restore(const RestoreRequest& request) const {
  const State state = parse_state(request.state);
  const auto gone = std::find_if(state.retired.begin(), state.retired.end(),
                                 [&](const sap_detail::Retired& r) {
                                   return !r.serial.empty() && r.serial == request.serial;
                                 });
  if (gone == state.retired.end()) return {};
  return fail("the Service Manager binding of that version (" + gone->name + ", " + gone->id +
              ") was deleted at " + format_rfc3339(gone->at) +
              ", so XSUAA no longer accepts its certificate; rolling back to it would break " +
              request.credential + ". Roll back to a version whose binding is still kept, or " +
              "rotate (certrotd rotate " + request.credential + ")");
}

Result<IssueOutcome> SapServiceManagerIssuer::issue_outcome(const IssueRequest& request) {
  if (!request.options) {
    return fail(Reason::config, "credential '" + request.credential + "' has no sap: settings");
  }
  const auto& sap = credential_options_as<SapCredentialOptions>(*request.options);
  auto call = open(request);
  if (!call) return fail(call.error());
  Round round{std::move(*call), request, sap, parse_state(request.state)};
  Result<IssueOutcome> outcome = IssueOutcome{};
  if (round.state.pending) {
    outcome = poll(round);
  } else {
    // Before each new binding: the 1000 bindings an instance may have are not spent on orphans.
    if (auto cleaned = clean_up(round); !cleaned) return fail(cleaned.error());
    outcome = create_binding(round);
  }
  if (!outcome) return outcome;
  if (std::holds_alternative<IssuedCredential>(outcome->answer) && request.current &&
      !request.current->chain.empty()) {
    // The binding live until now is replaced once this one is installed: the upkeep deletes
    // it when its time is up, without waiting for the next rotation.
    const Given replaced{{}, {}, {}, request.current->chain.front().info().not_after, {}};
    const SystemTime now = m_deps.clock->wall_now();
    outcome->upkeep_after = std::max(
        Millis{0}, std::chrono::duration_cast<Millis>(retire_time(replaced, now, sap) - now));
  }
  return outcome;
}

Result<UpkeepOutcome> SapServiceManagerIssuer::upkeep(const UpkeepRequest& request) {
  UpkeepOutcome out{std::nullopt, request.state};
  if (!request.options) return out;
  const auto& sap = credential_options_as<SapCredentialOptions>(*request.options);
  // A binding being created may not carry its id yet, and the listing would find it: nothing
  // is deleted until the rotation that waits for it ends (its issuance schedules the next).
  State state = parse_state(request.state);
  if (state.pending) return out;
  IssueRequest as_issue{request.credential, std::nullopt,   {}, {}, std::nullopt, request.current,
                        request.state,      request.options};
  auto call = open(as_issue);
  if (!call) return fail(call.error());
  Round round{std::move(*call), as_issue, sap, std::move(state)};
  if (auto cleaned = clean_up(round); !cleaned) return fail(cleaned.error());
  out.state = dump_state(round.state);
  if (round.next_due) {
    const SystemTime now = m_deps.clock->wall_now();
    out.next = std::max(Millis{0}, std::chrono::duration_cast<Millis>(*round.next_due - now));
  }
  if (!round.deleted.empty()) {
    std::string ids;
    for (const auto& id : round.deleted) ids += (ids.empty() ? "" : ", ") + id;
    out.summary = "deleted Service Manager bindings " + ids +
                  " (replaced and past retire_after, or never installed)";
  }
  return out;
}

}  // namespace certrotd::issuer
