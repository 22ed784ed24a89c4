#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "auth/token_client.hpp"
#include "issuer/cfssl/cfssl.hpp"
#include "util/encoding.hpp"
#include "util/files.hpp"
#include "util/secret.hpp"

namespace certrotd::issuer {

namespace {

// CFSSL's "standard" auth provider: HMAC-SHA256 over the request bytes with the shared key.
Result<std::string> hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out,
                &out_len) == nullptr) {
    return fail("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

}  // namespace

CfsslIssuer::CfsslIssuer(CfsslIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem)
    : NetworkIssuer(options, std::move(deps), std::move(ca_bundle_pem)),
      m_cfssl(std::move(options)) {}

Result<std::unique_ptr<CfsslIssuer>> CfsslIssuer::create(CfsslIssuerOptions options,
                                                         NetworkDeps deps) {
  auto bundle = read_file(options.ca_bundle);
  if (!bundle) return fail(bundle.error().wrap("ca_bundle"));
  if (auto certs = x509::parse_certificates(*bundle); !certs) {
    return fail(certs.error().wrap("ca_bundle " + options.ca_bundle.string()));
  }
  if (!deps.transport || deps.clock == nullptr) return fail("the cfssl issuer needs a transport");
  return std::unique_ptr<CfsslIssuer>(
      new CfsslIssuer(std::move(options), std::move(deps), std::move(*bundle)));
}

Result<IssuedCredential> CfsslIssuer::issue(const IssueRequest& request) {
  if (!request.csr_pem) return fail("no CSR to send");
  auto identity = identity_for(request, m_options.mtls.source != MtlsAuth::Source::none);
  if (!identity) return fail(identity.error());

  // CFSSL takes every kind of SAN in `hosts` and tells them apart by their form.
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& san : request.request.sans) hosts.push_back(san.value);
  nlohmann::json sign{{"certificate_request", *request.csr_pem}, {"hosts", hosts}};
  if (!m_cfssl.profile.empty()) sign["profile"] = m_cfssl.profile;
  if (!m_cfssl.label.empty()) sign["label"] = m_cfssl.label;

  std::string base = m_cfssl.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  http::Request post = base_request(base + "/api/v1/cfssl/sign");
  post.method = http::Method::post;
  post.tls.client = identity->client;
  post.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  post.body = sign.dump();
  if (m_cfssl.auth_key_file) {
    auto key_text = read_secret_file(*m_cfssl.auth_key_file, "authsign key file");
    if (!key_text) return fail(key_text.error());
    auto key = hex_decode(key_text->view());
    if (!key) return fail(m_cfssl.auth_key_file->string() + ": the authsign key is not hex");
    auto mac = hmac_sha256(*key, post.body);
    OPENSSL_cleanse(key->data(), key->size());
    if (!mac) return fail(mac.error());
    const nlohmann::json wrapped{{"token", base64_encode(*mac)},
                                 {"request", base64_encode(post.body)}};
    post.url = base + "/api/v1/cfssl/authsign";
    post.body = wrapped.dump();
  }

  auto response = m_deps.transport->perform(post);
  if (!response) {
    return fail(
        transport_error(http::naming_presented(response.error(), post.tls.client), "cfssl sign"));
  }
  const long status = response->status;
  const auto json = nlohmann::json::parse(response->body, nullptr, false);
  // CFSSL reports failures as {"success":false,"errors":[{"code":..,"message":..}]}, often with
  // a 400; summarise those rather than the bare status.
  if (json.is_object() && json.value("success", false) == false) {
    std::string reason;
    if (const auto it = json.find("errors"); it != json.end() && it->is_array()) {
      for (const auto& e : *it) {
        if (!reason.empty()) reason += "; ";
        reason += e.value("message", std::string("?"));
      }
    }
    if (reason.empty()) reason = "status " + std::to_string(status);
    Error e{status >= 500 ? ErrorKind::retryable : ErrorKind::permanent,
            "cfssl sign refused: " + reason, http::redact_url(post.url), std::nullopt,
            Reason::http_status};
    if (const auto ra = response->header("retry-after")) {
      e.retry_after = http::parse_retry_after(*ra, m_deps.clock->wall_now());
      if (e.retry_after) e.reason = Reason::rate_limited;
    }
    return fail(std::move(e));
  }
  auto ok = http::expect_success(std::move(*response), post.url, m_deps.clock->wall_now());
  if (!ok) {
    return fail(transport_error(http::naming_presented(ok.error(), post.tls.client), "cfssl sign"));
  }
  if (!json.is_object()) {
    return fail(Reason::invalid_answer, "cfssl sign: malformed response: not JSON");
  }
  const auto result = json.find("result");
  if (result == json.end() || !result->is_object() || !result->contains("certificate") ||
      !(*result)["certificate"].is_string()) {
    return fail(Reason::invalid_answer, "cfssl sign: malformed response: no result.certificate");
  }
  auto chain = x509::parse_certificates(
      x509::normalize_pem((*result)["certificate"].get<std::string>()));
  if (!chain) {
    return fail(
        chain.error().wrap("cfssl sign: malformed certificate").because(Reason::invalid_answer));
  }
  IssuedCredential issued;
  issued.chain = std::move(*chain);
  return issued;
}

}  // namespace certrotd::issuer
