// One engine, several sinks: the journal or log lines, and the metrics next to them.
#pragma once

#include <utility>
#include <vector>

#include "engine/events.hpp"

namespace certrotd::telemetry {

// Hands every event to each of `sinks` in order (the journal or log, and the metrics). The sinks
// must outlive it.
class FanOutEventSink final : public engine::EventSink {
public:
  explicit FanOutEventSink(std::vector<engine::EventSink*> sinks) : m_sinks(std::move(sinks)) {}
  void emit(const engine::Event& event) override {
    for (engine::EventSink* sink : m_sinks) sink->emit(event);
  }

private:
  std::vector<engine::EventSink*> m_sinks;
};

}  // namespace certrotd::telemetry
