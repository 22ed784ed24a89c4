// Transaction signatures (TSIG, RFC 8945) with HMAC-SHA256 or HMAC-SHA512, and the key files
// BIND's tsig-keygen writes:
//
//   key "certrotd" {
//           algorithm hmac-sha256;
//           secret "base64...";
//   };
//
// The secret is held in a Secret and never appears in a message, not even in part.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "dns/wire.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

namespace certrotd::dns {

enum class TsigAlgorithm { hmac_sha256, hmac_sha512 };

// "hmac-sha256." as the algorithm is named on the wire (RFC 8945 §6).
std::string_view algorithm_name(TsigAlgorithm algorithm);

struct TsigKey {
  std::string name;  // normalized, "certrotd."
  TsigAlgorithm algorithm = TsigAlgorithm::hmac_sha256;
  Secret secret{""};  // the decoded key bytes
};

// TSIG error codes (RFC 8945 §3 and §5.3.2).
constexpr std::uint16_t k_tsig_badsig = 16;
constexpr std::uint16_t k_tsig_badkey = 17;
constexpr std::uint16_t k_tsig_badtime = 18;
constexpr std::uint16_t k_tsig_badtrunc = 22;
// "BADSIG", "BADKEY", ...; the number for others.
std::string tsig_error_name(std::uint16_t error);

// The first `key` statement of a BIND key file's text. `shown` names the file in errors. Errors
// for a missing algorithm or secret, an algorithm other than hmac-sha256/hmac-sha512, a secret
// that is not base64 or is empty.
Result<TsigKey> parse_key_file(std::string_view text, std::string_view shown);
// The same, read from `file` (at most 64 KiB; a FIFO or folder is refused).
Result<TsigKey> read_key_file(const std::filesystem::path& file);

// How long signed times may differ from ours (RFC 8945 §10 recommends 300 s).
constexpr std::chrono::seconds k_fudge{300};

// Signs the whole message `wire` (a request with no TSIG yet): appends the TSIG record and counts
// it in ARCOUNT. Returns the MAC, which the answer's signature covers (RFC 8945 §5.3).
std::string sign(std::string& wire, const TsigKey& key, SystemTime now);

// Signs an answer to a request whose MAC was `request_mac`, as a server does (§5.3); certrotd
// itself only needs it to play a server in tests.
std::string sign_answer(std::string& wire, const TsigKey& key, std::string_view request_mac,
                        SystemTime now);

// sign() or sign_answer() with the signing time `time_signed` (§4.3.3's Time Signed).
std::string sign_at(std::string& wire, const TsigKey& key, std::uint64_t time_signed,
                    std::optional<std::string_view> request_mac = std::nullopt);

// The fields of a TSIG record's RDATA (RFC 8945 §4.2).
struct TsigFields {
  std::string algorithm;
  std::uint64_t time_signed = 0;
  std::uint16_t fudge = 0;
  std::string mac;
  std::uint16_t original_id = 0;
  std::uint16_t error = 0;
  std::string other;
};
// Errors for RDATA that is cut short or too long.
Result<TsigFields> read_tsig_fields(std::string_view rdata);

// Checks the TSIG record that ends `wire` (parsed as `message`) against `key`: key and algorithm
// names, the MAC (in constant time), and the signing time within the fudge. For an answer,
// `request_mac` is the MAC of our request, which its digest covers (§5.3); nullopt checks a
// request (§5.2). A message without TSIG, or with a TSIG error (a server that refused our key
// answers BADKEY or BADSIG unsigned), is an error that names what the server said.
Result<void> verify(std::string_view wire, const Message& message, const TsigKey& key,
                    std::optional<std::string_view> request_mac, SystemTime now);

}  // namespace certrotd::dns
