// Small string helpers shared by several modules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace certrotd {

std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
bool starts_with_ci(std::string_view s, std::string_view prefix);
std::string to_lower(std::string_view s);

// Edit distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a plausible typo, else empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// A stable 64-bit hash (FNV-1a) — the same on every host and run, unlike std::hash.
std::uint64_t stable_hash(std::string_view s);

}  // namespace certrotd
