#include "schedule/timer_queue.hpp"

#include <utility>

namespace certrotd::schedule {

namespace {

// Equal deadlines are ordered by key, so pop_due is deterministic however the heap was built.
template <typename Entry>
bool earlier(const Entry& a, const Entry& b) {
  if (a.deadline != b.deadline) {
    return a.deadline < b.deadline;
  }
  return a.slot->first < b.slot->first;
}

}  // namespace

void TimerQueue::schedule(const std::string& key, MonoTime deadline) {
  if (const auto it = m_pos.find(key); it != m_pos.end()) {
    Slot& slot = *it;
    m_heap[slot.second].deadline = deadline;
    // The entry moved one way or the other; only one of these does anything.
    sift_up(slot.second);
    sift_down(slot.second);
    return;
  }
  const auto [it, added] = m_pos.emplace(key, m_heap.size());
  m_heap.push_back(Entry{deadline, &*it});
  sift_up(m_heap.size() - 1);
}

void TimerQueue::cancel(const std::string& key) {
  if (const auto it = m_pos.find(key); it != m_pos.end()) {
    remove_at(it->second);
  }
}

bool TimerQueue::contains(const std::string& key) const { return m_pos.contains(key); }

std::optional<MonoTime> TimerQueue::deadline_of(const std::string& key) const {
  if (const auto it = m_pos.find(key); it != m_pos.end()) {
    return m_heap[it->second].deadline;
  }
  return std::nullopt;
}

const std::string* TimerQueue::next_key() const {
  return m_heap.empty() ? nullptr : &m_heap.front().slot->first;
}

std::optional<MonoTime> TimerQueue::next_deadline() const {
  if (m_heap.empty()) {
    return std::nullopt;
  }
  return m_heap.front().deadline;
}

std::vector<std::string> TimerQueue::pop_due(MonoTime now) {
  std::vector<std::string> due;
  while (!m_heap.empty() && m_heap.front().deadline <= now) {
    due.push_back(m_heap.front().slot->first);
    remove_at(0);
  }
  return due;
}

void TimerQueue::sift_up(std::size_t i) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!earlier(m_heap[i], m_heap[parent])) {
      break;
    }
    swap_entries(i, parent);
    i = parent;
  }
}

void TimerQueue::sift_down(std::size_t i) {
  const std::size_t n = m_heap.size();
  while (true) {
    std::size_t smallest = i;
    const std::size_t left = 2 * i + 1;
    const std::size_t right = left + 1;
    if (left < n && earlier(m_heap[left], m_heap[smallest])) {
      smallest = left;
    }
    if (right < n && earlier(m_heap[right], m_heap[smallest])) {
      smallest = right;
    }
    if (smallest == i) {
      break;
    }
    swap_entries(i, smallest);
    i = smallest;
  }
}

void TimerQueue::swap_entries(std::size_t a, std::size_t b) {
  std::swap(m_heap[a], m_heap[b]);
  m_heap[a].slot->second = a;
  m_heap[b].slot->second = b;
}

void TimerQueue::remove_at(std::size_t i) {
  const std::size_t last = m_heap.size() - 1;
  if (i != last) {
    swap_entries(i, last);
  }
  // By iterator: erasing by a key that lives in the node being erased is asking for trouble.
  m_pos.erase(m_pos.find(m_heap[last].slot->first));
  m_heap.pop_back();
  if (i < m_heap.size()) {
    // The entry moved into slot i came from the bottom; it may belong above or below.
    sift_up(i);
    sift_down(i);
  }
}

}  // namespace certrotd::schedule
