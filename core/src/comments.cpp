#include "apexloop/core/comments.hpp"

#include "decide.hpp"

namespace apexloop {

using namespace decide;

namespace {

std::string comment_stream(std::string_view id) { return "comment/" + std::string(id); }

std::expected<std::string, CommandError> checked_body(const Json& body, std::initializer_list<std::string_view> allowed) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, allowed, errors);
  const Json* text = body.find("body");
  if (text == nullptr || !text->is_string() || text->as_string().find_first_not_of(" \t\r\n") == std::string::npos) {
    errors.push_back({"body", "must be a non-empty string"});
  } else if (text->as_string().size() > kMaxCommentBytes) {
    errors.push_back({"body", "must be at most 10000 bytes"});
  }
  if (!errors.empty()) return std::unexpected(invalid("the comment is not valid", std::move(errors)));
  return text->as_string();
}

}  // namespace

bool contact_sees_comment(const WorkspaceState& ws, const ContactState& c, const CommentState& comment, TimestampMs now) {
  return !comment.deleted && comment.visibility == "client" &&
         contact_reads(ws, c, comment.database, comment.record_id, now) != nullptr;
}

std::expected<const CommentState*, CommandError> own_comment(const WorkspaceState& ws, const Commenter& who,
                                                             std::string_view id, TimestampMs now) {
  auto it = ws.comments.find(id);
  const CommentState* c = it == ws.comments.end() || it->second.deleted ? nullptr : &it->second;
  if (c != nullptr && who.kind == "contact" && (who.contact == nullptr || !contact_sees_comment(ws, *who.contact, *c, now))) {
    c = nullptr;
  }
  if (c == nullptr) return std::unexpected(not_found("no such comment"));
  if (c->author_kind != who.kind || c->author_id != who.id) {
    return std::unexpected(forbidden("only its author may change a comment"));
  }
  return c;
}

const Policy* contact_reads(const WorkspaceState& ws, const ContactState& c, std::string_view db_key,
                            std::string_view id, TimestampMs now) {
  const ClientState* client = ws.active_client(c.client_id);
  const DatabaseDef* db = ws.database(db_key);
  const PolicyEntry* entry = client == nullptr || db == nullptr ? nullptr : ws.effective_policy(*client, c.role, db_key);
  const RecordState* rec = entry == nullptr ? nullptr : ws.record(db_key, id);
  if (rec == nullptr) return nullptr;
  return may_read(entry->policy, *db, seen_record(*rec, entry->policy, *db).view(), ws.vars_of(c, now)) ? &entry->policy
                                                                                                        : nullptr;
}

Decision decide_add_comment(const WorkspaceState& ws, const Commenter& who, std::string_view db, std::string_view record_id,
                            const Json& body, std::string comment_id, TimestampMs now) {
  // Visibility first: whether the record exists is not the caller's to learn otherwise.
  if (who.kind == "contact") {
    const Policy* policy = who.contact == nullptr ? nullptr : contact_reads(ws, *who.contact, db, record_id, now);
    if (policy == nullptr) return std::unexpected(not_found("no such record"));
    if (!policy->comment) return std::unexpected(forbidden("your role may not comment here"));
  } else if (ws.record(db, record_id) == nullptr) {
    return std::unexpected(not_found("no such record"));
  }
  auto text = checked_body(body, {"body", "visibility"});
  if (!text) return std::unexpected(text.error());
  const Json* v = body.find("visibility");
  if (v != nullptr && (!v->is_string() || (v->as_string() != "client" && v->as_string() != "internal"))) {
    return std::unexpected(invalid("the comment is not valid", {{"visibility", "must be client or internal"}}));
  }
  std::string visibility = v != nullptr ? v->as_string() : (who.kind == "contact" ? "client" : "internal");
  if (who.kind == "contact" && visibility != "client") {
    return std::unexpected(forbidden("a contact's comments are always client-visible"));
  }
  Json::Object data{{"comment_id", comment_id},
                    {"database", std::string(db)},
                    {"record_id", std::string(record_id)},
                    {"body", std::move(*text)},
                    {"visibility", std::move(visibility)}};
  return std::vector<Draft>{{std::string(event_type::comment_added), comment_stream(comment_id), 1, Json(std::move(data))}};
}

Decision decide_edit_comment(const WorkspaceState& ws, const Commenter& who, std::string_view comment_id, const Json& body,
                             TimestampMs now) {
  auto c = own_comment(ws, who, comment_id, now);
  if (!c) return std::unexpected(c.error());
  auto text = checked_body(body, {"body"});
  if (!text) return std::unexpected(text.error());
  Json::Object data{{"comment_id", (*c)->id}, {"database", (*c)->database}, {"record_id", (*c)->record_id}, {"body", std::move(*text)}};
  return std::vector<Draft>{{std::string(event_type::comment_edited), comment_stream((*c)->id), (*c)->seq + 1, Json(std::move(data))}};
}

Decision decide_delete_comment(const WorkspaceState& ws, const Commenter& who, std::string_view comment_id, TimestampMs now) {
  auto c = own_comment(ws, who, comment_id, now);
  if (!c) return std::unexpected(c.error());
  Json::Object data{{"comment_id", (*c)->id}, {"database", (*c)->database}, {"record_id", (*c)->record_id}};
  return std::vector<Draft>{{std::string(event_type::comment_deleted), comment_stream((*c)->id), (*c)->seq + 1, Json(std::move(data))}};
}

}  // namespace apexloop
