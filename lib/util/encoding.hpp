// Binary-to-text encodings, each written once on OpenSSL's encoders: base64 (RFC 4648 §4, with
// padding), base64url (§5, without padding, as JOSE uses it) and hex.
//
// Encoding cannot fail. Decoding can: the decoders return an error for any character outside
// the alphabet (white space included), for a length no encoding produces, and for misplaced
// padding. Errors never quote the input, which may be a secret.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace certrotd {

// "Zm9v", "Zg==". Bytes in, text out; the string_view overload encodes a string's bytes.
std::string base64_encode(std::span<const std::uint8_t> bytes);
std::string base64_encode(std::string_view bytes);

// Standard base64, padding required where RFC 4648 puts it.
Result<std::string> base64_decode(std::string_view text);

// "Zm9vYg" for "foob": the URL-safe alphabet ('-', '_') and no '=' padding.
std::string base64url_encode(std::span<const std::uint8_t> bytes);
std::string base64url_encode(std::string_view bytes);

// base64url as tokens carry it. Trailing '=' padding is accepted, and so are '+' and '/' (some
// token issuers send standard base64 in a JWT); anything else outside the alphabet is an error.
Result<std::string> base64url_decode(std::string_view text);

// Lower-case hex, optionally with a one-character separator between bytes ("ab:cd").
std::string hex_encode(std::span<const std::uint8_t> bytes, char separator = '\0');

// The bytes of hex text, upper or lower case; with a separator, exactly one between each pair
// ("ab:cd"). Odd digits, other characters or a misplaced separator are errors.
Result<std::string> hex_decode(std::string_view text, char separator = '\0');

}  // namespace certrotd
