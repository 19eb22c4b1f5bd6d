#pragma once
// A small owned JSON value. simdjson parses (it is read-only and borrows its buffer); this type is
// what the domain holds, edits and writes back out. Objects keep their keys sorted so that the
// bytes written for the same value are always the same (replay must be byte-identical).

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace apexloop {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json, std::less<>>;

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int v) : v_(static_cast<std::int64_t>(v)) {}
  Json(std::int64_t v) : v_(v) {}
  Json(std::uint64_t v) : v_(static_cast<std::int64_t>(v)) {}
  Json(double v) : v_(v) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  [[nodiscard]] bool is_null() const { return std::holds_alternative<std::nullptr_t>(v_); }
  [[nodiscard]] bool is_bool() const { return std::holds_alternative<bool>(v_); }
  [[nodiscard]] bool is_int() const { return std::holds_alternative<std::int64_t>(v_); }
  [[nodiscard]] bool is_double() const { return std::holds_alternative<double>(v_); }
  [[nodiscard]] bool is_number() const { return is_int() || is_double(); }
  [[nodiscard]] bool is_string() const { return std::holds_alternative<std::string>(v_); }
  [[nodiscard]] bool is_array() const { return std::holds_alternative<Array>(v_); }
  [[nodiscard]] bool is_object() const { return std::holds_alternative<Object>(v_); }

  [[nodiscard]] bool as_bool() const { return std::get<bool>(v_); }
  [[nodiscard]] std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  [[nodiscard]] double as_number() const {
    return is_int() ? static_cast<double>(as_int()) : std::get<double>(v_);
  }
  [[nodiscard]] const std::string& as_string() const { return std::get<std::string>(v_); }
  [[nodiscard]] std::string& as_string() { return std::get<std::string>(v_); }
  [[nodiscard]] const Array& as_array() const { return std::get<Array>(v_); }
  [[nodiscard]] Array& as_array() { return std::get<Array>(v_); }
  [[nodiscard]] const Object& as_object() const { return std::get<Object>(v_); }
  [[nodiscard]] Object& as_object() { return std::get<Object>(v_); }

  // Member lookup on an object; nullptr when absent or when this is not an object.
  [[nodiscard]] const Json* find(std::string_view key) const;
  // Member string or a fallback when absent or not a string.
  [[nodiscard]] std::string_view string_or(std::string_view key, std::string_view fallback) const;

  friend bool operator==(const Json&, const Json&) = default;

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_;
};

enum class JsonError { malformed, too_deep, too_large };
[[nodiscard]] std::string_view to_string(JsonError e);

// Parses untrusted bytes. Depth is bounded (simdjson's limit), so a 100,000-deep document is an
// error value, not a stack overflow.
[[nodiscard]] std::expected<Json, JsonError> parse_json(std::string_view text);

// Appends the compact JSON text of `value` to `out`.
void write_json(std::string& out, const Json& value);
[[nodiscard]] std::string to_json(const Json& value);
// Appends a JSON string literal (quotes and escapes included).
void write_json_string(std::string& out, std::string_view s);

}  // namespace apexloop
