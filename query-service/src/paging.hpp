#pragma once
// One page of a key range: every list the query service answers is a run of stored values under
// a prefix, taken in key order from a start key.

#include <rocksdb/db.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "apexloop/core/json.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::query {

inline constexpr std::size_t kDefaultLimit = 50;
inline constexpr std::size_t kMaxLimit = 500;

// An order key (keys::order_key): 16 lowercase hex digits, the only cursor the lists take.
inline bool is_order_key(std::string_view s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The page size `?limit=` asks for (kDefaultLimit without one), or the 400 for a bad one.
inline std::expected<std::size_t, http::Response> page_limit(const http::Request& req, const http::RequestContext& ctx) {
  auto l = ctx.params.find("?limit");
  if (l == ctx.params.end()) return kDefaultLimit;
  std::size_t n = 0;
  auto r = std::from_chars(l->second.data(), l->second.data() + l->second.size(), n);
  if (r.ec != std::errc{} || r.ptr != l->second.data() + l->second.size() || n < 1 || n > kMaxLimit) {
    return std::unexpected(http::problem_for(req, http::bhttp::status::bad_request, "limit must be an integer from 1 to 500"));
  }
  return n;
}

// The cursor `?cursor=` names ("" without one), or the 400 when it is not an order key.
inline std::expected<std::string, http::Response> page_cursor(const http::Request& req, const http::RequestContext& ctx) {
  auto c = ctx.params.find("?cursor");
  if (c == ctx.params.end()) return std::string();
  if (!is_order_key(c->second)) return std::unexpected(http::problem_for(req, http::bhttp::status::bad_request, "bad cursor"));
  return c->second;
}

// Where a page under `prefix` starts: its first key, or the first key strictly after the cursor's.
inline std::string page_start(const std::string& prefix, const std::string& cursor) {
  if (cursor.empty()) return prefix;
  return prefix + cursor + '\x01';
}

struct PageEnd {
  std::size_t count = 0;                  // values appended
  std::optional<std::string> more_after;  // when more follow: the last key, without the prefix
};

// A row served in a range without being stored there: in its key's place, and over a stored
// row of the same key.
struct ExtraRow {
  std::string key, value;
};

// Appends to `out`, comma-separated, the values of up to `limit` keys under `prefix`, from
// `start` (itself under `prefix`) on, with `extra` among them when it lies there.
inline PageEnd append_page(rocksdb::Iterator& it, const std::string& prefix, const std::string& start, std::size_t limit,
                           std::string& out, std::optional<ExtraRow> extra = std::nullopt) {
  PageEnd end;
  std::string last;
  if (extra && !(extra->key.starts_with(prefix) && extra->key >= start)) extra.reset();
  // False once the page is full (and another row waits).
  auto add = [&](std::string_view key, std::string_view value) {
    if (end.count == limit) {
      end.more_after = std::move(last);
      return false;
    }
    if (end.count++ > 0) out.push_back(',');
    out.append(value.data(), value.size());
    last = std::string(key.substr(prefix.size()));
    return true;
  };
  for (it.Seek(start); it.Valid() && it.key().starts_with(prefix); it.Next()) {
    const std::string_view key = it.key().ToStringView();
    if (extra && extra->key <= key) {
      if (!add(extra->key, extra->value)) return end;
      const bool replaces = extra->key == key;
      extra.reset();
      if (replaces) continue;
    }
    if (!add(key, it.value().ToStringView())) return end;
  }
  if (extra) add(extra->key, extra->value);
  return end;
}
inline PageEnd append_page(rocksdb::DB& db, const std::string& prefix, const std::string& start, std::size_t limit,
                           std::string& out, std::optional<ExtraRow> extra = std::nullopt) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  return append_page(*it, prefix, start, limit, out, std::move(extra));
}

// Closes `{"items":[...` with the page's `next_cursor` (the last key, or null at the end).
inline void close_page(std::string& body, const PageEnd& end) {
  body += "],\"next_cursor\":";
  if (end.more_after) {
    write_json_string(body, *end.more_after);
  } else {
    body += "null";
  }
  body.push_back('}');
}

}  // namespace apexloop::query
