#include "util/errno_text.hpp"

#include <array>
#include <cstring>

namespace certrotd {

namespace {

// strerror_r comes in two shapes and _GNU_SOURCE (which g++ always defines) picks the GNU one.
// Overloading on its return type takes whichever the C library declares.

// GNU: returns the text, which may be a static string rather than `buf`.
[[maybe_unused]] std::string strerror_r_text(const char* text, const char* /*buf*/, int /*err*/) {
  return text;
}

// XSI: returns 0 and fills `buf`, or an error number for an unknown value.
[[maybe_unused]] std::string strerror_r_text(int result, const char* buf, int err) {
  if (result != 0) return "Unknown error " + std::to_string(err);
  return buf;
}

}  // namespace

std::string errno_text(int err) {
  std::array<char, 256> buf{};
  return strerror_r_text(::strerror_r(err, buf.data(), buf.size()), buf.data(), err);
}

}  // namespace certrotd
