#include "issuer/acme/acme.hpp"

#include <fcntl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/encoding.hpp"
#include "util/fd.hpp"
#include "util/files.hpp"
#include "util/rfc3339.hpp"
#include "util/secret.hpp"
#include "util/strings.hpp"
#include "util/trusted_path.hpp"
#include "x509/csr.hpp"
#include "x509/openssl_util.hpp"

namespace certrotd::issuer {

namespace {

using acme::Reply;
using acme::Signer;

constexpr const char* k_key_file = "account.key";
constexpr const char* k_account_file = "account.json";
// The key of a key change in flight (RFC 8555 §7.3.5), until the server accepted it.
constexpr const char* k_new_key_file = "account.key.new";
// ACME objects and account files are small; a larger file is not ours.
constexpr std::size_t k_max_account_file = 64 << 10;

// Poll intervals: Retry-After when the server says, clamped so one call stays short.
constexpr Millis k_min_poll = std::chrono::milliseconds(500);
constexpr Millis k_max_poll = std::chrono::seconds(5);

std::string status_of(const Reply& reply) {
  return reply.json.is_object() ? reply.json.value("status", std::string()) : std::string();
}

std::string string_of(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return {};
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The problem an object reports in its `error` member, for messages.
std::string object_error(const nlohmann::json& object) {
  if (!object.is_object() || !object.contains("error")) return {};
  const auto& e = object["error"];
  std::string text = acme::problem_type(e);
  if (const std::string detail = string_of(e, "detail"); !detail.empty()) text += ": " + detail;
  return text;
}

// Reads `name` in the folder `dir` without following a link; nullopt when missing.
Result<std::optional<std::string>> read_at(int dir, const char* name,
                                           const std::filesystem::path& shown) {
  Fd fd(openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return fail(Reason::io, "cannot open: " + errno_text(errno), (shown / name).string());
  }
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Reason::io, "cannot read: " + errno_text(errno), (shown / name).string());
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > k_max_account_file) {
      return fail(Reason::io, "larger than an account file can be", (shown / name).string());
    }
  }
  return std::optional<std::string>(std::move(out));
}

Result<void> write_at(int dir, const char* name, const std::filesystem::path& shown,
                      std::string_view data) {
  auto file = AtomicFile::create_in(dir, name, shown / name, 0600);
  if (!file) return fail(file.error());
  if (auto w = file->write(data); !w) return w;
  return file->commit();
}

Result<std::string> csr_der(const std::string& pem) {
  auto csr = x509::parse_csr(pem);
  if (!csr) return fail(csr.error());
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(csr->req.get(), &der);
  const x509::OpenSslBytesPtr owned(der);
  if (len <= 0) return x509::detail::fail_openssl("encoding the CSR");
  return std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
}

// `<https://...>;rel="alternate"` values of the Link fields (RFC 8288, RFC 8555 §7.4.2).
std::vector<std::string> alternate_links(const http::Response& response) {
  std::vector<std::string> out;
  for (const std::string& value : response.header_values("link")) {
    std::size_t pos = 0;
    while ((pos = value.find('<', pos)) != std::string::npos) {
      const auto end = value.find('>', pos);
      if (end == std::string::npos) break;
      const auto next = value.find('<', end);
      const std::string params = value.substr(end + 1,
                                              next == std::string::npos ? next : next - end - 1);
      if (params.find("rel=\"alternate\"") != std::string::npos ||
          params.find("rel=alternate") != std::string::npos) {
        out.push_back(value.substr(pos + 1, end - pos - 1));
      }
      pos = end;
    }
  }
  return out;
}

nlohmann::json identifiers_of(const IssueRequest& request) {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& san : request.request.sans) {
    if (san.type == x509::SanType::dns) ids.push_back({{"type", "dns"}, {"value", san.value}});
    if (san.type == x509::SanType::ip) ids.push_back({{"type", "ip"}, {"value", san.value}});
  }
  if (ids.empty() && !request.request.subject.common_name.empty()) {
    ids.push_back({{"type", "dns"}, {"value", request.request.subject.common_name}});
  }
  return ids;
}

std::optional<std::string> order_from_state(const std::optional<std::string>& state) {
  if (!state) return std::nullopt;
  const auto json = nlohmann::json::parse(*state, nullptr, false);
  const std::string order = string_of(json, "order");
  if (order.empty()) return std::nullopt;
  return order;
}

std::string state_for(const std::string& order_url) {
  return nlohmann::json{{"order", order_url}}.dump();
}

}  // namespace

namespace acme {

std::optional<std::string> ari_cert_id(const x509::Certificate& cert) {
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert.get());
  if (aki == nullptr) return std::nullopt;
  unsigned char* der = nullptr;
  const int len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert.get()), &der);
  const x509::OpenSslBytesPtr owned(der);
  if (len <= 2) return std::nullopt;
  // Skip the tag and the length (short or long form): the content octets, leading 0x00 kept
  // (RFC 9773 §4.1; BN_bn2bin would drop it).
  std::size_t header = 2;
  if ((der[1] & 0x80) != 0) header += der[1] & 0x7f;
  const std::string serial(reinterpret_cast<const char*>(der) + header,
                           static_cast<std::size_t>(len) - header);
  const std::string key_id(reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)),
                           static_cast<std::size_t>(ASN1_STRING_length(aki)));
  return base64url_encode(key_id) + "." + base64url_encode(serial);
}

std::string top_issuer_cn(const std::vector<x509::Certificate>& chain) {
  if (chain.empty()) return {};
  const X509_NAME* name = X509_get_issuer_name(chain.back().get());
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  const x509::OpenSslBytesPtr owned(utf8);
  if (len < 0) return {};
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
}

}  // namespace acme

AcmeIssuer::AcmeIssuer(AcmeIssuerOptions options, AcmeDeps deps, std::string ca_bundle_pem)
    : m_options(std::move(options)),
      m_deps(std::move(deps)),
      m_client(acme::ClientSettings{m_options.url, http::TlsOptions{std::move(ca_bundle_pem), {}},
                                    m_options.connect_timeout, m_options.timeout},
               m_deps.transport, *m_deps.clock) {}

Result<std::unique_ptr<AcmeIssuer>> AcmeIssuer::create(AcmeIssuerOptions options, AcmeDeps deps) {
  auto bundle = read_file(options.ca_bundle);
  if (!bundle) return fail(bundle.error().wrap("ca_bundle"));
  if (auto certs = x509::parse_certificates(*bundle); !certs) {
    return fail(certs.error().wrap("ca_bundle " + options.ca_bundle.string()));
  }
  if (!deps.transport || deps.clock == nullptr) return fail("the acme issuer needs a transport");
  if (!deps.sleep) return fail("the acme issuer needs a way to wait");
  return std::unique_ptr<AcmeIssuer>(
      new AcmeIssuer(std::move(options), std::move(deps), std::move(*bundle)));
}

Result<AcmeIssuer::Account> AcmeIssuer::account() {
  const std::lock_guard lock(m_account_mutex);
  if (m_account) return *m_account;
  const auto& dir_path = m_deps.account_dir;
  auto dir = open_trusted_dir(dir_path, PathTrust::of_this_process(), MissingFolders::create, 0700);
  if (!dir) return fail(dir.error().wrap("ACME account folder"));
  if (auto recovered = recover_key_change(dir->fd.get()); !recovered)
    return fail(recovered.error());
  auto key_pem = read_at(dir->fd.get(), k_key_file, dir_path);
  if (!key_pem) return fail(key_pem.error());
  std::shared_ptr<const acme::AccountKey> key;
  if (*key_pem) {
    auto parsed = acme::AccountKey::from_pem(**key_pem);
    if (!parsed) return fail(parsed.error().wrap((dir_path / k_key_file).string()));
    key = std::make_shared<const acme::AccountKey>(std::move(*parsed));
  } else {
    // The key is written before newAccount: a crash after the server made the account leaves
    // a key that onlyReturnExisting finds the account with.
    auto made = acme::AccountKey::generate(m_options.account_key);
    if (!made) return fail(made.error());
    auto pem = made->key().to_pkcs8_pem();
    if (!pem) return fail(pem.error());
    if (auto w = write_at(dir->fd.get(), k_key_file, dir_path, *pem); !w) return fail(w.error());
    key = std::make_shared<const acme::AccountKey>(std::move(*made));
  }
  auto saved = read_at(dir->fd.get(), k_account_file, dir_path);
  if (!saved) return fail(saved.error());
  if (*saved) {
    const auto json = nlohmann::json::parse(**saved, nullptr, false);
    // An account belongs to one server: a changed directory URL means a new account.
    if (string_of(json, "directory") == m_options.url && !string_of(json, "url").empty()) {
      m_account = Account{key, string_of(json, "url")};
      return *m_account;
    }
  }
  auto registered = register_account(key);
  if (!registered) return fail(registered.error());
  const nlohmann::json record{{"directory", m_options.url}, {"url", registered->url}};
  if (auto w = write_at(dir->fd.get(), k_account_file, dir_path, record.dump()); !w) {
    return fail(w.error());
  }
  m_account = *registered;
  return *m_account;
}

Result<AcmeIssuer::Account> AcmeIssuer::register_account(
    const std::shared_ptr<const acme::AccountKey>& key) {
  auto dir = m_client.directory();
  if (!dir) return fail(dir.error());
  const Signer by_key{key.get(), std::nullopt};
  // RFC 8555 §7.3.1: an account made earlier with this key (the file was not written).
  std::string refused;
  auto existing = m_client.post(dir->new_account, nlohmann::json{{"onlyReturnExisting", true}},
                                by_key, "ACME newAccount (onlyReturnExisting)", "application/json",
                                &refused);
  if (existing && existing->location) return Account{key, *existing->location};
  if (!existing && refused != "accountDoesNotExist") return fail(existing.error());

  nlohmann::json payload = nlohmann::json::object();
  if (!m_options.contact.empty()) payload["contact"] = m_options.contact;
  if (m_options.terms_of_service_agreed) payload["termsOfServiceAgreed"] = true;
  if (m_options.eab) {
    auto secret = read_secret_file(m_options.eab->hmac_key_file, "EAB HMAC key file");
    if (!secret) return fail(secret.error());
    auto mac_key = base64url_decode(trim(secret->view()));
    if (!mac_key) {
      return fail(Reason::config, "the EAB HMAC key is not base64url",
                  m_options.eab->hmac_key_file.string());
    }
    auto binding = acme::external_account_binding(*key, m_options.eab->kid, *mac_key,
                                                  dir->new_account);
    OPENSSL_cleanse(mac_key->data(), mac_key->size());
    if (!binding) return fail(binding.error());
    payload["externalAccountBinding"] = std::move(*binding);
  } else if (dir->external_account_required) {
    return fail(Reason::config,
                "the ACME server requires an external account binding: write eab: { kid: KID, "
                "hmac_key_file: FILE } with the key id and MAC key the CA gave you",
                http::redact_url(m_options.url));
  }
  std::string why;
  auto made = m_client.post(dir->new_account, payload, by_key, "ACME newAccount",
                            "application/json", &why);
  if (!made && why == "agreementRequired") {
    Error e = made.error();
    e.message += " (read " + dir->terms_of_service.value_or("the CA's terms") +
                 ", then write terms_of_service_agreed: true)";
    e.reason = Reason::config;
    return fail(std::move(e));
  }
  if (!made) return fail(made.error());
  if (!made->location) {
    return fail(Reason::invalid_answer, "ACME newAccount: the answer names no account URL");
  }
  return Account{key, *made->location};
}

Result<void> AcmeIssuer::recover_key_change(int dir) {
  const auto& dir_path = m_deps.account_dir;
  auto pem = read_at(dir, k_new_key_file, dir_path);
  if (!pem) return fail(pem.error());
  if (!*pem) return {};
  const std::string shown = (dir_path / k_new_key_file).string();
  auto key = acme::AccountKey::from_pem(**pem);
  if (!key) return fail(key.error().wrap(shown));
  auto directory = m_client.directory();
  if (!directory) return fail(directory.error().wrap("finishing the interrupted key change"));
  // The server knows the account by exactly one of the two keys (§7.3.5 replaces it at once).
  std::string refused;
  auto found = m_client.post(directory->new_account, nlohmann::json{{"onlyReturnExisting", true}},
                             Signer{&*key, std::nullopt},
                             "ACME newAccount (onlyReturnExisting, new key)", "application/json",
                             &refused);
  if (!found && refused != "accountDoesNotExist") {
    return fail(found.error().wrap("finishing the interrupted key change"));
  }
  if (found) {
    if (auto w = write_at(dir, k_key_file, dir_path, **pem); !w) return fail(w.error());
  }
  if (::unlinkat(dir, k_new_key_file, 0) != 0 && errno != ENOENT) {
    return fail(Reason::io, "cannot remove: " + errno_text(errno), shown);
  }
  return {};
}

Result<std::string> AcmeIssuer::change_account_key() {
  const std::lock_guard serial(m_key_change_mutex);
  auto acct = account();
  if (!acct) return fail(acct.error());
  auto dir = m_client.directory();
  if (!dir) return fail(dir.error());
  if (dir->key_change.empty()) {
    return fail(Reason::config, "the ACME server offers no keyChange",
                http::redact_url(m_options.url));
  }
  auto made = acme::AccountKey::generate(m_options.account_key);
  if (!made) return fail(made.error());
  auto pem = made->key().to_pkcs8_pem();
  if (!pem) return fail(pem.error());
  const auto& dir_path = m_deps.account_dir;
  auto folder = open_trusted_dir(dir_path, PathTrust::of_this_process(), MissingFolders::refuse);
  if (!folder) return fail(folder.error().wrap("ACME account folder"));
  // On disk before the server hears of it: whatever happens next, the key it may hold is kept.
  if (auto w = write_at(folder->fd.get(), k_new_key_file, dir_path, *pem); !w) {
    return fail(w.error());
  }
  // §7.3.5: the inner JWS is signed by the new key (jwk, no nonce) over the account URL and the
  // old key; the outer one is an ordinary request signed by the old key.
  const nlohmann::json inner_header{
      {"alg", made->alg()}, {"jwk", made->jwk()}, {"url", dir->key_change}};
  const nlohmann::json inner_payload{{"account", acct->url}, {"oldKey", acct->key->jwk()}};
  auto inner = acme::sign_jws(*made, inner_header, inner_payload.dump());
  if (!inner) return fail(inner.error());
  std::string refused;
  auto done = m_client.post(dir->key_change, nlohmann::json::parse(*inner),
                            Signer{acct->key.get(), acct->url}, "ACME keyChange",
                            "application/json", &refused);
  if (!done) {
    if (!refused.empty()) {
      // The server answered with a problem: it still holds the old key.
      (void)::unlinkat(folder->fd.get(), k_new_key_file, 0);
    } else {
      // No answer: either key may be the account's now; the next account() asks the server.
      const std::lock_guard lock(m_account_mutex);
      m_account.reset();
    }
    return fail(done.error());
  }
  if (auto w = write_at(folder->fd.get(), k_key_file, dir_path, *pem); !w) {
    // account.key.new stays: the next account() finds the server holds it and writes it again.
    const std::lock_guard lock(m_account_mutex);
    m_account.reset();
    return fail(w.error());
  }
  (void)::unlinkat(folder->fd.get(), k_new_key_file, 0);
  auto key = std::make_shared<const acme::AccountKey>(std::move(*made));
  const std::string thumbprint = key->thumbprint();
  const std::lock_guard lock(m_account_mutex);
  m_account = Account{std::move(key), acct->url};
  return thumbprint;
}

void AcmeIssuer::pause(const Reply& reply) const {
  Millis wait = std::chrono::seconds(1);
  if (const auto ra = reply.response.header("retry-after")) {
    if (auto parsed = http::parse_retry_after(*ra, m_deps.clock->wall_now())) wait = *parsed;
  }
  m_deps.sleep(std::clamp(wait, k_min_poll, k_max_poll));
}

Result<Reply> AcmeIssuer::poll(const std::string& url, const Signer& signer,
                               const std::string& what, const std::string& waiting_status) {
  auto reply = m_client.post(url, std::nullopt, signer, what);
  for (int i = 0; reply && status_of(*reply) == waiting_status && i < k_polls; ++i) {
    pause(*reply);
    reply = m_client.post(url, std::nullopt, signer, what);
  }
  return reply;
}

void AcmeIssuer::forget_account() {
  const std::lock_guard lock(m_account_mutex);
  m_account.reset();
  auto dir = open_trusted_dir(m_deps.account_dir, PathTrust::of_this_process(),
                              MissingFolders::refuse);
  if (dir) (void)unlinkat(dir->fd.get(), k_account_file, 0);
}

Result<Reply> AcmeIssuer::new_order(const IssueRequest& request, const Signer& signer,
                                    std::string& refused) {
  refused.clear();
  auto dir = m_client.directory();
  if (!dir) return fail(dir.error());
  nlohmann::json payload{{"identifiers", identifiers_of(request)}};
  if (m_options.profile) {
    if (!dir->profiles.contains(*m_options.profile)) {
      std::string offered;
      for (const auto& [name, text] : dir->profiles)
        offered += (offered.empty() ? "" : ", ") + name;
      return fail(
          Reason::config,
          "profile '" + *m_options.profile + "' is not offered by the ACME server" +
              (offered.empty() ? " (it lists no profiles)" : " (it offers " + offered + ")"),
          http::redact_url(m_options.url));
    }
    payload["profile"] = *m_options.profile;
  }
  std::optional<std::string> replaces;
  if (dir->renewal_info && request.current && !request.current->chain.empty()) {
    replaces = acme::ari_cert_id(request.current->chain.front());
  }
  if (replaces) payload["replaces"] = *replaces;
  auto order = m_client.post(dir->new_order, payload, signer, "ACME newOrder", "application/json",
                             &refused);
  if (!order && refused == "alreadyReplaced" && replaces) {
    // RFC 9773 §5: that certificate was replaced already; order without claiming it.
    payload.erase("replaces");
    order = m_client.post(dir->new_order, payload, signer, "ACME newOrder");
  }
  if (!order) return fail(order.error());
  if (!order->location) {
    return fail(Reason::invalid_answer, "ACME newOrder: the answer names no order URL");
  }
  return order;
}

Result<AcmeIssuer::Choice> AcmeIssuer::choose_challenge(const nlohmann::json& challenges,
                                                        const acme::AccountKey& key,
                                                        acme::ChallengeTask& task) const {
  std::string refusals;  // what the solvers that were offered their type say against it
  for (const auto& candidate : m_deps.solvers) {
    for (const auto& ch : challenges) {
      if (string_of(ch, "type") != candidate->type()) continue;
      task.token = string_of(ch, "token");
      task.key_authorization = acme::key_authorization(task.token, key);
      task.dns_txt = acme::dns_txt_value(task.key_authorization);
      if (candidate->can_solve(task)) return Choice{candidate, string_of(ch, "url")};
      if (const std::string why = candidate->why_not(task); !why.empty()) {
        refusals += "; " + std::string(candidate->type()) + ": " + why;
      }
    }
  }
  std::string offered;
  for (const auto& ch : challenges)
    offered += (offered.empty() ? "" : ", ") + string_of(ch, "type");
  return fail(Reason::config, "no configured challenge can answer for " + task.identifier +
                                  " (the server offers " + offered + ")" + refusals);
}

Result<bool> AcmeIssuer::authorize(const std::string& url, const IssueRequest& request,
                                   const Signer& signer) {
  auto authz = m_client.post(url, std::nullopt, signer, "ACME authorization");
  if (!authz) return fail(authz.error());
  const std::string status = status_of(*authz);
  if (status == "valid") return true;  // pebble and real CAs reuse recent authorizations
  const auto& json = authz->json;
  const nlohmann::json id = json.value("identifier", nlohmann::json::object());
  const std::string value = string_of(id, "value");
  if (status != "pending") {
    return fail(Reason::http_status, "ACME authorization for " + value + " is " + status);
  }
  acme::ChallengeTask task;
  task.credential = request.credential;
  task.identifier = value;
  task.wildcard = json.value("wildcard", false);
  task.ip = string_of(id, "type") == "ip";
  const auto challenges = json.value("challenges", nlohmann::json::array());
  auto chosen = choose_challenge(challenges, *signer.key, task);
  if (!chosen) return fail(chosen.error());
  const auto& solver = chosen->solver;
  const std::string& challenge_url = chosen->url;
  auto presented = solver->present(task);
  // cleanup() runs whatever happens from here: after validation, a refusal or a failed present.
  ScopeGuard cleanup([&] { (void)solver->cleanup(task); });
  if (!presented)
    return fail(presented.error().wrap(std::string(solver->type()) + " for " + value));
  // RFC 8555 §7.5.1: POST {} tells the server to validate.
  auto responded = m_client.post(challenge_url, nlohmann::json::object(), signer, "ACME challenge");
  if (!responded) return fail(responded.error());
  // The server has to reach us (or our DNS) before the authorization can change: asking at
  // once is a request wasted on "pending" (bench/acme: 1.9 authorization fetches per challenge
  // against pebble without this wait, 1.0 with it).
  pause(*responded);
  auto after = poll(url, signer, "ACME authorization", "pending");
  if (!after) return fail(after.error());
  const std::string final_status = status_of(*after);
  if (final_status == "pending") return false;
  if (final_status == "valid") return true;
  std::string why;
  for (const auto& ch : after->json.value("challenges", nlohmann::json::array())) {
    if (string_of(ch, "url") == challenge_url) why = object_error(ch);
  }
  return fail(Reason::http_status, std::string(solver->type()) + " for " + value + " failed" +
                                       (why.empty() ? "" : ": " + why));
}

Result<IssuedCredential> AcmeIssuer::download(const std::string& url, const Signer& signer) {
  const std::string pem_chain = "application/pem-certificate-chain";
  auto reply = m_client.post(url, std::nullopt, signer, "ACME certificate", pem_chain);
  if (!reply) return fail(reply.error());
  auto chain = x509::parse_certificates(x509::normalize_pem(reply->response.body));
  if (!chain) return fail(chain.error().wrap("ACME certificate").because(Reason::invalid_answer));
  if (m_options.preferred_chain && acme::top_issuer_cn(*chain) != *m_options.preferred_chain) {
    for (const std::string& alternate : alternate_links(reply->response)) {
      auto other = m_client.post(alternate, std::nullopt, signer, "ACME alternate chain",
                                 pem_chain);
      if (!other) continue;  // the default chain is still good
      auto parsed = x509::parse_certificates(x509::normalize_pem(other->response.body));
      if (parsed && acme::top_issuer_cn(*parsed) == *m_options.preferred_chain) {
        chain = std::move(parsed);
        break;
      }
    }
  }
  IssuedCredential issued;
  issued.chain = std::move(*chain);
  return issued;
}

Result<IssuedCredential> AcmeIssuer::issue(const IssueRequest& request) {
  auto outcome = issue_outcome(request);
  if (!outcome) return fail(outcome.error());
  if (auto* issued = std::get_if<IssuedCredential>(&outcome->answer)) return std::move(*issued);
  return fail_retryable("ACME order not ready yet");
}

Result<AcmeIssuer::OpenOrder> AcmeIssuer::open_order(const IssueRequest& request, Signer& signer) {
  if (auto kept = order_from_state(request.state)) {
    // A restart or a NotYet: resume that order while the server still has it usable.
    auto again = m_client.post(*kept, std::nullopt, signer, "ACME order");
    const std::string status = again ? status_of(*again) : std::string();
    if (status == "pending" || status == "ready") return OpenOrder{*kept, std::move(*again)};
  }
  std::string refused;
  auto made = new_order(request, signer, refused);
  if (!made && refused == "accountDoesNotExist") {
    // The server lost or removed the account (a CA reset, a deactivation elsewhere): find or
    // make it again with the same key, once.
    forget_account();
    auto acct = account();
    if (!acct) return fail(acct.error());
    signer = Signer{acct->key.get(), acct->url};
    made = new_order(request, signer, refused);
  }
  if (!made) return fail(made.error());
  std::string url = *made->location;
  return OpenOrder{std::move(url), std::move(*made)};
}

Result<bool> AcmeIssuer::authorize_all(OpenOrder& order, const IssueRequest& request,
                                       const Signer& signer) {
  if (status_of(order.reply) != "pending") return true;
  for (const auto& authz : order.reply.json.value("authorizations", nlohmann::json::array())) {
    if (!authz.is_string()) continue;
    auto done = authorize(authz.get<std::string>(), request, signer);
    if (!done || !*done) return done;
  }
  // No fetch of the order to see "ready": finalize says orderNotReady if it is not.
  order.authorized = true;
  return true;
}

Result<Reply> AcmeIssuer::send_finalize(const OpenOrder& order, const nlohmann::json& payload,
                                        const Signer& signer) {
  const std::string url = string_of(order.reply.json, "finalize");
  std::string refused;
  auto finalized = m_client.post(url, payload, signer, "ACME finalize", "application/json",
                                 &refused);
  if (finalized || refused != "orderNotReady" || !order.authorized) return finalized;
  // The server moves the order to ready a moment after its last authorization.
  auto ready = poll(order.url, signer, "ACME order", "pending");
  if (!ready) return fail(ready.error());
  if (status_of(*ready) != "ready") {
    const std::string why = object_error(ready->json);
    return fail(Reason::http_status,
                "ACME order is " + status_of(*ready) + (why.empty() ? "" : ": " + why));
  }
  return m_client.post(url, payload, signer, "ACME finalize");
}

Result<Reply> AcmeIssuer::finalize(const OpenOrder& order, const IssueRequest& request,
                                   const Signer& signer) {
  if (status_of(order.reply) != "ready" && !order.authorized) {
    const std::string why = object_error(order.reply.json);
    return fail(Reason::http_status,
                "ACME order is " + status_of(order.reply) + (why.empty() ? "" : ": " + why));
  }
  auto der = csr_der(*request.csr_pem);
  if (!der) return fail(der.error());
  auto finalized = send_finalize(order, nlohmann::json{{"csr", base64url_encode(*der)}}, signer);
  if (!finalized) return fail(finalized.error());
  Reply done = std::move(*finalized);
  if (status_of(done) == "processing") {
    auto polled = poll(order.url, signer, "ACME order", "processing");
    if (!polled) return fail(polled.error());
    done = std::move(*polled);
  }
  if (status_of(done) != "valid") {
    const std::string why = object_error(done.json);
    // Past finalize the order is bound to this rotation's key; a later try starts afresh.
    return fail(Error{status_of(done) == "processing" ? ErrorKind::retryable : ErrorKind::permanent,
                      "ACME order is " + status_of(done) + (why.empty() ? "" : ": " + why),
                      http::redact_url(order.url), std::nullopt, Reason::http_status});
  }
  return done;
}

Result<IssueOutcome> AcmeIssuer::issue_outcome(const IssueRequest& request) {
  if (!request.csr_pem) return fail("no CSR to send");
  auto acct = account();
  if (!acct) return fail(acct.error());
  Signer signer{acct->key.get(), acct->url};
  auto order = open_order(request, signer);
  if (!order) return fail(order.error());
  auto authorized = authorize_all(*order, request, signer);
  if (!authorized) return fail(authorized.error());
  if (!*authorized) {
    return IssueOutcome{NotYet{std::chrono::seconds(5), "ACME authorization pending"},
                        state_for(order->url)};
  }
  auto done = finalize(*order, request, signer);
  if (!done) return fail(done.error());
  auto issued = download(string_of(done->json, "certificate"), signer);
  if (!issued) return fail(issued.error());
  if (reports_renewal_info()) {
    // Best effort: without a window the policy decides, and the engine asks again later.
    auto info = renewal_info(RenewalInfoRequest{request.credential, issued->chain, std::nullopt});
    if (info && info->window) issued->renewal_window = info->window;
  }
  return IssueOutcome{std::move(*issued), std::nullopt};
}

bool AcmeIssuer::reports_renewal_info() const {
  // No network here (the engine may ask on its loop thread): until the directory is known,
  // assume ARI; renewal_info() then answers "no advice" for a CA without renewalInfo.
  const auto dir = m_client.cached_directory();
  return !dir || dir->renewal_info.has_value();
}

Result<RenewalInfo> AcmeIssuer::renewal_info(const RenewalInfoRequest& request) {
  auto dir = m_client.directory();
  if (!dir) return fail(dir.error());
  if (!dir->renewal_info || request.chain.empty()) return RenewalInfo{};
  const auto id = acme::ari_cert_id(request.chain.front());
  if (!id) return RenewalInfo{};
  std::string base = *dir->renewal_info;
  if (!base.ends_with('/')) base += '/';
  auto reply = m_client.get(base + *id, "ACME renewalInfo");
  if (!reply) return fail(reply.error());
  RenewalInfo info;
  if (const auto ra = reply->response.header("retry-after")) {
    // RFC 9773 §4.3: at least a minute (parse_retry_after caps it at an hour).
    if (auto parsed = http::parse_retry_after(*ra, m_deps.clock->wall_now())) {
      info.retry_after = std::max<Millis>(*parsed, std::chrono::minutes(1));
    }
  }
  const auto window = reply->json.is_object()
                          ? reply->json.value("suggestedWindow", nlohmann::json())
                          : nlohmann::json();
  auto start = parse_rfc3339(string_of(window, "start"));
  auto end = parse_rfc3339(string_of(window, "end"));
  if (const std::string url = string_of(reply->json, "explanationURL"); !url.empty()) {
    info.explanation_url = url;
  }
  // §4.2: end <= start makes the window invalid, which counts as no answer.
  if (start && end && *end > *start) {
    info.window = RenewalWindow{*start, *end, info.explanation_url};
  }
  return info;
}

Result<void> AcmeIssuer::revoke(const RevokeRequest& request) {
  if (request.chain.empty()) return fail("no certificate to revoke", request.credential);
  auto dir = m_client.directory();
  if (!dir) return fail(dir.error());
  if (dir->revoke_cert.empty()) return fail(Reason::config, "the ACME server offers no revokeCert");
  auto acct = account();
  if (!acct) return fail(acct.error());
  const nlohmann::json payload{{"certificate", base64url_encode(request.chain.front().to_der())},
                               {"reason", static_cast<int>(request.reason)}};
  auto done = m_client.post(dir->revoke_cert, payload, Signer{acct->key.get(), acct->url},
                            "ACME revokeCert");
  if (!done) return fail(done.error());
  return {};
}

}  // namespace certrotd::issuer
