#include "apexloop/projector/files.hpp"

#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {

std::expected<void, std::string> apply_file_attached(const Envelope& e, KvView& kv) {
  const Json& d = e.data;
  const std::string id(d.string_or("file_id", ""));
  const std::string column(d.string_or("column", ""));
  const std::string comment(d.string_or("comment_id", ""));
  const Json* size = d.find("size");
  if (!is_uuid(id) || size == nullptr || !size->is_int() || d.string_or("sha256", "").size() != 64 ||
      column.empty() == comment.empty()) {
    return std::unexpected("bad file.attached");
  }
  const std::string key = keys::file(e.workspace, id);
  if (kv.get(key)) return std::unexpected("file attached twice");
  Json::Object meta{{"id", id},
                    {"database", std::string(d.string_or("database", ""))},
                    {"record_id", std::string(d.string_or("record_id", ""))},
                    {"name", std::string(d.string_or("name", ""))},
                    {"size", *size},
                    {"content_type", std::string(d.string_or("content_type", ""))},
                    {"sha256", std::string(d.string_or("sha256", ""))},
                    {"uploaded_at", format_timestamp(e.at)},
                    {"uploaded_by", Json(Json::Object{{"kind", e.actor.kind}, {"id", e.actor.id}})}};
  meta.emplace(column.empty() ? "comment_id" : "column", column.empty() ? comment : column);
  kv.put(key, to_json(Json(std::move(meta))));
  return {};
}

std::expected<void, std::string> apply_file_removed(const Envelope& e, KvView& kv) {
  const std::string key = keys::file(e.workspace, e.data.string_or("file_id", ""));
  if (!kv.get(key)) return std::unexpected("removal of an unknown file");
  kv.del(key);
  return {};
}

}  // namespace apexloop::projector
