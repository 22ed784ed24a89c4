#include "util/rfc3339.hpp"

#include <array>
#include <cstdint>
#include <cstdio>

namespace certrotd {

namespace {

using namespace std::chrono;

// Exactly `len` ASCII digits at `pos` (from_chars would also take a sign).
bool read_digits(std::string_view text, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > text.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

bool is_char(std::string_view text, std::size_t pos, std::string_view choices) {
  return pos < text.size() && choices.find(text[pos]) != std::string_view::npos;
}

// "YYYY-MM-DDTHH:MM:SS", the part every timestamp has; seconds may be 60 (a leap second).
std::optional<sys_seconds> read_date_time(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!read_digits(text, 0, 4, y) || !is_char(text, 4, "-") || !read_digits(text, 5, 2, mo) ||
      !is_char(text, 7, "-") || !read_digits(text, 8, 2, d) || !is_char(text, 10, "Tt") ||
      !read_digits(text, 11, 2, h) || !is_char(text, 13, ":") || !read_digits(text, 14, 2, mi) ||
      !is_char(text, 16, ":") || !read_digits(text, 17, 2, s)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  return sys_days{ymd} + hours(h) + minutes(mi) + seconds(s);
}

// ".123456789…" at `pos`, advancing it; nanoseconds, further digits dropped.
std::optional<nanoseconds> read_fraction(std::string_view text, std::size_t& pos) {
  if (!is_char(text, pos, ".")) return nanoseconds{0};
  ++pos;
  std::int64_t value = 0;
  int digits = 0;
  for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
    if (digits < 9) value = value * 10 + (text[pos] - '0');
  }
  if (digits == 0) return std::nullopt;
  for (int i = digits; i < 9; ++i) value *= 10;
  return nanoseconds(value);
}

// "Z", "+HH:MM" or "-HH:MM", and nothing after it: how far the local time is ahead of UTC.
std::optional<minutes> read_offset(std::string_view zone) {
  if (zone == "Z" || zone == "z") return minutes{0};
  int oh = 0, om = 0;
  if (zone.size() != 6 || !is_char(zone, 0, "+-") || !read_digits(zone, 1, 2, oh) ||
      !is_char(zone, 3, ":") || !read_digits(zone, 4, 2, om) || oh > 23 || om > 59) {
    return std::nullopt;
  }
  const minutes offset = hours(oh) + minutes(om);
  return zone[0] == '-' ? -offset : offset;
}

// ".5" for half a second: the fraction's digits without trailing zeros.
std::string fraction_text(nanoseconds fraction) {
  std::array<char, 16> buf{};
  const int n = std::snprintf(buf.data(), buf.size(), ".%09lld",
                              static_cast<long long>(fraction.count()));
  std::string digits(buf.data(), static_cast<std::size_t>(n));
  digits.erase(digits.find_last_not_of('0') + 1);
  return digits;
}

}  // namespace

std::string format_rfc3339(SystemTime t, Fraction fraction) {
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<SystemTime::duration> tod{t - day};
  std::array<char, 64> buf{};
  const int n = std::snprintf(
      buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
      static_cast<int>(tod.seconds().count()));
  std::string out(buf.data(), static_cast<std::size_t>(n));
  const auto subseconds = duration_cast<nanoseconds>(tod.subseconds());
  if (fraction == Fraction::when_nonzero && subseconds.count() != 0) {
    out += fraction_text(subseconds);
  }
  return out + "Z";
}

Result<SystemTime> parse_rfc3339(std::string_view text) {
  const auto shown = std::string(text.substr(0, 64));
  const auto date_time = read_date_time(text);
  if (!date_time) return fail("not an RFC 3339 date and time (YYYY-MM-DDTHH:MM:SSZ)", shown);
  std::size_t pos = 19;
  const auto fraction = read_fraction(text, pos);
  if (!fraction) return fail("an RFC 3339 fraction needs digits after the '.'", shown);
  const auto offset = read_offset(text.substr(pos));
  if (!offset) return fail("an RFC 3339 time ends in Z or an offset like +02:00", shown);
  return time_point_cast<SystemTime::duration>(*date_time + *fraction - *offset);
}

}  // namespace certrotd
