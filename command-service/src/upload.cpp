#include "upload.hpp"

#include <spdlog/spdlog.h>

namespace apexloop::command {

namespace bhttp = http::bhttp;
using http::problem_for;
using http::Request;
using http::RequestContext;
using http::Response;

namespace {

std::string header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value().data(), it->value().size());
}

// What open() settled before the body: who, where, what, and the id the file will get.
struct Upload {
  Principal principal;
  FileTarget target;
  FileMeta meta;
  std::string file_id;
};

Uploader uploader_in(const WorkspaceState& ws, const Principal& p) {
  return Uploader{p.kind, p.id, p.kind == "contact" ? ws.active_contact(p.id) : nullptr};
}

class UploadSink final : public http::BodySink {
 public:
  UploadSink(std::shared_ptr<const UploadDeps> deps, Upload upload, std::unique_ptr<BlobWriter> writer)
      : deps_(std::move(deps)), upload_(std::move(upload)), writer_(std::move(writer)) {}

  std::optional<Response> write(std::string_view piece) override {
    if (auto r = writer_->write(piece); !r) {
      spdlog::error("event=blob_write_failed file={} error=\"{}\"", upload_.file_id, r.error());
      return unavailable();
    }
    return std::nullopt;
  }

  Response finish(const Request& head, RequestContext&) override {
    auto stored = writer_->commit();
    if (!stored) {
      spdlog::error("event=blob_store_failed file={} error=\"{}\"", upload_.file_id, stored.error());
      return unavailable();
    }
    const Principal& p = upload_.principal;
    Response res = deps_->write(head, p, [&](const WorkspaceState& ws, const UploadDeps::Commit& commit) -> Response {
      const Uploader who = uploader_in(ws, p);
      if (p.kind == "contact" && who.contact == nullptr) return problem_for(head, bhttp::status::unauthorized, "sign in to continue");
      auto drafts = decide_attach_file(ws, who, upload_.target, upload_.meta, upload_.file_id, stored->sha256, stored->size,
                                       deps_->now());
      if (!drafts) return deps_->error(head, drafts.error());
      auto pos = commit(*drafts);
      if (!pos) return std::move(pos.error());
      auto ok = http::json_response(head, bhttp::status::created,
                                    to_json(Json(Json::Object{{"file_id", upload_.file_id},
                                                              {"sha256", stored->sha256},
                                                              {"size", static_cast<std::int64_t>(stored->size)}})));
      ok.set(bhttp::field::location, "/api/v1/files/" + upload_.file_id);
      ok.set("Apexloop-Position", to_string(*pos));
      return ok;
    });
    // A refused upload leaves its bytes in the store only if equal bytes were attached before or
    // are attached later; otherwise the blob is an orphan a sweep can remove (see README).
    if (res.result() == bhttp::status::created) {
      spdlog::info("event=file_attached workspace={} file={} size={}", p.workspace, upload_.file_id, stored->size);
    }
    return res;
  }

 private:
  static Response unavailable() {
    auto res = http::problem(11, false, bhttp::status::service_unavailable, "", "could not store the file; retry");
    res.set(bhttp::field::retry_after, "1");
    return res;
  }

  std::shared_ptr<const UploadDeps> deps_;
  Upload upload_;
  std::unique_ptr<BlobWriter> writer_;
};

// The headers and parameters of an upload, or the 400/415 to answer.
std::expected<Upload, Response> parse_upload(const Request& head, const RequestContext& ctx) {
  Upload u;
  for (const auto& [k, _] : ctx.params) {
    if (k.starts_with("?") && k != "?column" && k != "?comment") {
      return std::unexpected(problem_for(head, bhttp::status::bad_request, "unknown parameter " + k.substr(1)));
    }
  }
  auto column = ctx.params.find("?column");
  auto comment = ctx.params.find("?comment");
  if ((column == ctx.params.end()) == (comment == ctx.params.end())) {
    return std::unexpected(problem_for(head, bhttp::status::bad_request,
                                       "send exactly one of ?column=<the key of a file column> and ?comment=<a comment id>"));
  }
  if (column != ctx.params.end() && !is_valid_key(column->second)) {
    return std::unexpected(problem_for(head, bhttp::status::bad_request, "send ?column=<the key of a file column>"));
  }
  if (comment != ctx.params.end() && comment->second.empty()) {
    return std::unexpected(problem_for(head, bhttp::status::bad_request, "send ?comment=<a comment id>"));
  }
  auto name = parse_file_name(header(head, "X-Filename"));
  if (!name) return std::unexpected(problem_for(head, bhttp::status::bad_request, name.error()));
  auto type = parse_content_type(header(head, "Content-Type"));
  if (!type) return std::unexpected(problem_for(head, bhttp::status::unsupported_media_type, type.error()));
  u.target = FileTarget{ctx.params.at("db"), ctx.params.at("id"), column != ctx.params.end() ? column->second : "",
                        comment != ctx.params.end() ? comment->second : ""};
  u.meta = FileMeta{std::move(*name), std::move(*type)};
  return u;
}

}  // namespace

http::StreamedRoute upload_route(UploadDeps deps, std::shared_ptr<BlobStore> blobs, std::size_t max_bytes) {
  auto shared = std::make_shared<const UploadDeps>(std::move(deps));
  auto open = [shared, blobs](const Request& head, RequestContext& ctx) -> std::expected<std::unique_ptr<http::BodySink>, Response> {
    const UploadDeps& d = *shared;
    auto p = d.caller(head);
    if (!p) return std::unexpected(std::move(p.error()));
    auto upload = parse_upload(head, ctx);
    if (!upload) return std::unexpected(std::move(upload.error()));
    upload->principal = std::move(*p);
    // Whether it may go there at all, before a byte is stored; decided again once it is whole.
    Response checked = d.read(head, upload->principal, [&](const WorkspaceState& ws) -> Response {
      const Uploader who = uploader_in(ws, upload->principal);
      if (upload->principal.kind == "contact" && who.contact == nullptr) {
        return problem_for(head, bhttp::status::unauthorized, "sign in to continue");
      }
      if (auto ok = check_attach(ws, who, upload->target, d.now()); !ok) return d.error(head, ok.error());
      return Response{bhttp::status::continue_, head.version()};
    });
    if (checked.result() != bhttp::status::continue_) return std::unexpected(std::move(checked));
    auto writer = blobs->begin();
    if (!writer) {
      spdlog::error("event=blob_open_failed error=\"{}\"", writer.error());
      auto res = problem_for(head, bhttp::status::service_unavailable, "could not store the file; retry");
      res.set(bhttp::field::retry_after, "1");
      return std::unexpected(std::move(res));
    }
    upload->file_id = d.new_id();
    return std::make_unique<UploadSink>(shared, std::move(*upload), std::move(*writer));
  };
  return http::StreamedRoute{max_bytes, std::move(open)};
}

}  // namespace apexloop::command
