// Errors as values at every lib/ module edge.
//
// `Result<T>` is `tl::expected<T, Error>`. An `Error` says what went wrong (`message`), where
// (`context`, e.g. "config.yaml:12:5" or a file path) and whether trying again later may help
// (`kind`). No exception crosses a lib/ boundary.
#pragma once

#include <chrono>
#include <optional>
#include <string>
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

struct Error {
  ErrorKind kind = ErrorKind::permanent;
  std::string message;
  std::string context;  // file:line:col, a path, a URL; empty when none applies
  // How long the other side asked us to wait (HTTP Retry-After), already clamped; the engine
  // waits at least this long before the next attempt.
  std::optional<std::chrono::milliseconds> retry_after;

  bool retryable() const { return kind == ErrorKind::retryable; }

  // "context: message", or just the message.
  std::string what() const { return context.empty() ? message : context + ": " + message; }

  // The same error seen from an outer layer: "outer: inner".
  Error wrap(const std::string& outer) const {
    Error e = *this;
    e.message = outer + ": " + message;
    return e;
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

// Builds the error side of a Result: `return fail("no such file", path);`
inline tl::unexpected<Error> fail(std::string message, std::string context = {},
                                  ErrorKind kind = ErrorKind::permanent) {
  return tl::unexpected<Error>(Error{kind, std::move(message), std::move(context), std::nullopt});
}

inline tl::unexpected<Error> fail_retryable(std::string message, std::string context = {}) {
  return fail(std::move(message), std::move(context), ErrorKind::retryable);
}

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace certrotd
