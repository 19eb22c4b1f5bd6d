#pragma once
// Upcasting (ARCHITECTURE.md "The event log"): an event written in an older version of its type
// is turned into the current version when it is read, so every consumer (the projector, the
// command service's write model, the audit stream) only ever handles current shapes. The log
// itself is never rewritten: the bytes stay as they were appended.
//
// A registry holds one step per (type, version): a pure function from the data of version N to
// the data of version N+1. Reading chains the steps up to the type's current version. A type
// without steps is at version 1.

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "apexloop/core/event.hpp"

namespace apexloop::events {

using UpcastStep = std::expected<Json, std::string> (*)(const Json& data);

class UpcasterRegistry {
 public:
  // Registers the step from version `from` of `type` to `from + 1`. Steps of one type must be
  // registered in order, starting from 1 (an assertion: this is start-up code, not input).
  void add(std::string_view type, int from, UpcastStep step);

  // The version events of `type` are written in now.
  [[nodiscard]] int current_version(std::string_view type) const;

  // Brings `e` to the current version of its type. A version newer than this reader knows is
  // left as it is (and a consumer that does not understand it says so); a step that finds data
  // it cannot convert is an error value naming the event.
  [[nodiscard]] std::expected<void, std::string> upcast(Envelope& e) const;

 private:
  std::map<std::pair<std::string, int>, UpcastStep, std::less<>> steps_;
  std::map<std::string, int, std::less<>> current_;
};

// The registry of this code base's real event history; decode() applies it.
[[nodiscard]] const UpcasterRegistry& upcasters();

// Shorthand for upcasters().current_version(type): what a writer stamps into `v`.
[[nodiscard]] int current_version(std::string_view type);

// session.started v1 -> v2: v1 spread the signed-in principal over the data
// (`principal_id`, `kind`, `role`, `client_id`?); v2 groups it as `principal: {kind, id, role,
// client_id?}`, the very shape POST /api/v1/sessions answers, next to `session_id`, `method`
// and `expires_at`.
[[nodiscard]] std::expected<Json, std::string> session_started_v1_to_v2(const Json& data);

}  // namespace apexloop::events
