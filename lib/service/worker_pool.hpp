// A fixed number of threads running rotation jobs, so at most N rotations are in flight and a
// slow issuer never stalls the event loop or the other credentials. Results are queued for the
// loop thread, which is woken through `notify` (an eventfd write in the daemon).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/engine.hpp"

namespace certrotd::service {

class WorkerPool {
public:
  // `notify` is called from a worker thread after each result is queued.
  WorkerPool(std::size_t threads, engine::RotationEnv env, std::function<void()> notify);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(engine::Job job);
  // Replaces the environment for jobs submitted from now on (after a reload).
  void set_env(engine::RotationEnv env);
  std::vector<engine::JobResult> take_results();
  // Jobs queued or running whose result has not been taken yet.
  std::size_t outstanding() const;

  // Drops queued jobs (returned, so the engine can reschedule them), waits for running ones to
  // finish their swap, and joins the threads. Results stay available through take_results().
  std::vector<engine::Job> shutdown();

private:
  void work();

  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<engine::Job> m_queue;
  std::vector<engine::JobResult> m_results;
  std::size_t m_running = 0;
  bool m_stopping = false;
  std::optional<engine::RotationEnv>
      m_env;  // optional: engine::RotationEnv holds references, so re-seat by emplace
  std::function<void()> m_notify;
  std::vector<std::thread> m_threads;
};

}  // namespace certrotd::service
