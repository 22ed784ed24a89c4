#include "auth/token_client.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/encoding.hpp"
#include "util/secret.hpp"

namespace certrotd::auth {

namespace {

constexpr Millis k_default_lifetime = std::chrono::minutes(5);

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string identity_of(const std::optional<http::ClientIdentity>& identity) {
  return identity ? identity->id : std::string("-");
}

std::string cache_key_of(const TokenRequest& request) {
  return request.grant.cache_key() + '\n' + identity_of(request.identity);
}

// The lifetime an answer gives: expires_in, else the JWT's exp, else a short default.
Millis lifetime_of(const nlohmann::json& answer, const std::optional<nlohmann::json>& claims,
                   SystemTime sent_at) {
  if (const auto it = answer.find("expires_in"); it != answer.end() && it->is_number()) {
    return std::chrono::seconds(std::max<long long>(0, it->get<long long>()));
  }
  if (claims && claims->contains("exp") && (*claims)["exp"].is_number()) {
    const auto exp = std::chrono::system_clock::from_time_t((*claims)["exp"].get<time_t>());
    return exp > sent_at ? std::chrono::duration_cast<Millis>(exp - sent_at) : Millis{0};
  }
  return k_default_lifetime;
}

std::optional<std::string> cnf_of(const std::optional<nlohmann::json>& claims) {
  if (!claims) return std::nullopt;
  const auto cnf = claims->find("cnf");
  if (cnf == claims->end() || !cnf->is_object()) return std::nullopt;
  const auto x5t = cnf->find("x5t#S256");
  if (x5t == cnf->end() || !x5t->is_string()) return std::nullopt;
  return x5t->get<std::string>();
}

}  // namespace

std::string_view to_string(ClientAuthMethod method) {
  switch (method) {
    case ClientAuthMethod::tls_client_auth: return "tls_client_auth";
    case ClientAuthMethod::self_signed_tls_client_auth: return "self_signed_tls_client_auth";
    case ClientAuthMethod::client_secret_basic: return "client_secret_basic";
    case ClientAuthMethod::client_secret_post: return "client_secret_post";
  }
  return "?";
}

std::optional<ClientAuthMethod> parse_method(std::string_view name) {
  for (auto m : {ClientAuthMethod::tls_client_auth, ClientAuthMethod::self_signed_tls_client_auth,
                 ClientAuthMethod::client_secret_basic, ClientAuthMethod::client_secret_post}) {
    if (name == to_string(m)) return m;
  }
  return std::nullopt;
}

bool uses_mtls(ClientAuthMethod method) {
  return method == ClientAuthMethod::tls_client_auth ||
         method == ClientAuthMethod::self_signed_tls_client_auth;
}

std::optional<std::string> jwt_payload(std::string_view token) {
  const auto first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto claims = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!claims) return std::nullopt;
  return std::move(*claims);
}

Millis TokenClient::refresh_margin(Millis lifetime) {
  Millis margin = std::max<Millis>(std::chrono::seconds(60), lifetime / 10);
  return std::min(margin, lifetime / 2);
}

TokenClient::TokenClient(http::Transport& transport, const Clock& clock)
    : m_transport(transport), m_clock(clock) {}

void TokenClient::forget_identity(const std::string& identity_id) {
  std::lock_guard lock(m_mutex);
  std::erase_if(m_cache,
                [&](const auto& entry) { return entry.second.identity_id == identity_id; });
}

std::string ClientCredentialsGrant::cache_key() const {
  const TokenSettings& s = m_settings;
  std::string key = s.url + '\n' + s.client_id + '\n' + std::string(to_string(s.method)) + '\n' +
                    s.scope + '\n' + s.resource;
  // Another audience is another token.
  for (const auto& [name, value] : s.extra_params) key += '\n' + name + '=' + value;
  return key;
}

std::string ClientCredentialsGrant::where() const { return http::redact_url(m_settings.url); }

Result<http::Request> ClientCredentialsGrant::token_request(const TokenRequest& request) const {
  const TokenSettings& settings = m_settings;
  http::Request post;
  post.method = http::Method::post;
  post.url = settings.url;
  post.tls.ca_bundle_pem = request.ca_bundle_pem;
  post.tls.client = request.identity;
  post.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                  {"Accept", "application/json"}};
  std::vector<std::pair<std::string, std::string>> form{{"grant_type", "client_credentials"}};
  if (!settings.scope.empty()) form.emplace_back("scope", settings.scope);
  if (!settings.resource.empty()) form.emplace_back("resource", settings.resource);
  form.insert(form.end(), settings.extra_params.begin(), settings.extra_params.end());
  if (uses_mtls(settings.method)) {
    // RFC 8705 §2: client_id is required in the body; no secret (two methods would be refused).
    form.emplace_back("client_id", settings.client_id);
    post.body = http::form_body(form);
    return post;
  }
  if (!settings.client_secret_file) {
    return fail(std::string(to_string(settings.method)) + " needs client_secret_file",
                settings.url);
  }
  auto secret = read_secret_file(*settings.client_secret_file, "client secret file");
  if (!secret) return fail(secret.error());
  if (settings.method == ClientAuthMethod::client_secret_basic) {
    // RFC 6749 §2.3.1: form-encode id and secret, then base64 (protocols.md §1.5).
    post.headers.emplace_back("Authorization",
                              "Basic " + base64_encode(http::form_encode(settings.client_id) + ":" +
                                                       http::form_encode(secret->view())));
  } else {
    form.emplace_back("client_id", settings.client_id);
    form.emplace_back("client_secret", secret->view());
  }
  post.body = http::form_body(form);
  return post;
}

Result<BearerToken> ClientCredentialsGrant::parse_answer(const http::Response& response,
                                                         SystemTime sent_at) const {
  const auto json = nlohmann::json::parse(response.body, nullptr, false);
  const auto malformed = [&](const std::string& what) {
    return fail(Reason::invalid_answer, "token response malformed: " + what, where());
  };
  if (!json.is_object()) return malformed("not a JSON object");
  const auto token_it = json.find("access_token");
  if (token_it == json.end() || !token_it->is_string() || token_it->get<std::string>().empty()) {
    return malformed("no access_token");
  }
  const auto type_it = json.find("token_type");
  if (type_it == json.end() || !type_it->is_string()) return malformed("no token_type");
  if (!iequals(type_it->get<std::string>(), "bearer")) {
    return malformed("token_type '" + type_it->get<std::string>() + "' is not Bearer");
  }
  BearerToken token;
  token.value = token_it->get<std::string>();
  std::optional<nlohmann::json> claims;
  if (auto payload = jwt_payload(token.value)) {
    auto parsed = nlohmann::json::parse(*payload, nullptr, false);
    if (parsed.is_object()) claims = std::move(parsed);
  }
  // expires_in counts from the response; measuring from the request errs on the safe side.
  token.expires_at = sent_at + lifetime_of(json, claims, sent_at);
  token.cnf_x5t_s256 = cnf_of(claims);
  return token;
}

Result<BearerToken> ClientCredentialsGrant::obtain(http::Transport& transport, const Clock& clock,
                                                   const TokenRequest& request) const {
  const std::optional<http::ClientIdentity>& mtls = request.identity;
  if (uses_mtls(m_settings.method) && !mtls) {
    return fail(std::string(to_string(m_settings.method)) +
                    " needs a client certificate, and none is available",
                m_settings.url);
  }
  auto post = token_request(request);
  if (!post) return fail(post.error());

  const SystemTime sent_at = clock.wall_now();
  auto response = transport.perform(*post);
  if (!response) {
    return fail(http::naming_presented(response.error(), mtls).to_error().wrap("token request"));
  }
  auto ok = http::expect_success(std::move(*response), m_settings.url, clock.wall_now());
  if (!ok) {
    Error e = http::naming_presented(ok.error(), mtls).to_error().wrap("token request");
    // RFC 6749 5.2: the server did not accept who we are (certificate, secret or assertion);
    // no retry heals that until someone changes one side.
    if (ok.error().body_summary.starts_with("invalid_client")) {
      e = e.because(Reason::tls_client_rejected);
    }
    return fail(std::move(e));
  }
  return parse_answer(*ok, sent_at);
}

Result<BearerToken> TokenClient::token(const TokenRequest& request) {
  const std::string key = cache_key_of(request);
  {
    std::lock_guard lock(m_mutex);
    const auto it = m_cache.find(key);
    if (it != m_cache.end() && m_clock.wall_now() < it->second.refresh_at) {
      return it->second.token;
    }
  }
  const SystemTime asked_at = m_clock.wall_now();
  auto token = request.grant.obtain(m_transport, m_clock, request);
  if (!token) return fail(token.error());
  const auto& mtls = request.identity;
  if (token->cnf_x5t_s256 && (!mtls || *token->cnf_x5t_s256 != mtls->id)) {
    return fail(Reason::invalid_answer,
                "the token is bound (cnf x5t#S256 " + *token->cnf_x5t_s256 +
                    ") to another certificate than the one presented (" +
                    (mtls ? mtls->id : std::string("none")) + ")",
                request.grant.where());
  }
  const Millis lifetime = token->expires_at > asked_at
                              ? std::chrono::duration_cast<Millis>(token->expires_at - asked_at)
                              : Millis{0};
  std::lock_guard lock(m_mutex);
  m_cache[key] = Cached{*token, mtls ? mtls->id : std::string(),
                        token->expires_at - refresh_margin(lifetime)};
  return token;
}

Result<BearerToken> TokenClient::token(const TokenSettings& settings,
                                       const std::string& ca_bundle_pem,
                                       const std::optional<http::ClientIdentity>& mtls) {
  const ClientCredentialsGrant grant(settings);
  return token(TokenRequest{grant, mtls, ca_bundle_pem});
}

void TokenClient::invalidate(const TokenRequest& request) {
  std::lock_guard lock(m_mutex);
  m_cache.erase(cache_key_of(request));
}

}  // namespace certrotd::auth
