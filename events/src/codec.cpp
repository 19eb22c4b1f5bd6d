#include "apexloop/events/codec.hpp"

#include <charconv>

#include "apexloop/events/upcast.hpp"

namespace apexloop::events {

std::string encode(const Envelope& e) {
  std::string out;
  out.reserve(256);
  out += "{\"id\":";
  write_json_string(out, e.id);
  out += ",\"type\":";
  write_json_string(out, e.type);
  out += ",\"v\":" + std::to_string(e.v);
  out += ",\"workspace\":";
  write_json_string(out, e.workspace);
  out += ",\"stream\":";
  write_json_string(out, e.stream);
  out += ",\"seq\":" + std::to_string(e.seq);
  out += ",\"at\":";
  write_json_string(out, format_timestamp(e.at));
  out += ",\"actor\":{\"kind\":";
  write_json_string(out, e.actor.kind);
  out += ",\"id\":";
  write_json_string(out, e.actor.id);
  out += "},\"correlation\":";
  write_json_string(out, e.correlation);
  out += ",\"causation\":";
  write_json_string(out, e.causation);
  out += ",\"data\":";
  write_json(out, e.data);
  out.push_back('}');
  return out;
}

namespace {

std::unexpected<DecodeFailure> bad(std::string detail) {
  return std::unexpected(DecodeFailure{DecodeError::not_an_envelope, std::move(detail)});
}

// Moves a string member out of a parsed object (which the caller is done with).
bool take_string(Json& obj, std::string_view key, std::string& out) {
  if (!obj.is_object()) return false;
  auto it = obj.as_object().find(key);
  if (it == obj.as_object().end() || !it->second.is_string()) return false;
  out = std::move(it->second.as_string());
  return true;
}

}  // namespace

std::expected<Envelope, DecodeFailure> decode(std::string_view bytes) {
  auto parsed = parse_json(bytes);
  if (!parsed) {
    return std::unexpected(DecodeFailure{DecodeError::malformed_json, std::string(to_string(parsed.error()))});
  }
  Json& j = *parsed;
  if (!j.is_object()) return bad("an event is a JSON object");
  Envelope e;
  std::string at;
  if (!take_string(j, "id", e.id) || !take_string(j, "type", e.type) ||
      !take_string(j, "workspace", e.workspace) || !take_string(j, "stream", e.stream) ||
      !take_string(j, "at", at) || !take_string(j, "correlation", e.correlation) ||
      !take_string(j, "causation", e.causation)) {
    return bad("missing or non-string envelope member");
  }
  const Json* v = j.find("v");
  const Json* seq = j.find("seq");
  if (v == nullptr || !v->is_int() || v->as_int() < 1 || v->as_int() > 1000) return bad("bad v");
  if (seq == nullptr || !seq->is_int() || seq->as_int() < 1) return bad("bad seq");
  e.v = static_cast<int>(v->as_int());
  e.seq = static_cast<std::uint64_t>(seq->as_int());
  auto ts = parse_timestamp(at);
  if (!ts) return bad("bad at: " + ts.error());
  e.at = *ts;
  auto actor = j.as_object().find("actor");
  if (actor == j.as_object().end() || !take_string(actor->second, "kind", e.actor.kind) ||
      !take_string(actor->second, "id", e.actor.id)) {
    return bad("bad actor");
  }
  const Json* data = j.find("data");
  if (data == nullptr || !data->is_object()) return bad("data must be an object");
  e.data = std::move(parsed->as_object().find("data")->second);  // taken, not copied: `j` is done with
  // Every reader sees the current version of each type; the bytes in the log stay as written.
  if (auto up = upcasters().upcast(e); !up) return bad("upcast: " + up.error());
  return e;
}

}  // namespace apexloop::events
