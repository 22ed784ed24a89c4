// The engine on an sd-event loop: one monotonic timer armed for the earliest deadline (no
// polling, no wake-ups while nothing is due), an eventfd through which rotation workers hand back
// results, and inotify watches on every output folder so a certificate replaced by hand is
// adopted. The signals are the daemon's (lib/cli/run.cpp), which calls rotate(), reload() and
// shutdown().
//
// The watches share one inotify descriptor of the service's own rather than one
// sd_event_add_inotify source each: sd-event holds an O_PATH descriptor per watched inode until
// the loop runs, and 20,000 of them exhaust RLIMIT_NOFILE before the daemon is even ready.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "engine/engine.hpp"
#include "service/sd_handles.hpp"
#include "service/worker_pool.hpp"
#include "util/fd.hpp"

namespace certrotd::service {

// A configuration the daemon refused; the service manager's STATUS= shows it until a reload
// succeeds, because the journal entry alone is easy to miss after `systemctl reload`.
struct ReloadRejection {
  SystemTime at;
  std::string error;  // file:line:col and what is wrong; may span several lines
};

// The STATUS= line: "config reload rejected at 2026-11-25T10:00:00Z: config.yaml:12:5: ...;
// 12 credentials, next renewal web in 3h12m, 1 renewing, 1 failing". Only the first line of a
// rejection's error is shown (the event carries all of it). Cheap: no per-credential work.
std::string status_line(const engine::EngineSummary& summary, MonoTime now,
                        const ReloadRejection* rejected);

// How one rotation ended: renewed (with the serial now live) or failed (with why).
struct RotationOutcome {
  std::string name;
  bool renewed = false;
  std::string detail;  // "serial 1a2b..." or the error
};

class Service {
public:
  // `loop` must outlive the service. Starts the engine (reads every credential) and arms the
  // timer; due rotations start as soon as the loop runs.
  static Result<std::unique_ptr<Service>> create(sd_event* loop,
                                                 std::unique_ptr<engine::Engine> engine);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Rotate the named credentials (all when empty) now.
  Result<void> rotate(const std::vector<std::string>& names);
  // Engine::request_revocation; how it ended goes to on_revoked().
  Result<void> revoke(const std::string& name, issuer::RevocationReason reason);
  // Make the previous version of a credential live again; returns the version now live.
  Result<std::string> rollback(const std::string& name);
  // Engine::activate (the staged version made live now), then as rollback().
  Result<std::string> activate(const std::string& name);
  // Engine::rollback_to, then as rollback().
  Result<std::string> rollback_to(const std::string& name, std::string_view target,
                                  engine::Expired expired);
  // Swap in a new configuration; on error the old one stays.
  Result<void> reload(const config::Config& config);
  // Re-reads the configuration file and swaps it in (SIGHUP, `certrotd reload`). A file that
  // does not load, or a configuration the engine refuses, leaves the old one in place, emits a
  // reload-rejected event (priority error) and stays in rejected_reload() and status_line()
  // until a reload succeeds. Returns the same error.
  Result<void> reload_file(const std::string& path);
  const std::optional<ReloadRejection>& rejected_reload() const { return m_rejected; }
  std::string status_line() const;
  // Stop starting rotations, let running ones finish their swap, then exit the loop.
  void shutdown();

  engine::Engine& engine() { return *m_engine; }
  // Called after every change of schedule or state (the daemon sends STATUS= from it).
  void on_change(std::function<void()> callback) { m_on_change = std::move(callback); }
  // Called once per finished rotation (a new certificate asked of the issuer), after the
  // engine applied it: `certrotd rotate --wait` answers from there.
  void on_rotated(std::function<void(const RotationOutcome&)> callback) {
    m_on_rotated = std::move(callback);
  }

  // Called once per finished revocation (renewed: revoked), after the engine applied it.
  void on_revoked(std::function<void(const RotationOutcome&)> callback) {
    m_on_revoked = std::move(callback);
  }

private:
  // After a rollback made `version` live: watch it, hand out the dependents job, tell.
  Result<std::string> rolled_back(const std::string& name, Result<std::string> version);
  // The folder itself is the engine's to know (engine::Engine::output_dir); 10,000 of these live as
  // long as the daemon.
  struct Watch {
    int dir_wd = -1;   // the output folder
    int data_wd = -1;  // the live version folder, through `..data`
  };

  Service(sd_event* loop, std::unique_ptr<engine::Engine> engine);
  Result<void> setup();
  void pump();  // start due jobs, apply results, re-arm the timer
  void arm_timer();
  using DirMap = std::unordered_map<std::string, std::string>;
  // Watches every credential's folder; keeps the watches of those whose folder was `before`.
  void watch_all(const DirMap& before);
  void watch(const std::string& name, const std::filesystem::path& dir);
  void rewatch_data(const std::string& name, Watch& watch);
  void unwatch(Watch& watch);
  // `name` must be a key of m_watches: the descriptor is mapped to it, not to a copy.
  int add_watch(const std::string& path, std::uint32_t mask, const std::string& name);
  void remove_watch(int wd);
  void disk_changed(const std::string& name);

  static int on_timer(sd_event_source* s, uint64_t usec, void* userdata);
  static int on_results(sd_event_source* s, int fd, uint32_t revents, void* userdata);
  static int on_recheck(sd_event_source* s, uint64_t usec, void* userdata);
  static int on_inotify(sd_event_source* s, int fd, uint32_t revents, void* userdata);

  sd_event* m_loop;
  std::unique_ptr<engine::Engine> m_engine;
  Fd m_results_fd;  // eventfd written by workers
  std::unique_ptr<WorkerPool> m_pool;
  SdEventSourcePtr m_timer;
  SdEventSourcePtr m_results_source;
  SdEventSourcePtr m_recheck_timer;
  Fd m_inotify_fd;
  SdEventSourcePtr m_inotify_source;
  using WatchMap = std::unordered_map<std::string, Watch>;
  WatchMap m_watches;  // by credential; nodes stay put, so m_watch_names may point into them
  // inotify watch descriptor -> the credential's key in m_watches.
  std::unordered_map<int, const std::string*> m_watch_names;
  std::set<std::string> m_recheck;  // credentials whose folder changed, re-read after a pause
  // Credentials whose cert.pem and key.pem did not fit at the last look and that have been
  // given the grace period; the next look without further changes is the final one.
  std::set<std::string> m_unsettled;
  bool m_stopping = false;
  std::optional<ReloadRejection> m_rejected;
  std::function<void()> m_on_change;
  std::function<void(const RotationOutcome&)> m_on_rotated;
  std::function<void(const RotationOutcome&)> m_on_revoked;
};

}  // namespace certrotd::service
