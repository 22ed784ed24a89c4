// The engine on an sd-event loop: one monotonic timer armed for the earliest deadline (no
// polling, no wake-ups while nothing is due), an eventfd through which rotation workers hand back
// results, and inotify watches on every output folder so a certificate replaced by hand is
// adopted. Signals stay in daemon/, which calls rotate(), reload() and shutdown().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "engine/engine.hpp"
#include "engine/sd_handles.hpp"
#include "engine/worker_pool.hpp"
#include "util/fd.hpp"

namespace certrotd::engine {

class Service {
public:
  // `loop` must outlive the service. Starts the engine (reads every credential) and arms the
  // timer; due rotations start as soon as the loop runs.
  static Result<std::unique_ptr<Service>> create(sd_event* loop, std::unique_ptr<Engine> engine);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Rotate the named credentials (all when empty) now.
  Result<void> rotate(const std::vector<std::string>& names);
  // Swap in a new configuration; on error the old one stays.
  Result<void> reload(const config::Config& config);
  // Stop starting rotations, let running ones finish their swap, then exit the loop.
  void shutdown();

  Engine& engine() { return *m_engine; }
  // Called after every change of schedule or state (the daemon sends STATUS= from it).
  void on_change(std::function<void()> callback) { m_on_change = std::move(callback); }

private:
  struct Watch {
    Service* service = nullptr;
    std::string name;
    std::filesystem::path dir;
    SdEventSourcePtr dir_source;
    SdEventSourcePtr data_source;  // the live version folder, through `..data`
  };

  Service(sd_event* loop, std::unique_ptr<Engine> engine);
  Result<void> setup();
  void pump();  // start due jobs, apply results, re-arm the timer
  void arm_timer();
  void watch_all();
  void watch(const std::string& name, const std::filesystem::path& dir);
  void rewatch_data(Watch& watch);
  void disk_changed(const std::string& name);

  static int on_timer(sd_event_source* s, uint64_t usec, void* userdata);
  static int on_results(sd_event_source* s, int fd, uint32_t revents, void* userdata);
  static int on_recheck(sd_event_source* s, uint64_t usec, void* userdata);
  static int on_inotify(sd_event_source* s, const struct inotify_event* event, void* userdata);

  sd_event* m_loop;
  std::unique_ptr<Engine> m_engine;
  Fd m_results_fd;  // eventfd written by workers
  std::unique_ptr<WorkerPool> m_pool;
  SdEventSourcePtr m_timer;
  SdEventSourcePtr m_results_source;
  SdEventSourcePtr m_recheck_timer;
  std::map<std::string, std::unique_ptr<Watch>> m_watches;
  std::set<std::string> m_recheck;  // credentials whose folder changed, re-read after a pause
  bool m_stopping = false;
  std::function<void()> m_on_change;
};

}  // namespace certrotd::engine
