#pragma once
// simdjson's DOM, for a reader that takes a document apart itself (the event codec) and converts
// only the parts it keeps into Json. The domain holds Json, never these: an element borrows this
// thread's parser and is gone at its next parse.

#include <simdjson.h>

#include <expected>
#include <string_view>

#include "apexloop/core/json.hpp"

namespace apexloop {

// Parses with this thread's parser (parse_json uses it too); the element is valid until the next
// parse on this thread.
[[nodiscard]] std::expected<simdjson::dom::element, JsonError> parse_dom(std::string_view text);
// What simdjson may read past the end of a text: kJsonPadding bytes.
inline constexpr std::size_t kJsonPadding = simdjson::SIMDJSON_PADDING;
// The same for a text followed by at least kJsonPadding bytes of its own buffer (whatever they
// hold): parsed where it lies, not copied first.
[[nodiscard]] std::expected<simdjson::dom::element, JsonError> parse_dom_padded(std::string_view text);

// An owned copy of a parsed element.
[[nodiscard]] Json from_dom(simdjson::dom::element el);
// The same into `out`, reusing the strings, arrays and objects it holds where the element has
// the same kind of value there: a reader decoding many documents of one shape into one Json
// allocates next to nothing.
void assign_from_dom(Json& out, simdjson::dom::element el);

}  // namespace apexloop
