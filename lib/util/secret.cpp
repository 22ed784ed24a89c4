#include "util/secret.hpp"

#include <openssl/crypto.h>

#include "util/files.hpp"

namespace certrotd {

namespace {

void cleanse(std::string& text) noexcept {
  if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

}  // namespace

// Copying the bytes and wiping the source, rather than moving the std::string: a moved short
// string leaves its characters behind in the source's inline buffer.
// NOLINTNEXTLINE(performance-move-constructor-init): the copy is the point, see above.
Secret::Secret(Secret&& other) noexcept : m_value(other.m_value) { other.wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    m_value = other.m_value;
    other.wipe();
  }
  return *this;
}

void Secret::wipe() noexcept { cleanse(m_value); }

Result<Secret> read_secret_file(const std::filesystem::path& file, std::string_view what) {
  auto text = read_file(file);
  if (!text) return fail(text.error().wrap("cannot read the " + std::string(what)));
  Secret secret(std::string_view(*text).substr(0, text->find_first_of("\r\n")));
  cleanse(*text);
  if (secret.size() == 0) return fail("the " + std::string(what) + " is empty", file.string());
  return secret;
}

}  // namespace certrotd
