#include "issuer/acme/client.hpp"

namespace certrotd::issuer::acme {

namespace {

constexpr std::string_view k_acme_error = "urn:ietf:params:acme:error:";

std::string string_member(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return {};
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "www.example.com: unauthorized: detail" for one subproblem (RFC 8555 §6.7.1).
std::string describe_subproblem(const nlohmann::json& sub) {
  std::string out;
  if (const auto id = sub.find("identifier"); id != sub.end() && id->is_object()) {
    out = string_member(*id, "value") + ": ";
  }
  out += problem_type(sub);
  if (const std::string detail = string_member(sub, "detail"); !detail.empty()) {
    out += ": " + detail;
  }
  return out;
}

Result<Directory> parse_directory(const nlohmann::json& json, const std::string& url) {
  if (!json.is_object())
    return fail(Reason::invalid_answer, "the ACME directory is no object", url);
  Directory d;
  d.new_nonce = string_member(json, "newNonce");
  d.new_account = string_member(json, "newAccount");
  d.new_order = string_member(json, "newOrder");
  d.revoke_cert = string_member(json, "revokeCert");
  d.key_change = string_member(json, "keyChange");
  if (d.new_nonce.empty() || d.new_account.empty() || d.new_order.empty()) {
    return fail(Reason::invalid_answer, "the ACME directory lacks newNonce, newAccount or newOrder",
                url);
  }
  if (auto ari = string_member(json, "renewalInfo"); !ari.empty()) d.renewal_info = ari;
  if (const auto meta = json.find("meta"); meta != json.end() && meta->is_object()) {
    if (auto tos = string_member(*meta, "termsOfService"); !tos.empty()) d.terms_of_service = tos;
    d.external_account_required = meta->value("externalAccountRequired", false);
    if (const auto p = meta->find("profiles"); p != meta->end() && p->is_object()) {
      for (const auto& [name, text] : p->items()) {
        d.profiles[name] = text.is_string() ? text.get<std::string>() : std::string();
      }
    }
  }
  return d;
}

Reply to_reply(http::Response response) {
  Reply reply;
  if (response.media_type().find("json") != std::string::npos) {
    reply.json = nlohmann::json::parse(response.body, nullptr, false);
    if (reply.json.is_discarded()) reply.json = nullptr;
  }
  reply.location = response.header("location");
  reply.response = std::move(response);
  return reply;
}

bool is_success(long status) { return status >= 200 && status < 300; }

}  // namespace

std::string problem_type(const nlohmann::json& body) {
  std::string type = string_member(body, "type");
  if (type.starts_with(k_acme_error)) type.erase(0, k_acme_error.size());
  return type;
}

Error problem_error(const http::Response& response, const std::string& what, SystemTime now) {
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  const std::string type = problem_type(body);
  std::string message = what + ": HTTP " + std::to_string(response.status);
  if (!type.empty()) message += ": " + type;
  if (const std::string detail = string_member(body, "detail"); !detail.empty()) {
    message += ": " + detail;
  } else if (type.empty()) {
    message += ": " + http::summarize_body(response.body, response.media_type());
  }
  if (body.is_object()) {
    if (const auto subs = body.find("subproblems"); subs != body.end() && subs->is_array()) {
      std::string list;
      for (const auto& sub : *subs) {
        if (!list.empty()) list += "; ";
        list += describe_subproblem(sub);
      }
      if (!list.empty()) message += " (" + list + ")";
    }
  }
  Error e{ErrorKind::permanent, std::move(message), {}, std::nullopt, Reason::http_status};
  if (const auto ra = response.header("retry-after")) {
    e.retry_after = http::parse_retry_after(*ra, now);
  }
  if (type == "rateLimited") {
    e.kind = ErrorKind::retryable;
    e.reason = Reason::rate_limited;
  } else if (type == "serverInternal" || type == "badNonce" || response.status >= 500) {
    // badNonce here means post() spent its bounded retries: the server's nonce store is busy
    // or was reset, not a fault of this request, so the engine tries again after its backoff.
    e.kind = ErrorKind::retryable;
  }
  return e;
}

Client::Client(ClientSettings settings, std::shared_ptr<http::Transport> transport,
               const Clock& clock)
    : m_settings(std::move(settings)), m_transport(std::move(transport)), m_clock(clock) {}

http::Request Client::request(http::Method method, std::string url) const {
  http::Request r;
  r.method = method;
  r.url = std::move(url);
  r.tls = m_settings.tls;
  r.connect_timeout = m_settings.connect_timeout;
  r.total_timeout = m_settings.timeout;
  r.max_response_bytes = k_max_body;
  return r;
}

Result<http::Response> Client::perform(const http::Request& request, const std::string& what) {
  {
    const std::lock_guard lock(m_mutex);
    ++m_requests;
  }
  auto response = m_transport->perform(request);
  if (!response) return fail(response.error().to_error().wrap(what));
  keep_nonce(*response);
  return std::move(*response);
}

std::size_t Client::requests() const {
  const std::lock_guard lock(m_mutex);
  return m_requests;
}

void Client::keep_nonce(const http::Response& response) {
  auto nonce = response.header("replay-nonce");
  if (!nonce || nonce->empty()) return;
  const MonoTime now = m_clock.mono_now();
  const std::lock_guard lock(m_mutex);
  m_nonces.push_back(KeptNonce{std::move(*nonce), now});
  while (m_nonces.size() > k_nonce_pool) m_nonces.pop_front();
}

std::optional<Directory> Client::cached_directory() const {
  const std::lock_guard lock(m_mutex);
  return m_directory;
}

Result<Directory> Client::directory() {
  {
    const std::lock_guard lock(m_mutex);
    if (m_directory) return *m_directory;
  }
  auto reply = get(m_settings.directory_url, "ACME directory");
  if (!reply) return fail(reply.error());
  auto dir = parse_directory(reply->json, http::redact_url(m_settings.directory_url));
  if (!dir) return fail(dir.error());
  const std::lock_guard lock(m_mutex);
  m_directory = *dir;
  return *dir;
}

std::optional<std::string> Client::take_kept_nonce() {
  const MonoTime now = m_clock.mono_now();
  const std::lock_guard lock(m_mutex);
  while (!m_nonces.empty() && now - m_nonces.front().arrived > k_nonce_max_age) {
    m_nonces.pop_front();
  }
  if (m_nonces.empty()) return std::nullopt;
  std::string nonce = std::move(m_nonces.back().value);
  m_nonces.pop_back();
  return nonce;
}

Result<std::string> Client::take_nonce() {
  if (auto kept = take_kept_nonce()) return std::move(*kept);
  auto dir = directory();
  if (!dir) return fail(dir.error());
  // RFC 8555 §7.2: HEAD newNonce answers 200 with a Replay-Nonce.
  auto response = perform(request(http::Method::head, dir->new_nonce), "ACME newNonce");
  if (!response) return fail(response.error());
  if (auto kept = take_kept_nonce()) return std::move(*kept);
  return fail_retryable("ACME newNonce: the answer carries no Replay-Nonce",
                        http::redact_url(dir->new_nonce));
}

Result<Reply> Client::get(const std::string& url, const std::string& what) {
  http::Request r = request(http::Method::get, url);
  r.headers = {{"Accept", "application/json"}};
  auto response = perform(r, what);
  if (!response) return fail(response.error());
  if (!is_success(response->status)) {
    Error e = problem_error(*response, what, m_clock.wall_now());
    e.context = http::redact_url(url);
    return fail(std::move(e));
  }
  return to_reply(std::move(*response));
}

Result<Reply> Client::post(const std::string& url, const std::optional<nlohmann::json>& payload,
                           const Signer& signer, const std::string& what, const std::string& accept,
                           std::string* refused_type) {
  const std::string body = payload ? payload->dump() : std::string();
  auto nonce = take_nonce();
  for (int attempt = 0;; ++attempt) {
    if (!nonce) return fail(nonce.error());
    nlohmann::json header{{"alg", signer.key->alg()}, {"nonce", *nonce}, {"url", url}};
    // RFC 8555 §6.2: jwk for newAccount (and revocation by certificate key), kid otherwise.
    if (signer.kid) {
      header["kid"] = *signer.kid;
    } else {
      header["jwk"] = signer.key->jwk();
    }
    auto jws = sign_jws(*signer.key, header, body);
    if (!jws) return fail(jws.error());
    http::Request r = request(http::Method::post, url);
    r.headers = {{"Content-Type", "application/jose+json"}, {"Accept", accept}};
    r.body = std::move(*jws);
    auto response = perform(r, what);
    if (!response) return fail(response.error());
    if (is_success(response->status)) return to_reply(std::move(*response));
    const auto problem = nlohmann::json::parse(response->body, nullptr, false);
    if (problem_type(problem) == "badNonce" && attempt < k_bad_nonce_retries) {
      // §6.5: the refusal carries a fresh nonce (kept by perform()); use it.
      nonce = take_nonce();
      continue;
    }
    if (refused_type != nullptr) *refused_type = problem_type(problem);
    Error e = problem_error(*response, what, m_clock.wall_now());
    e.context = http::redact_url(url);
    return fail(std::move(e));
  }
}

}  // namespace certrotd::issuer::acme
