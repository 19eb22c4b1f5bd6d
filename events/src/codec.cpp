#include "apexloop/events/codec.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include "apexloop/core/json_dom.hpp"
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

using simdjson::dom::element;

std::unexpected<DecodeFailure> bad(std::string detail) {
  return std::unexpected(DecodeFailure{DecodeError::not_an_envelope, std::move(detail)});
}

// The envelope's members in the order encode writes them.
enum Member : std::size_t {
  kId, kType, kV, kWorkspace, kStream, kSeq, kAt, kActor, kCorrelation, kCausation, kData, kMembers
};
constexpr std::array<std::string_view, kMembers> kNames{
    "id", "type", "v", "workspace", "stream", "seq", "at", "actor", "correlation", "causation", "data"};

// A string member, borrowed from the parser; nullopt when it is absent or not a string.
std::optional<std::string_view> string_member(const std::optional<element>& el) {
  std::string_view s;
  if (!el || el->get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return s;
}

// Copies a string member into `out`, in its memory when it has room; false when it is absent
// or not a string.
bool take_string(const std::optional<element>& el, std::string& out) {
  const auto s = string_member(el);
  if (!s) return false;
  if (out.capacity() >= s->size()) {
    out.assign(*s);
  } else {
    out = std::string(*s);  // a fresh string, not assign(): that takes the slower replace path
  }
  return true;
}

// An integer member as parse_json reads it: an int64 (anything larger would be a double).
std::optional<std::int64_t> int_member(const std::optional<element>& el) {
  if (!el || el->type() != simdjson::dom::element_type::INT64) return std::nullopt;
  return el->get_int64().value_unsafe();
}

// decode_into(), the bytes parsed.
std::expected<void, DecodeFailure> decode_parsed(std::expected<element, JsonError> root, Envelope& e) {
  if (!root) {
    return std::unexpected(DecodeFailure{DecodeError::malformed_json, std::string(to_string(root.error()))});
  }
  simdjson::dom::object obj;
  if (root->get_object().get(obj) != simdjson::SUCCESS) return bad("an event is a JSON object");
  std::array<std::optional<element>, kMembers> m;
  std::size_t next = 0;
  for (auto field : obj) {
    // Members come in the order encode writes them, unless someone else wrote the event.
    std::size_t i = next;
    if (i == kMembers || field.key != kNames[i]) {
      i = static_cast<std::size_t>(std::find(kNames.begin(), kNames.end(), field.key) - kNames.begin());
    }
    if (i < kMembers) {
      m[i] = field.value;
      next = i + 1;
    }
  }
  const auto at = string_member(m[kAt]);
  if (!take_string(m[kId], e.id) || !take_string(m[kType], e.type) ||
      !take_string(m[kWorkspace], e.workspace) || !take_string(m[kStream], e.stream) || !at ||
      !take_string(m[kCorrelation], e.correlation) || !take_string(m[kCausation], e.causation)) {
    return bad("missing or non-string envelope member");
  }
  const auto v = int_member(m[kV]);
  const auto seq = int_member(m[kSeq]);
  if (!v || *v < 1 || *v > 1000) return bad("bad v");
  if (!seq || *seq < 1) return bad("bad seq");
  e.v = static_cast<int>(*v);
  e.seq = static_cast<std::uint64_t>(*seq);
  auto ts = parse_timestamp(*at);
  if (!ts) return bad("bad at: " + ts.error());
  e.at = *ts;
  simdjson::dom::object actor;
  std::optional<element> kind;
  std::optional<element> actor_id;
  if (m[kActor] && m[kActor]->get_object().get(actor) == simdjson::SUCCESS) {
    for (auto field : actor) {
      if (field.key == "kind") kind = field.value;
      if (field.key == "id") actor_id = field.value;
    }
  }
  if (!take_string(kind, e.actor.kind) || !take_string(actor_id, e.actor.id)) return bad("bad actor");
  if (!m[kData] || m[kData]->type() != simdjson::dom::element_type::OBJECT) {
    return bad("data must be an object");
  }
  assign_from_dom(e.data, *m[kData]);  // (reusing what a used envelope holds)
  // Every reader sees the current version of each type; the bytes in the log stay as written.
  if (auto up = upcasters().upcast(e); !up) return bad("upcast: " + up.error());
  return {};
}

}  // namespace

// The envelope is read straight from simdjson's DOM; only `data` becomes a Json. Of duplicate
// members the last counts, as parse_json would have it.
std::expected<Envelope, DecodeFailure> decode(std::string_view bytes) {
  Envelope e;
  if (auto done = decode_into(bytes, e); !done) return std::unexpected(std::move(done.error()));
  return e;
}

std::expected<void, DecodeFailure> decode_into(std::string_view bytes, Envelope& e) {
  return decode_parsed(parse_dom(bytes), e);
}

static_assert(kDecodePadding >= kJsonPadding);
std::expected<void, DecodeFailure> decode_padded_into(std::string_view bytes, Envelope& e) {
  return decode_parsed(parse_dom_padded(bytes), e);
}

}  // namespace apexloop::events
