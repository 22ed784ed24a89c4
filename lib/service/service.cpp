#include "service/service.hpp"

#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

#include "config/config.hpp"
#include "util/duration.hpp"
#include "util/files.hpp"

namespace certrotd::service {

using engine::DiskCheck;
using engine::Engine;
using engine::EngineDeps;
using engine::EngineSummary;
using engine::Event;
using engine::EventKind;
using engine::JobKind;
using engine::Severity;

namespace {

// Timers may fire this much late, letting sd-event coalesce wake-ups; rotations are planned in
// minutes to days, so 250 ms is invisible.
constexpr std::uint64_t k_timer_accuracy_usec = 250'000;
// A hand replacement writes cert and key one after the other; re-read once the writes settle.
constexpr std::uint64_t k_recheck_delay_usec = 500'000;
// A key and certificate that still do not fit this long after the last write are a broken
// replacement, not one half-way (two `cp` commands typed one after the other): restore then.
constexpr std::uint64_t k_unsettled_grace_usec = 5'000'000;
constexpr std::uint32_t k_dir_events = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE |
                                       IN_MOVED_FROM | IN_ONLYDIR;
constexpr std::uint32_t k_data_events = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR;

std::uint64_t to_usec(MonoTime t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

std::uint64_t now_usec(sd_event* loop) {
  std::uint64_t now = 0;
  sd_event_now(loop, CLOCK_MONOTONIC, &now);
  return now;
}

}  // namespace

std::string status_line(const EngineSummary& summary, MonoTime now,
                        const ReloadRejection* rejected) {
  std::string text;
  if (rejected) {
    const std::string& error = rejected->error;
    text = "config reload rejected at " + format_rfc3339(rejected->at) + ": " +
           error.substr(0, error.find('\n')) + "; ";
  }
  text += std::to_string(summary.credentials) + " credentials";
  if (summary.next_at) {
    const auto wait = std::chrono::duration_cast<Millis>(*summary.next_at - now);
    text += ", next renewal " + summary.next_name + " in " +
            format_duration(std::max(wait, Millis(0)));
  }
  if (summary.renewing > 0) text += ", " + std::to_string(summary.renewing) + " renewing";
  if (summary.failing > 0) text += ", " + std::to_string(summary.failing) + " failing";
  return text;
}

Service::Service(sd_event* loop, std::unique_ptr<Engine> engine)
    : m_loop(loop), m_engine(std::move(engine)) {}

Service::~Service() {
  if (m_pool) m_pool->shutdown();
}

Result<std::unique_ptr<Service>> Service::create(sd_event* loop, std::unique_ptr<Engine> engine) {
  std::unique_ptr<Service> service(new Service(loop, std::move(engine)));
  if (auto r = service->setup(); !r) return fail(r.error());
  return service;
}

Result<void> Service::setup() {
  m_results_fd = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!m_results_fd) return fail("eventfd failed: " + errno_text(errno));
  const int results_fd = m_results_fd.get();
  const auto workers = static_cast<std::size_t>(m_engine->config().max_concurrent_rotations);
  m_pool = std::make_unique<WorkerPool>(workers, m_engine->rotation_env(), [results_fd] {
    const std::uint64_t one = 1;
    // A full counter still leaves the fd readable, which is all the loop needs.
    [[maybe_unused]] const auto n = ::write(results_fd, &one, sizeof one);
  });

  sd_event_source* source = nullptr;
  if (int r = sd_event_add_io(m_loop, &source, results_fd, EPOLLIN, &Service::on_results, this);
      r < 0) {
    return fail("cannot watch the result eventfd: " + errno_text(-r));
  }
  m_results_source.reset(source);  // owned by the service from here on
  if (int r = sd_event_add_time(m_loop, &source, CLOCK_MONOTONIC, UINT64_MAX, k_timer_accuracy_usec,
                                &Service::on_timer, this);
      r < 0) {
    return fail("cannot create the renewal timer: " + errno_text(-r));
  }
  m_timer.reset(source);
  if (int r = sd_event_add_time(m_loop, &source, CLOCK_MONOTONIC, UINT64_MAX, k_timer_accuracy_usec,
                                &Service::on_recheck, this);
      r < 0) {
    return fail("cannot create the recheck timer: " + errno_text(-r));
  }
  m_recheck_timer.reset(source);
  sd_event_source_set_enabled(m_recheck_timer.get(), SD_EVENT_OFF);

  m_inotify_fd = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!m_inotify_fd) return fail("inotify_init1 failed: " + errno_text(errno));
  if (int r = sd_event_add_io(m_loop, &source, m_inotify_fd.get(), EPOLLIN, &Service::on_inotify,
                              this);
      r < 0) {
    return fail("cannot watch the inotify descriptor: " + errno_text(-r));
  }
  m_inotify_source.reset(source);

  m_engine->start();
  watch_all({});
  pump();
  return {};
}

Result<void> Service::rotate(const std::vector<std::string>& names) {
  if (auto r = m_engine->request_rotation(names); !r) return r;
  pump();
  return {};
}

Result<void> Service::revoke(const std::string& name, issuer::RevocationReason reason) {
  if (auto r = m_engine->request_revocation(name, reason); !r) return r;
  pump();
  return {};
}

Result<std::string> Service::rollback(const std::string& name) {
  return rolled_back(name, m_engine->rollback(name));
}

Result<std::string> Service::activate(const std::string& name) {
  return rolled_back(name, m_engine->activate(name));
}

Result<std::string> Service::rollback_to(const std::string& name, std::string_view target,
                                         engine::Expired expired) {
  return rolled_back(name, m_engine->rollback_to(name, target, expired));
}

Result<std::string> Service::rolled_back(const std::string& name, Result<std::string> version) {
  if (!version) return version;
  if (auto it = m_watches.find(name); it != m_watches.end()) rewatch_data(it->first, it->second);
  pump();
  if (m_on_change) m_on_change();
  return version;
}

Result<void> Service::reload(const config::Config& config) {
  DirMap before;
  for (auto& [name, dir] : m_engine->watch_dirs()) before.emplace(name, dir.native());
  if (auto r = m_engine->reload(config); !r) return r;
  m_pool->set_env(m_engine->rotation_env());
  watch_all(before);
  pump();
  return {};
}

Result<void> Service::reload_file(const std::string& path) {
  auto config = config::load_config(path);
  Result<void> applied = config ? reload(*config) : Result<void>(fail(config.error()));
  if (applied) {
    m_rejected.reset();
  } else {
    const EngineDeps& deps = m_engine->deps();
    m_rejected = ReloadRejection{deps.clock.wall_now(), applied.error().what()};
    deps.events.emit(
        Event{EventKind::reload_rejected, Severity::error, "", "", "", std::nullopt,
              "new configuration rejected, keeping the old one: " + m_rejected->error});
  }
  if (m_on_change) m_on_change();
  return applied;
}

std::string Service::status_line() const {
  return service::status_line(m_engine->summary(), m_engine->deps().clock.mono_now(),
                              m_rejected ? &*m_rejected : nullptr);
}

void Service::shutdown() {
  if (m_stopping) return;
  m_stopping = true;
  sd_event_source_set_enabled(m_timer.get(), SD_EVENT_OFF);
  sd_event_source_set_enabled(m_recheck_timer.get(), SD_EVENT_OFF);
  // Queued jobs never started; running ones finish their swap (each swap is atomic, so even a
  // kill here would leave a complete version, but a clean stop should not waste an issuance).
  m_pool->shutdown();
  for (auto& result : m_pool->take_results()) m_engine->complete(std::move(result));
  sd_event_exit(m_loop, 0);
}

void Service::pump() {
  if (m_stopping) return;
  bool changed = false;
  for (auto& result : m_pool->take_results()) {
    const std::string name = result.job.name;
    std::optional<RotationOutcome> outcome;
    const JobKind kind = result.job.kind;
    if (kind == JobKind::rotate || kind == JobKind::revoke) {
      outcome = result.result ? RotationOutcome{name, true, "serial " + result.result->info.serial}
                              : RotationOutcome{name, false, result.result.error().what()};
    }
    m_engine->complete(std::move(result));
    const auto& told = kind == JobKind::revoke ? m_on_revoked : m_on_rotated;
    if (outcome && told) told(*outcome);
    if (auto it = m_watches.find(name); it != m_watches.end()) rewatch_data(it->first, it->second);
    changed = true;
  }
  for (auto& job : m_engine->take_due()) {
    m_pool->submit(std::move(job));
    changed = true;
  }
  // Staged versions that take_due() made live: their new version folders need the watch.
  for (const auto& name : m_engine->take_activated()) {
    if (auto it = m_watches.find(name); it != m_watches.end()) rewatch_data(it->first, it->second);
    changed = true;
  }
  arm_timer();
  if (changed && m_on_change) m_on_change();
}

void Service::arm_timer() {
  const auto deadline = m_engine->next_deadline();
  if (!deadline) {
    sd_event_source_set_enabled(m_timer.get(), SD_EVENT_OFF);
    return;
  }
  sd_event_source_set_time(m_timer.get(), to_usec(*deadline));
  sd_event_source_set_enabled(m_timer.get(), SD_EVENT_ONESHOT);
}

int Service::on_timer(sd_event_source*, uint64_t, void* userdata) {
  static_cast<Service*>(userdata)->pump();
  return 0;
}

int Service::on_results(sd_event_source*, int fd, uint32_t, void* userdata) {
  std::uint64_t count = 0;
  [[maybe_unused]] const auto n = ::read(fd, &count, sizeof count);
  static_cast<Service*>(userdata)->pump();
  return 0;
}

void Service::watch_all(const DirMap& before) {
  WatchMap old = std::move(m_watches);
  m_watches.clear();
  for (const auto& [name, dir] : m_engine->watch_dirs()) {
    const auto was = before.find(name);
    const bool same_dir = was != before.end() && was->second == dir.native();
    if (auto it = old.find(name); it != old.end() && same_dir) {
      // Moves the node itself, so the name that m_watch_names points to stays where it is.
      m_watches.insert(old.extract(it));
    } else {
      watch(name, dir);
    }
  }
  for (auto& [name, gone] : old) unwatch(gone);
}

int Service::add_watch(const std::string& path, std::uint32_t mask, const std::string& name) {
  // inotify_add_watch follows symlinks, so `..data` resolves to the live version folder now.
  const int wd = ::inotify_add_watch(m_inotify_fd.get(), path.c_str(), mask);
  if (wd >= 0) m_watch_names[wd] = &name;
  return wd;
}

void Service::remove_watch(int wd) {
  if (wd < 0) return;
  m_watch_names.erase(wd);
  ::inotify_rm_watch(m_inotify_fd.get(), wd);
}

void Service::unwatch(Watch& w) {
  remove_watch(w.data_wd);
  remove_watch(w.dir_wd);
  w.data_wd = w.dir_wd = -1;
}

void Service::watch(const std::string& name, const std::filesystem::path& dir) {
  auto [it, added] = m_watches.try_emplace(name);
  Watch& w = it->second;
  // A failed watch (e.g. fs.inotify.max_user_watches reached) costs only the adoption of hand
  // replacements for this credential; rotations still run from the timer.
  w.dir_wd = add_watch(dir.native(), k_dir_events, it->first);
  rewatch_data(it->first, w);
}

void Service::rewatch_data(const std::string& name, Watch& w) {
  // The live version folder changes with every swap; watch the new one, drop the old one.
  const std::string* dir = m_engine->output_dir(name);
  if (!dir) return;
  // A folder that could not be created at start-up exists after the credential's first swap.
  if (w.dir_wd < 0) w.dir_wd = add_watch(*dir, k_dir_events, name);
  const int wd = add_watch(*dir + "/..data", k_data_events, name);
  if (w.data_wd >= 0 && w.data_wd != wd && w.data_wd != w.dir_wd) remove_watch(w.data_wd);
  w.data_wd = wd;
}

int Service::on_inotify(sd_event_source*, int fd, uint32_t, void* userdata) {
  auto* self = static_cast<Service*>(userdata);
  alignas(struct inotify_event) char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t offset = 0; offset < n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + offset);
      offset += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
      if (event->mask & IN_Q_OVERFLOW) {
        // Events were lost: look at every credential once.
        for (const auto& [name, watch] : self->m_watches) self->disk_changed(name);
        continue;
      }
      auto it = self->m_watch_names.find(event->wd);
      if (it == self->m_watch_names.end()) continue;
      const std::string name = *it->second;
      // The kernel dropped the watch (its folder was pruned); forget the descriptor.
      if (event->mask & IN_IGNORED) self->m_watch_names.erase(it);
      self->disk_changed(name);
    }
  }
  return 0;
}

void Service::disk_changed(const std::string& name) {
  if (m_stopping) return;
  m_unsettled.erase(name);  // written again: the grace period starts over
  m_recheck.insert(name);
  sd_event_source_set_time(m_recheck_timer.get(), now_usec(m_loop) + k_recheck_delay_usec);
  sd_event_source_set_enabled(m_recheck_timer.get(), SD_EVENT_ONESHOT);
}

int Service::on_recheck(sd_event_source*, uint64_t, void* userdata) {
  auto* self = static_cast<Service*>(userdata);
  std::set<std::string> waiting;
  for (const auto& name : std::exchange(self->m_recheck, {})) {
    const bool final_look = self->m_unsettled.erase(name) > 0;
    if (self->m_engine->on_disk_changed(name, final_look) == DiskCheck::unsettled) {
      waiting.insert(name);
    }
    if (auto it = self->m_watches.find(name); it != self->m_watches.end()) {
      self->rewatch_data(it->first, it->second);
    }
  }
  if (!waiting.empty()) {
    // Set after the loop: disk_changed() during it would have cleared these.
    for (const auto& name : waiting) {
      self->m_unsettled.insert(name);
      self->m_recheck.insert(name);
    }
    sd_event_source_set_time(self->m_recheck_timer.get(),
                             now_usec(self->m_loop) + k_unsettled_grace_usec);
    sd_event_source_set_enabled(self->m_recheck_timer.get(), SD_EVENT_ONESHOT);
  }
  self->pump();
  return 0;
}

}  // namespace certrotd::service
