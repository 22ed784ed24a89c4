#include "util/rfc3339.hpp"

#include <gtest/gtest.h>

namespace certrotd {
namespace {

using namespace std::chrono;

SystemTime at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s);
}

TEST(FormatRfc3339, WritesUtcWithZ) {
  EXPECT_EQ(format_rfc3339(at(2024, 5, 1, 12, 0, 0)), "2024-05-01T12:00:00Z");
  EXPECT_EQ(format_rfc3339(SystemTime{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(at(2024, 2, 29, 23, 59, 59)), "2024-02-29T23:59:59Z");
  EXPECT_EQ(format_rfc3339(at(2100, 12, 31, 23, 59, 59)), "2100-12-31T23:59:59Z");
}

TEST(FormatRfc3339, TruncatesOrKeepsTheFractionAsAsked) {
  const SystemTime t = at(2024, 5, 1, 12, 0, 0) + milliseconds(1500);
  EXPECT_EQ(format_rfc3339(t), "2024-05-01T12:00:01Z");
  EXPECT_EQ(format_rfc3339(t, Fraction::when_nonzero), "2024-05-01T12:00:01.5Z");
  EXPECT_EQ(format_rfc3339(at(2024, 5, 1) + microseconds(1), Fraction::when_nonzero),
            "2024-05-01T00:00:00.000001Z");
  EXPECT_EQ(format_rfc3339(at(2024, 5, 1), Fraction::when_nonzero), "2024-05-01T00:00:00Z");
  // Before 1970 the second still rounds down, not toward zero.
  EXPECT_EQ(format_rfc3339(SystemTime{} - milliseconds(500)), "1969-12-31T23:59:59Z");
}

TEST(ParseRfc3339, ReadsWhatFormatWrites) {
  for (const SystemTime t :
       {at(2024, 2, 29, 6, 7, 8), SystemTime{}, at(2024, 5, 1) + nanoseconds(123456789),
        at(1999, 12, 31) - nanoseconds(1)}) {
    const SystemTime exact = time_point_cast<SystemTime::duration>(t);
    EXPECT_EQ(parse_rfc3339(format_rfc3339(exact, Fraction::when_nonzero)).value(), exact);
  }
}

TEST(ParseRfc3339, AcceptsLeapDaysOffsetsFractionsAndLowerCase) {
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z").value(), at(2024, 2, 29));
  EXPECT_EQ(parse_rfc3339("2000-02-29T00:00:00Z").value(), at(2000, 2, 29));
  EXPECT_EQ(parse_rfc3339("2024-05-01T14:00:00+02:00").value(), at(2024, 5, 1, 12));
  EXPECT_EQ(parse_rfc3339("2024-05-01T06:30:00-05:30").value(), at(2024, 5, 1, 12));
  EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00-00:00").value(), at(2024, 5, 1, 12));
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:30:00+01:00").value(), at(2023, 12, 31, 23, 30));
  EXPECT_EQ(parse_rfc3339("2024-05-01t12:00:00z").value(), at(2024, 5, 1, 12));
  EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00.5Z").value(), at(2024, 5, 1, 12) + 500ms);
  EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00.000000001Z").value(),
            time_point_cast<SystemTime::duration>(at(2024, 5, 1, 12) + 1ns));
  // Digits past the nanosecond are read and dropped.
  EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00.1234567891234Z").value(),
            time_point_cast<SystemTime::duration>(at(2024, 5, 1, 12) + 123456789ns));
  EXPECT_EQ(parse_rfc3339("2024-05-01T14:00:00.25+02:00").value(), at(2024, 5, 1, 12) + 250ms);
  // A leap second: system_clock has none, so it is the next minute's first second.
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z").value(), at(2017, 1, 1));
}

TEST(ParseRfc3339, RefusesGarbage) {
  for (const char* text : {"",
                           "garbage",
                           "2024-05-01",
                           "2024-05-01T12:00:00",
                           "2024-05-01 12:00:00Z",
                           "2024-5-01T12:00:00Z",
                           "2023-02-29T00:00:00Z",
                           "2024-13-01T00:00:00Z",
                           "2024-04-31T00:00:00Z",
                           "2024-05-01T24:00:00Z",
                           "2024-05-01T12:60:00Z",
                           "2024-05-01T12:00:61Z",
                           "2024-05-01T12:00:00.Z",
                           "2024-05-01T12:00:00+2:00",
                           "2024-05-01T12:00:00+0200",
                           "2024-05-01T12:00:00+24:00",
                           "2024-05-01T12:00:00+02:60",
                           "2024-05-01T12:00:00Zjunk",
                           "2024-05-01T12:00:00 Z",
                           "-024-05-01T12:00:00Z",
                           "+2024-05-01T12:00:00Z",
                           "2024-05-01T12:00:00,5Z"}) {
    EXPECT_FALSE(parse_rfc3339(text)) << text;
  }
}

TEST(ParseRfc3339, NamesTheTextInTheError) {
  const auto parsed = parse_rfc3339("tomorrow");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().context, "tomorrow");
}

}  // namespace
}  // namespace certrotd
