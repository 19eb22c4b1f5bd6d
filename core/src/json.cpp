#include "apexloop/core/json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>

#include "apexloop/core/json_dom.hpp"

namespace apexloop {

Json::Object::Object(std::initializer_list<value_type> members) : items_(members) {
  // Lists are short: an insertion sort that keeps equal keys in order, then the first of each.
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    auto to = std::upper_bound(items_.begin(), it, it->first,
                               [](std::string_view k, const value_type& m) { return k < m.first; });
    std::rotate(to, it, it + 1);
  }
  auto dup = std::unique(items_.begin(), items_.end(),
                         [](const value_type& a, const value_type& b) { return a.first == b.first; });
  items_.erase(dup, items_.end());
}

Json::Object Json::Object::from_members(std::vector<value_type> members) {
  Object o;
  o.items_ = std::move(members);
  auto& items = o.items_;
  const auto less = [](const value_type& a, const value_type& b) { return a.first < b.first; };
  // What we wrote ourselves comes sorted: one pass finds that.
  if (std::adjacent_find(items.begin(), items.end(), std::not_fn(less)) == items.end()) return o;
  std::stable_sort(items.begin(), items.end(), less);
  // unique() keeps the first of each run of equal keys; run backwards, that is the last one.
  auto kept = std::unique(items.rbegin(), items.rend(),
                          [](const value_type& a, const value_type& b) { return a.first == b.first; });
  items.erase(items.begin(), kept.base());
  return o;
}

Json& Json::Object::at(std::string_view key) {
  auto it = find(key);
  if (it == end()) throw std::out_of_range("Json::Object::at");
  return it->second;
}

const Json& Json::Object::at(std::string_view key) const {
  auto it = find(key);
  if (it == end()) throw std::out_of_range("Json::Object::at");
  return it->second;
}

std::size_t Json::Object::erase(std::string_view key) {
  auto it = find(key);
  if (it == end()) return 0;
  items_.erase(it);
  return 1;
}

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  const auto& obj = as_object();
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &it->second;
}

std::string_view Json::string_or(std::string_view key, std::string_view fallback) const {
  const Json* v = find(key);
  return (v != nullptr && v->is_string()) ? std::string_view(v->as_string()) : fallback;
}

std::string_view to_string(JsonError e) {
  switch (e) {
    case JsonError::malformed: return "malformed JSON";
    case JsonError::too_deep: return "JSON nested too deeply";
    case JsonError::too_large: return "JSON document too large";
  }
  return "JSON error";
}

Json from_dom(simdjson::dom::element el) {
  Json out;
  assign_from_dom(out, el);
  return out;
}

void assign_from_dom(Json& out, simdjson::dom::element el) {
  switch (el.type()) {
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array src;
      if (el.get_array().get(src) != simdjson::SUCCESS) break;
      Json::Array arr = out.is_array() ? std::move(out.as_array()) : Json::Array();
      arr.resize(src.size());
      std::size_t i = 0;
      for (simdjson::dom::element child : src) assign_from_dom(arr[i++], child);
      out = Json(std::move(arr));
      return;
    }
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object src;
      if (el.get_object().get(src) != simdjson::SUCCESS) break;
      auto members = out.is_object() ? std::move(out.as_object()).take_members() : std::vector<Json::Object::value_type>();
      members.resize(src.size());
      std::size_t i = 0;
      for (auto field : src) {
        members[i].first.assign(field.key);
        assign_from_dom(members[i].second, field.value);
        ++i;
      }
      // Duplicate keys: the last one wins, as in most JSON readers.
      out = Json(Json::Object::from_members(std::move(members)));
      return;
    }
    case simdjson::dom::element_type::INT64: out = Json(el.get_int64().value_unsafe()); return;
    case simdjson::dom::element_type::UINT64:
      // Beyond int64: keep the magnitude as a double rather than wrapping around.
      out = Json(static_cast<double>(el.get_uint64().value_unsafe()));
      return;
    case simdjson::dom::element_type::DOUBLE: out = Json(el.get_double().value_unsafe()); return;
    case simdjson::dom::element_type::STRING: {
      const std::string_view text = el.get_string().value_unsafe();
      if (out.is_string()) {
        out.as_string().assign(text);
      } else {
        out = Json(text);
      }
      return;
    }
    case simdjson::dom::element_type::BOOL: out = Json(el.get_bool().value_unsafe()); return;
    case simdjson::dom::element_type::NULL_VALUE: break;
  }
  out = Json(nullptr);
}

namespace {

// One parser per thread: simdjson parsers reuse their buffers and are not thread-safe.
std::expected<simdjson::dom::element, JsonError> parse_padded(const char* text, std::size_t size) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto err = parser.parse(text, size, false).get(root);
  if (err == simdjson::DEPTH_ERROR) return std::unexpected(JsonError::too_deep);
  if (err == simdjson::CAPACITY) return std::unexpected(JsonError::too_large);
  if (err) return std::unexpected(JsonError::malformed);
  return root;
}

}  // namespace

std::expected<simdjson::dom::element, JsonError> parse_dom(std::string_view text) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end, which a string_view does not
  // promise, so the text is copied into a padded buffer that is kept for the next parse rather
  // than allocated.
  thread_local std::unique_ptr<char[]> padded;
  thread_local std::size_t capacity = 0;
  if (text.size() + simdjson::SIMDJSON_PADDING > capacity) {
    capacity = std::max(text.size() + simdjson::SIMDJSON_PADDING, 2 * capacity);
    padded = std::make_unique<char[]>(capacity);
  }
  text.copy(padded.get(), text.size());
  return parse_padded(padded.get(), text.size());
}

std::expected<simdjson::dom::element, JsonError> parse_dom_padded(std::string_view text) {
  return parse_padded(text.data(), text.size());
}

std::expected<Json, JsonError> parse_json(std::string_view text) {
  auto root = parse_dom(text);
  if (!root) return std::unexpected(root.error());
  return from_dom(*root);
}

namespace {

// Whether any of the 8 bytes of `w` needs an escape in a JSON string: below 0x20, '"' or '\\'.
// The word tricks ("Bit Twiddling Hacks": hasless, haszero) are exact as a yes or no.
bool any_to_escape(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto has_zero = [&](std::uint64_t x) { return ((x - kOnes) & ~x & kHigh) != 0; };
  return ((w - kOnes * 0x20) & ~w & kHigh) != 0 || has_zero(w ^ (kOnes * '"')) || has_zero(w ^ (kOnes * '\\'));
}

// Whether any character of `s` needs an escape, eight at a time (the last few padded with
// spaces, which need none).
bool needs_escape(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (any_to_escape(w)) return true;
  }
  std::uint64_t w = 0x2020202020202020ull;
  std::memcpy(&w, s.data() + i, s.size() - i);
  return any_to_escape(w);
}

}  // namespace

void write_json_string(std::string& out, std::string_view s) {
  // Nearly always nothing needs an escape: then the quoted string goes in with one copy. (The
  // size handed to the lambda is not used: GCC 12's library hands it the grown capacity.)
  if (!needs_escape(s)) {
    const std::size_t old = out.size(), size = old + s.size() + 2;
    out.resize_and_overwrite(size, [&](char* p, std::size_t) {
      p[old] = '"';
      std::memcpy(p + old + 1, s.data(), s.size());
      p[size - 1] = '"';
      return size;
    });
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of characters that need no escape
  for (std::size_t i = 0; i < s.size();) {
    // Eight characters at a time while none needs an escape (nearly always); a word that has
    // one is looked at character by character.
    if (i + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!any_to_escape(w)) {
        i += 8;
        continue;
      }
    }
    for (const std::size_t stop = std::min(s.size(), i + 8); i < stop; ++i) {
      const auto u = static_cast<unsigned char>(s[i]);
      if (u >= 0x20 && u != '"' && u != '\\') continue;
      out.append(s.data() + run, i - run);
      run = i + 1;
      switch (u) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void write_json(std::string& out, const Json& value) {
  if (value.is_null()) {
    out += "null";
  } else if (value.is_bool()) {
    out += value.as_bool() ? "true" : "false";
  } else if (value.is_int()) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, value.as_int());
    out.append(buf, r.ptr);
  } else if (value.is_double()) {
    double d = value.as_number();
    if (!std::isfinite(d)) {
      out += "null";  // JSON has no NaN or infinity; validation keeps them out of the domain.
      return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
  } else if (value.is_string()) {
    write_json_string(out, value.as_string());
  } else if (value.is_array()) {
    out.push_back('[');
    bool first = true;
    for (const auto& item : value.as_array()) {
      if (!first) out.push_back(',');
      first = false;
      write_json(out, item);
    }
    out.push_back(']');
  } else {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, v] : value.as_object()) {
      if (!first) out.push_back(',');
      first = false;
      write_json_string(out, k);
      out.push_back(':');
      write_json(out, v);
    }
    out.push_back('}');
  }
}

std::string to_json(const Json& value) {
  std::string out;
  write_json(out, value);
  return out;
}

}  // namespace apexloop
