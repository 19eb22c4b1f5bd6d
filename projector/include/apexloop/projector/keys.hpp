#pragma once
// The read-model key layout, shared by the projector (which writes it) and the query service
// (which only reads it). Keys are plain strings; ids and keys never contain '/'.
//
//   meta/offset/<partition>                 next offset to consume, decimal
//   acl/<ws>/<offset>                       access events (schema, clients, contacts, policies), replayed on open
//   ws/<ws>                                 {"id","name"}
//   user/<ws>/<id>                          {"id","email","name","role"}
//   contact/<ws>/<id>                       {"id","client_id","role","active"}: the query service ends sessions with it
//   db/<ws>/<db>                            {"key","name","columns":[...]} (internal view)
//   rc/<ws>/<db>/<id>                       "<owner>/<order>": where the record is, under ro/ and l/
//   ro/<ws>/<db>/<owner>/<order>            the record (StoredRecord bytes), by owner ("" for none)
//                                           and creation order: what a client's policy change scans
//   rr/<ws>/<db>/<id>/<from db>/<from id>   reverse relations: who points at a record
//   client/<ws>/<id>                        {"id","name","client_type","archived"}
//   view/<ws>/<scope>/<db>/<view>           a named view: {"columns","filter"?,"sort"?,"limit"?}
//   session/<ws>/<session>                  ended sessions (logout): the query service refuses them
//   route/<ws>/<contact>/<db>               the principal set a contact reads <db> from, and the
//                                           generation of its rows: "<set>" or "<set>/<gen>"
//   pv/<ws>/<set>/l/<db>/<order>            the record bytes a principal set is sent, in list order;
//                                           by id through rc/'s order
//   pv/<ws>/<set>/L<gen>/<db>/<order>       the same, for a set whose rows have a generation: a
//                                           re-projection that changes the columns a set reads
//                                           writes every row afresh under the next generation (keys
//                                           with no older versions to step past) and drops the
//                                           old one whole, in one range deletion
//   pv/<ws>/<set>/g/<db>                    that generation (decimal; absent: the l/ rows)
//   pv/<ws>/<set>/db/<db>                   the database as that set sees it (readable columns)
//   pv/<ws>/<set>/v/<db>/<view>/<sort><order>  a view's rows for that set, in the view's order, cut
//                                           to its columns (views whose answer the log fixes)
//   pv/<ws>/<set>/vr/<db>/<order>           the view keys a record has in that set, to replace them
//   pv/<ws>/<set>/c/<db>/<record>/<order>   the comments that set sees on a record it sees (the
//                                           internal set: internal notes too)
//   cm/<ws>/<db>/<record>/<order>           every comment on a record, as internal users see it
//   ci/<ws>/<comment>                       "<db>/<record>/<order>": where a comment is
//   cc/<ws>/<db>                            present once a client-visible comment exists in <db>
//   pv/<ws>/<set>/a/<db>/<record>/<order>   the approval requests on a record that set sees
//   ap/<ws>/<db>/<record>/<order>           every approval request on a record
//   ai/<ws>/<approval>                      "<db>/<record>/<order>": where an approval is
//   ac/<ws>/<db>                            present once an approval exists in <db>
//   pv/<ws>/<set>/n/<order>                 that set's notifications: changes it could see
//   form/<ws>/<key>                         a form, as internal users list it
//   formt/<ws>/<client type>/<key>          the forms a client type's contacts may submit
//
// <set> is `internal` for the workspace's users, `<client>:<role>` for a client's portal role,
// or `<client>:<role>:<contact>` where the policy's read filter names contact.id.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace apexloop::keys {

inline constexpr std::string_view kInternalSet = "internal";

// The parts, joined into `out` (whose buffer is reused).
inline void assign(std::string& out, std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (auto p : parts) n += p.size();
  out.clear();
  out.reserve(n);  // one allocation, not one per part that outgrows the buffer
  for (auto p : parts) out += p;
}
inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  assign(out, parts);
  return out;
}

inline std::string offset(std::int32_t partition) { return "meta/offset/" + std::to_string(partition); }
inline constexpr std::string_view kOffsetPrefix = "meta/offset/";
inline std::string access_log_prefix(std::string_view ws) { return cat({"acl/", ws, "/"}); }
inline constexpr std::string_view kAccessLogPrefix = "acl/";
inline std::string workspace(std::string_view ws) { return cat({"ws/", ws}); }
inline std::string user(std::string_view ws, std::string_view id) { return cat({"user/", ws, "/", id}); }
inline std::string contact(std::string_view ws, std::string_view id) { return cat({"contact/", ws, "/", id}); }
inline std::string session(std::string_view ws, std::string_view id) { return cat({"session/", ws, "/", id}); }
inline std::string client_prefix(std::string_view ws) { return cat({"client/", ws, "/"}); }
inline std::string client(std::string_view ws, std::string_view id) { return client_prefix(ws) + std::string(id); }
inline std::string view(std::string_view ws, std::string_view scope, std::string_view db, std::string_view name) {
  return cat({"view/", ws, "/", scope, "/", db, "/", name});
}
inline std::string database_prefix(std::string_view ws) { return cat({"db/", ws, "/"}); }
inline std::string database(std::string_view ws, std::string_view db) { return database_prefix(ws) + std::string(db); }
// Into a reused buffer:
inline void record_location(std::string& out, std::string_view ws, std::string_view db, std::string_view id) {
  assign(out, {"rc/", ws, "/", db, "/", id});
}
inline std::string record_location(std::string_view ws, std::string_view db, std::string_view id) {
  std::string out;
  record_location(out, ws, db, id);
  return out;
}
// The order key in a record_location value.
inline std::string_view order_of_location(std::string_view location) {
  const auto slash = location.find('/');
  return slash == std::string_view::npos ? std::string_view() : location.substr(slash + 1);
}
inline std::string owner_prefix(std::string_view ws, std::string_view db, std::string_view client) {
  return cat({"ro/", ws, "/", db, "/", client, "/"});
}
// owner_prefix() + order: one record.
inline void owner_row(std::string& out, std::string_view ws, std::string_view db, std::string_view owner,
                      std::string_view order) {
  assign(out, {"ro/", ws, "/", db, "/", owner, "/", order});
}
inline std::string owner_row(std::string_view ws, std::string_view db, std::string_view owner, std::string_view order) {
  std::string out;
  owner_row(out, ws, db, owner, order);
  return out;
}
// The owner_row() a record_location value points at; nullopt when the value is not one.
inline std::optional<std::string> owner_row_at(std::string_view ws, std::string_view db, std::string_view location) {
  const auto slash = location.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return owner_row(ws, db, location.substr(0, slash), location.substr(slash + 1));
}
inline std::string referrers_prefix(std::string_view ws, std::string_view db, std::string_view id) {
  return cat({"rr/", ws, "/", db, "/", id, "/"});
}
inline std::string route_prefix(std::string_view ws, std::string_view contact) {
  return cat({"route/", ws, "/", contact, "/"});
}
inline std::string route(std::string_view ws, std::string_view contact, std::string_view db) {
  return route_prefix(ws, contact) + std::string(db);
}
// Every principal set's keys (the rows it is sent, its notices, ...): set_prefix() and below.
inline constexpr std::string_view kSetsPrefix = "pv/";
inline std::string set_prefix(std::string_view ws, std::string_view set) { return cat({"pv/", ws, "/", set, "/"}); }
// list_prefix() + order, into a reused buffer.
inline void list_row(std::string& out, std::string_view ws, std::string_view set, std::string_view db,
                     std::string_view gen, std::string_view order) {
  if (gen.empty()) return assign(out, {"pv/", ws, "/", set, "/l/", db, "/", order});
  assign(out, {"pv/", ws, "/", set, "/L", gen, "/", db, "/", order});
}
// The rows of `set` for `db` in generation `gen` ("" for none: the internal set's, and a set's
// until its columns change).
inline std::string list_prefix(std::string_view ws, std::string_view set, std::string_view db, std::string_view gen) {
  std::string out;
  list_row(out, ws, set, db, gen, "");
  return out;
}
inline std::string list_gen(std::string_view ws, std::string_view set, std::string_view db) {
  return cat({"pv/", ws, "/", set, "/g/", db});
}
// The generation after `gen`.
inline std::string next_gen(std::string_view gen) {
  std::uint64_t n = 0;
  for (const char c : gen) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return std::to_string(n + 1);
}
// The parts of a row key in a generation (pv/<ws>/<set>/L<gen>/<db>/<order>); nullopt for any
// other key.
struct GenRow {
  std::string_view ws, set, gen, db;
};
inline std::optional<GenRow> gen_row(std::string_view key) {
  if (!key.starts_with("pv/")) return std::nullopt;
  std::string_view rest = key.substr(3);
  std::string_view parts[4];
  for (auto& part : parts) {
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    part = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
  }
  if (parts[2].size() < 2 || parts[2][0] != 'L') return std::nullopt;
  return GenRow{parts[0], parts[1], parts[2].substr(1), parts[3]};
}
// A route's value, and back.
struct Route {
  std::string set, gen;
};
inline std::string route_value(std::string_view set, std::string_view gen) {
  return gen.empty() ? std::string(set) : cat({set, "/", gen});
}
inline Route parse_route(std::string_view value) {
  const auto slash = value.find('/');
  if (slash == std::string_view::npos) return {std::string(value), {}};
  return {std::string(value.substr(0, slash)), std::string(value.substr(slash + 1))};
}
inline std::string set_database_prefix(std::string_view ws, std::string_view set) {
  return cat({"pv/", ws, "/", set, "/db/"});
}
inline std::string set_database(std::string_view ws, std::string_view set, std::string_view db) {
  return set_database_prefix(ws, set) + std::string(db);
}
inline std::string set_views_prefix(std::string_view ws, std::string_view set, std::string_view db) {
  return cat({"pv/", ws, "/", set, "/v/", db, "/"});
}
inline std::string view_index_prefix(std::string_view ws, std::string_view set, std::string_view db,
                                     std::string_view view) {
  return cat({"pv/", ws, "/", set, "/v/", db, "/", view, "/"});
}
inline std::string view_refs_prefix(std::string_view ws, std::string_view set, std::string_view db) {
  return cat({"pv/", ws, "/", set, "/vr/", db, "/"});
}
inline std::string comments_prefix(std::string_view ws, std::string_view db, std::string_view record) {
  return cat({"cm/", ws, "/", db, "/", record, "/"});
}
inline std::string comment_location(std::string_view ws, std::string_view comment) {
  return cat({"ci/", ws, "/", comment});
}
// The parts of a comment_location value "<db>/<record>/<order>"; nullopt when it is not one.
struct CommentPlace {
  std::string db, record, order;
};
inline std::optional<CommentPlace> comment_place(std::string_view location) {
  const auto first = location.find('/'), last = location.rfind('/');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  return CommentPlace{std::string(location.substr(0, first)), std::string(location.substr(first + 1, last - first - 1)),
                      std::string(location.substr(last + 1))};
}
inline std::string client_comments_marker(std::string_view ws, std::string_view db) { return cat({"cc/", ws, "/", db}); }
inline std::string set_comments_prefix(std::string_view ws, std::string_view set, std::string_view db,
                                       std::string_view record) {
  return cat({"pv/", ws, "/", set, "/c/", db, "/", record, "/"});
}
inline std::string set_all_comments_prefix(std::string_view ws, std::string_view set, std::string_view db) {
  return cat({"pv/", ws, "/", set, "/c/", db, "/"});
}
inline std::string approvals_prefix(std::string_view ws, std::string_view db, std::string_view record) {
  return cat({"ap/", ws, "/", db, "/", record, "/"});
}
inline std::string approval_location(std::string_view ws, std::string_view approval) {
  return cat({"ai/", ws, "/", approval});
}
inline std::string approvals_marker(std::string_view ws, std::string_view db) { return cat({"ac/", ws, "/", db}); }
inline std::string set_approvals_prefix(std::string_view ws, std::string_view set, std::string_view db,
                                        std::string_view record) {
  return cat({"pv/", ws, "/", set, "/a/", db, "/", record, "/"});
}
inline std::string set_all_approvals_prefix(std::string_view ws, std::string_view set, std::string_view db) {
  return cat({"pv/", ws, "/", set, "/a/", db, "/"});
}
inline std::string notices_prefix(std::string_view ws, std::string_view set) { return cat({"pv/", ws, "/", set, "/n/"}); }
// notices_prefix() + order: one notice, into a reused buffer.
inline void notice(std::string& out, std::string_view ws, std::string_view set, std::string_view order) {
  assign(out, {"pv/", ws, "/", set, "/n/", order});
}
inline std::string forms_prefix(std::string_view ws) { return cat({"form/", ws, "/"}); }
inline std::string forms_for_type_prefix(std::string_view ws, std::string_view type) {
  return cat({"formt/", ws, "/", type, "/"});
}
// 16 lowercase hex digits, so byte order is numeric order.
inline void assign_hex16(std::string& out, std::uint64_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.assign(16, '0');
  for (int i = 15; i >= 0; --i, n >>= 4) out[static_cast<std::size_t>(i)] = kHex[n & 0xf];
}
inline std::string hex16(std::uint64_t n) {
  std::string out;
  assign_hex16(out, n);
  return out;
}
// Creation order: the offset of record.created, fixed-width so byte order is numeric order.
inline std::string order_key(std::int64_t offset) { return hex16(static_cast<std::uint64_t>(offset)); }
// The same into `out`, its buffer reused.
inline void assign_order_key(std::string& out, std::int64_t offset) {
  assign_hex16(out, static_cast<std::uint64_t>(offset));
}

}  // namespace apexloop::keys

// Record history (issue 6), kept by projector/src/history.cpp and read by the query service:
//   hist/<ws>/<db>/<id>/<seq>    one event of the record as its history shows it: {seq, type, at,
//                                actor, event_id, position, owner, changes: {field: {before?, after?}}};
//                                <seq> is the record version the event made, 16 hex digits
namespace apexloop::keys {
inline std::string history_prefix(std::string_view ws, std::string_view db, std::string_view id) {
  return cat({"hist/", ws, "/", db, "/", id, "/"});
}
inline std::string history_seq(std::uint64_t seq) { return hex16(seq); }  // byte order is version order
inline std::string history(std::string_view ws, std::string_view db, std::string_view id, std::uint64_t seq) {
  return cat({"hist/", ws, "/", db, "/", id, "/", history_seq(seq)});  // history_prefix() + seq
}
}  // namespace apexloop::keys

// Files (issue 5), kept by projector/src/files.cpp and read by the query service's downloads:
//   file/<ws>/<file>             {id, database, record_id, column | comment_id, name, size,
//                                content_type, sha256, uploaded_at, uploaded_by}: where a live file
//                                is attached and its blob (file.removed deletes it)
// A comment's files are listed in the comment itself (cm/ and its set copies): `files`, present
// while it has any, [{id, name, size, content_type}] in upload order.
namespace apexloop::keys {
inline std::string file(std::string_view ws, std::string_view id) { return cat({"file/", ws, "/", id}); }
}  // namespace apexloop::keys
