// What the EST server asks to find in the CSR (/csrattrs, RFC 7030 §4.5; RFC 9908), and what
// certrotd makes of it: the key type goes to the engine (Issuer::requested_key), the extensions
// certrotd puts in every CSR are satisfied, the rest is named once in a warning. The answer is
// advice: no failure to fetch or read it stops an enrollment.
#include <string>
#include <utility>
#include <vector>

#include "issuer/est/est.hpp"
#include "issuer/est/est_codec.hpp"

namespace certrotd::issuer {

namespace {

// The base64 of k_max_csrattrs bytes of DER with line breaks, and some slack for sloppy servers.
constexpr std::size_t k_max_csrattrs_answer = 2 * est::k_max_csrattrs;
// Different warnings kept per credential before the oldest words may be said again (a server
// whose answer keeps changing cannot grow the set without bound).
constexpr std::size_t k_max_said = 16;

constexpr std::string_view k_subject_alt_name = "2.5.29.17";
constexpr std::string_view k_ext_key_usage = "2.5.29.37";

// What of `attrs` the CSR of `request` (for its csr_key) leaves out, each in a few words.
// `linked`: the CSR carries the TLS-unique value as its challengePassword (link_tls_unique).
std::vector<std::string> unhonoured(const est::CsrAttrs& attrs, const IssueRequest& request,
                                    bool linked) {
  std::vector<std::string> out;
  if (attrs.key && request.csr_key && request.csr_key->spec() != *attrs.key) {
    out.push_back("an " + x509::to_string(*attrs.key) + " key (the CSR's is " +
                  x509::to_string(request.csr_key->spec()) + ")");
  }
  for (const auto& oid : attrs.extensions) {
    // The extensions build_csr adds when the credential names what goes in them.
    if (oid == k_subject_alt_name && !request.request.sans.empty()) continue;
    if (oid == k_ext_key_usage && !request.request.usages.empty()) continue;
    if (oid == k_subject_alt_name) {
      out.emplace_back("the extension 2.5.29.17 (subjectAltName: the credential names no SANs)");
    } else if (oid == k_ext_key_usage) {
      out.emplace_back("the extension 2.5.29.37 (extKeyUsage: the credential names no usages)");
    } else {
      out.push_back("the extension " + oid);
    }
  }
  if (attrs.challenge_password && !linked) {
    out.emplace_back("a challengePassword (certrotd sends one only with link_tls_unique)");
  }
  for (const auto& what : attrs.unsupported) out.push_back(what);
  return out;
}

}  // namespace

std::optional<est::CsrAttrs> EstIssuer::fetch_csrattrs(const std::string& credential) {
  const auto without = [&](const std::string& why) -> std::optional<est::CsrAttrs> {
    if (m_deps.warn) {
      m_deps.warn(credential, why + "; enrolling without the server's CSR attributes");
    }
    return std::nullopt;
  };
  // Like /cacerts, without a client certificate: RFC 7030 leaves the authentication of
  // /csrattrs to the server (protocols.md §3), and choosing an identity here would say the
  // bootstrap warnings of the enrollment twice. A server that insists answers 401: a warning.
  http::Request get = base_request(url("csrattrs"));
  get.max_response_bytes = k_max_csrattrs_answer;
  get.headers = {{"Accept", "application/csrattrs"}};
  auto response = m_deps.transport->perform(get);
  if (!response) return without(transport_error(response.error(), "est csrattrs").what());
  // §4.5.2: 204 or 404 say the server asks for nothing.
  if (response->status == 204 || response->status == 404) return est::CsrAttrs{};
  auto ok = http::expect_success(std::move(*response), get.url, m_deps.clock->wall_now());
  if (!ok) return without(transport_error(ok.error(), "est csrattrs").what());
  if (ok->status != 200) {
    return without("est csrattrs: status " + std::to_string(ok->status) + " carries no attributes");
  }
  if (ok->body.find_first_not_of(" \t\r\n") == std::string::npos) return est::CsrAttrs{};
  auto der = est::decode_body(ok->body);
  if (!der) return without(der.error().wrap("est csrattrs").what());
  auto attrs = est::parse_csrattrs(*der);
  if (!attrs) return without(attrs.error().wrap("est csrattrs").what());
  return std::move(*attrs);
}

Result<std::optional<Issuer::RequestedKey>> EstIssuer::requested_key(const IssueRequest& request) {
  if (m_est.server_generated_key) return std::optional<RequestedKey>{};
  auto attrs = fetch_csrattrs(request.credential);
  std::optional<RequestedKey> out;
  if (attrs && attrs->key) out = RequestedKey{*attrs->key, "the EST server (/csrattrs)"};
  std::lock_guard lock(m_attrs_mutex);
  m_attrs.insert_or_assign(request.credential, std::move(attrs));
  return out;
}

void EstIssuer::note_csrattrs(const IssueRequest& request) {
  std::optional<est::CsrAttrs> attrs;
  bool kept = false;
  {
    std::lock_guard lock(m_attrs_mutex);
    if (auto it = m_attrs.find(request.credential); it != m_attrs.end()) {
      attrs = std::move(it->second);
      m_attrs.erase(it);
      kept = true;
    }
  }
  // A request kept after a 202 goes again as it was; what it lacks was said when it went.
  if (!kept && request.state) return;
  if (!kept) attrs = fetch_csrattrs(request.credential);
  if (!attrs) return;
  const auto missing = unhonoured(*attrs, request, m_est.link_tls_unique);
  if (missing.empty()) return;
  std::string text = "the EST server asks (/csrattrs) for what certrotd does not put in the CSR: ";
  for (std::size_t i = 0; i < missing.size(); ++i) text += (i == 0 ? "" : "; ") + missing[i];
  text += "; enrolling without it";
  {
    std::lock_guard lock(m_attrs_mutex);
    auto& said = m_said[request.credential];
    if (said.contains(text)) return;
    if (said.size() >= k_max_said) said.clear();
    said.insert(text);
  }
  if (m_deps.warn) m_deps.warn(request.credential, text);
}

}  // namespace certrotd::issuer
