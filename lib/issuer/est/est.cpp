#include "issuer/est/est.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <span>

#include "issuer/est/est_codec.hpp"
#include "util/encoding.hpp"
#include "util/files.hpp"
#include "util/secret.hpp"
#include "util/strings.hpp"
#include "x509/csr.hpp"
#include "x509/verify.hpp"

namespace certrotd::issuer {

namespace {

// EST answers are a few certificates; a chain of ten 2 KiB certificates in base64 is 30 KiB.
constexpr std::size_t k_max_answer = std::size_t{256} << 10;
// /serverkeygen answers exactly two parts (§4.4.2); a few more are tolerated, then refused.
constexpr std::size_t k_max_parts = 4;

constexpr std::string_view k_enroll = "simpleenroll";
constexpr std::string_view k_reenroll = "simplereenroll";
constexpr std::string_view k_serverkeygen = "serverkeygen";
// Appended to the operation in the kept state when the request went with the bootstrap auth.
constexpr std::string_view k_bootstrap_mark = " bootstrap";

std::vector<x509::San> sorted(std::vector<x509::San> sans) {
  std::sort(sans.begin(), sans.end());
  return sans;
}

// RFC 7030 §4.2.2: a re-enrollment keeps the subject and SANs of the certificate it renews.
// Compared are what certrotd configures of them: the CN and the SANs.
std::optional<std::string> names_changed(const x509::CertificateRequest& wanted,
                                         const x509::Certificate& live) {
  const x509::CertInfo& info = live.info();
  if (wanted.subject.common_name != info.common_name) {
    return "the configured common name '" + wanted.subject.common_name +
           "' differs from the live certificate's '" + info.common_name + "'";
  }
  if (sorted(wanted.sans) != sorted(info.sans)) {
    return std::string("the configured SANs differ from the live certificate's");
  }
  return std::nullopt;
}

bool asks_for_basic(const http::Response& response) {
  for (const auto& value : response.header_values("www-authenticate")) {
    if (to_lower(trim(value)).starts_with("basic")) return true;
  }
  return false;
}

// A certificate of `certs` with the subject and key of `root`, signed by `anchor`: the
// NewWithOld certificate of a CA rollover (RFC 7030 §4.1.3), by which the old root vouches for
// the new one.
bool cross_signed(const x509::Certificate& root, const std::vector<x509::Certificate>& certs,
                  const x509::Certificate& anchor) {
  for (const auto& cert : certs) {
    if (cert.same_as(root)) continue;
    if (X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_subject_name(root.get())) != 0 ||
        EVP_PKEY_eq(X509_get0_pubkey(cert.get()), X509_get0_pubkey(root.get())) != 1) {
      continue;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(anchor.get())) == 0 &&
        X509_verify(cert.get(), X509_get0_pubkey(anchor.get())) == 1) {
      return true;
    }
  }
  return false;
}

bool self_signed(const x509::Certificate& cert) {
  return X509_check_issued(cert.get(), cert.get()) == X509_V_OK;
}

// The key of a /serverkeygen key part; the part's text is wiped.
Result<x509::PrivateKey> read_key_part(est::Part& part, const std::string& what) {
  auto der = est::decode_body(part.body);
  OPENSSL_cleanse(part.body.data(), part.body.size());
  if (!der) return fail(der.error().wrap(what + ": key part"));
  auto key = est::parse_key_der(*der);
  if (!key) return fail(key.error().wrap(what));
  return key;
}

// What a /serverkeygen answer holds (§4.4.2): the key and the certs-only body, in either order.
struct KeygenParts {
  std::optional<x509::PrivateKey> key;
  std::string certs_body;
};

Result<KeygenParts> split_serverkeygen(const http::Response& response, const std::string& what) {
  const auto type = est::parse_media_type(response.header("content-type").value_or(""));
  if (type.type != "multipart/mixed") {
    return fail(Reason::invalid_answer,
                what + ": the answer is " + type.type + ", not multipart/mixed");
  }
  const auto boundary = type.params.find("boundary");
  auto parts = est::parse_multipart(
      response.body, boundary == type.params.end() ? "" : boundary->second, k_max_parts);
  if (!parts) return fail(parts.error().wrap(what));
  KeygenParts out;
  for (auto& part : *parts) {
    const bool cms = part.type.type == "application/pkcs7-mime";
    if (part.type.type == "application/pkcs8") {
      auto key = read_key_part(part, what);
      if (!key) return fail(key.error());
      out.key = std::move(*key);
    } else if (cms && to_lower(part.type.params["smime-type"]) == "server-generated-key") {
      return fail(Reason::invalid_answer,
                  what + ": the key came encrypted (CMS), which certrotd does not ask for");
    } else if (cms) {
      out.certs_body = std::move(part.body);
    }
  }
  if (!out.key) return fail(Reason::invalid_answer, what + ": the answer holds no key part");
  if (out.certs_body.empty()) {
    return fail(Reason::invalid_answer, what + ": the answer holds no certificate part");
  }
  return out;
}

// RFC 7030 §3.5: the CSR with the same key and names, signed again for each connection with
// base64(tls-unique) as its challengePassword (RFC 2985 §5.4.1). The value is never logged.
std::function<Result<std::string>(std::string_view)> linked_csr(x509::PrivateKey key,
                                                                x509::CertificateRequest names) {
  return [key = std::move(key),
          names = std::move(names)](std::string_view tls_unique) -> Result<std::string> {
    x509::CsrExtras extras;
    extras.challenge_password = base64_encode(tls_unique);
    auto csr = x509::build_csr(key, names, extras);
    if (!csr) return fail(csr.error());
    return est::csr_body(*csr);
  };
}

}  // namespace

struct EstIssuer::Plan {
  std::string operation;  // k_enroll, k_reenroll or k_serverkeygen
  Identity identity;
  std::string credential;
};

EstIssuer::EstIssuer(EstIssuerOptions options, NetworkDeps deps, std::string ca_bundle_pem)
    : NetworkIssuer(options, std::move(deps), std::move(ca_bundle_pem)),
      m_est(std::move(options)) {}

Result<std::unique_ptr<EstIssuer>> EstIssuer::create(EstIssuerOptions options, NetworkDeps deps) {
  auto bundle = read_file(options.ca_bundle);
  if (!bundle) return fail(bundle.error().wrap("ca_bundle"));
  if (auto certs = x509::parse_certificates(*bundle); !certs) {
    return fail(certs.error().wrap("ca_bundle " + options.ca_bundle.string()));
  }
  if (!deps.transport || deps.clock == nullptr) return fail("the est issuer needs a transport");
  return std::unique_ptr<EstIssuer>(
      new EstIssuer(std::move(options), std::move(deps), std::move(*bundle)));
}

std::string EstIssuer::url(std::string_view operation) const {
  std::string base = m_est.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + std::string(operation);
}

Result<EstIssuer::Plan> EstIssuer::plan(const IssueRequest& request) {
  Plan out;
  out.credential = request.credential;
  // A pending request (202) goes again to where it went, with the same kind of auth.
  const bool kept_bootstrap = request.state && request.state->ends_with(k_bootstrap_mark);
  std::optional<std::string> changed;
  if (request.current && !request.current->chain.empty()) {
    changed = names_changed(request.request, request.current->chain.front());
  }
  if (changed || kept_bootstrap) {
    if (changed && m_deps.warn) {
      m_deps.warn(request.credential,
                  *changed +
                      " (RFC 7030 §4.2.2 keeps them on re-enrollment): enrolling anew at "
                      "/simpleenroll with the bootstrap auth");
    }
    // Without the live certificate the identity choice falls to the bootstrap auth.
    IssueRequest fresh = request;
    fresh.current.reset();
    auto identity = identity_for(fresh, true);
    if (!identity) return fail(identity.error());
    out.identity = std::move(*identity);
  } else {
    auto identity = identity_for(request, false);
    if (!identity) return fail(identity.error());
    out.identity = std::move(*identity);
  }
  if (m_est.server_generated_key) {
    out.operation = std::string(k_serverkeygen);
  } else if (!out.identity.bootstrap && out.identity.client && request.current) {
    out.operation = std::string(k_reenroll);
  } else {
    out.operation = std::string(k_enroll);
  }
  return out;
}

Result<http::Response> EstIssuer::post(
    const Plan& plan, const std::string& body,
    std::function<Result<std::string>(std::string_view tls_unique)> linked) {
  http::Request post = base_request(url(plan.operation));
  post.method = http::Method::post;
  post.tls.client = plan.identity.client;
  post.max_response_bytes = k_max_answer;
  // RFC 8951 deprecates the CTE header; servers built on RFC 7030 still want it.
  post.headers = {
      {"Content-Type", "application/pkcs10"},
      {"Content-Transfer-Encoding", "base64"},
      {"Accept", plan.operation == k_serverkeygen ? "multipart/mixed" : "application/pkcs7-mime"}};
  post.body = body;
  // The 401 answer below is a request of its own, so it is linked to its own connection.
  post.body_for_connection = std::move(linked);
  auto response = m_deps.transport->perform(post);
  if (!response) {
    return fail(transport_error(http::naming_presented(response.error(), post.tls.client),
                                "est " + plan.operation));
  }
  // Basic goes with the bootstrap, or on its own when no client certificate is configured.
  const bool may_answer = plan.identity.bootstrap || !plan.identity.client;
  if (response->status != 401 || !may_answer || !m_est.basic || !asks_for_basic(*response)) {
    return std::move(*response);
  }
  // The server asked for a password (§3.2.3); the transport verified its certificate, so it is
  // the server ca_bundle names.
  auto password = read_secret_file(m_est.basic->password_file, "EST password file");
  if (!password) return fail(password.error());
  std::string pair = m_est.basic->username + ":" + std::string(password->view());
  post.headers.emplace_back("Authorization", "Basic " + base64_encode(pair));
  OPENSSL_cleanse(pair.data(), pair.size());
  if (m_deps.warn) {
    m_deps.warn(plan.credential,
                "the EST server asked for HTTP Basic: answering with the "
                "BOOTSTRAP password of user '" +
                    m_est.basic->username + "'");
  }
  response = m_deps.transport->perform(post);
  OPENSSL_cleanse(post.headers.back().second.data(), post.headers.back().second.size());
  if (!response) {
    return fail(transport_error(http::naming_presented(response.error(), post.tls.client),
                                "est " + plan.operation));
  }
  return std::move(*response);
}

Result<IssueOutcome> EstIssuer::read_answer(const Plan& plan, const http::Response& response,
                                            EVP_PKEY* csr_key) {
  const std::string what = "est " + plan.operation;
  const std::string state =
      plan.operation + (plan.identity.bootstrap ? std::string(k_bootstrap_mark) : std::string());
  if (response.status == 202) {
    std::optional<Millis> wait;
    if (const auto ra = response.header("retry-after")) {
      wait = http::parse_retry_after(*ra, m_deps.clock->wall_now());
    }
    return IssueOutcome{NotYet{wait, "202 Accepted: the EST server holds the request for approval"},
                        state};
  }
  if (response.status != 200) {
    auto ok = http::expect_success(response, url(plan.operation), m_deps.clock->wall_now());
    if (!ok) {
      return fail(transport_error(http::naming_presented(ok.error(), plan.identity.client), what));
    }
    return fail(Reason::invalid_answer,
                what + ": status " + std::to_string(response.status) + " carries no certificate");
  }
  IssuedCredential issued;
  std::string certs_body = response.body;
  if (plan.operation == k_serverkeygen) {
    auto parts = split_serverkeygen(response, what);
    if (!parts) return fail(parts.error());
    issued.key = std::move(parts->key);
    certs_body = std::move(parts->certs_body);
    csr_key = issued.key->get();
  }
  auto der = est::decode_body(certs_body);
  if (!der) return fail(der.error().wrap(what));
  auto certs = est::parse_certs_only(*der);
  if (!certs) return fail(certs.error().wrap(what));
  auto chain = est::order_chain(std::move(*certs), csr_key);
  if (!chain) return fail(chain.error().wrap(what));
  issued.chain = std::move(*chain);
  return IssueOutcome{std::move(issued)};
}

Result<std::vector<x509::Certificate>> EstIssuer::fetch_cacerts() {
  // §4.1.1: /cacerts needs no client authentication; the server is verified against ca_bundle.
  http::Request get = base_request(url("cacerts"));
  get.max_response_bytes = k_max_answer;
  get.headers = {{"Accept", "application/pkcs7-mime"}};
  auto response = m_deps.transport->perform(get);
  if (!response) return fail(transport_error(response.error(), "est cacerts"));
  auto ok = http::expect_success(std::move(*response), get.url, m_deps.clock->wall_now());
  if (!ok) return fail(transport_error(ok.error(), "est cacerts"));
  auto der = est::decode_body(ok->body);
  if (!der) return fail(der.error().wrap("est cacerts"));
  auto certs = est::parse_certs_only(*der);
  if (!certs) return fail(certs.error().wrap("est cacerts"));
  return certs;
}

EstIssuer::IssuerRoots EstIssuer::issuer_roots(const std::string& credential) {
  const auto warn = [&](const std::string& message) {
    if (m_deps.warn) m_deps.warn(credential, message);
  };
  auto anchors = load_anchors(m_est.trust_anchors.value_or(m_est.ca_bundle));
  if (!anchors) {
    warn("trust_anchors: " + anchors.error().what());
    return {};
  }
  auto offered = fetch_cacerts();
  if (!offered) {
    warn("the CA bundle keeps the trust anchors only: " + offered.error().what());
    return {std::move(*anchors), false};
  }
  return {accepted_roots(*anchors, *offered, credential), true};
}

std::vector<x509::Certificate> EstIssuer::accepted_roots(
    const std::vector<x509::Certificate>& anchors, const std::vector<x509::Certificate>& offered,
    const std::string& credential) {
  std::vector<x509::Certificate> roots = anchors;
  const SystemTime now = m_deps.clock->wall_now();
  for (const auto& cert : offered) {
    if (!self_signed(cert) || cert.info().not_after <= now) continue;
    const auto known = [&](const x509::Certificate& r) { return r.same_as(cert); };
    if (std::any_of(roots.begin(), roots.end(), known)) continue;
    const auto& pins = m_est.bootstrap_fingerprints;
    const bool pinned = std::find(pins.begin(), pins.end(), cert.info().sha256_fingerprint) !=
                        pins.end();
    const bool vouched = std::any_of(anchors.begin(), anchors.end(), [&](const auto& anchor) {
      return cross_signed(cert, offered, anchor);
    });
    if (pinned || vouched) {
      roots.push_back(cert);
    } else if (m_deps.warn) {
      m_deps.warn(credential,
                  "/cacerts offers the root " + cert.info().subject + " (SHA-256 " +
                      cert.info().sha256_fingerprint +
                      "), which no trust anchor cross-signed and no bootstrap_fingerprints "
                      "pins: not trusted");
    }
  }
  return roots;
}

Result<UpkeepOutcome> EstIssuer::upkeep(const UpkeepRequest& request) {
  UpkeepOutcome out{std::nullopt, request.state, m_est.trust_refresh};
  // Nothing live, so no ca.pem to refresh: the first enrollment writes one.
  if (!request.current || request.current->chain.empty()) return out;
  // Unlike at an enrollment, a failed fetch is an error here: ca.pem stays as it is rather than
  // shrink to the trust anchors, and the refresh is retried with backoff.
  auto anchors = load_anchors(m_est.trust_anchors.value_or(m_est.ca_bundle));
  if (!anchors) return fail(anchors.error().wrap("trust_anchors"));
  auto offered = fetch_cacerts();
  if (!offered) return fail(offered.error());
  std::vector<x509::Certificate> roots = accepted_roots(*anchors, *offered, request.credential);
  const auto in = [](const std::vector<x509::Certificate>& set, const x509::Certificate& cert) {
    return std::any_of(set.begin(), set.end(),
                       [&](const x509::Certificate& r) { return r.same_as(cert); });
  };
  const auto& chain = request.current->chain;
  const std::span<const x509::Certificate> intermediates(chain.begin() + 1, chain.end());
  std::string summary;
  const auto note = [&summary](const std::string& what) {
    summary += (summary.empty() ? "ca.pem: " : "; ") + what;
  };
  for (const auto& old : request.ca) {
    if (in(roots, old)) continue;
    // §4.1.3: the old root goes only once the live certificate no longer needs it.
    const bool needed = x509::verify_chain(chain.front(), intermediates,
                                           std::span<const x509::Certificate>(&old, 1),
                                           x509::VerifyOptions{m_deps.clock->wall_now(), {}})
                            .has_value();
    if (needed) {
      roots.push_back(old);
    } else {
      note("removed root " + old.info().subject +
           " (no longer offered, and the live "
           "certificate does not chain to it)");
    }
  }
  for (const auto& root : roots) {
    if (!in(request.ca, root)) note("added root " + root.info().subject);
  }
  if (!summary.empty()) {
    out.ca = std::move(roots);
    out.summary = "CA bundle refreshed from /cacerts; " + summary;
  }
  return out;
}

Result<IssueOutcome> EstIssuer::issue_outcome(const IssueRequest& request) {
  auto plan = this->plan(request);
  if (!plan) return fail(plan.error());
  std::string csr_pem;
  std::optional<x509::PrivateKey> csr_key = request.csr_key;
  if (m_est.server_generated_key) {
    // The server makes the key; the CSR only carries the names (§4.4.1), so its key is a
    // throwaway one of the configured kind.
    auto throwaway = x509::generate_key(request.key);
    if (!throwaway) return fail(throwaway.error());
    auto built = x509::build_csr(*throwaway, request.request);
    if (!built) return fail(built.error());
    csr_pem = std::move(*built);
    csr_key = std::move(*throwaway);
  } else {
    if (!request.csr_pem) return fail("no CSR to send");
    csr_pem = *request.csr_pem;
    note_csrattrs(request);
  }
  auto parsed = x509::parse_csr(csr_pem);
  if (!parsed) return fail(parsed.error());
  auto body = est::csr_body(csr_pem);
  if (!body) return fail(body.error());
  std::function<Result<std::string>(std::string_view)> linked;
  if (m_est.link_tls_unique) {
    // The engine's CSR cannot know the connection: the same key signs one that does.
    if (!csr_key || EVP_PKEY_eq(csr_key->get(), parsed->public_key.get()) != 1) {
      return fail(
          "est: link_tls_unique signs the CSR again with its key, and no key of the CSR came");
    }
    linked = linked_csr(*csr_key, parsed->request);
  }
  auto response = post(*plan, *body, std::move(linked));
  if (!response) return fail(response.error());
  auto outcome = read_answer(*plan, *response, parsed->public_key.get());
  if (outcome && m_est.trust_from_issuer) {
    // The engine verifies the chain against these and writes them to ca.pem (the type's
    // anchors are empty then): the configured anchors always, and what they vouch for.
    if (auto* issued = std::get_if<IssuedCredential>(&outcome->answer)) {
      auto roots = issuer_roots(request.credential);
      issued->ca = std::move(roots.roots);
      // /cacerts was just fetched: the next refresh counts from now. When it failed, the
      // refresh stays where it was scheduled, so the one that restores ca.pem is not put off.
      if (roots.fetched) outcome->upkeep_after = m_est.trust_refresh;
    }
  }
  return outcome;
}

Result<IssuedCredential> EstIssuer::issue(const IssueRequest& request) {
  auto outcome = issue_outcome(request);
  if (!outcome) return fail(outcome.error());
  if (auto* issued = std::get_if<IssuedCredential>(&outcome->answer)) return std::move(*issued);
  return fail_retryable("est: not issued yet");
}

}  // namespace certrotd::issuer
