// Human durations as written in the config and printed in logs: "90s", "15m", "12h", "7d",
// and combinations such as "1h30m". Plain numbers are refused: a bare "30" is ambiguous.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace certrotd {

// Units: ms, s, m, h, d, w. Returns an error naming the accepted forms.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest rendering, largest unit first: 5400s -> "1h30m", 0 -> "0s", 300ms -> "300ms",
// 1500ms -> "1.5s". Below a minute it is exact; from a minute on, the sub-second remainder is
// dropped (61.5s -> "1m1s"): there it is noise in a log line. Every message that prints a duration
// uses this, so whole seconds read as the config writes them.
std::string format_duration(std::chrono::milliseconds d);

// A percentage such as "66%" or "66.6%" as a fraction in [0, 1].
Result<double> parse_percentage(std::string_view text);

}  // namespace certrotd
