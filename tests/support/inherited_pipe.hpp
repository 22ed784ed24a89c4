// A pipe whose write end a command inherits (no O_CLOEXEC): every process of the command holds
// it, so its read end sees EOF only once all of them are gone. Timeout tests use it to prove that
// a whole process group died, not just the shell.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "util/fd.hpp"

namespace certrotd::testing {

struct InheritedPipe {
  Fd read_end;
  Fd write_end;
  InheritedPipe() {
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  // The next line written, or "" at EOF. Waits at most `guard`, then returns "(still open)": a
  // bound so a broken kill fails the test instead of hanging it, not a timing assertion.
  std::string next(std::chrono::seconds guard = std::chrono::seconds(10)) const {
    std::string line;
    char c = 0;
    for (;;) {
      pollfd p{read_end.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(guard.count() * 1000)) == 0) return "(still open)";
      if (::read(read_end.get(), &c, 1) != 1) return line;
      if (c == '\n') return line;
      line += c;
    }
  }
};

}  // namespace certrotd::testing
