#include "apexloop/core/files.hpp"

#include "decide.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace apexloop {

using namespace decide;

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
}

std::string file_stream(std::string_view id) { return "file/" + std::string(id); }

// The record and its file column, as `who` may attach to them; errors as check_attach says.
struct AttachPoint {
  const DatabaseDef* db = nullptr;
  const RecordState* record = nullptr;
  const ColumnDef* column = nullptr;
  const Policy* policy = nullptr;  // a contact's
};

std::expected<AttachPoint, CommandError> attach_point(const WorkspaceState& ws, const Uploader& who,
                                                      const FileTarget& t, TimestampMs now) {
  AttachPoint at;
  // Visibility first: whether the record exists is not the caller's to learn otherwise.
  if (who.kind == "contact") {
    at.policy = who.contact == nullptr ? nullptr : contact_reads(ws, *who.contact, t.database, t.record_id, now);
    if (at.policy == nullptr) return std::unexpected(not_found("no such record"));
  } else if (who.kind != "user") {
    return std::unexpected(forbidden("you may not attach files"));
  }
  at.db = ws.database(t.database);
  at.record = at.db == nullptr ? nullptr : ws.record(t.database, t.record_id);
  if (at.record == nullptr) return std::unexpected(not_found("no such record"));
  if (at.policy != nullptr &&
      std::find(at.policy->write_columns.begin(), at.policy->write_columns.end(), t.column) == at.policy->write_columns.end()) {
    // The same answer for a hidden, a read-only and a missing column: none is named.
    return std::unexpected(forbidden("you may not write this column"));
  }
  at.column = at.db->column(t.column);
  if (at.column == nullptr || at.column->type != ColumnType::file) {
    return std::unexpected(invalid("the upload has no file column to go to", {{"column", "must name a file column"}}));
  }
  return at;
}

// The column's ids with `file_id` appended.
std::expected<Json, CommandError> appended(const RecordState& rec, const std::string& column, const std::string& file_id) {
  auto cur = rec.fields.find(column);
  Json::Array ids = cur != rec.fields.end() && cur->second.is_array() ? cur->second.as_array() : Json::Array{};
  if (ids.size() >= kMaxReferences) {
    return std::unexpected(invalid("the column holds as many files as it can", {{"column", "at most 100 files"}}));
  }
  ids.push_back(Json(file_id));
  return Json(std::move(ids));
}

// A contact's upload is an edit of that column: the write filter must hold before it and the
// record stay visible after it, exactly as for a PATCH.
std::optional<CommandError> contact_edit_denial(const WorkspaceState& ws, const Uploader& who, const AttachPoint& at,
                                                const std::string& column, const Json& before, const Json& after,
                                                TimestampMs now) {
  if (at.policy == nullptr || who.contact == nullptr) return std::nullopt;
  const RecordState& rec = *at.record;
  Json::Object after_fields = rec.fields;
  after_fields.insert_or_assign(column, after);
  const SeenRecord seen = seen_record(rec, *at.policy, *at.db);  // as the contact is shown it (stamps.hpp)
  const std::string now_text = format_timestamp(now);
  const RecordView before_view = seen.view();
  const RecordView after_view{after_fields, rec.id, rec.version + 1, seen.created_at, now_text};
  const Json::Object changed{{column, Json(Json::Object{{"before", before}, {"after", after}})}};
  auto denial = check_edit(*at.policy, *at.db, before_view, changed, after_view, ws.vars_of(*who.contact, now));
  if (!denial) return std::nullopt;
  switch (*denial) {
    case WriteDenial::not_visible: return not_found("no such record");
    case WriteDenial::write_filter_fails: return forbidden("you may not edit this record now");
    case WriteDenial::column_not_writable: return forbidden("you may not write this column");
    case WriteDenial::would_leave_view: return forbidden("the upload would take the record out of your view");
  }
  return forbidden("you may not write this column");
}

Json value_of(const RecordState& rec, const std::string& column) {
  auto cur = rec.fields.find(column);
  return cur == rec.fields.end() ? Json(nullptr) : cur->second;
}

bool holds(const Json& ids, std::string_view file_id) {
  return ids.is_array() && std::any_of(ids.as_array().begin(), ids.as_array().end(),
                                       [&](const Json& id) { return id.is_string() && id.as_string() == file_id; });
}

// The comment `who` may attach a file to: on the target record, and one `who` may change.
std::expected<const CommentState*, CommandError> comment_point(const WorkspaceState& ws, const Uploader& who,
                                                               const FileTarget& t, TimestampMs now) {
  // Visibility first, as for a column: the record, then the comment on it.
  if (who.kind == "contact") {
    if (who.contact == nullptr || contact_reads(ws, *who.contact, t.database, t.record_id, now) == nullptr) {
      return std::unexpected(not_found("no such record"));
    }
  } else if (who.kind != "user") {
    return std::unexpected(forbidden("you may not attach files"));
  } else if (ws.record(t.database, t.record_id) == nullptr) {
    return std::unexpected(not_found("no such record"));
  }
  auto it = ws.comments.find(t.comment_id);
  if (it == ws.comments.end() || it->second.database != t.database || it->second.record_id != t.record_id) {
    return std::unexpected(not_found("no such comment"));  // the same answer own_comment gives
  }
  auto c = own_comment(ws, who, t.comment_id, now);
  if (!c) return std::unexpected(c.error());
  if ((*c)->files >= kMaxReferences) {
    return std::unexpected(invalid("the comment holds as many files as it can", {{"comment", "at most 100 files"}}));
  }
  return c;
}

std::optional<CommandError> target_shape(const FileTarget& t) {
  if (t.column.empty() == t.comment_id.empty()) {
    return invalid("a file goes into a file column or onto a comment", {{"target", "name exactly one of column and comment"}});
  }
  return std::nullopt;
}

// Whether contact `who` is shown file `f` now: its record and column (holding the id), or its
// client-visible comment on a record it reads, exactly as downloads decide from its projection.
bool contact_sees(const WorkspaceState& ws, const Uploader& who, const FileState& f, TimestampMs now) {
  if (who.contact == nullptr) return false;
  if (!f.comment_id.empty()) {
    auto c = ws.comments.find(f.comment_id);
    return c != ws.comments.end() && contact_sees_comment(ws, *who.contact, c->second, now);
  }
  const Policy* policy = contact_reads(ws, *who.contact, f.database, f.record_id, now);
  if (policy == nullptr) return false;
  const DatabaseDef* db = ws.database(f.database);
  const RecordState* rec = ws.record(f.database, f.record_id);
  return db != nullptr && rec != nullptr && readable_column(*policy, *db, f.column) && holds(value_of(*rec, f.column), f.id);
}

}  // namespace

std::expected<std::string, std::string> parse_file_name(std::string_view header) {
  std::string out;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] != '%') {
      out.push_back(header[i]);
      continue;
    }
    const int hi = i + 2 < header.size() ? hex_digit(header[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_digit(header[i + 2]) : -1;
    if (lo < 0) return std::unexpected("X-Filename has a bad percent-encoding");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (out.empty()) return std::unexpected("send the file's name in X-Filename");
  if (out.size() > kMaxFileNameBytes) return std::unexpected("X-Filename is longer than 255 bytes");
  if (out.find('\0') != std::string::npos || !is_utf8(out)) return std::unexpected("X-Filename must be UTF-8 text");
  return out;
}

std::expected<std::string, std::string> parse_content_type(std::string_view header) {
  std::string_view media = header.substr(0, header.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  if (media.empty()) return std::string("application/octet-stream");
  const auto slash = media.find('/');
  const bool ok = media.size() <= kMaxContentTypeBytes && slash != std::string_view::npos && slash > 0 &&
                  slash + 1 < media.size() &&
                  std::all_of(media.begin(), media.end(), [](char c) { return c == '/' || is_token_char(c); }) &&
                  media.find('/', slash + 1) == std::string_view::npos;
  if (!ok) return std::unexpected("Content-Type must be a media type such as application/pdf");
  std::string out(media);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::expected<void, CommandError> check_attach(const WorkspaceState& ws, const Uploader& who, const FileTarget& target,
                                               TimestampMs now) {
  if (auto bad = target_shape(target)) return std::unexpected(*bad);
  if (!target.comment_id.empty()) {
    auto c = comment_point(ws, who, target, now);
    if (!c) return std::unexpected(c.error());
    return {};
  }
  auto at = attach_point(ws, who, target, now);
  if (!at) return std::unexpected(at.error());
  // A placeholder id stands in for the file not yet stored.
  auto after = appended(*at->record, target.column, "00000000-0000-7000-8000-000000000000");
  if (!after) return std::unexpected(after.error());
  const Json before = value_of(*at->record, target.column);
  if (auto denied = contact_edit_denial(ws, who, *at, target.column, before, *after, now)) return std::unexpected(*denied);
  return {};
}

Decision decide_attach_file(const WorkspaceState& ws, const Uploader& who, const FileTarget& target, const FileMeta& meta,
                            const std::string& file_id, const std::string& sha256, std::uint64_t size, TimestampMs now) {
  if (auto bad = target_shape(target)) return std::unexpected(*bad);
  if (!target.comment_id.empty()) {
    auto c = comment_point(ws, who, target, now);
    if (!c) return std::unexpected(c.error());
    Json::Object data{{"file_id", file_id},
                      {"database", (*c)->database},
                      {"record_id", (*c)->record_id},
                      {"comment_id", (*c)->id},
                      {"name", meta.name},
                      {"size", static_cast<std::int64_t>(size)},
                      {"content_type", meta.content_type},
                      {"sha256", sha256}};
    return std::vector<Draft>{{std::string(event_type::file_attached), file_stream(file_id), 1, Json(std::move(data))}};
  }
  auto at = attach_point(ws, who, target, now);
  if (!at) return std::unexpected(at.error());
  const RecordState& rec = *at->record;
  auto after = appended(rec, target.column, file_id);
  if (!after) return std::unexpected(after.error());
  const Json before = value_of(rec, target.column);
  if (auto denied = contact_edit_denial(ws, who, *at, target.column, before, *after, now)) return std::unexpected(*denied);
  Json::Object data{{"file_id", file_id},
                    {"database", at->db->key},
                    {"record_id", rec.id},
                    {"column", target.column},
                    {"name", meta.name},
                    {"size", static_cast<std::int64_t>(size)},
                    {"content_type", meta.content_type},
                    {"sha256", sha256}};
  std::vector<Draft> drafts;
  drafts.push_back({std::string(event_type::file_attached), file_stream(file_id), 1, Json(std::move(data))});
  drafts.push_back({std::string(event_type::record_updated), record_stream(at->db->key, rec.id), rec.version + 1,
                    Json(Json::Object{{"database", at->db->key},
                                      {"record_id", rec.id},
                                      {"changes", Json(Json::Object{{target.column, Json(Json::Object{{"before", before},
                                                                                                     {"after", *after}})}})}})});
  return drafts;
}

std::string content_disposition(std::string_view name) {
  std::string ascii, utf8;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) continue;  // CR, LF, NUL ...: never into a header
    const char safe = (ch == '/' || ch == '\\') ? '_' : ch;
    utf8.push_back(safe);
    if (c >= 0x80) continue;
    ascii.push_back(safe == '"' ? '\'' : safe);
  }
  if (ascii.find_first_not_of(" .") == std::string::npos) ascii = "download";  // nothing left, or only dots
  if (utf8.empty()) utf8 = "download";
  std::string out = "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : utf8) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || std::string_view("!#$&+-.^_`|~").find(ch) != std::string_view::npos) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string_view served_content_type(std::string_view stored) {
  // Deny by default: only types no browser renders as active content in our origin.
  static constexpr std::string_view kInert[] = {
      "application/pdf", "application/zip", "application/json", "application/msword", "application/vnd.ms-excel",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      "application/vnd.openxmlformats-officedocument.presentationml.presentation", "image/png", "image/jpeg",
      "image/gif", "image/webp", "text/plain", "text/csv", "audio/mpeg", "video/mp4"};
  for (const auto t : kInert) {
    if (stored == t) return t;
  }
  return "application/octet-stream";
}

Decision decide_remove_file(const WorkspaceState& ws, const Uploader& who, std::string_view file_id, TimestampMs now) {
  auto it = ws.files.find(file_id);
  const FileState* f = it == ws.files.end() || it->second.removed ? nullptr : &it->second;
  if (f != nullptr && who.kind == "contact" && !contact_sees(ws, who, *f, now)) f = nullptr;
  if (f == nullptr || (who.kind != "user" && who.kind != "contact")) return std::unexpected(not_found("no such file"));
  if (who.kind == "contact" && (f->uploader.kind != "contact" || f->uploader.id != who.id)) {
    return std::unexpected(forbidden("you may remove only files you uploaded"));
  }
  Json::Object data{{"file_id", f->id}, {"database", f->database}, {"record_id", f->record_id}};
  data.emplace(f->comment_id.empty() ? "column" : "comment_id", f->comment_id.empty() ? f->column : f->comment_id);
  std::vector<Draft> drafts;
  drafts.push_back({std::string(event_type::file_removed), file_stream(f->id), f->seq + 1, Json(std::move(data))});
  // A column file leaves its column too, if the column still holds it (an edit may have dropped
  // it, or the record may be gone); a contact drops it only as its PATCH could.
  const RecordState* rec = f->column.empty() ? nullptr : ws.record(f->database, f->record_id);
  const Json before = rec == nullptr ? Json(nullptr) : value_of(*rec, f->column);
  if (rec == nullptr || !holds(before, f->id)) return drafts;
  Json::Array kept;
  for (const auto& id : before.as_array()) {
    if (!(id.is_string() && id.as_string() == f->id)) kept.push_back(id);
  }
  const Json after(std::move(kept));
  if (who.kind == "contact") {
    AttachPoint at;
    at.db = ws.database(f->database);
    at.record = rec;
    at.policy = contact_reads(ws, *who.contact, f->database, f->record_id, now);
    if (auto denied = contact_edit_denial(ws, who, at, f->column, before, after, now)) return std::unexpected(*denied);
  }
  drafts.push_back({std::string(event_type::record_updated), record_stream(f->database, rec->id), rec->version + 1,
                    Json(Json::Object{{"database", f->database},
                                      {"record_id", rec->id},
                                      {"changes", Json(Json::Object{{f->column, Json(Json::Object{{"before", before},
                                                                                                  {"after", after}})}})}})});
  return drafts;
}

std::expected<void, std::string> apply_file_attached(WorkspaceState& ws, const Envelope& e) {
  const Json& d = e.data;
  FileState f{std::string(d.string_or("file_id", "")), std::string(d.string_or("database", "")),
              std::string(d.string_or("record_id", "")),  std::string(d.string_or("column", "")),
              std::string(d.string_or("comment_id", "")), std::string(d.string_or("sha256", "")),
              e.actor,                                     e.seq};
  if (f.id.empty() || e.seq != 1 || ws.files.contains(f.id) || f.column.empty() == f.comment_id.empty()) {
    return std::unexpected("file.attached out of sequence");
  }
  if (!f.comment_id.empty()) {
    auto c = ws.comments.find(f.comment_id);
    if (c == ws.comments.end() || c->second.deleted) return std::unexpected("file.attached to an unknown comment");
    ++c->second.files;
  }
  ++ws.blob_refs[f.sha256];
  ws.files.emplace(f.id, std::move(f));
  return {};
}

std::expected<void, std::string> apply_file_removed(WorkspaceState& ws, const Envelope& e) {
  auto it = ws.files.find(e.data.string_or("file_id", ""));
  if (it == ws.files.end() || it->second.removed || e.seq != it->second.seq + 1) {
    return std::unexpected("file.removed out of sequence");
  }
  FileState& f = it->second;
  f.removed = true;
  f.seq = e.seq;
  if (auto c = ws.comments.find(f.comment_id); c != ws.comments.end() && c->second.files > 0) --c->second.files;
  if (auto refs = ws.blob_refs.find(f.sha256); refs != ws.blob_refs.end() && --refs->second == 0) ws.blob_refs.erase(refs);
  return {};
}

}  // namespace apexloop
