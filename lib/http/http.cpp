#include "http/transport.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "util/strings.hpp"

namespace certrotd::http {

namespace {

constexpr Millis k_retry_after_min = std::chrono::seconds(1);
constexpr Millis k_retry_after_max = std::chrono::hours(1);

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

// Field names compare case-insensitively (RFC 9110 §5.1).
bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ci(a, b);
}

}  // namespace

std::optional<std::string> Response::header(std::string_view name) const {
  const auto it = std::find_if(headers.begin(), headers.end(),
                               [&](const auto& field) { return same_name(field.first, name); });
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Response::header_values(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [field, value] : headers) {
    if (same_name(field, name)) values.push_back(value);
  }
  return values;
}

std::string Response::media_type() const {
  const auto type = header("content-type");
  if (!type) return {};
  return lower(trim(type->substr(0, type->find(';'))));
}

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::transport: return "transport error";
    case FailureKind::timeout: return "timeout";
    case FailureKind::tls_unknown_ca: return "TLS: server certificate not trusted";
    case FailureKind::tls_name_mismatch: return "TLS: server certificate name mismatch";
    case FailureKind::tls_client_cert_rejected: return "TLS: client certificate rejected";
    case FailureKind::tls_other: return "TLS error";
    case FailureKind::http_status: return "HTTP error";
    case FailureKind::too_large: return "response too large";
    case FailureKind::malformed: return "malformed response";
  }
  return "error";
}

bool Failure::retryable() const {
  switch (kind) {
    case FailureKind::transport:
    case FailureKind::timeout: return true;
    case FailureKind::http_status: return status >= 500 || status == 429 || status == 408;
    default: return false;
  }
}

Reason reason_of(const Failure& f) {
  switch (f.kind) {
    case FailureKind::transport:
    case FailureKind::timeout: return Reason::network;
    case FailureKind::tls_unknown_ca:
    case FailureKind::tls_name_mismatch:
    case FailureKind::tls_other: return Reason::tls_server;
    case FailureKind::tls_client_cert_rejected: return Reason::tls_client_rejected;
    case FailureKind::http_status:
      if (f.status == 429 || (f.status == 503 && f.retry_after)) return Reason::rate_limited;
      return Reason::http_status;
    case FailureKind::too_large:
    case FailureKind::malformed: return Reason::invalid_answer;
  }
  return Reason::unspecified;
}

Error to_error_impl(const Failure& f) {
  std::string message = std::string(to_string(f.kind));
  if (!f.message.empty()) message += ": " + f.message;
  return Error{f.retryable() ? ErrorKind::retryable : ErrorKind::permanent, std::move(message),
               f.url, f.retry_after, reason_of(f)};
}

Error Failure::to_error() const { return to_error_impl(*this); }

Failure naming_presented(Failure failure, const std::optional<ClientIdentity>& client) {
  if (!client || client->description.empty()) return failure;
  const bool about_certificate = failure.kind == FailureKind::tls_client_cert_rejected ||
                                 (failure.kind == FailureKind::http_status &&
                                  (failure.status == 401 || failure.status == 403 ||
                                   failure.body_summary.find("invalid_client") !=
                                       std::string::npos));
  if (about_certificate) failure.message += "; presented " + client->description;
  return failure;
}

std::optional<Millis> parse_retry_after(std::string_view value, SystemTime now) {
  const std::string v = trim(value);
  if (v.empty()) return std::nullopt;
  Millis wait{};
  if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
    long long seconds = 0;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec == std::errc::result_out_of_range) {
      wait = k_retry_after_max;
    } else if (ec != std::errc{} || ptr != v.data() + v.size()) {
      return std::nullopt;
    } else {
      wait = std::chrono::duration_cast<Millis>(std::chrono::seconds(std::min<long long>(
          seconds, std::chrono::duration_cast<std::chrono::seconds>(k_retry_after_max).count())));
    }
  } else {
    // curl_getdate understands the IMF-fixdate and the obsolete RFC 850 / asctime forms.
    const time_t when = curl_getdate(v.c_str(), nullptr);
    if (when < 0) return std::nullopt;
    const auto at = std::chrono::system_clock::from_time_t(when);
    wait = at > now ? std::chrono::duration_cast<Millis>(at - now) : Millis{0};
  }
  return std::clamp(wait, k_retry_after_min, k_retry_after_max);
}

std::string summarize_body(std::string_view body, std::string_view media_type) {
  if (body.empty()) return "(empty body)";
  if (media_type.find("json") != std::string_view::npos || (!body.empty() && body.front() == '{')) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_object()) {
      std::string out;
      const auto add = [&](const char* key) {
        const auto it = json.find(key);
        if (it == json.end() || !it->is_string()) return;
        if (!out.empty()) out += ": ";
        out += it->get<std::string>();
      };
      add("error");
      add("error_description");
      add("description");
      add("message");
      if (!out.empty()) return out.substr(0, 300);
    }
  }
  std::string out;
  for (const char c : body) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : ' ';
  }
  return trim(out);
}

std::string redact_url(std::string_view url) {
  const auto end = url.find_first_of("?#");
  return std::string(url.substr(0, end));
}

std::string form_encode(std::string_view value) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '*') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += k_hex[u >> 4];
      out += k_hex[u & 0x0f];
    }
  }
  return out;
}

std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += form_encode(name) + "=" + form_encode(value);
  }
  return out;
}

HttpResult<Response> expect_success(Response response, const std::string& url, SystemTime now) {
  if (response.status >= 200 && response.status < 300) return response;
  Failure f;
  f.kind = FailureKind::http_status;
  f.url = redact_url(url);
  f.status = response.status;
  if (const auto ra = response.header("retry-after")) f.retry_after = parse_retry_after(*ra, now);
  f.body_summary = summarize_body(response.body, response.media_type());
  f.message = "status " + std::to_string(response.status);
  if (response.status >= 300 && response.status < 400) {
    f.message += " (redirects are not followed";
    if (const auto location = response.header("location")) {
      f.message += "; Location: " + redact_url(*location);
    }
    f.message += ")";
  } else {
    f.message += ": " + f.body_summary;
  }
  return tl::unexpected<Failure>(std::move(f));
}

}  // namespace certrotd::http
