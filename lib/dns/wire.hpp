// The DNS wire format (RFC 1035 §4), as far as certrotd speaks it: queries for one name and type,
// RFC 2136 UPDATE messages, and the parsing of answers to both.
//
// Names are handled in presentation form, lower case and ending in a dot ("example.com.");
// normalize_name() makes that form and refuses what DNS cannot carry. Parsing never trusts the
// answer: every count, length and compression pointer is checked against the message, so an
// answer can make the parser allocate at most a small multiple of its own size (itself at most
// 65535 bytes, the limit of both UDP and the TCP length prefix).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace certrotd::dns {

constexpr std::uint16_t k_type_soa = 6;
constexpr std::uint16_t k_type_txt = 16;
constexpr std::uint16_t k_type_tsig = 250;
constexpr std::uint16_t k_class_in = 1;
constexpr std::uint16_t k_class_none = 254;  // RFC 2136 §2.5.4: delete this one RR
constexpr std::uint16_t k_class_any = 255;

constexpr std::size_t k_header_size = 12;
constexpr std::size_t k_max_message = 65535;

enum class Opcode : std::uint8_t { query = 0, update = 5 };

// Header flag bits (RFC 1035 §4.1.1).
constexpr std::uint16_t k_flag_qr = 0x8000;
constexpr std::uint16_t k_flag_aa = 0x0400;
constexpr std::uint16_t k_flag_tc = 0x0200;

// "NOERROR", "REFUSED", "NOTAUTH", ...; the number for others.
std::string rcode_name(int rcode);

// "Example.COM" and "example.com." both give "example.com."; "." is the root. Errors for empty
// labels, labels over 63 bytes, names over 255 bytes in wire form, and bytes that are not letters,
// digits, '-', '_' or '*' (certrotd only ever writes host names and _acme-challenge labels).
Result<std::string> normalize_name(std::string_view name);

// Whether the normalized `name` is `zone` or below it ("a.example.com." in "example.com.").
bool in_zone(std::string_view name, std::string_view zone);

// Appends the uncompressed wire form of a normalized name.
void append_name(std::string& out, std::string_view name);
void append_u16(std::string& out, std::uint16_t value);
void append_u32(std::string& out, std::uint32_t value);

// The RDATA of a TXT record holding `text`, split into <character-string>s of at most 255 bytes.
std::string txt_rdata(std::string_view text);

// A resource record to write (an update) or as read from an answer.
struct Record {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = k_class_in;
  std::uint32_t ttl = 0;
  std::string rdata;
  std::size_t offset = 0;  // read records: where the record starts in the message
};

struct Question {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = k_class_in;
};

struct Message {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  // For an UPDATE these are the zone, prerequisite, update and additional sections.
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;

  bool response() const { return (flags & k_flag_qr) != 0; }
  bool truncated() const { return (flags & k_flag_tc) != 0; }
  int rcode() const { return flags & 0x0f; }
  Opcode opcode() const { return static_cast<Opcode>((flags >> 11) & 0x0f); }
};

// A query for `name` (normalized) and `type`, recursion not desired: certrotd asks the
// authoritative server itself.
std::string build_query(std::uint16_t id, std::string_view name, std::uint16_t type);

// An UPDATE of `zone` (its SOA in the zone section) with `updates` in the update section and no
// prerequisites (RFC 2136 §2).
std::string build_update(std::uint16_t id, std::string_view zone,
                         const std::vector<Record>& updates);

// Parses a whole message. Names are returned normalized, compression resolved.
Result<Message> parse_message(std::string_view wire);

// The text of a TXT record: its <character-string>s joined.
Result<std::string> txt_text(const Record& record);

// Reads a big-endian number at `at` (callers have checked the bounds).
std::uint16_t read_u16(std::string_view wire, std::size_t at);
std::uint32_t read_u32(std::string_view wire, std::size_t at);

// Reads the (possibly compressed) name at `at`; advances `at` past it.
Result<std::string> read_name(std::string_view wire, std::size_t& at);

}  // namespace certrotd::dns
