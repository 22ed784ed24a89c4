// Compiled by the `result_is_nodiscard` tests: with CERTROTD_DISCARD defined this drops a
// Result and must not compile; without it, the same code checks the Result and must compile.
#include "util/result.hpp"

namespace {

certrotd::Result<int> answer() { return 42; }
certrotd::Result<void> done() { return {}; }

}  // namespace

int main() {
#ifdef CERTROTD_DISCARD
  CERTROTD_DISCARD();
  return 0;
#else
  const auto a = answer();
  const auto d = done();
  return a && d ? 0 : 1;
#endif
}
