#include "apexloop/core/approvals.hpp"

#include "decide.hpp"

namespace apexloop {

using namespace decide;

namespace {

std::string approval_stream(std::string_view id) { return "approval/" + std::string(id); }

bool bounded_text(const Json* v, std::size_t max, bool required) {
  if (v == nullptr || v->is_null()) return !required;
  return v->is_string() && v->as_string().size() <= max &&
         (!required || v->as_string().find_first_not_of(" \t\r\n") != std::string::npos);
}

}  // namespace

Decision decide_request_approval(const WorkspaceState& ws, const Commenter& who, std::string_view db,
                                 std::string_view record_id, const Json& body, std::string approval_id) {
  if (who.kind != "user") return std::unexpected(forbidden("only the workspace's people request approvals"));
  if (ws.record(db, record_id) == nullptr) return std::unexpected(not_found("no such record"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"title", "detail"}, errors);
  if (!bounded_text(body.find("title"), 200, true)) errors.push_back({"title", "must be a non-empty string of at most 200 bytes"});
  if (!bounded_text(body.find("detail"), 5000, false)) errors.push_back({"detail", "must be a string of at most 5000 bytes"});
  if (!errors.empty()) return std::unexpected(invalid("the approval request is not valid", std::move(errors)));
  Json::Object data{{"approval_id", approval_id},
                    {"database", std::string(db)},
                    {"record_id", std::string(record_id)},
                    {"title", *body.find("title")}};
  if (const Json* d = body.find("detail"); d != nullptr && !d->is_null()) data.emplace("detail", *d);
  return std::vector<Draft>{{std::string(event_type::approval_requested), approval_stream(approval_id), 1, Json(std::move(data))}};
}

Decision decide_approval(const WorkspaceState& ws, const Commenter& who, std::string_view approval_id, const Json& body,
                         TimestampMs now) {
  auto it = ws.approvals.find(approval_id);
  const ApprovalState* a = it == ws.approvals.end() ? nullptr : &it->second;
  // What the caller cannot see is not there; an internal user sees every approval.
  const Policy* policy = nullptr;
  if (a != nullptr && who.kind == "contact") {
    policy = who.contact == nullptr ? nullptr : contact_reads(ws, *who.contact, a->database, a->record_id, now);
    if (policy == nullptr) a = nullptr;
  }
  if (a == nullptr || ws.record(a->database, a->record_id) == nullptr) return std::unexpected(not_found("no such approval"));
  if (who.kind != "contact") return std::unexpected(forbidden("the client decides an approval"));
  if (!policy->approve) return std::unexpected(forbidden("your role may not decide approvals here"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"decision", "comment"}, errors);
  const std::string decision(body.string_or("decision", ""));
  if (decision != "approved" && decision != "rejected" && decision != "changes_requested") {
    errors.push_back({"decision", "must be approved, rejected or changes_requested"});
  }
  if (!bounded_text(body.find("comment"), 5000, false)) errors.push_back({"comment", "must be a string of at most 5000 bytes"});
  if (!errors.empty()) return std::unexpected(invalid("the decision is not valid", std::move(errors)));
  if (a->status != "pending") return std::unexpected(conflict("this approval is already decided; request it again"));
  Json::Object data{{"approval_id", a->id}, {"database", a->database}, {"record_id", a->record_id}, {"decision", decision}};
  if (const Json* c = body.find("comment"); c != nullptr && !c->is_null()) data.emplace("comment", *c);
  return std::vector<Draft>{{std::string(event_type::approval_decided), approval_stream(a->id), a->seq + 1, Json(std::move(data))}};
}

}  // namespace apexloop
