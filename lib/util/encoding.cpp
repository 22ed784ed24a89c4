#include "util/encoding.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>

namespace certrotd {

namespace {

// EVP_EncodeBlock takes an int length; whole 3-byte groups per call keep any size encodable
// and the output identical to one call.
constexpr std::size_t k_encode_chunk = 3 * 1024 * 1024;

std::string encode_base64(std::span<const std::uint8_t> bytes) {
  std::string out((bytes.size() + 2) / 3 * 4, '\0');
  auto* to = reinterpret_cast<unsigned char*>(out.data());
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), k_encode_chunk);
    to += EVP_EncodeBlock(to, bytes.data(), static_cast<int>(n));
    bytes = bytes.subspan(n);
  }
  return out;
}

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

bool is_base64_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '+' ||
         c == '/';
}

// Decodes padded base64 whose characters were checked already. EVP_DecodeBlock returns whole
// 3-byte groups, so the bytes that stand for padding are cut off again.
Result<std::string> decode_checked(std::string_view text) {
  if (text.size() % 4 != 0) return fail("not base64: the length is not a multiple of 4");
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) return fail("base64 text too long");
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) {
    ERR_clear_error();
    return fail("not base64");
  }
  const auto padding = text.size() - std::min(text.size(), text.find_last_not_of('=') + 1);
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

// Payload characters from the alphabet, then at most two '=' and nothing after them.
bool well_formed_base64(std::string_view text) {
  const auto end = text.find('=');
  const std::string_view body = text.substr(0, end);
  if (!std::all_of(body.begin(), body.end(), is_base64_char)) return false;
  if (end == std::string_view::npos) return true;
  const std::string_view pad = text.substr(end);
  return pad.size() <= 2 && pad.find_first_not_of('=') == std::string_view::npos;
}

// OpenSSL skips a separator wherever it stands; certrotd wants exactly one between pairs.
bool separators_in_place(std::string_view text, char separator) {
  if (separator == '\0') return true;
  if (text.size() % 3 != 2) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((text[i] == separator) != (i % 3 == 2)) return false;
  }
  return true;
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> bytes) { return encode_base64(bytes); }

std::string base64_encode(std::string_view bytes) { return encode_base64(bytes_of(bytes)); }

Result<std::string> base64_decode(std::string_view text) {
  if (!well_formed_base64(text)) return fail("not base64: a character outside the alphabet");
  return decode_checked(text);
}

std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  std::string out = encode_base64(bytes);
  out.erase(out.find_last_not_of('=') + 1);
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

std::string base64url_encode(std::string_view bytes) { return base64url_encode(bytes_of(bytes)); }

Result<std::string> base64url_decode(std::string_view text) {
  std::string padded(text.substr(0, text.find_last_not_of('=') + 1));
  std::replace(padded.begin(), padded.end(), '-', '+');
  std::replace(padded.begin(), padded.end(), '_', '/');
  if (!std::all_of(padded.begin(), padded.end(), is_base64_char)) {
    return fail("not base64url: a character outside the alphabet");
  }
  // One character left over carries 6 bits, less than a byte: no encoder writes that.
  if (padded.size() % 4 == 1) return fail("not base64url: the length is impossible");
  padded.append((4 - padded.size() % 4) % 4, '=');
  return decode_checked(padded);
}

std::string hex_encode(std::span<const std::uint8_t> bytes, char separator) {
  if (bytes.empty()) return {};
  // Two digits a byte, a separator between bytes, and the NUL OpenSSL writes.
  std::string out(bytes.size() * 2 + (separator != '\0' ? bytes.size() - 1 : 0) + 1, '\0');
  std::size_t length = 0;
  OPENSSL_buf2hexstr_ex(out.data(), out.size(), &length, bytes.data(), bytes.size(), separator);
  out.resize(out.size() - 1);
  // OpenSSL writes upper case; certrotd shows hex in lower case (serials, fingerprints, ids).
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

Result<std::string> hex_decode(std::string_view text, char separator) {
  if (text.empty()) return std::string{};
  // The text goes to OpenSSL as a C string: a NUL inside would end it early.
  if (text.find('\0') != std::string_view::npos || !separators_in_place(text, separator)) {
    return fail("not hex");
  }
  const std::string c_text(text);
  std::string out(text.size() / 2 + 1, '\0');
  std::size_t length = 0;
  if (OPENSSL_hexstr2buf_ex(reinterpret_cast<unsigned char*>(out.data()), out.size(), &length,
                            c_text.c_str(), separator) != 1) {
    ERR_clear_error();
    return fail("not hex");
  }
  out.resize(length);
  return out;
}

}  // namespace certrotd
