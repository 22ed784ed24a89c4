// Errors as values at every lib/ module edge.
//
// `Result<T>` is `tl::expected<T, Error>`, marked [[nodiscard]]. An `Error` says what went wrong
// (`message`), where (`context`, e.g. "config.yaml:12:5" or a file path) and whether trying
// again later may help (`kind`). No exception crosses a lib/ boundary.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace certrotd {

enum class ErrorKind {
  // Trying again later may succeed: network, timeouts, HTTP 5xx, a busy disk.
  retryable,
  // Trying again with the same input will fail the same way: bad config, a CA answer that does
  // not validate, a rejected request. The engine still retries rotations at its backoff cap,
  // because an operator may fix the other side, but it alerts loudly.
  permanent,
};

// What kind of thing failed, for events (journal field CERTROT_REASON), counters and the operator:
// "network" heals by itself, "tls-client-rejected" needs someone to look at the identity.
enum class Reason {
  unspecified,
  network,              // DNS, connect, timeout, connection reset
  tls_server,           // the server's certificate or the handshake failed on our side
  tls_client_rejected,  // the other side refused our client certificate or client credentials
  http_status,          // an HTTP answer with an error status (or an OAuth2 error code)
  invalid_answer,       // an answer we could not use: not JSON, no certificate, did not validate
  io,                   // files and folders: not creatable, not writable, read-only, disk full
  config,               // something an operator must change in the configuration
  rate_limited,         // HTTP 429 or 503 with Retry-After
};

// "network", "tls-server", ...; "" for unspecified.
std::string_view to_string(Reason reason);

struct Error {
  ErrorKind kind = ErrorKind::permanent;
  std::string message;
  std::string context;  // file:line:col, a path, a URL; empty when none applies
  // How long the other side asked us to wait (HTTP Retry-After), already clamped; the engine
  // waits at least this long before the next attempt.
  std::optional<std::chrono::milliseconds> retry_after;
  Reason reason = Reason::unspecified;

  bool retryable() const { return kind == ErrorKind::retryable; }

  // "context: message", or just the message.
  std::string what() const { return context.empty() ? message : context + ": " + message; }

  // The same error seen from an outer layer: "outer: inner".
  Error wrap(const std::string& outer) const {
    Error e = *this;
    e.message = outer + ": " + message;
    return e;
  }

  // The same error with its reason class set (the innermost layer that knows it sets it).
  Error because(Reason why) const {
    Error e = *this;
    e.reason = why;
    return e;
  }
};

// tl::expected carries no [[nodiscard]]; this thin subclass adds it, so a dropped error is a
// compiler warning (an error with -Werror). It adds no state and converts both ways.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
public:
  using Base = tl::expected<T, Error>;
  using Base::Base;
  Result() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): a tl::expected is a Result.
  Result(Base base) : Base(std::move(base)) {}
};

// Builds the error side of a Result: `return fail("no such file", path);`
inline tl::unexpected<Error> fail(std::string message, std::string context = {},
                                  ErrorKind kind = ErrorKind::permanent) {
  return tl::unexpected<Error>(
      Error{kind, std::move(message), std::move(context), std::nullopt, Reason::unspecified});
}

// fail() with a reason class: `return fail(Reason::io, "cannot create folder", path);`
inline tl::unexpected<Error> fail(Reason reason, std::string message, std::string context = {},
                                  ErrorKind kind = ErrorKind::permanent) {
  return tl::unexpected<Error>(
      Error{kind, std::move(message), std::move(context), std::nullopt, reason});
}

inline tl::unexpected<Error> fail_retryable(std::string message, std::string context = {}) {
  return fail(std::move(message), std::move(context), ErrorKind::retryable);
}

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

inline std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::unspecified: return "";
    case Reason::network: return "network";
    case Reason::tls_server: return "tls-server";
    case Reason::tls_client_rejected: return "tls-client-rejected";
    case Reason::http_status: return "http-status";
    case Reason::invalid_answer: return "invalid-answer";
    case Reason::io: return "io";
    case Reason::config: return "config";
    case Reason::rate_limited: return "rate-limited";
  }
  return "";
}

}  // namespace certrotd
