#pragma once
// The read-model key layout, shared by the projector (which writes it) and the query service
// (which only reads it). Keys are plain strings; ids and keys never contain '/'.
//
//   meta/offset/<partition>                 next offset to consume, decimal
//   ws/<ws>                                 {"id","name"}
//   user/<ws>/<id>                          {"id","email","name","role"}
//   db/<ws>/<db>                            {"key","name","columns":[...]}
//   rc/<ws>/<db>/<id>                       canonical record (fields, version, times, order)
//   pv/<ws>/<set>/r/<db>/<id>               the record bytes a principal set is sent
//   pv/<ws>/<set>/l/<db>/<order>            the same bytes, in list order
//
// <set> names whose view it is: `internal` for the workspace's users; per (client, portal role)
// sets join with the access model.

#include <cstdint>
#include <string>
#include <string_view>

namespace apexloop::keys {

inline constexpr std::string_view kInternalSet = "internal";

inline std::string offset(std::int32_t partition) { return "meta/offset/" + std::to_string(partition); }
inline constexpr std::string_view kOffsetPrefix = "meta/offset/";
inline std::string workspace(std::string_view ws) { return "ws/" + std::string(ws); }
inline std::string user(std::string_view ws, std::string_view id) {
  return "user/" + std::string(ws) + "/" + std::string(id);
}
inline std::string database_prefix(std::string_view ws) { return "db/" + std::string(ws) + "/"; }
inline std::string database(std::string_view ws, std::string_view db) {
  return database_prefix(ws) + std::string(db);
}
inline std::string canonical_record(std::string_view ws, std::string_view db, std::string_view id) {
  return "rc/" + std::string(ws) + "/" + std::string(db) + "/" + std::string(id);
}
inline std::string served_record(std::string_view ws, std::string_view set, std::string_view db,
                                 std::string_view id) {
  return "pv/" + std::string(ws) + "/" + std::string(set) + "/r/" + std::string(db) + "/" + std::string(id);
}
inline std::string list_prefix(std::string_view ws, std::string_view set, std::string_view db) {
  return "pv/" + std::string(ws) + "/" + std::string(set) + "/l/" + std::string(db) + "/";
}
// Creation order: the offset of record.created, fixed-width so byte order is numeric order.
std::string order_key(std::int64_t offset);

}  // namespace apexloop::keys
