// The most heap this test binary held at once, counted by replacing global operator new and
// delete (see allocation_peak.cpp). Only in builds without AddressSanitizer, whose own
// operator new must stay in place to check every other test: `available()` says which.
#pragma once

#include <cstddef>

namespace certrotd::config::test {

class AllocationPeak {
public:
  static bool available();
  // Starts a new measurement from what is held now.
  AllocationPeak();
  // Bytes held at the highest point since construction, above what was held then.
  std::size_t bytes() const;

private:
  std::size_t m_base;
};

}  // namespace certrotd::config::test
