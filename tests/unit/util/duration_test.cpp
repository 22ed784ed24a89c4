#include "util/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace certrotd {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

milliseconds parsed(const std::string& text) {
  const auto r = parse_duration(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().what());
  return r ? *r : milliseconds(-1);
}

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parsed("250ms"), 250ms);
  EXPECT_EQ(parsed("90s"), 90s);
  EXPECT_EQ(parsed("15m"), 15min);
  EXPECT_EQ(parsed("12h"), 12h);
  EXPECT_EQ(parsed("7d"), std::chrono::hours(7 * 24));
  EXPECT_EQ(parsed("2w"), std::chrono::hours(14 * 24));
  EXPECT_EQ(parsed("0s"), 0ms);
}

TEST(ParseDuration, AddsCombinations) {
  EXPECT_EQ(parsed("1h30m"), 90min);
  EXPECT_EQ(parsed("1d2h3m4s5ms"), std::chrono::hours(26) + 3min + 4s + 5ms);
  EXPECT_EQ(parsed("1w1d"), std::chrono::hours(8 * 24));
  EXPECT_EQ(parsed("90m"), 90min) << "a unit may exceed the next larger one";
}

TEST(ParseDuration, RefusesMalformedInputWithTheAcceptedForms) {
  for (const std::string bad : {"30", "1.5h", "-5s", "+5s", "5 s", " 5s", "5s ", "5mins", "h",
                                "1h30", "5S", "5sec", "1h-", "ms"}) {
    const auto r = parse_duration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("units: ms, s, m, h, d, w"), std::string::npos) << bad;
    EXPECT_NE(r.error().message.find("'" + bad + "'"), std::string::npos)
        << "the message quotes the input: " << r.error().message;
    EXPECT_FALSE(r.error().retryable());
  }
}

TEST(ParseDuration, RefusesAnEmptyValueSayingSo) {
  const auto r = parse_duration("");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("empty"), std::string::npos) << r.error().message;
}

TEST(ParseDuration, AcceptsTheLargestRepresentableValue) {
  EXPECT_EQ(parsed("9223372036854775807ms"), milliseconds::max());
}

TEST(ParseDuration, RefusesOverflowAsTooLarge) {
  for (const std::string big :
       {"9223372036854775808ms", "106751991168d", "15250284453w", "99999999999999999999999s",
        "9223372036854775807ms1ms", "106751991167d1d"}) {
    const auto r = parse_duration(big);
    ASSERT_FALSE(r) << big;
    EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;
  }
}

TEST(FormatDuration, UsesTheLargestUnitsFirst) {
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(500ms), "500ms");
  EXPECT_EQ(format_duration(1s), "1s");
  EXPECT_EQ(format_duration(5400s), "1h30m");
  EXPECT_EQ(format_duration(std::chrono::hours(24 * 7)), "7d");
  EXPECT_EQ(format_duration(std::chrono::hours(25) + 1min + 1s), "1d1h1m1s");
  EXPECT_EQ(format_duration(1h + 1s), "1h1s");
}

TEST(FormatDuration, PrintsSubSecondRemaindersBelowOneMinuteAsAFraction) {
  EXPECT_EQ(format_duration(300ms), "300ms");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(1050ms), "1.05s");
  EXPECT_EQ(format_duration(59'999ms), "59.999s");
  EXPECT_EQ(format_duration(2000ms), "2s");
  EXPECT_EQ(format_duration(-1500ms), "-1.5s");
}

TEST(FormatDuration, DropsSubSecondRemaindersFromOneMinuteOn) {
  EXPECT_EQ(format_duration(120'000ms), "2m");
  EXPECT_EQ(format_duration(61'500ms), "1m1s");
}

TEST(FormatDuration, PrintsNegativeDurationsWithASign) {
  EXPECT_EQ(format_duration(-90s), "-1m30s");
  EXPECT_EQ(format_duration(-5ms), "-5ms");
  const std::string most_negative = format_duration(milliseconds::min());
  EXPECT_EQ(most_negative.front(), '-');
  EXPECT_EQ(most_negative.substr(0, 8), "-1067519") << most_negative;  // days, no overflow
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (const milliseconds d :
       {milliseconds(0), milliseconds(999), milliseconds(1000), milliseconds(86'399'000),
        milliseconds(90'061'000), milliseconds(1'209'600'000)}) {
    EXPECT_EQ(parsed(format_duration(d)), d) << format_duration(d);
  }
}

TEST(ParsePercentage, ReturnsAFraction) {
  EXPECT_DOUBLE_EQ(*parse_percentage("66%"), 0.66);
  EXPECT_DOUBLE_EQ(*parse_percentage("66.6%"), 0.666);
  EXPECT_DOUBLE_EQ(*parse_percentage("0%"), 0.0);
  EXPECT_DOUBLE_EQ(*parse_percentage("100%"), 1.0);
}

TEST(ParsePercentage, RefusesValuesOutsideZeroToHundredOrMalformed) {
  for (const std::string bad : {"", "66", "%", "101%", "-1%", "100.01%", "nan%", "NaN%", "inf%",
                                "abc%", " 5%", "5 %", "5%%"}) {
    const auto r = parse_percentage(bad);
    EXPECT_FALSE(r) << bad << " gave " << (r ? *r : 0.0);
    if (!r) {
      EXPECT_NE(r.error().message.find("'" + bad + "'"), std::string::npos) << r.error().message;
    }
  }
}

}  // namespace
}  // namespace certrotd
