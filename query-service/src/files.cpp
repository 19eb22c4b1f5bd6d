#include "files.hpp"

#include <spdlog/spdlog.h>

#include "apexloop/core/files.hpp"
#include "apexloop/core/ids.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/store.hpp"

namespace apexloop::query {

namespace bhttp = http::bhttp;

namespace {

constexpr std::size_t kPieceBytes = 256 * 1024;

std::optional<std::string> get(rocksdb::DB& db, const std::string& key) {
  std::string v;
  if (db.Get(rocksdb::ReadOptions(), key, &v).ok()) return v;
  return std::nullopt;
}

// The comment `comment_id` as set `set` is sent it (only a comment on a record the set sees,
// and never an internal note to a contact's set).
std::optional<std::string> served_comment(rocksdb::DB& db, const Principal& p, const std::string& set,
                                          std::string_view db_key, std::string_view comment_id) {
  auto location = get(db, keys::comment_location(p.workspace, comment_id));
  auto where = location ? keys::comment_place(*location) : std::nullopt;
  if (!where || where->db != db_key) return std::nullopt;
  return get(db, keys::set_comments_prefix(p.workspace, set, db_key, where->record) + where->order);
}

// Whether contact `p` is sent `file_id`: in `column` of the record, or in the `files` of the
// comment it is attached to. Its set's own bytes decide.
bool contact_sees(rocksdb::DB& db, const Principal& p, const Json& meta, std::string_view file_id) {
  const std::string db_key(meta.string_or("database", ""));
  const std::string record(meta.string_or("record_id", ""));
  const std::string comment(meta.string_or("comment_id", ""));
  projector::StoreView view(db);  // the route and the rows it names, from one state
  auto route_value = view.get(keys::route(p.workspace, p.id, db_key));
  if (!route_value) return false;
  const keys::Route route = keys::parse_route(*route_value);
  const Json* ids = nullptr;
  std::expected<Json, JsonError> holder = std::unexpected(JsonError::malformed);
  if (!comment.empty()) {
    auto served = served_comment(db, p, route.set, db_key, comment);
    if (served) holder = parse_json(*served);
    ids = holder ? holder->find("files") : nullptr;
  } else {
    auto served = projector::served_record(view, p.workspace, route.set, route.gen, db_key, record);
    if (served) holder = parse_json(*served);
    const Json* fields = holder ? holder->find("fields") : nullptr;
    ids = fields != nullptr ? fields->find(meta.string_or("column", "")) : nullptr;
  }
  if (ids == nullptr || !ids->is_array()) return false;
  // A column holds ids; a comment's `files` holds {id, ...}.
  return std::any_of(ids->as_array().begin(), ids->as_array().end(), [&](const Json& id) {
    return (id.is_string() && id.as_string() == file_id) || (id.is_object() && id.string_or("id", "") == file_id);
  });
}

}  // namespace

http::Response download_file(const http::Request& req, http::RequestContext& ctx, const Principal& p, rocksdb::DB& db,
                             const BlobStore& blobs) {
  auto missing = [&] { return http::problem_for(req, bhttp::status::not_found, "no such file"); };
  const std::string& id = ctx.params.at("file_id");
  if (!is_uuid(id)) return missing();  // only well-formed ids reach the store
  for (const auto& [k, _] : ctx.params) {
    if (k.starts_with("?")) return http::problem_for(req, bhttp::status::bad_request, "unknown parameter " + k.substr(1));
  }
  auto text = get(db, keys::file(p.workspace, id));  // another workspace's file is not under this prefix
  auto meta = text ? parse_json(*text) : std::unexpected(JsonError::malformed);
  if (!meta) return missing();
  if (p.kind != "user" && !(p.kind == "contact" && contact_sees(db, p, *meta, id))) return missing();
  auto reader = blobs.open(meta->string_or("sha256", ""));
  if (!reader) {
    spdlog::error("event=blob_open_failed file={} error=\"{}\"", id, reader.error());
    return http::problem_for(req, bhttp::status::service_unavailable, "could not read the file; retry");
  }
  if (*reader == nullptr) {
    spdlog::error("event=blob_missing file={}", id);
    return missing();
  }
  http::Response res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::content_type, served_content_type(meta->string_or("content_type", "")));
  res.set(bhttp::field::content_disposition, content_disposition(meta->string_or("name", "")));
  res.set("X-Content-Type-Options", "nosniff");
  res.set(bhttp::field::cache_control, "private, no-store");
  res.set("Content-Security-Policy", "default-src 'none'; sandbox");
  res.set(bhttp::field::etag, "\"" + std::string(meta->string_or("sha256", "")) + "\"");
  res.set("Apexloop-File-Size", std::to_string((*reader)->size()));
  // Piece by piece on the server's blocking threads: a 100 MiB file never sits in memory.
  std::shared_ptr<BlobReader> open(std::move(*reader));
  ctx.stream = [open](std::string& piece) {
    piece.resize(kPieceBytes);
    auto n = open->read(std::span<char>(piece.data(), piece.size()));
    if (!n) throw std::runtime_error(n.error());  // cut the stream: the client sees it incomplete
    piece.resize(*n);
    return *n > 0;
  };
  return res;
}

}  // namespace apexloop::query
