#include "allocation_peak.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define CERTROTD_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CERTROTD_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef CERTROTD_COUNT_ALLOCATIONS
#define CERTROTD_COUNT_ALLOCATIONS 1
#endif

namespace {

std::atomic<std::size_t> g_held{0};
std::atomic<std::size_t> g_peak{0};

}  // namespace

#if CERTROTD_COUNT_ALLOCATIONS

// malloc_usable_size on both sides keeps the count exact without a header per block.
void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (!p) throw std::bad_alloc();
  const std::size_t held = g_held.fetch_add(malloc_usable_size(p)) + malloc_usable_size(p);
  std::size_t peak = g_peak.load();
  while (held > peak && !g_peak.compare_exchange_weak(peak, held)) {
  }
  return p;
}

void operator delete(void* p) noexcept {
  if (!p) return;
  g_held.fetch_sub(malloc_usable_size(p));
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

#endif

namespace certrotd::config::test {

bool AllocationPeak::available() { return CERTROTD_COUNT_ALLOCATIONS != 0; }

AllocationPeak::AllocationPeak() : m_base(g_held.load()) { g_peak.store(m_base); }

std::size_t AllocationPeak::bytes() const {
  const std::size_t peak = g_peak.load();
  return peak > m_base ? peak - m_base : 0;
}

}  // namespace certrotd::config::test
