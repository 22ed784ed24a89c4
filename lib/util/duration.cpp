#include "util/duration.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

namespace certrotd {

namespace {

constexpr std::string_view k_duration_help =
    "expected a duration such as 90s, 15m, 12h, 7d or 1h30m (units: ms, s, m, h, d, w)";

std::int64_t unit_millis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 3600 * 1000;
  if (unit == "d") return 86400LL * 1000;
  if (unit == "w") return 7 * 86400LL * 1000;
  return 0;
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const std::string original(text);
  if (text.empty()) {
    return fail(std::string(k_duration_help) + ", got an empty value");
  }
  std::int64_t total = 0;
  while (!text.empty()) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) {
      return fail("duration '" + original + "' is too large");
    }
    if (ec != std::errc() || ptr == text.data() || value < 0) {
      return fail(std::string(k_duration_help) + ", got '" + original + "'");
    }
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    std::size_t unit_len = 0;
    while (unit_len < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_len]))) {
      ++unit_len;
    }
    const std::int64_t factor = unit_millis(text.substr(0, unit_len));
    if (factor == 0) {
      return fail(std::string(k_duration_help) + ", got '" + original + "'");
    }
    if (value > (std::numeric_limits<std::int64_t>::max() - total) / factor) {
      return fail("duration '" + original + "' is too large");
    }
    total += value * factor;
    text.remove_prefix(unit_len);
  }
  return std::chrono::milliseconds(total);
}

namespace {

// "1.5s", "59.999s", "2s": seconds with the millisecond remainder as a decimal fraction.
std::string seconds_with_fraction(std::uint64_t ms) {
  std::string text = std::to_string(ms / 1000);
  if (const std::uint64_t rest = ms % 1000; rest != 0) {
    std::string digits = std::to_string(1000 + rest).substr(1);  // zero-padded to three
    while (digits.back() == '0') digits.pop_back();
    text += "." + digits;
  }
  return text + "s";
}

}  // namespace

std::string format_duration(std::chrono::milliseconds d) {
  // The magnitude is unsigned so that negating the most negative value cannot overflow.
  std::uint64_t ms = static_cast<std::uint64_t>(d.count());
  std::string out;
  if (d.count() < 0) {
    out = "-";
    ms = 0 - ms;
  }
  if (ms < 1000) {
    return out + std::to_string(ms) + (ms == 0 ? "s" : "ms");
  }
  if (ms < 60 * 1000) return out + seconds_with_fraction(ms);
  std::uint64_t s = ms / 1000;
  const struct {
    std::uint64_t seconds;
    const char* unit;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  for (const auto& u : units) {
    if (s >= u.seconds) {
      out += std::to_string(s / u.seconds) + u.unit;
      s %= u.seconds;
    }
  }
  return out;
}

Result<double> parse_percentage(std::string_view text) {
  const std::string original(text);
  if (text.empty() || text.back() != '%') {
    return fail("expected a percentage such as 66%, got '" + original + "'");
  }
  text.remove_suffix(1);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // Written as a positive range check so that "nan%" (which from_chars accepts) is refused.
  if (ec != std::errc() || ptr != text.data() + text.size() || !(value >= 0 && value <= 100)) {
    return fail("expected a percentage between 0% and 100%, got '" + original + "'");
  }
  return value / 100.0;
}

}  // namespace certrotd
