// Secrets read from files: passphrases, client secrets, HMAC keys.
//
// The operator writes a secret into a file of its own (never into the YAML). The value is the
// file's first line: everything before the first CR or LF, so the line break that editors and
// `echo` add is not part of it, whether LF, CRLF or a lone CR. Lines after the first are ignored.
// An empty value is an error; neither the value nor any part of it appears in an error message.
//
// `Secret` owns the value and overwrites it (OPENSSL_cleanse) when destroyed or moved from, so
// the bytes do not outlive their use in freed memory. Hand `view()` to the call that needs it
// rather than copying it into a std::string.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace certrotd {

class Secret {
public:
  explicit Secret(std::string_view value) : m_value(value) {}
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { wipe(); }

  std::string_view view() const { return m_value; }
  // NUL-terminated, for C APIs (an OpenSSL passphrase callback's user data).
  const char* c_str() const { return m_value.c_str(); }
  char* data() { return m_value.data(); }
  std::size_t size() const { return m_value.size(); }

private:
  void wipe() noexcept;

  std::string m_value;
};

// The first line of `file`, as described above. `what` names the file in errors
// ("client secret file" -> "cannot read the client secret file", "the client secret file is
// empty"). Refuses a FIFO or a folder instead of blocking on it (read_file).
Result<Secret> read_secret_file(const std::filesystem::path& file, std::string_view what);

}  // namespace certrotd
