#include "dns/tsig.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <optional>
#include <vector>

#include "util/encoding.hpp"
#include "util/files.hpp"

namespace certrotd::dns {

namespace {

constexpr std::size_t k_max_key_file = 64 * 1024;

// One token of BIND's configuration syntax: a word, a quoted string, or one of "{};".
struct Token {
  std::string text;
  bool quoted = false;
};

// Splits named.conf-style text into tokens, skipping "#", "//" and "/* */" comments.
std::optional<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if (c == '#' || text.substr(i, 2) == "//") {
      const std::size_t end = text.find('\n', i);
      i = end == std::string_view::npos ? text.size() : end;
    } else if (text.substr(i, 2) == "/*") {
      const std::size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) return std::nullopt;
      i = end + 2;
    } else if (c == '{' || c == '}' || c == ';') {
      out.push_back({std::string(1, c), false});
      ++i;
    } else if (c == '"') {
      const std::size_t end = text.find('"', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      out.push_back({std::string(text.substr(i + 1, end - i - 1)), true});
      i = end + 1;
    } else {
      std::size_t end = i;
      while (end < text.size() &&
             std::string_view(" \t\r\n{};\"").find(text[end]) == std::string_view::npos) {
        ++end;
      }
      out.push_back({std::string(text.substr(i, end - i)), false});
      i = end;
    }
  }
  return out;
}

void wipe(std::vector<Token>& tokens) {
  for (auto& t : tokens) OPENSSL_cleanse(t.text.data(), t.text.size());
}

const EVP_MD* digest_of(TsigAlgorithm algorithm) {
  return algorithm == TsigAlgorithm::hmac_sha512 ? EVP_sha512() : EVP_sha256();
}

std::string hmac(const TsigKey& key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(digest_of(key.algorithm), key.secret.view().data(), static_cast<int>(key.secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

void append_u48(std::string& out, std::uint64_t value) {
  append_u16(out, static_cast<std::uint16_t>(value >> 32));
  append_u32(out, static_cast<std::uint32_t>(value & 0xffffffffU));
}

// The "TSIG variables" that follow the message in the digest (RFC 8945 §4.3.3).
std::string variables(const TsigKey& key, std::uint64_t time_signed, std::uint16_t fudge,
                      std::uint16_t error, std::string_view other) {
  std::string out;
  append_name(out, key.name);
  append_u16(out, k_class_any);
  append_u32(out, 0);
  append_name(out, algorithm_name(key.algorithm));
  append_u48(out, time_signed);
  append_u16(out, fudge);
  append_u16(out, error);
  append_u16(out, static_cast<std::uint16_t>(other.size()));
  out.append(other);
  return out;
}

std::uint64_t unix_seconds(SystemTime t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

}  // namespace

Result<TsigFields> read_tsig_fields(std::string_view rdata) {
  TsigFields f;
  std::size_t at = 0;
  auto algorithm = read_name(rdata, at);
  if (!algorithm) return fail(algorithm.error());
  f.algorithm = std::move(*algorithm);
  const auto need = [&](std::size_t n) { return rdata.size() - at >= n; };
  if (!need(10)) return fail(Reason::invalid_answer, "TSIG record cut short");
  f.time_signed = (static_cast<std::uint64_t>(read_u16(rdata, at)) << 32) | read_u32(rdata, at + 2);
  f.fudge = read_u16(rdata, at + 6);
  const std::size_t mac_size = read_u16(rdata, at + 8);
  at += 10;
  if (!need(mac_size + 6)) return fail(Reason::invalid_answer, "TSIG record cut short");
  f.mac = std::string(rdata.substr(at, mac_size));
  at += mac_size;
  f.original_id = read_u16(rdata, at);
  f.error = read_u16(rdata, at + 2);
  const std::size_t other = read_u16(rdata, at + 4);
  at += 6;
  if (rdata.size() - at != other) return fail(Reason::invalid_answer, "TSIG record length wrong");
  f.other = std::string(rdata.substr(at));
  return f;
}

namespace {

Result<TsigAlgorithm> parse_algorithm(std::string_view name, std::string_view shown) {
  if (name == "hmac-sha256" || name == "hmac-sha256.") return TsigAlgorithm::hmac_sha256;
  if (name == "hmac-sha512" || name == "hmac-sha512.") return TsigAlgorithm::hmac_sha512;
  return fail(Reason::config,
              "TSIG algorithm '" + std::string(name) +
                  "' is not supported; make the key with `tsig-keygen -a hmac-sha256 NAME`",
              std::string(shown));
}

}  // namespace

std::string_view algorithm_name(TsigAlgorithm algorithm) {
  return algorithm == TsigAlgorithm::hmac_sha512 ? "hmac-sha512." : "hmac-sha256.";
}

std::string tsig_error_name(std::uint16_t error) {
  switch (error) {
    case 0: return "NOERROR";
    case k_tsig_badsig: return "BADSIG";
    case k_tsig_badkey: return "BADKEY";
    case k_tsig_badtime: return "BADTIME";
    case k_tsig_badtrunc: return "BADTRUNC";
    default: return "TSIG error " + std::to_string(error);
  }
}

Result<TsigKey> parse_key_file(std::string_view text, std::string_view shown) {
  const std::string where(shown);
  auto tokens = tokenize(text);
  if (!tokens) return fail(Reason::config, "unterminated quote or comment in the key file", where);
  struct Wipe {
    std::vector<Token>& t;
    ~Wipe() { wipe(t); }
  } wipe_tokens{*tokens};
  const auto& t = *tokens;
  const std::string expected =
      "not a BIND key file (key \"NAME\" { algorithm hmac-sha256; secret \"...\"; };)";
  if (t.size() < 4 || t[0].text != "key" || t[0].quoted || t[2].text != "{" || t[2].quoted) {
    return fail(Reason::config, expected, where);
  }
  auto name = normalize_name(t[1].text);
  if (!name) return fail(Reason::config, "bad key name: " + name.error().message, where);
  std::optional<TsigAlgorithm> algorithm;
  std::optional<Secret> secret;
  std::size_t i = 3;
  for (; i + 2 < t.size() && t[i].text != "}"; i += 3) {
    if (t[i + 2].text != ";") return fail(Reason::config, expected, where);
    if (t[i].text == "algorithm") {
      auto a = parse_algorithm(t[i + 1].text, shown);
      if (!a) return fail(a.error());
      algorithm = *a;
    } else if (t[i].text == "secret") {
      auto decoded = base64_decode(t[i + 1].text);
      if (!decoded) return fail(Reason::config, "the key's secret is not base64", where);
      secret.emplace(*decoded);
      OPENSSL_cleanse(decoded->data(), decoded->size());
    } else {
      return fail(Reason::config, "unknown statement '" + t[i].text + "' in the key", where);
    }
  }
  if (i >= t.size() || t[i].text != "}") return fail(Reason::config, expected, where);
  if (!algorithm) return fail(Reason::config, "the key has no algorithm", where);
  if (!secret || secret->size() == 0) return fail(Reason::config, "the key has no secret", where);
  TsigKey key;
  key.name = std::move(*name);
  key.algorithm = *algorithm;
  key.secret = std::move(*secret);
  return key;
}

Result<TsigKey> read_key_file(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text)
    return fail(text.error().wrap("cannot read the TSIG key file").because(Reason::config));
  const ScopeGuard wipe_text([&] { OPENSSL_cleanse(text->data(), text->size()); });
  if (text->size() > k_max_key_file) {
    return fail(Reason::config, "the TSIG key file is larger than 64 KiB", file.string());
  }
  return parse_key_file(*text, file.string());
}

std::string sign(std::string& wire, const TsigKey& key, SystemTime now) {
  return sign_at(wire, key, unix_seconds(now));
}

std::string sign_answer(std::string& wire, const TsigKey& key, std::string_view request_mac,
                        SystemTime now) {
  return sign_at(wire, key, unix_seconds(now), request_mac);
}

std::string sign_at(std::string& wire, const TsigKey& key, std::uint64_t time_signed,
                    std::optional<std::string_view> request_mac) {
  const auto fudge = static_cast<std::uint16_t>(k_fudge.count());
  std::string data;
  if (request_mac) {
    append_u16(data, static_cast<std::uint16_t>(request_mac->size()));
    data.append(*request_mac);
  }
  data += wire;
  std::string mac = hmac(key, data + variables(key, time_signed, fudge, 0, {}));
  const std::uint16_t id = read_u16(wire, 0);

  std::string rdata;
  append_name(rdata, algorithm_name(key.algorithm));
  append_u48(rdata, time_signed);
  append_u16(rdata, fudge);
  append_u16(rdata, static_cast<std::uint16_t>(mac.size()));
  rdata.append(mac);
  append_u16(rdata, id);
  append_u16(rdata, 0);  // error
  append_u16(rdata, 0);  // other len

  append_name(wire, key.name);
  append_u16(wire, k_type_tsig);
  append_u16(wire, k_class_any);
  append_u32(wire, 0);
  append_u16(wire, static_cast<std::uint16_t>(rdata.size()));
  wire.append(rdata);
  const std::uint16_t arcount = read_u16(wire, 10) + 1;
  wire[10] = static_cast<char>(arcount >> 8);
  wire[11] = static_cast<char>(arcount & 0xff);
  return mac;
}

Result<void> verify(std::string_view wire, const Message& message, const TsigKey& key,
                    std::optional<std::string_view> request_mac, SystemTime now) {
  const std::string rcode = rcode_name(message.rcode());
  if (message.additional.empty() || message.additional.back().type != k_type_tsig) {
    return fail(Reason::invalid_answer,
                std::string(request_mac ? "the server's answer" : "the request") + " (" + rcode +
                    ") is not signed with TSIG");
  }
  const Record& record = message.additional.back();
  auto fields = read_tsig_fields(record.rdata);
  if (!fields) return fail(fields.error());
  if (fields->error != 0) {
    return fail(Reason::tls_client_rejected,
                "the server refused TSIG key '" + key.name +
                    "': " + tsig_error_name(fields->error) + " (" + rcode + ")" +
                    (fields->error == k_tsig_badtime ? "; check both clocks" : ""));
  }
  if (record.name != key.name || fields->algorithm != algorithm_name(key.algorithm)) {
    return fail(Reason::invalid_answer, "the server's answer is signed with another key ('" +
                                            record.name + "', " + fields->algorithm + ")");
  }
  // The digest covers the request MAC (for an answer), then the message as it was before the TSIG
  // record was added: original ID, ARCOUNT one less (RFC 8945 §4.3.3, §5.3).
  std::string data;
  if (request_mac) {
    append_u16(data, static_cast<std::uint16_t>(request_mac->size()));
    data.append(*request_mac);
  }
  std::string unsigned_answer(wire.substr(0, record.offset));
  const auto arcount = static_cast<std::uint16_t>(message.additional.size() - 1);
  unsigned_answer[0] = static_cast<char>(fields->original_id >> 8);
  unsigned_answer[1] = static_cast<char>(fields->original_id & 0xff);
  unsigned_answer[10] = static_cast<char>(arcount >> 8);
  unsigned_answer[11] = static_cast<char>(arcount & 0xff);
  data.append(unsigned_answer);
  data.append(variables(key, fields->time_signed, fields->fudge, fields->error, fields->other));
  const std::string expected = hmac(key, data);
  // A truncated MAC (RFC 8945 §5.2.2.1) is not accepted: certrotd never asks for one.
  if (fields->mac.size() != expected.size() ||
      CRYPTO_memcmp(fields->mac.data(), expected.data(), expected.size()) != 0) {
    return fail(Reason::invalid_answer, "the TSIG signature of the server's answer is wrong");
  }
  const auto ours = static_cast<long long>(unix_seconds(now));
  const auto theirs = static_cast<long long>(fields->time_signed);
  if (ours - theirs > fields->fudge || theirs - ours > fields->fudge) {
    return fail(Reason::invalid_answer, "the server's TSIG time is more than " +
                                            std::to_string(fields->fudge) +
                                            " s from ours; check both clocks");
  }
  return {};
}

}  // namespace certrotd::dns
