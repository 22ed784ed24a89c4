// Runs independent pieces of work on a few threads at once: start-up chores that are a handful
// of syscalls each, but 10,000 of them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace certrotd {

// Calls fn(i) for every i in [0, count), on up to `max_threads` threads (the caller's included),
// and returns when all calls have. fn must be safe to call concurrently for distinct i.
template <typename Fn>
void parallel_for(std::size_t count, std::size_t max_threads, Fn&& fn) {
  const std::size_t threads = std::min(std::max<std::size_t>(max_threads, 1), count);
  std::atomic<std::size_t> next{0};
  const auto drain = [&] {
    for (std::size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::jthread> helpers;
  for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(drain);
  drain();
}

// What parallel_for should use for chores that mostly wait on the kernel.
inline std::size_t chore_threads() {
  return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
}

}  // namespace certrotd
