#include "apexloop/events/upcast.hpp"

#include <cassert>

namespace apexloop::events {

void UpcasterRegistry::add(std::string_view type, int from, UpcastStep step) {
  auto [it, _] = current_.try_emplace(std::string(type), 1);
  assert(from == it->second && "upcast steps of a type are registered in order from v1");
  steps_.emplace(std::pair{std::string(type), from}, step);
  it->second = from + 1;
}

int UpcasterRegistry::current_version(std::string_view type) const {
  auto it = current_.find(type);
  return it == current_.end() ? 1 : it->second;
}

std::expected<void, std::string> UpcasterRegistry::upcast(Envelope& e) const {
  const int target = current_version(e.type);
  while (e.v < target) {
    auto step = steps_.find(std::pair{e.type, e.v});
    if (step == steps_.end()) return std::unexpected(e.type + " v" + std::to_string(e.v) + " has no upcaster");
    auto data = step->second(e.data);
    if (!data) return std::unexpected(e.type + " v" + std::to_string(e.v) + ": " + data.error());
    e.data = std::move(*data);
    ++e.v;
  }
  return {};
}

std::expected<Json, std::string> session_started_v1_to_v2(const Json& data) {
  if (!data.is_object()) return std::unexpected("data is not an object");
  Json::Object out = data.as_object();
  Json::Object principal;
  // v1 names: principal_id -> id; kind, role and the optional client_id move as they are.
  for (const auto& [from, to] : {std::pair{"kind", "kind"}, {"principal_id", "id"}, {"role", "role"}, {"client_id", "client_id"}}) {
    auto it = out.find(from);
    if (it == out.end()) {
      if (std::string_view(from) == "client_id") continue;
      return std::unexpected(std::string("missing ") + from);
    }
    principal.emplace(to, std::move(it->second));
    out.erase(it);
  }
  out.emplace("principal", Json(std::move(principal)));
  return Json(std::move(out));
}

const UpcasterRegistry& upcasters() {
  static const UpcasterRegistry registry = [] {
    UpcasterRegistry r;
    r.add(event_type::session_started, 1, session_started_v1_to_v2);
    return r;
  }();
  return registry;
}

int current_version(std::string_view type) { return upcasters().current_version(type); }

}  // namespace apexloop::events
