#include "dns/wire.hpp"

#include <array>
#include <optional>

namespace certrotd::dns {

namespace {

constexpr std::size_t k_max_label = 63;
constexpr std::size_t k_max_name = 255;  // wire form, RFC 1035 §2.3.4
// A name of 255 bytes has at most 127 labels; more pointer jumps than that can only be a loop.
constexpr int k_max_jumps = 128;

bool name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

tl::unexpected<Error> malformed(std::string_view what) {
  return fail(Reason::invalid_answer, "malformed DNS message: " + std::string(what));
}

// The offset a compression pointer at `pos` points to (RFC 1035 §4.1.4).
Result<std::size_t> follow_pointer(std::string_view wire, std::size_t pos, int& jumps) {
  if (pos + 1 >= wire.size()) return malformed("compression pointer cut short");
  if (++jumps > k_max_jumps) return malformed("compression pointers loop");
  return static_cast<std::size_t>(read_u16(wire, pos) & 0x3fff);
}

// Appends the label at `pos` (lower case, with its dot) to `out`; returns the offset after it.
Result<std::size_t> append_label(std::string_view wire, std::size_t pos, std::size_t& wire_length,
                                 std::string& out) {
  const auto length = static_cast<unsigned char>(wire[pos]);
  if ((length & 0xc0) != 0) return malformed("unknown label type");
  if (pos + 1 + length > wire.size()) return malformed("label runs past the end");
  wire_length += 1U + length;
  if (wire_length > k_max_name) return malformed("name longer than 255 bytes");
  for (const char c : wire.substr(pos + 1, length)) out.push_back(lower(c));
  out.push_back('.');
  return pos + 1 + length;
}

Result<Record> read_record(std::string_view wire, std::size_t& at) {
  Record r;
  r.offset = at;
  auto name = read_name(wire, at);
  if (!name) return fail(name.error());
  r.name = std::move(*name);
  if (wire.size() - at < 10) return malformed("record cut short");
  r.type = read_u16(wire, at);
  r.klass = read_u16(wire, at + 2);
  r.ttl = read_u32(wire, at + 4);
  const std::size_t length = read_u16(wire, at + 8);
  at += 10;
  if (wire.size() - at < length) return malformed("record data cut short");
  r.rdata = std::string(wire.substr(at, length));
  at += length;
  return r;
}

Result<void> read_records(std::string_view wire, std::size_t& at, std::size_t count,
                          std::vector<Record>& out) {
  for (std::size_t i = 0; i < count; ++i) {
    auto r = read_record(wire, at);
    if (!r) return fail(r.error());
    out.push_back(std::move(*r));
  }
  return {};
}

void append_header(std::string& out, std::uint16_t id, std::uint16_t flags,
                   const std::array<std::uint16_t, 4>& counts) {
  append_u16(out, id);
  append_u16(out, flags);
  for (const auto c : counts) append_u16(out, c);
}

}  // namespace

std::string rcode_name(int rcode) {
  static constexpr std::array<std::string_view, 11> k_names = {
      "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
      "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rcode >= 0 && static_cast<std::size_t>(rcode) < k_names.size()) {
    return std::string(k_names[static_cast<std::size_t>(rcode)]);
  }
  return "rcode " + std::to_string(rcode);
}

Result<std::string> normalize_name(std::string_view name) {
  if (name == ".") return std::string(".");
  if (name.empty()) return fail(Reason::config, "empty DNS name");
  std::string out;
  out.reserve(name.size() + 1);
  std::size_t label = 0;
  for (const char raw : name) {
    const char c = lower(raw);
    if (c == '.') {
      if (label == 0)
        return fail(Reason::config, "empty label in DNS name '" + std::string(name) + "'");
      label = 0;
    } else {
      if (!name_byte(c)) {
        return fail(Reason::config, "DNS name '" + std::string(name) +
                                        "' has a character other than letters, digits, '-', '_'");
      }
      if (++label > k_max_label) {
        return fail(Reason::config,
                    "a label of DNS name '" + std::string(name) + "' is longer than 63 bytes");
      }
    }
    out.push_back(c);
  }
  if (out.back() != '.') out.push_back('.');
  // Wire length: each dot becomes a length byte, plus the root's zero byte.
  if (out.size() + 1 > k_max_name) {
    return fail(Reason::config, "DNS name '" + std::string(name) + "' is longer than 255 bytes");
  }
  return out;
}

bool in_zone(std::string_view name, std::string_view zone) {
  if (zone == ".") return true;
  if (name.size() < zone.size() || name.substr(name.size() - zone.size()) != zone) return false;
  return name.size() == zone.size() || name[name.size() - zone.size() - 1] == '.';
}

void append_u16(std::string& out, std::uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value & 0xff));
}

void append_u32(std::string& out, std::uint32_t value) {
  append_u16(out, static_cast<std::uint16_t>(value >> 16));
  append_u16(out, static_cast<std::uint16_t>(value & 0xffff));
}

void append_name(std::string& out, std::string_view name) {
  std::size_t start = 0;
  while (start < name.size()) {
    const std::size_t dot = name.find('.', start);
    const std::size_t end = dot == std::string_view::npos ? name.size() : dot;
    if (end > start) {
      out.push_back(static_cast<char>(end - start));
      out.append(name.substr(start, end - start));
    }
    start = end + 1;
  }
  out.push_back('\0');
}

std::string txt_rdata(std::string_view text) {
  std::string out;
  do {
    const std::string_view chunk = text.substr(0, 255);
    out.push_back(static_cast<char>(chunk.size()));
    out.append(chunk);
    text.remove_prefix(chunk.size());
  } while (!text.empty());
  return out;
}

std::string build_query(std::uint16_t id, std::string_view name, std::uint16_t type) {
  std::string out;
  append_header(out, id, 0, {1, 0, 0, 0});
  append_name(out, name);
  append_u16(out, type);
  append_u16(out, k_class_in);
  return out;
}

std::string build_update(std::uint16_t id, std::string_view zone,
                         const std::vector<Record>& updates) {
  std::string out;
  const auto opcode = static_cast<std::uint16_t>(static_cast<unsigned>(Opcode::update) << 11);
  append_header(out, id, opcode, {1, 0, static_cast<std::uint16_t>(updates.size()), 0});
  // Zone section: the zone's name, type SOA, its class (RFC 2136 §2.3).
  append_name(out, zone);
  append_u16(out, k_type_soa);
  append_u16(out, k_class_in);
  for (const auto& r : updates) {
    append_name(out, r.name);
    append_u16(out, r.type);
    append_u16(out, r.klass);
    append_u32(out, r.ttl);
    append_u16(out, static_cast<std::uint16_t>(r.rdata.size()));
    out.append(r.rdata);
  }
  return out;
}

std::uint16_t read_u16(std::string_view wire, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(wire[at]) << 8) |
                                    static_cast<unsigned char>(wire[at + 1]));
}

std::uint32_t read_u32(std::string_view wire, std::size_t at) {
  return (static_cast<std::uint32_t>(read_u16(wire, at)) << 16) | read_u16(wire, at + 2);
}

Result<std::string> read_name(std::string_view wire, std::size_t& at) {
  std::string out;
  std::size_t pos = at;
  // Where the name ends in the message: after its first pointer, or after its zero byte.
  std::optional<std::size_t> end;
  int jumps = 0;
  std::size_t wire_length = 1;
  for (;;) {
    if (pos >= wire.size()) return malformed("name runs past the end");
    const auto length = static_cast<unsigned char>(wire[pos]);
    if (length == 0) break;
    if ((length & 0xc0) == 0xc0) {
      auto target = follow_pointer(wire, pos, jumps);
      if (!target) return fail(target.error());
      if (!end) end = pos + 2;
      pos = *target;
      continue;
    }
    auto next = append_label(wire, pos, wire_length, out);
    if (!next) return fail(next.error());
    pos = *next;
  }
  at = end.value_or(pos + 1);
  if (out.empty()) out = ".";
  return out;
}

Result<Message> parse_message(std::string_view wire) {
  if (wire.size() < k_header_size) return malformed("shorter than its header");
  if (wire.size() > k_max_message) return malformed("longer than 65535 bytes");
  Message m;
  m.id = read_u16(wire, 0);
  m.flags = read_u16(wire, 2);
  const std::size_t counts[4] = {read_u16(wire, 4), read_u16(wire, 6), read_u16(wire, 8),
                                 read_u16(wire, 10)};
  // Every question takes at least 5 bytes and every record at least 11: a count the message
  // cannot hold is refused before anything is reserved for it.
  if (counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 > wire.size() - k_header_size) {
    return malformed("counts larger than the message");
  }
  std::size_t at = k_header_size;
  for (std::size_t i = 0; i < counts[0]; ++i) {
    Question q;
    auto name = read_name(wire, at);
    if (!name) return fail(name.error());
    q.name = std::move(*name);
    if (wire.size() - at < 4) return malformed("question cut short");
    q.type = read_u16(wire, at);
    q.klass = read_u16(wire, at + 2);
    at += 4;
    m.questions.push_back(std::move(q));
  }
  if (auto r = read_records(wire, at, counts[1], m.answers); !r) return fail(r.error());
  if (auto r = read_records(wire, at, counts[2], m.authority); !r) return fail(r.error());
  if (auto r = read_records(wire, at, counts[3], m.additional); !r) return fail(r.error());
  if (at != wire.size()) return malformed("bytes after the last record");
  return m;
}

Result<std::string> txt_text(const Record& record) {
  std::string out;
  std::string_view rdata = record.rdata;
  while (!rdata.empty()) {
    const auto length = static_cast<unsigned char>(rdata[0]);
    if (rdata.size() < 1U + length) return malformed("TXT string cut short");
    out.append(rdata.substr(1, length));
    rdata.remove_prefix(1U + length);
  }
  return out;
}

}  // namespace certrotd::dns
