#pragma once
// The wire format of one event: the envelope as compact JSON, one event per Kafka message.

#include <expected>
#include <string>
#include <string_view>

#include "apexloop/core/event.hpp"

namespace apexloop::events {

// The first version of every event type. A writer stamps current_version(type) (upcast.hpp).
inline constexpr int kCurrentVersion = 1;

// Keys in a fixed order, so the same envelope always has the same bytes.
[[nodiscard]] std::string encode(const Envelope& e);

enum class DecodeError { malformed_json, not_an_envelope };
struct DecodeFailure {
  DecodeError kind;
  std::string detail;
};
// Decodes and upcasts (upcast.hpp): the envelope answered is in its type's current version.
[[nodiscard]] std::expected<Envelope, DecodeFailure> decode(std::string_view bytes);
// The same into `out`, whose every member it sets, reusing their memory (a reader that decodes
// message after message into the same envelopes allocates little). On failure `out` is left
// half-written.
[[nodiscard]] std::expected<void, DecodeFailure> decode_into(std::string_view bytes, Envelope& out);
// The same for bytes followed by at least kDecodePadding bytes of their own buffer, whatever those
// hold (the next message, say): parsed where they lie, not copied first.
inline constexpr std::size_t kDecodePadding = 64;
[[nodiscard]] std::expected<void, DecodeFailure> decode_padded_into(std::string_view bytes, Envelope& out);

}  // namespace apexloop::events
