// What the engine tests that drive a real Engine share: a sink that records its events, and a
// fixture with a temporary directory, a local CA in it, the ManualClock, a seeded Random, an
// issuer registry (where a fake may wrap the local issuer) and the usual ways to make an engine
// and run its due jobs synchronously through run_job().
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.hpp"
#include "issuer/local/ca_init.hpp"
#include "issuer/local/local.hpp"
#include "support/test_support.hpp"

namespace certrotd::engine {

class RecordingSink final : public EventSink {
public:
  void emit(const Event& event) override {
    std::lock_guard lock(m_mutex);
    events.push_back(event);
  }
  std::vector<Event> of(EventKind kind) const {
    std::lock_guard lock(m_mutex);
    std::vector<Event> out;
    for (const auto& e : events) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }
  int count(EventKind kind) const {
    std::lock_guard lock(m_mutex);
    int n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  std::vector<Event> events;

private:
  mutable std::mutex m_mutex;
};

class EngineFixture : public ::testing::Test {
protected:
  explicit EngineFixture(std::uint64_t seed = 7) : random{seed} {}

  // A local CA in dir/ca: ca.pem and ca.key, and with `intermediate` also intermediate.pem and
  // intermediate.key.
  void init_ca(bool intermediate) {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ca.intermediate = intermediate;
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
  }

  // Registers the local issuer type and, as `name`, the local issuer behind a
  // Wrapper(real issuer, shared), which every issuer the engine builds of that type gets.
  template <class Wrapper, class Shared>
  void add_wrapped_local(const std::string& name, std::shared_ptr<Shared> shared) {
    registry.add(issuer::local_issuer_type());
    issuer::IssuerType wrapped = issuer::local_issuer_type();
    wrapped.name = name;
    wrapped.create =
        [local = wrapped.create, shared = std::move(shared)](
            const issuer::IssuerOptions& options,
            const issuer::IssuerContext& context) -> Result<std::shared_ptr<issuer::Issuer>> {
      auto real = local(options, context);
      if (!real) return fail(real.error());
      return std::shared_ptr<issuer::Issuer>(std::make_shared<Wrapper>(*real, shared));
    };
    registry.add(std::move(wrapped));
  }

  // An engine (not started) for the configuration `text`, read with the issuer types of
  // `registry`.
  std::unique_ptr<Engine> create_engine(const std::string& text) {
    auto config = config::parse_config(text, "test.yaml", dir.path(), registry);
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return create_engine(*config);
  }

  std::unique_ptr<Engine> create_engine(const config::Config& config) {
    auto engine = Engine::create(config, {clock, random, sink});
    EXPECT_TRUE(engine.has_value()) << (engine ? "" : engine.error().what());
    return std::move(*engine);
  }

  std::unique_ptr<Engine> start(const config::Config& config) {
    auto engine = create_engine(config);
    engine->start();
    return engine;
  }

  // Runs every due job. (A fixture that wants to know what ran has a run_due of its own.)
  static void run_due(Engine& engine) {
    for (auto& job : engine.take_due()) {
      engine.complete(run_job(std::move(job), engine.rotation_env()));
    }
  }

  Millis wait_of(const Engine& engine) const {
    return std::chrono::duration_cast<Millis>(*engine.next_deadline() - clock.mono_now());
  }

  // Moves the clock to the engine's next deadline, and then on by `extra`.
  void advance_to_deadline(const Engine& engine, Millis extra = Millis(0)) {
    const auto deadline = engine.next_deadline();
    ASSERT_TRUE(deadline.has_value());
    if (*deadline > clock.mono_now()) clock.advance(*deadline - clock.mono_now());
    clock.advance(extra);
  }

  testing::TempDir dir;
  ManualClock clock;
  SeededRandom random;
  RecordingSink sink;
  issuer::IssuerRegistry registry;
};

}  // namespace certrotd::engine
