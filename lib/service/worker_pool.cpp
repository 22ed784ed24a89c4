#include "service/worker_pool.hpp"

namespace certrotd::service {

using engine::Job;
using engine::JobResult;
using engine::RotationEnv;

WorkerPool::WorkerPool(std::size_t threads, RotationEnv env, std::function<void()> notify)
    : m_env(env), m_notify(std::move(notify)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
    m_threads.emplace_back([this] { work(); });
  }
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::submit(Job job) {
  {
    std::lock_guard lock(m_mutex);
    m_queue.push_back(std::move(job));
  }
  m_wake.notify_one();
}

void WorkerPool::set_env(RotationEnv env) {
  std::lock_guard lock(m_mutex);
  m_env.emplace(env);
}

std::vector<JobResult> WorkerPool::take_results() {
  std::lock_guard lock(m_mutex);
  return std::exchange(m_results, {});
}

std::size_t WorkerPool::outstanding() const {
  std::lock_guard lock(m_mutex);
  return m_queue.size() + m_running + m_results.size();
}

std::vector<Job> WorkerPool::shutdown() {
  std::vector<Job> dropped;
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping && m_threads.empty()) return dropped;
    m_stopping = true;
    dropped.assign(std::make_move_iterator(m_queue.begin()),
                   std::make_move_iterator(m_queue.end()));
    m_queue.clear();
  }
  m_wake.notify_all();
  for (auto& t : m_threads) {
    if (t.joinable()) t.join();
  }
  m_threads.clear();
  return dropped;
}

void WorkerPool::work() {
  while (true) {
    Job job;
    std::optional<RotationEnv> env;
    {
      std::unique_lock lock(m_mutex);
      m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
      if (m_stopping) return;
      job = std::move(m_queue.front());
      m_queue.pop_front();
      ++m_running;
      env.emplace(*m_env);
    }
    JobResult result = run_job(std::move(job), *env);
    {
      std::lock_guard lock(m_mutex);
      m_results.push_back(std::move(result));
      --m_running;
    }
    m_notify();
  }
}

}  // namespace certrotd::service
