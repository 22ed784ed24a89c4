#include "notify/runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "util/duration.hpp"
#include "util/errno_text.hpp"
#include "util/fd.hpp"
#include "util/files.hpp"
#include "util/trusted_path.hpp"

namespace certrotd::notify {

namespace {

constexpr std::size_t k_max_output = 4096;
constexpr const char* k_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

Result<std::string> run_systemd(const SystemdAction& action, BusConnector& connector) {
  auto manager = connector.connect(action.bus);
  if (!manager) return fail(manager.error());
  if (action.action == UnitAction::kill) {
    if (auto r = (*manager)->kill_unit(action.unit, action.signal); !r) return fail(r.error());
    return "sent SIG" + signal_name(action.signal);
  }
  auto job = (*manager)->start_job(action.action, action.unit);
  if (!job) return fail(job.error());
  auto result = (*manager)->wait_job(*job, action.timeout);
  if (!result) return fail(result.error());
  if (*result != "done") {
    return fail_retryable(std::string(to_string(action.action)) + " job for " + action.unit +
                          " finished with result '" + *result + "'");
  }
  return "job done";
}

// Reads the command's output (the first k_max_output bytes kept) until it closed its output and
// exited, or until the deadline. False when the deadline passed first; the child is not reaped.
bool wait_for_command(int pidfd, Fd output_fd, MonoTime deadline, const Clock& clock,
                      std::string& output) {
  bool exited = false;
  char buf[1024];
  while (!exited || output_fd) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - clock.mono_now());
    if (left.count() <= 0) return false;
    // poll() skips negative descriptors: the one that is done is not asked again.
    pollfd fds[2] = {{exited ? -1 : pidfd, POLLIN, 0},
                     {output_fd ? output_fd.get() : -1, POLLIN, 0}};
    // Bounded, so the deadline is judged again by the clock at least once a second.
    const int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n <= 0) continue;  // EINTR or a poll that timed out
    if (fds[0].revents != 0) exited = true;
    if (fds[1].revents == 0) continue;
    const ssize_t got = ::read(output_fd.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      output_fd.reset();  // EOF: the command (and whatever kept the pipe) is done writing
      continue;
    }
    const auto take = std::min(static_cast<std::size_t>(got),
                               k_max_output - std::min(k_max_output, output.size()));
    output.append(buf, take);
  }
  return true;
}

// Reaps the child behind `pidfd`, waiting for it if needed.
siginfo_t reap(int pidfd) {
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
  return info;
}

Result<std::string> exit_result(const std::string& program, const siginfo_t& info) {
  if (info.si_code == CLD_EXITED && info.si_status == 0) return "exited 0";
  if (info.si_code == CLD_EXITED) {
    return fail_retryable(program + " exited " + std::to_string(info.si_status));
  }
  return fail_retryable(program + " killed by signal " + std::to_string(info.si_status));
}

Millis retry_delay(const RetryPolicy& retry, int failures) {
  Millis delay = retry.base;
  for (int i = 1; i < failures && delay < retry.cap; ++i) delay *= 2;
  return std::min(delay, retry.cap);
}

}  // namespace

std::vector<std::string> exec_environment(const RotationFacts& facts) {
  const auto file = [&](const char* name) { return (facts.dir / name).string(); };
  std::vector<std::string> env{k_path,
                               "CERTROT_CREDENTIAL=" + facts.credential,
                               "CERTROT_DIR=" + facts.dir.string(),
                               "CERTROT_CERT=" + file("cert.pem"),
                               "CERTROT_KEY=" + file("key.pem"),
                               "CERTROT_CHAIN=" + file("chain.pem"),
                               "CERTROT_FULLCHAIN=" + file("fullchain.pem"),
                               "CERTROT_BUNDLE=" + file("bundle.pem"),
                               "CERTROT_CA=" + file("ca.pem"),
                               "CERTROT_OLD_SERIAL=" + facts.old_serial,
                               "CERTROT_NEW_SERIAL=" + facts.new_serial,
                               "CERTROT_NOT_AFTER=" + facts.not_after};
  if (!facts.threshold.empty()) {
    env.push_back("CERTROT_THRESHOLD=" + facts.threshold);
    env.push_back("CERTROT_SERIAL=" + facts.new_serial);
  }
  return env;
}

Result<std::string> signal_pidfile(const SignalAction& action) {
  auto text = read_file(action.pidfile);
  if (!text) return fail_retryable(text.error().what());
  std::string_view digits = *text;
  while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' '))
    digits.remove_suffix(1);
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc() || end != digits.data() + digits.size() || pid <= 1) {
    return fail_retryable("pidfile does not hold a process id", action.pidfile.string());
  }
  if (::kill(pid, action.signal) != 0) {
    if (errno == ESRCH) {
      return fail_retryable("stale pidfile: no process " + std::to_string(pid),
                            action.pidfile.string());
    }
    return fail_retryable("cannot signal process " + std::to_string(pid) + ": " + errno_text(errno),
                          action.pidfile.string());
  }
  return "sent SIG" + signal_name(action.signal) + " to process " + std::to_string(pid);
}

Result<std::string> run_command(const ExecAction& action, const std::vector<std::string>& env,
                                const Clock& clock, std::string& output) {
  output.clear();
  if (action.command.empty()) return fail("exec action has no command");
  // Judged again now, not only at load: the program and its folders may have changed since, and
  // a file someone else can write would run their code as root (sshd's StrictModes).
  if (action.command[0].find('/') != std::string::npos) {
    auto trusted = check_trusted_file(action.command[0], PathTrust::of_this_process());
    if (!trusted && !trusted.error().retryable()) {
      return fail("refusing to run " + action.command[0] + ": " + trusted.error().message);
    }
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_retryable("pipe failed: " + errno_text(errno));
  Fd read_end(fds[0]);
  Fd write_end(fds[1]);

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  ScopeGuard free_files([&] { posix_spawn_file_actions_destroy(&files); });
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&files, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&files, write_end.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  ScopeGuard free_attr([&] { posix_spawnattr_destroy(&attr); });
  // Its own process group, so a timeout kills the command and everything it started. Signals the
  // daemon blocks (for its signalfd) are unblocked again for the command.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK));

  std::vector<char*> argv;
  for (const auto& a : action.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // Taken before the command starts: everything it does happens within its timeout.
  const MonoTime deadline = clock.mono_now() + action.timeout;
  pid_t pid = 0;
  const int spawned = action.command[0].find('/') == std::string::npos
                          ? ::posix_spawnp(&pid, argv[0], &files, &attr, argv.data(), envp.data())
                          : ::posix_spawn(&pid, argv[0], &files, &attr, argv.data(), envp.data());
  write_end.reset();
  if (spawned != 0) {
    return fail("cannot run " + action.command[0] + ": " + errno_text(spawned));
  }

  // A pidfd names this child even after it exited, so neither the wait nor the group kill can hit
  // a process that later got the same pid.
  // Through syscall(): glibc 2.36's <sys/pidfd.h> declares pidfd_open without C linkage.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    const int e = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return fail_retryable("cannot watch " + action.command[0] + ": " + errno_text(e));
  }
  if (!wait_for_command(pidfd.get(), std::move(read_end), deadline, clock, output)) {
    // The group is killed while its leader is still unreaped, so its id cannot have been reused.
    ::kill(-pid, SIGKILL);
    reap(pidfd.get());
    return fail_retryable(action.command[0] + " did not finish within " +
                          format_duration(action.timeout) + "; killed");
  }
  return exit_result(action.command[0], reap(pidfd.get()));
}

Result<std::string> ActionRunner::run_once(const Action& action, const RotationFacts& facts,
                                           std::string& output) const {
  output.clear();
  if (const auto* s = std::get_if<SystemdAction>(&action.what)) return run_systemd(*s, m_deps.bus);
  if (const auto* s = std::get_if<SignalAction>(&action.what)) return signal_pidfile(*s);
  return run_command(std::get<ExecAction>(action.what), exec_environment(facts), m_deps.clock,
                     output);
}

std::vector<ActionOutcome> ActionRunner::run(const std::vector<Action>& actions,
                                             const RotationFacts& facts,
                                             const RetryPolicy& retry) const {
  std::vector<ActionOutcome> outcomes;
  for (const auto& action : actions) {
    ActionOutcome outcome;
    outcome.action = describe(action);
    for (int attempt = 1;; ++attempt) {
      outcome.attempts = attempt;
      auto done = run_once(action, facts, outcome.output);
      if (done) {
        outcome.ok = true;
        outcome.detail = *done;
        break;
      }
      outcome.detail = done.error().what();
      // A permanent error (a program that is not there) fails the same way every time.
      if (attempt >= retry.attempts || !done.error().retryable()) break;
      const Millis delay = retry_delay(retry, attempt);
      if (m_deps.on_retry) m_deps.on_retry(outcome.action, attempt, done.error(), delay);
      if (m_deps.sleep) m_deps.sleep(delay);
    }
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace certrotd::notify
