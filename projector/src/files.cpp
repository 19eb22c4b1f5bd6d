#include "apexloop/projector/files.hpp"

#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {

std::expected<void, std::string> apply_file_attached(const Envelope& e, KvView& kv) {
  const Json& d = e.data;
  const std::string id(d.string_or("file_id", ""));
  const Json* size = d.find("size");
  if (!is_uuid(id) || size == nullptr || !size->is_int() || d.string_or("sha256", "").size() != 64) {
    return std::unexpected("bad file.attached");
  }
  const std::string key = keys::file(e.workspace, id);
  if (kv.get(key)) return std::unexpected("file attached twice");
  Json::Object meta{{"id", id},
                    {"database", std::string(d.string_or("database", ""))},
                    {"record_id", std::string(d.string_or("record_id", ""))},
                    {"column", std::string(d.string_or("column", ""))},
                    {"name", std::string(d.string_or("name", ""))},
                    {"size", *size},
                    {"content_type", std::string(d.string_or("content_type", ""))},
                    {"sha256", std::string(d.string_or("sha256", ""))},
                    {"uploaded_at", format_timestamp(e.at)},
                    {"uploaded_by", Json(Json::Object{{"kind", e.actor.kind}, {"id", e.actor.id}})}};
  kv.put(key, to_json(Json(std::move(meta))));
  return {};
}

}  // namespace apexloop::projector
