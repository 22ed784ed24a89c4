// RFC 3339 timestamps, the one text form of a wall-clock time in certrotd: state files, the
// status JSON, journal fields and log lines.
//
// Output is always UTC with a 'Z' ("2024-05-01T12:00:00Z"). Input may carry any offset
// ("+02:00", "-05:30", "Z"), a fraction of any length (kept to the nanosecond, further digits
// dropped) and a leap second (":60", read as the first second of the next minute, since
// system_clock has no leap seconds); 'T' and 'Z' may be lower case (RFC 3339 §5.6).
#pragma once

#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd {

enum class Fraction {
  none,          // whole seconds, the fraction truncated: for people and the journal
  when_nonzero,  // ".5", ".000001": as many digits as the time has, so it reads back equal
};

std::string format_rfc3339(SystemTime t, Fraction fraction = Fraction::none);

// An error for anything else: a missing part, a day that does not exist ("2023-02-29"), an
// hour past 23, an offset past 23:59, an empty fraction, trailing text.
Result<SystemTime> parse_rfc3339(std::string_view text);

}  // namespace certrotd
