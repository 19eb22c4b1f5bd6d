#pragma once
// A small owned JSON value. simdjson parses (it is read-only and borrows its buffer); this type is
// what the domain holds, edits and writes back out. Objects keep their keys sorted so that the
// bytes written for the same value are always the same (replay must be byte-identical).

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <expected>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace apexloop {

class Json {
 public:
  using Array = std::vector<Json>;
  class Object;

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

  // Unique keys in the order of std::map<std::string, Json, std::less<>> (bytes compared
  // unsigned), without a node per member: objects are small and mostly built in key order (we
  // parse what we wrote), so a sorted vector is one allocation and its inserts are appends. Unlike
  // a map's, inserting or erasing a member invalidates every reference and iterator into it.
  class Object {
   public:
    using value_type = std::pair<std::string, Json>;
    using iterator = std::vector<value_type>::iterator;
    using const_iterator = std::vector<value_type>::const_iterator;

    Object() = default;
    // Of members with the same key the first is kept, as std::map does.
    Object(std::initializer_list<value_type> members);
    // Members in any order, sorted once (not inserted one by one: a hostile document must not
    // cost a shift per member). Of members with the same key the last is kept, as in parsing.
    [[nodiscard]] static Object from_members(std::vector<value_type> members);
    // The members, taken (this object is left empty): to refill and give back to from_members()
    // with their strings' buffers.
    [[nodiscard]] std::vector<value_type> take_members() && { return std::move(items_); }

    [[nodiscard]] iterator begin() { return items_.begin(); }
    [[nodiscard]] iterator end() { return items_.end(); }
    [[nodiscard]] const_iterator begin() const { return items_.begin(); }
    [[nodiscard]] const_iterator end() const { return items_.end(); }
    [[nodiscard]] std::size_t size() const { return items_.size(); }
    [[nodiscard]] bool empty() const { return items_.empty(); }
    void clear() { items_.clear(); }

    [[nodiscard]] iterator find(std::string_view key) { return search(items_, key); }
    [[nodiscard]] const_iterator find(std::string_view key) const { return search(items_, key); }
    [[nodiscard]] bool contains(std::string_view key) const { return find(key) != end(); }
    [[nodiscard]] std::size_t count(std::string_view key) const { return contains(key) ? 1 : 0; }
    // Throws std::out_of_range when `key` is absent.
    [[nodiscard]] Json& at(std::string_view key);
    [[nodiscard]] const Json& at(std::string_view key) const;
    Json& operator[](std::string_view key) { return try_emplace(key).first->second; }

    template <class K>
      requires std::convertible_to<K, std::string_view>
    std::pair<iterator, bool> insert_or_assign(K&& key, Json value) {
      auto [it, inserted] = try_emplace(std::forward<K>(key));
      it->second = std::move(value);
      return {it, inserted};
    }
    // Costs no search when `key` belongs right before `hint`: end() while keys come in order.
    template <class K>
      requires std::convertible_to<K, std::string_view>
    iterator insert_or_assign(const_iterator hint, K&& key, Json value) {
      const std::string_view k = key;
      if ((hint == begin() || std::prev(hint)->first < k) && (hint == end() || k < hint->first)) {
        return items_.emplace(hint, std::string(std::forward<K>(key)), std::move(value));
      }
      return insert_or_assign(std::forward<K>(key), std::move(value)).first;
    }
    // Leaves a member that is already there as it is.
    template <class K>
      requires std::convertible_to<K, std::string_view>
    std::pair<iterator, bool> emplace(K&& key, Json value) {
      auto [it, inserted] = try_emplace(std::forward<K>(key));
      if (inserted) it->second = std::move(value);
      return {it, inserted};
    }

    std::size_t erase(std::string_view key);
    iterator erase(const_iterator pos) { return items_.erase(pos); }
    template <class Pred>
    friend std::size_t erase_if(Object& o, Pred pred) {
      return std::erase_if(o.items_, std::move(pred));
    }

    friend bool operator==(const Object&, const Object&) = default;

   private:
    template <class Items>
    static auto lower_bound(Items& items, std::string_view key) -> decltype(items.begin()) {
      return std::lower_bound(items.begin(), items.end(), key,
                              [](const value_type& m, std::string_view k) { return m.first < k; });
    }
    template <class Items>
    static auto search(Items& items, std::string_view key) -> decltype(items.begin()) {
      auto it = lower_bound(items, key);
      return it != items.end() && it->first == key ? it : items.end();
    }
    template <class K>
    std::pair<iterator, bool> try_emplace(K&& key) {
      const std::string_view k = key;
      // Appending is the common case: check it before searching.
      auto it = items_.empty() || items_.back().first < k ? end() : lower_bound(items_, k);
      if (it != end() && it->first == k) return {it, false};
      return {items_.emplace(it, std::string(std::forward<K>(key)), Json()), true};
    }

    std::vector<value_type> items_;
  };

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
