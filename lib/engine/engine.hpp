// The engine: every credential's schedule and state, and the decisions what to rotate when.
//
// It is a state machine driven from one thread (the daemon's event loop): `take_due()` hands out
// rotation jobs, workers run them with `run_job()`, and `complete()` applies their results.
// It never sleeps and never reads the real clock: time comes from the injected Clock, so tests
// drive it with a ManualClock and no timers at all.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/token_source.hpp"
#include "config/config.hpp"
#include "engine/events.hpp"
#include "engine/history.hpp"
#include "engine/rotation.hpp"
#include "http/transport.hpp"
#include "schedule/policy.hpp"
#include "schedule/timer_queue.hpp"
#include "store/state_file.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace certrotd::engine {

struct EngineDeps {
  const Clock& clock;
  Random& random;
  EventSink& events;
  // Tells dependents after a swap; null skips `on_rotate` actions.
  const notify::ActionRunner* actions = nullptr;
  // HTTPS for the network issuers; null: the engine makes a libcurl transport once the
  // configuration has a network issuer.
  std::shared_ptr<http::Transport> transport = nullptr;
  // Tokens for the network issuers, cached across reloads; null: an auth::TokenClient on
  // `transport`, made along with it.
  std::shared_ptr<auth::TokenSource> tokens = nullptr;
  // $CREDENTIALS_DIRECTORY (systemd LoadCredential=) for token.client_secret_credential; the
  // daemon reads the environment, lib/ does not.
  std::optional<std::filesystem::path> credentials_directory = std::nullopt;
  // The listening socket systemd passed as "acme" (certrotd-acme.socket) for the ACME http-01
  // responder; -1: none. The daemon collects it; lib/ reads no process state.
  int acme_socket = -1;
};

// A version staged as next/ (activation: { mode: staged }), as `status` shows it.
struct StagedStatus {
  std::string version;
  std::string serial;
  SystemTime not_before;
  SystemTime not_after;
  SystemTime staged_at;
  SystemTime activate_at;
  // Why then: "activate_after" or "activate_before_expiry".
  std::string activate_why;
  // Set when it would be due for renewal itself (or expired) before it activates: then a fresh
  // version replaces it at this time, its own renewal time, rather than it going live.
  std::optional<SystemTime> replace_at = std::nullopt;
};

struct CredentialStatus {
  std::string name;
  std::string issuer;
  schedule::State state = schedule::State::missing;
  std::optional<x509::CertInfo> cert;
  std::optional<SystemTime> next_attempt;
  int failures = 0;
  std::string last_error;
  std::filesystem::path dir;
  // The on_rotate actions of the last swap (empty before the first one since start-up).
  std::vector<notify::ActionOutcome> dependents;
  std::string reason;  // reason class of the last failure, empty after a success
  // Something an operator should know that does not stop the credential (`check`: the output
  // folder cannot be created or written).
  std::string warning;
  bool key_reuse = false;  // `key: { reuse: true }`
  int key_renewals = 0;    // renewals the live key has seen (0: a new key at the last rotation)
  // What the issuer reported about renewing the live certificate (ACME ARI): its window, the
  // instant chosen inside it (nullopt when the window is not used), its explanation URL, and
  // when the issuer is asked next (nullopt for issuers that report nothing).
  std::optional<schedule::Window> renewal_window = std::nullopt;
  std::optional<SystemTime> renewal_instant = std::nullopt;
  std::string explanation_url = {};
  std::optional<SystemTime> renewal_info_next = std::nullopt;
  std::optional<StagedStatus> staged = std::nullopt;
  bool issuer_pending = false;  // the issuer took the request and has not issued yet (EST 202)
  struct Root {
    std::string subject;
    SystemTime not_after;
  };
  // The roots of the live ca.pem, for issuers that name them (IssuerOptions::names_roots).
  std::vector<Root> ca_roots = {};
};

// The few numbers the service manager's STATUS= line shows after every change, kept up to date
// as things happen: with 10,000 credentials, building status() for each change would be O(n)
// work per rotation.
struct EngineSummary {
  std::size_t credentials = 0;
  std::size_t renewing = 0;  // rotations in flight
  std::size_t failing = 0;   // last attempt failed, or a dependent did after the last swap
  std::string next_name;     // the credential due first; empty when none is scheduled
  std::optional<MonoTime> next_at;
};

// What a job does on its worker.
enum class JobKind {
  rotate,      // a new certificate from the issuer
  dependents,  // after a rollback: only the on_rotate actions, so dependents load the restored key
  copies,      // a copy failed after a swap: write the copies from the live version
  adopt,       // the certificate on disk changed under us: adopt_replacement()
  alert,       // an expiry threshold was crossed: only the `notify:` actions
  renewal_info,  // ask the issuer when to renew the live certificate (ACME ARI)
  revoke,        // `certrotd revoke`: ask the issuer to revoke the live certificate
  upkeep,        // the issuer's housekeeping on a timer of its own (Issuer::upkeep)
};

// One job to run on a worker.
struct Job {
  std::string name;
  std::shared_ptr<const CredentialPlan> plan;
  SystemTime started;
  std::string old_serial;          // of the live certificate when the job started; empty if none
  JobKind kind = JobKind::rotate;  // dependents: old_serial is the version rolled away from
  // The output folder could not be opened (created, recovered) yet: open it first.
  bool open_folder = false;
  // The issuer's private state for this credential, handed to it (rotate jobs only).
  std::optional<std::string> issuer_state = std::nullopt;
  // alert jobs: the threshold crossed ("expiring", ...) and the live certificate's notAfter.
  std::string threshold = {};
  SystemTime not_after = {};
  // revoke jobs: the reason sent to the issuer.
  issuer::RevocationReason revocation_reason = issuer::RevocationReason::unspecified;
};

struct JobResult {
  Job job;
  Result<Installed> result;
  std::vector<notify::ActionOutcome> actions;  // on_rotate outcomes, after a successful swap
  bool folder_opened = false;                  // open_folder was asked for and succeeded
  IssuerExchange issuer = {};                  // what the issuer said besides a certificate
};

// What the engine made of a change on disk.
enum class DiskCheck {
  settled,    // nothing more to do now (adopted, unchanged, or handed to an adopt job)
  unsettled,  // cert.pem and key.pem do not fit together (yet): look again later, with
              // settled = true, before treating it as a broken replacement
};

// Runs on a worker thread.
JobResult run_job(Job job, const RotationEnv& env);

// The `--reason` names of `certrotd revoke` (RFC 5280 CRLReason: unspecified, keyCompromise,
// affiliationChanged, superseded, cessationOfOperation); nullopt for any other name.
std::optional<issuer::RevocationReason> revocation_reason_named(std::string_view name);
std::string_view to_string(issuer::RevocationReason reason);

// What the engine reads of one credential at start-up (or when a reload adds it).
struct OnDisk {
  store::CredentialState state;  // as persisted (empty if unreadable), cache refreshed
  Result<void> read = {};        // why the state file was ignored, when it was
  Result<std::optional<x509::CertInfo>> live = std::optional<x509::CertInfo>{};
  Result<void> saved = {};  // writing back a refreshed cache, when there was one to write
  // The version `next` names in the output folder (looked up in staged mode, or when the state
  // file records one).
  Result<std::optional<std::string>> staged = std::optional<std::string>{};
};

// Reads the credential's state file and live files, and persists a refreshed certificate cache.
// Touches only that credential's files, so start-up runs it for many credentials at once.
OnDisk read_on_disk(const config::CredentialConfig& config, const store::StateFiles& files);

// `certrotd import NAME --cert F --key F [--chain F]`: the PEM texts given.
struct ImportInput {
  std::string cert;   // the leaf, optionally followed by its intermediates
  std::string key;    // plain, or encrypted with the credential's key_passphrase_file
  std::string chain;  // intermediates, may be empty
};

// Installs an operator's certificate and key as a complete new version of `credential`
// (install_replacement: key matches, valid now, chain verifies to the issuer's roots; ca.pem,
// fullchain.pem, bundle.pem and the copies derived). Opens (creates, recovers) the folder as the
// daemon does at start-up, so it must not run while another process installs into it. A running
// daemon notices the new version and tells the dependents, as for any replacement on disk.
Result<Installed> import_credential(const config::Config& config,
                                    const config::CredentialConfig& credential,
                                    const ImportInput& input, SystemTime now);

class Engine {
public:
  // Builds issuers and opens every credential's store (creating output folders and recovering
  // from an interrupted swap). Fails on anything an operator must fix first; an output folder
  // that cannot be created or recovered is not that: its credential is marked failed at start()
  // and its jobs try to open the folder again, with backoff.
  static Result<std::unique_ptr<Engine>> create(const config::Config& config, EngineDeps deps);

  // Everything create() refuses before it opens a folder: every issuer built (a local CA's
  // certificate and key read and matched, secrets from $CREDENTIALS_DIRECTORY resolved, the
  // mTLS credential named) and the trust anchors of every issuer in use loaded. `certrotd check`
  // runs it, so the unit's ExecStartPre= refuses what `run` would. Creates and repairs nothing.
  static Result<void> check(const config::Config& config, EngineDeps deps);

  // Reads every credential from disk and state_dir and schedules it. Missing or expired
  // credentials are due at once.
  void start();

  // Applies a new configuration. Credentials that stay keep their state and schedule; new ones
  // are loaded and scheduled; removed ones are forgotten (their files stay). On error nothing
  // changes.
  Result<void> reload(const config::Config& config);

  std::optional<MonoTime> next_deadline() const;

  // Jobs for every credential whose deadline has passed and that is not already in flight.
  std::vector<Job> take_due();

  // Makes the named credentials (all when empty) due now. Unknown names are an error, and then
  // nothing is requested.
  Result<void> request_rotation(const std::vector<std::string>& names);

  // Applies a finished rotation: records success or failure, persists state, reschedules.
  void complete(JobResult done);

  // Something changed in the credential's output folder. A new certificate there (placed by
  // hand, an offline import or rollback) becomes an adopt job that makes the set complete and
  // tells the dependents; the credential is then scheduled from the certificate's own dates.
  // Our own swaps are known by their fingerprint and never adopted. A key that does not fit the
  // certificate is `unsettled` (a hand replacement may be half-way) until `final_look`, when
  // it too becomes an adopt job, which restores the previous credential.
  DiskCheck on_disk_changed(const std::string& name, bool final_look = false);

  // `certrotd revoke NAME [--reason R]`: the issuer that issued the live certificate is asked
  // to revoke it, on a worker (take_due() hands the job out at once; complete() applies it).
  // Refused for an unknown name, without a live certificate, for an issuer that cannot revoke
  // (Reason::config, nothing to retry) and while a job of the credential is in flight
  // (retryable). After a successful revocation the live certificate is useless: the credential
  // is rotated at once (event `revoked`). After a failed one nothing changes and nothing is
  // retried by itself (event `revoke-failed`): revoking is an operator's decision.
  Result<void> request_revocation(const std::string& name, issuer::RevocationReason reason);

  // Makes the previous version of the credential live again; returns the version now live.
  // Refused while a rotation of it is in flight. Its on_rotate actions then run as after a swap:
  // take_due() hands them out at once, as a dependents-only job.
  Result<std::string> rollback(const std::string& name);
  // The same for the kept version `target` names (a serial or a version folder, see
  // engine/history.hpp); one whose certificate expired is refused unless `expired` allows it.
  Result<std::string> rollback_to(const std::string& name, std::string_view target,
                                  Expired expired);

  // Makes the credential's staged version live now (`certrotd activate`): the swap, then its
  // on_rotate actions as after a rotation (handed out by take_due() at once). Refused while a
  // job of it is in flight (retryable), when nothing is staged or the staged certificate has
  // expired (permanent). Returns the version now live.
  Result<std::string> activate(const std::string& name);
  // The credentials whose staged version take_due() made live since the last call (their live
  // version folder changed, as after a rotation).
  std::vector<std::string> take_activated() { return std::exchange(m_activated, {}); }

  std::vector<CredentialStatus> status() const;
  // One credential's status, found by name (no pass over the others); nullopt when unknown.
  std::optional<CredentialStatus> status_of(const std::string& name) const;
  EngineSummary summary() const;
  std::size_t size() const { return m_tracked.size(); }
  std::size_t in_flight() const { return m_in_flight; }
  const config::Config& config() const { return *m_config; }
  const EngineDeps& deps() const { return m_deps; }
  RotationEnv rotation_env() const;

  // The issuer `name` of the running configuration, as its credentials use it (`certrotd
  // acme-key-change`); null when no credential uses it.
  std::shared_ptr<issuer::Issuer> issuer_named(const std::string& name) const;
  // The output folder of a credential; null for an unknown name.
  const std::string* output_dir(const std::string& name) const;
  // Output folders to watch, by credential name.
  std::vector<std::pair<std::string, std::filesystem::path>> watch_dirs() const;

  // Per-credential status from disk and state files only: what `certrotd check` prints.
  // Creates and repairs nothing.
  static std::vector<CredentialStatus> inspect(const config::Config& config, const Clock& clock);

private:
  struct Tracked {
    std::shared_ptr<const CredentialPlan> plan;
    // persisted.live_cert holds the facts of the live certificate, if there is a usable one;
    // they are kept once, in the form the state file stores them.
    store::CredentialState persisted;
    bool in_flight = false;
    bool counted_failing = false;  // included in m_failing
    bool adopt_pending = false;    // the next job is an adopt job
    bool folder_ready = true;      // the output folder was opened (created, recovered)
    // Due, but its issuer has max_concurrent rotations in flight: queued in m_waiting.
    bool waiting_for_slot = false;
    // The job in flight asks the issuer something besides a rotation (renewal_info, upkeep).
    bool asking = false;
    // `certrotd revoke` asked for this; the next job is a revoke job.
    std::optional<issuer::RevocationReason> revoke_pending;
    // An invalid window was reported and logged; not again until a valid answer comes.
    bool invalid_window_logged = false;
    // An expiry threshold was reported and the `notify:` actions have yet to run for it.
    schedule::Alert alert_pending = schedule::Alert::none;
    // When the next rotation (or other job) is due. The heap holds one entry per credential, at
    // the earlier of this and the next expiry threshold, so thresholds cost no timer of their own.
    MonoTime renew_due = {};
    // `rotate` was asked for while a version is staged: issue and stage a fresh one instead.
    bool restage = false;
    std::vector<notify::ActionOutcome> dependents;

    const store::CertCache* cert() const {
      return persisted.live_cert ? &*persisted.live_cert : nullptr;
    }
  };

  Engine(EngineDeps deps, std::unique_ptr<store::StateFiles> state);

  void load(Tracked& tracked);
  void apply(Tracked& tracked, const OnDisk& found);
  void schedule_next(const std::string& name, Tracked& tracked);
  void schedule_at(const std::string& name, Tracked& tracked, SystemTime when);
  void save_state(const std::string& name, const Tracked& tracked);
  void complete_rotation(const JobResult& done, Tracked& tracked);
  void complete_not_yet(const JobResult& done, Tracked& tracked);
  JobKind next_kind(const std::string& name, const Tracked& tracked) const;
  bool issuer_full(const std::string& issuer) const;
  void dispatch(const std::string& name, Tracked& tracked, std::vector<Job>& jobs);
  void dispatch_waiting(std::vector<Job>& jobs);
  void complete_adoption(const JobResult& done, Tracked& tracked);
  void record_failure(const std::string& name, Tracked& tracked, const Error& error, EventKind kind,
                      const std::string& what);
  void clear_failure(Tracked& tracked);
  void refresh_live(const std::string& name, Tracked& tracked);
  // Whether the issuer lets the kept version `entry` be made live again (Issuer::can_restore).
  Result<void> restorable(const Tracked& tracked, const HistoryEntry& entry) const;
  // rollback() and rollback_to(): `restore` makes a version live and returns its id.
  Result<std::string> roll_back(const std::string& name,
                                const std::function<Result<std::string>(const Tracked&)>& restore);
  // Staged activation: when the staged version goes live and why; whether it should wait
  // for that (false when nothing is staged, it is stale, or a fresh one was asked for).
  std::optional<StagedStatus> staged_status(const std::string& name, const Tracked& tracked) const;
  bool staged_waits(const std::string& name, const Tracked& tracked) const;
  Result<std::string> activate_staged(const std::string& name, Tracked& tracked,
                                      const std::string& why);
  void complete_staging(const JobResult& done, Tracked& tracked);
  // At start-up and when a reload adds a credential: the state file's staged version against
  // the folder's `next` (either may be missing after a crash).
  void settle_staged(const std::string& name, Tracked& tracked, const OnDisk& found);
  void count_failing(Tracked& tracked);
  void arm(const std::string& name, Tracked& tracked, MonoTime renew);
  schedule::Alert alerted(const Tracked& tracked) const;
  void report_alerts(const std::string& name, Tracked& tracked);
  void dispatch_alert(const std::string& name, Tracked& tracked, std::vector<Job>& jobs);
  schedule::State state_of(const std::string& name, const Tracked& tracked) const;
  // Renewal information (engine/renewal_info.cpp).
  bool asks_renewal_info(const Tracked& tracked) const;
  void ask_again_now(Tracked& tracked);
  void ensure_asking(Tracked& tracked);
  std::optional<SystemTime> ask_due(const Tracked& tracked) const;  // when to ask next
  void dispatch_renewal_info(const std::string& name, Tracked& tracked, std::vector<Job>& jobs);
  void complete_renewal_info(const JobResult& done, Tracked& tracked);
  void apply_renewal_info(const std::string& name, Tracked& tracked,
                          const issuer::RenewalInfo& info);
  void renewal_info_failed(const std::string& name, Tracked& tracked, const Error& error);
  void complete_revocation(const JobResult& done, Tracked& tracked);  // engine/revoke.cpp
  // The issuer's upkeep (engine/upkeep.cpp).
  void ensure_upkeep(Tracked& tracked, bool starting);
  std::optional<SystemTime> upkeep_due(const Tracked& tracked) const;
  void after_issuance_upkeep(Tracked& tracked, const IssuerExchange& exchange);
  void dispatch_upkeep(const std::string& name, Tracked& tracked, std::vector<Job>& jobs);
  void dispatch_before_renewal(const std::string& name, Tracked& tracked, std::vector<Job>& jobs);
  void complete_upkeep(const JobResult& done, Tracked& tracked);
  void emit(EventKind kind, Severity severity, const std::string& name, const Tracked& tracked,
            std::string message, Reason reason = Reason::unspecified) const;

  EngineDeps m_deps;
  std::unique_ptr<store::StateFiles> m_state_files;
  std::shared_ptr<const config::Config> m_config;
  std::unordered_map<std::string, Tracked> m_tracked;
  schedule::TimerQueue m_queue;
  std::size_t m_in_flight = 0;
  std::size_t m_failing = 0;
  // Rolled back, dependents not told yet: credential -> serial of the version rolled away from.
  std::unordered_map<std::string, std::string> m_rolled_back;
  // Rotations in flight per issuer name, for issuers with max_concurrent.
  std::unordered_map<std::string, std::size_t> m_issuer_busy;
  // Due credentials waiting for a slot of their issuer, per issuer name, in the order they came
  // due.
  std::map<std::string, std::deque<std::string>> m_waiting;
  std::vector<std::string> m_activated;  // see take_activated()
};

}  // namespace certrotd::engine
