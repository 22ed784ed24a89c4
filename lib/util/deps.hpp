// The process-level things lib/ uses, passed in rather than reached for. The daemon wires the
// real ones; tests wire a ManualClock, a SeededRandom and temporary directories.
#pragma once

#include "util/clock.hpp"
#include "util/random.hpp"

namespace certrotd {

struct Deps {
  Clock& clock;
  Random& random;
};

}  // namespace certrotd
