#include "apexloop/command/app.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "apexloop/command/credentials.hpp"
#include "apexloop/command/throttle.hpp"
#include "apexloop/core/authz.hpp"
#include "apexloop/core/approvals.hpp"
#include "apexloop/core/comments.hpp"
#include "apexloop/core/files.hpp"
#include "apexloop/core/forms.hpp"
#include "apexloop/core/workspace.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/events/upcast.hpp"
#include "apexloop/runtime/auth.hpp"
#include "apexloop/runtime/service.hpp"
#include "upload.hpp"

namespace apexloop::command {

using namespace std::chrono_literals;
namespace bhttp = http::bhttp;
using http::problem_for;
using http::Request;
using http::RequestContext;
using http::Response;

namespace {

constexpr std::size_t kMaxIdempotencyKey = 200;

Response command_error(const Request& req, const CommandError& e) {
  Json::Object extra;
  if (!e.errors.empty()) {
    Json::Array errors;
    for (const auto& fe : e.errors) errors.push_back(Json(Json::Object{{"field", fe.field}, {"message", fe.message}}));
    extra.emplace("errors", Json(std::move(errors)));
  }
  switch (e.kind) {
    case CommandErrorKind::invalid: return problem_for(req, bhttp::status::unprocessable_entity, e.detail, std::move(extra));
    case CommandErrorKind::not_found: return problem_for(req, bhttp::status::not_found, e.detail);
    case CommandErrorKind::conflict: return problem_for(req, bhttp::status::conflict, e.detail);
    case CommandErrorKind::precondition_required:
      return problem_for(req, static_cast<bhttp::status>(428), e.detail);
    case CommandErrorKind::forbidden: return problem_for(req, bhttp::status::forbidden, e.detail);
  }
  return problem_for(req, bhttp::status::internal_server_error, "unexpected error");
}

// The JSON body of a write, or the 415/400 to answer.
std::expected<Json, Response> json_body(const Request& req) {
  if (!http::is_json_content_type(req)) {
    return std::unexpected(problem_for(req, bhttp::status::unsupported_media_type, "send Content-Type: application/json"));
  }
  auto j = parse_json(req.body());
  if (!j) return std::unexpected(problem_for(req, bhttp::status::bad_request, std::string(to_string(j.error()))));
  return std::move(*j);
}

// If-Match: `"3"`, `3` or `W/"3"`.
std::expected<std::optional<std::uint64_t>, Response> if_match(const Request& req) {
  auto it = req.find(bhttp::field::if_match);
  if (it == req.end()) return std::nullopt;
  std::string_view v(it->value().data(), it->value().size());
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  std::uint64_t n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size()) {
    return std::unexpected(problem_for(req, bhttp::status::bad_request, "If-Match must be a record version"));
  }
  return n;
}

std::expected<std::optional<std::string>, Response> idempotency_key(const Request& req) {
  auto it = req.find("Idempotency-Key");
  if (it == req.end()) return std::nullopt;
  std::string v(it->value().data(), it->value().size());
  const bool printable = std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (v.empty() || v.size() > kMaxIdempotencyKey || !printable) {
    return std::unexpected(problem_for(req, bhttp::status::bad_request,
                                       "Idempotency-Key must be 1-200 printable characters"));
  }
  return v;
}

}  // namespace

struct CommandApp::Impl {
  CommandConfig cfg;
  SystemClock clock;
  SodiumRandom random;
  UuidV7Generator uuids{clock, random};
  std::optional<TokenSigner> signer;
  std::unique_ptr<CredentialStore> credentials;
  std::unique_ptr<PasswordHasher> hasher;
  SigninThrottle throttle{clock, cfg.signin_max_failures, cfg.signin_lockout};
  std::unique_ptr<events::Producer> producer;
  HttpMetrics http_metrics{"command-service"};
  std::unique_ptr<http::Server> server;
  std::shared_ptr<FileBlobStore> blobs;  // uploaded files' bytes (upload.hpp)

  // The write model. The map of workspaces is guarded by model_mu (exclusive only to swap in a
  // rebuilt model or add a workspace); one workspace's decide-append-apply runs under its own
  // mutex, so there is one writer per workspace at a time.
  std::shared_mutex model_mu;
  WriteModel model;
  std::mutex locks_mu;
  std::unordered_map<std::string, std::unique_ptr<std::mutex>> ws_locks;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> rebuilding{false};
  std::thread rebuild_thread;
  std::mutex rebuild_mu;

  std::mutex stats_mu;
  std::uint64_t appended = 0, append_failures = 0, rebuild_events = 0;
  std::uint64_t blob_sweeps = 0, blob_sweep_failures = 0, blobs_removed = 0, blob_bytes_removed = 0;

  std::thread sweep_thread;  // the blob sweep (sweep_blobs), every cfg.blob_sweep_interval
  std::mutex sweep_mu;
  std::condition_variable sweep_wake;

  explicit Impl(CommandConfig c) : cfg(std::move(c)) {}
  bool stopping_flag() const { return stopping.load(); }

  std::mutex& lock_for(const std::string& ws) {
    std::lock_guard lock(locks_mu);
    auto& m = ws_locks[ws];
    if (!m) m = std::make_unique<std::mutex>();
    return *m;
  }

  // Folds the whole topic into a fresh model, up to the high watermarks seen at the start.
  std::expected<WriteModel, std::string> read_log() {
    auto consumer = events::Consumer::create(cfg.kafka, "apexloop-command-rebuild-" + uuids.next());
    if (!consumer) return std::unexpected(consumer.error());
    auto high = (*consumer)->high_watermarks(10s);
    if (!high) return std::unexpected(high.error());
    if (auto a = (*consumer)->assign_all({}, 10s); !a) return std::unexpected(a.error());
    WriteModel fresh;
    std::map<std::int32_t, std::int64_t> next;
    auto behind = [&] {
      for (const auto& [p, h] : *high) {
        if (next[p] < h) return true;
      }
      return false;
    };
    std::uint64_t n = 0;
    while (behind() && !stopping_flag()) {
      for (const auto& m : (*consumer)->poll(5000, 200ms)) {
        next[m.position.partition] = m.position.offset + 1;
        ++n;
        auto e = events::decode(m.value);
        if (!e) {
          spdlog::error("event=rebuild_skip position={} reason=\"{}\"", to_string(m.position), e.error().detail);
          continue;
        }
        if (auto r = fresh.apply(*e, m.position); !r) {
          spdlog::error("event=rebuild_skip position={} type={} reason=\"{}\"", to_string(m.position), e->type, r.error());
        }
      }
    }
    std::lock_guard lock(stats_mu);
    rebuild_events = n;
    return fresh;
  }

  void rebuild() {
    ready = false;
    for (int attempt = 1; !stopping_flag(); ++attempt) {
      const auto started = std::chrono::steady_clock::now();
      auto fresh = read_log();
      if (fresh) {
        std::unique_lock lock(model_mu);
        model = std::move(*fresh);
        ready = true;
        spdlog::info("event=write_model_ready workspaces={} ms={}", model.workspace_count(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
        break;
      }
      spdlog::error("event=rebuild_failed attempt={} error=\"{}\"", attempt, fresh.error());
      std::this_thread::sleep_for(1s);
    }
    rebuilding = false;
  }

  void start_rebuild() {
    std::lock_guard lock(rebuild_mu);
    if (rebuilding.exchange(true)) return;
    ready = false;
    if (rebuild_thread.joinable()) rebuild_thread.join();
    rebuild_thread = std::thread([this] { rebuild(); });
  }

  // Turns drafts into envelopes and appends them; answers the last event's position.
  std::expected<Position, Response> append(const Request& req, const std::string& workspace, const Actor& actor,
                                           const std::vector<Draft>& drafts, std::vector<Envelope>* out = nullptr) {
    const std::string correlation = uuids.next();
    std::vector<Envelope> envelopes;
    std::vector<events::OutgoingEvent> outgoing;
    std::string causation;
    for (const auto& d : drafts) {
      Envelope e{uuids.next(), d.type, events::current_version(d.type), workspace, d.stream, d.seq, clock.now(), actor,
                 correlation, causation, d.data};
      causation = e.id;
      outgoing.push_back({e.type, e.v, events::encode(e)});
      envelopes.push_back(std::move(e));
    }
    auto positions = producer->append(workspace, outgoing);
    if (!positions) {
      {
        std::lock_guard lock(stats_mu);
        ++append_failures;
      }
      spdlog::error("event=append_failed workspace={} kind={} error=\"{}\"", workspace,
                    positions.error().kind == events::AppendFailure::uncertain ? "uncertain" : "not_written",
                    positions.error().detail);
      // A write whose fate is unknown may be in the log: re-read it before deciding anything else.
      if (positions.error().kind == events::AppendFailure::uncertain) start_rebuild();
      auto res = problem_for(req, bhttp::status::service_unavailable, "the event log did not acknowledge the write; retry");
      res.set(bhttp::field::retry_after, "1");
      return std::unexpected(std::move(res));
    }
    {
      std::lock_guard lock(stats_mu);
      appended += positions->size();
    }
    for (std::size_t i = 0; i < envelopes.size(); ++i) {
      if (auto r = model.apply(envelopes[i], (*positions)[i]); !r) {
        // The model refused what it had just decided: a bug. Re-read the log rather than drift.
        spdlog::critical("event=apply_after_append_failed type={} error=\"{}\"", envelopes[i].type, r.error());
        start_rebuild();
      }
    }
    if (out != nullptr) *out = std::move(envelopes);
    return positions->back();
  }

  Response with_position(Response res, Position p) {
    res.set("Apexloop-Position", to_string(p));
    return res;
  }

  Response not_ready(const Request& req) {
    auto res = problem_for(req, bhttp::status::service_unavailable, "catching up with the event log");
    res.set(bhttp::field::retry_after, "1");
    return res;
  }

  // ---- routes ----

  Response create_workspace(const Request& req, RequestContext&) {
    if (!ready) return not_ready(req);
    auto auth = req.find(bhttp::field::authorization);
    const std::string_view token =
        auth == req.end() ? std::string_view{} : bearer_token(std::string_view(auth->value().data(), auth->value().size()));
    if (cfg.bootstrap_token.empty() || token.empty() || !constant_time_equal(token, cfg.bootstrap_token)) {
      auto res = problem_for(req, bhttp::status::unauthorized, "workspace creation needs the bootstrap token");
      res.set(bhttp::field::www_authenticate, "Bearer");
      return res;
    }
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    const std::string ws_id = uuids.next();
    const std::string admin_id = uuids.next();
    auto drafts = decide_create_workspace(*body, ws_id, admin_id);
    if (!drafts) return command_error(req, drafts.error());
    const Json& admin = *body->find("admin");
    const std::string email = lowercase_email(admin.find("email")->as_string());
    auto hash = hasher->hash(admin.find("password")->as_string());
    if (!hash) return problem_for(req, bhttp::status::service_unavailable, "could not hash the password; retry");
    if (auto s = credentials->put(ws_id, email, {admin_id, *hash}); !s) {
      spdlog::error("event=credential_write_failed error=\"{}\"", s.error());
      return problem_for(req, bhttp::status::service_unavailable, "could not store the credential; retry");
    }
    std::unique_lock lock(model_mu);
    auto pos = append(req, ws_id, Actor{"bootstrap", ""}, *drafts);
    if (!pos) {
      credentials->remove(ws_id, email);
      return std::move(pos.error());
    }
    spdlog::info("event=workspace_created workspace={} admin={}", ws_id, admin_id);
    return with_position(http::json_response(req, bhttp::status::created,
                                             to_json(Json(Json::Object{{"workspace_id", ws_id}, {"user_id", admin_id}}))),
                         *pos);
  }

  // A fresh session for `grant`: its id goes into session.started, its token only to the caller.
  Principal principal_of(const std::string& workspace, const SessionGrant& grant) {
    const TimestampMs expires{clock.now().ms + std::chrono::milliseconds(cfg.session_ttl).count()};
    return Principal{workspace, grant.kind, grant.id, grant.role, grant.client_id, uuids.next(), expires};
  }

  Response session_response(const Request& req, const Principal& p) {
    spdlog::info("event=session_started workspace={} principal={} kind={} session={}", p.workspace, p.id, p.kind,
                 p.session_id);
    Json::Object principal{{"kind", p.kind}, {"id", p.id}, {"role", p.role}};
    if (!p.client_id.empty()) principal.emplace("client_id", p.client_id);
    return http::json_response(req, bhttp::status::created,
                               to_json(Json(Json::Object{{"token", signer->issue(p)},
                                                         {"expires_at", format_timestamp(p.expires_at)},
                                                         {"principal", Json(std::move(principal))}})));
  }

  Response create_session(const Request& req, RequestContext&) {
    if (!ready) return not_ready(req);
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    auto denied = [&] {
      // One answer for unknown workspace, unknown e-mail and wrong password alike.
      return problem_for(req, bhttp::status::unauthorized, "the workspace, e-mail or password is wrong");
    };
    const Json* ws = body->find("workspace");
    const Json* email = body->find("email");
    const Json* password = body->find("password");
    if (ws == nullptr || !ws->is_string() || email == nullptr || !email->is_string() || password == nullptr ||
        !password->is_string() || password->as_string().size() > kMaxPasswordBytes) {
      return problem_for(req, bhttp::status::unprocessable_entity, "send {workspace, email, password} as strings");
    }
    const std::string mail = lowercase_email(email->as_string());
    const std::string account = ws->as_string() + "/" + mail;
    if (auto wait = throttle.blocked(account)) {
      auto res = problem_for(req, bhttp::status::too_many_requests, "too many failed sign-ins; try again later");
      res.set(bhttp::field::retry_after, std::to_string(wait->count()));
      return res;
    }
    auto fail = [&] {
      if (throttle.failure(account)) record_throttling(req, ws->as_string(), mail);
      return denied();
    };
    auto cred = credentials->get(ws->as_string(), mail);
    if (!cred) {
      hasher->verify_dummy(password->as_string());
      return fail();
    }
    if (!hasher->verify(cred->hash, password->as_string())) return fail();
    bool granted = false;
    Response res = write_in(req, ws->as_string(), Actor{}, [&](const WorkspaceState& state, auto&& commit) -> Response {
      auto grant = may_sign_in(state, cred->user_id);
      if (!grant) return denied();  // deactivated, archived or gone: a right password no longer lets it in
      granted = true;
      const Principal p = principal_of(state.id, *grant);
      auto pos = commit({session_started(*grant, p.session_id, p.expires_at, "password")}, Actor{grant->kind, grant->id});
      if (!pos) return std::move(pos.error());
      return with_position(session_response(req, p), *pos);
    });
    if (!granted) return res.result() == bhttp::status::unauthorized ? fail() : res;
    if (res.result() == bhttp::status::created) throttle.success(account);
    return res;
  }

  // signin.throttled goes into the log of the workspace the attempts named, if there is one: an
  // unknown workspace has no log to write to, and its lockout is only logged here.
  void record_throttling(const Request& req, const std::string& workspace, const std::string& email) {
    spdlog::warn("event=signin_throttled workspace={}", workspace);
    bool known = false;
    {
      std::shared_lock lock(model_mu);
      known = model.workspace(workspace) != nullptr;
    }
    if (!known || !is_valid_email(email)) return;
    const TimestampMs until{clock.now().ms + std::chrono::milliseconds(cfg.signin_lockout).count()};
    Response res = write_in(req, workspace, Actor{"system", "signin"}, [&](const WorkspaceState&, auto&& commit) -> Response {
      auto pos = commit({signin_throttled(email, cfg.signin_max_failures, until, uuids.next())}, std::nullopt);
      if (!pos) return std::move(pos.error());
      return Response{bhttp::status::no_content, req.version()};
    });
    if (res.result() != bhttp::status::no_content) spdlog::error("event=signin_throttled_not_recorded workspace={}", workspace);
  }

  Response end_session(const Request& req, RequestContext&) {
    auto p = caller(req, Function::end_own_session);
    if (!p) return std::move(p.error());
    Response res = write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      auto drafts = decide_end_session(ws, p->session_id, Actor{p->kind, p->id}, p->expires_at);
      if (!drafts) return problem_for(req, bhttp::status::unauthorized, "sign in to continue");
      auto pos = commit(*drafts);
      if (!pos) return std::move(pos.error());
      Response ok{bhttp::status::no_content, req.version()};
      ok.keep_alive(req.keep_alive());
      return with_position(std::move(ok), *pos);
    });
    if (res.result() == bhttp::status::no_content) {
      spdlog::info("event=session_ended workspace={} principal={} session={}", p->workspace, p->id, p->session_id);
    }
    return res;
  }

  // The caller's principal, if its session is still good and its kind and role may use `f` at
  // all (core/authz: ACCESS.md "Principals"). What a contact may touch within a function is for
  // its policy to decide later.
  std::expected<Principal, Response> caller(const Request& req, Function f) {
    auto p = authenticate(req, *signer, clock);
    if (!p) return std::unexpected(std::move(p.error()));
    bool known = false;
    {
      std::shared_lock lock(model_mu);
      const WorkspaceState* ws = model.workspace(p->workspace);
      if (ws != nullptr && ws->ended_sessions.contains(p->session_id)) ws = nullptr;  // logged out
      if (ws != nullptr && p->kind == "user") {
        const UserState* u = ws->active_user(p->id);
        known = u != nullptr && u->role == p->role;
      }
      if (ws != nullptr && p->kind == "contact") {
        const ContactState* c = ws->active_contact(p->id);
        known = c != nullptr && c->client_id == p->client_id;
      }
    }
    if (!known) {
      // Deactivated, archived or gone: the session ends with them.
      return std::unexpected(problem_for(req, bhttp::status::unauthorized, "sign in to continue"));
    }
    if (authorize(p->kind, p->role, f) != Verdict::allow) {
      return std::unexpected(problem_for(req, bhttp::status::forbidden, "your role may not do this"));
    }
    return p;
  }

  // Runs `decide` and appends its events under the caller's workspace lock.
  template <typename Decide>
  Response write(const Request& req, const Principal& p, Decide decide) {
    const Actor actor{p.kind == "contact" ? "contact" : "user", p.id};
    return write_in(req, p.workspace, actor, [&](const WorkspaceState& ws, auto&& commit) {
      return decide(ws, [&](const std::vector<Draft>& drafts) { return commit(drafts, std::nullopt); });
    });
  }

  // The same for a workspace and actor of the caller's choosing (sign-ins, whose actor is known
  // only once the credential's owner is): `commit(drafts, actor)` may name the actor late.
  template <typename Decide>
  Response write_in(const Request& req, const std::string& workspace, const Actor& actor, Decide decide) {
    std::shared_lock model_lock(model_mu);
    std::lock_guard ws_lock(lock_for(workspace));
    if (!ready) return not_ready(req);
    const WorkspaceState* ws = model.workspace(workspace);
    if (ws == nullptr) return problem_for(req, bhttp::status::not_found, "no such workspace");
    return decide(*ws, [&](const std::vector<Draft>& drafts, const std::optional<Actor>& late) {
      return append(req, workspace, late ? *late : actor, drafts);
    });
  }

  // The common admin command: decide from the body (or none), append, answer `status` with
  // `answer(first draft's data)`.
  template <typename Decide, typename Answer>
  Response admin_command(const Request& req, Function f, bool has_body, bhttp::status status, Decide decide,
                         Answer answer) {
    auto p = caller(req, f);
    if (!p) return std::move(p.error());
    auto parsed = has_body ? json_body(req) : std::expected<Json, Response>(Json());
    if (!parsed) return std::move(parsed.error());
    Json body = std::move(*parsed);
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      auto drafts = decide(ws, body);
      if (!drafts) return command_error(req, drafts.error());
      std::optional<Position> pos;
      if (!drafts->empty()) {
        auto appended_at = commit(*drafts);
        if (!appended_at) return std::move(appended_at.error());
        pos = *appended_at;
      }
      Response res{status, req.version()};
      res.keep_alive(req.keep_alive());
      if (status != bhttp::status::no_content) {
        res = http::json_response(req, status, to_json(answer(drafts->empty() ? Json() : drafts->front().data)));
      }
      return pos ? with_position(std::move(res), *pos) : res;
    });
  }

  static Json without(Json data, std::string_view key) {
    data.as_object().erase(std::string(key));
    return data;
  }
  static Json renamed(Json data, std::string_view from, std::string_view to) {
    auto& o = data.as_object();
    auto it = o.find(from);
    if (it != o.end()) {
      Json v = std::move(it->second);
      o.erase(it);
      o.emplace(std::string(to), std::move(v));
    }
    return data;
  }

  Response define_database(const Request& req, RequestContext&) {
    return admin_command(req, Function::manage_schema, true, bhttp::status::created, decide_define_database, [](Json d) { return d; });
  }

  Response add_column(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_schema, true, bhttp::status::created,
                         [&](const WorkspaceState& ws, const Json& b) { return decide_add_column(ws, ctx.params.at("db"), b); },
                         [](Json d) { return without(std::move(d), "database"); });
  }

  Response define_client_type(const Request& req, RequestContext&) {
    return admin_command(req, Function::manage_clients, true, bhttp::status::created, decide_define_client_type, [](Json d) { return d; });
  }

  Response define_portal_role(const Request& req, RequestContext&) {
    return admin_command(req, Function::manage_clients, true, bhttp::status::created, decide_define_portal_role, [](Json d) { return d; });
  }

  Response create_client(const Request& req, RequestContext&) {
    const std::string id = uuids.next();
    return admin_command(req, Function::manage_clients, true, bhttp::status::created,
                         [&](const WorkspaceState& ws, const Json& b) { return decide_create_client(ws, b, id); },
                         [](Json d) { return renamed(std::move(d), "client_id", "id"); });
  }

  Response update_client(const Request& req, RequestContext& ctx) {
    const std::string& id = ctx.params.at("id");
    return admin_command(req, Function::manage_clients, true, bhttp::status::ok,
                         [&](const WorkspaceState& ws, const Json& b) { return decide_update_client(ws, id, b); },
                         [&](const Json&) { return Json(Json::Object{{"id", id}}); });
  }

  Response archive_client(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_clients, false, bhttp::status::no_content,
                         [&](const WorkspaceState& ws, const Json&) { return decide_archive_client(ws, ctx.params.at("id")); },
                         [](Json d) { return d; });
  }

  Response deactivate_contact(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_clients, false, bhttp::status::no_content,
                         [&](const WorkspaceState& ws, const Json&) { return decide_deactivate_contact(ws, ctx.params.at("id")); },
                         [](Json d) { return d; });
  }

  Response set_policy(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_policies, true, bhttp::status::ok,
                         [&](const WorkspaceState& ws, const Json& b) {
                           return decide_set_policy(ws, ctx.params.at("scope"), ctx.params.at("role"), ctx.params.at("db"), b);
                         },
                         [](Json d) { return d; });
  }

  Response define_view(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_policies, true, bhttp::status::ok,
                         [&](const WorkspaceState& ws, const Json& b) {
                           return decide_define_view(ws, ctx.params.at("scope"), ctx.params.at("db"), ctx.params.at("view"), b);
                         },
                         [](Json d) { return d; });
  }

  Response remove_policy(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_policies, false, bhttp::status::no_content,
                         [&](const WorkspaceState& ws, const Json&) {
                           return decide_remove_policy(ws, ctx.params.at("scope"), ctx.params.at("role"), ctx.params.at("db"));
                         },
                         [](Json d) { return d; });
  }

  // An invitation, for a contact or an internal user: the raw token goes to the caller once;
  // only its hash is stored, and neither enters the log. The expiry does, in the event.
  template <typename Decide>
  Response invite(const Request& req, Function f, Decide decide) {
    auto p = caller(req, f);
    if (!p) return std::move(p.error());
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    const std::string id = uuids.next();
    const TimestampMs expires{clock.now().ms + std::chrono::milliseconds(cfg.invitation_ttl).count()};
    const std::string token = base64url(random_bytes(32));
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      auto drafts = decide(ws, *body, id, expires);
      if (!drafts) return command_error(req, drafts.error());
      const std::string email((*drafts)[0].data.string_or("email", ""));
      if (credentials->get(p->workspace, email)) {
        return problem_for(req, bhttp::status::conflict, "someone in this workspace already signs in with this e-mail");
      }
      if (auto s = credentials->put_invitation(sha256_hex(token), {p->workspace, id, expires.ms}); !s) {
        return problem_for(req, bhttp::status::service_unavailable, "could not store the invitation; retry");
      }
      auto pos = commit(*drafts);
      if (!pos) return std::move(pos.error());
      return with_position(http::json_response(req, bhttp::status::created,
                                               to_json(Json(Json::Object{{"id", id},
                                                                         {"invitation_token", token},
                                                                         {"invitation_expires_at", format_timestamp(expires)}}))),
                           *pos);
    });
  }

  Response invite_contact(const Request& req, RequestContext& ctx) {
    const std::string& client = ctx.params.at("id");
    return invite(req, Function::manage_clients, [&](const WorkspaceState& ws, const Json& body, const std::string& id, TimestampMs expires) {
      return decide_invite_contact(ws, client, body, id, expires);
    });
  }

  Response invite_user(const Request& req, RequestContext&) {
    return invite(req, Function::manage_users, decide_invite_user);
  }

  Response deactivate_user(const Request& req, RequestContext& ctx) {
    return admin_command(req, Function::manage_users, false, bhttp::status::no_content,
                         [&](const WorkspaceState& ws, const Json&) { return decide_deactivate_user(ws, ctx.params.at("id")); },
                         [](Json d) { return d; });
  }

  // A used, forged or expired token gets the same answer, byte for byte. Whether an invitation is
  // still open is the write model's answer: its expiry comes from the invitation event.
  Response accept_invitation(const Request& req, RequestContext& ctx) {
    if (!ready) return not_ready(req);
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    auto gone = [&] { return problem_for(req, bhttp::status::not_found, "no such invitation"); };
    const std::string hash = sha256_hex(ctx.params.at("token"));
    auto invite = credentials->get_invitation(hash);
    if (!invite) return gone();
    const TimestampMs now = clock.now();
    std::optional<Invitee> invitee;
    {
      std::shared_lock lock(model_mu);
      const WorkspaceState* ws = model.workspace(invite->workspace);
      if (ws != nullptr) invitee = open_invitation(*ws, invite->invitee_id, now);
      if (!invitee) return gone();
      // The body is checked before the (deliberately slow) hash is spent on it.
      if (auto drafts = decide_accept_invitation(*ws, invite->invitee_id, *body, now); !drafts) {
        return drafts.error().kind == CommandErrorKind::not_found ? gone() : command_error(req, drafts.error());
      }
    }
    auto hashed = hasher->hash(body->find("password")->as_string());
    if (!hashed) return problem_for(req, bhttp::status::service_unavailable, "could not hash the password; retry");
    // The invitee itself is the actor of its joining and of its first session.
    const Actor actor{invitee->grant.kind, invitee->grant.id};
    return write_in(req, invite->workspace, actor, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      auto drafts = decide_accept_invitation(ws, invite->invitee_id, *body, now);  // again, under the lock: single use
      if (!drafts) return gone();
      if (auto held = credentials->get(invite->workspace, invitee->email); held && held->user_id != invitee->grant.id) {
        return problem_for(req, bhttp::status::conflict, "someone in this workspace already signs in with this e-mail");
      }
      const Principal p = principal_of(ws.id, invitee->grant);
      drafts->push_back(session_started(invitee->grant, p.session_id, p.expires_at, "invitation"));
      if (auto s = credentials->put(invite->workspace, invitee->email, {invitee->grant.id, *hashed}); !s) {
        return problem_for(req, bhttp::status::service_unavailable, "could not store the credential; retry");
      }
      auto pos = commit(*drafts, std::nullopt);
      if (!pos) {
        credentials->remove(invite->workspace, invitee->email);
        return std::move(pos.error());
      }
      credentials->remove_invitation(hash);
      return with_position(session_response(req, p), *pos);
    });
  }

  Response create_record(const Request& req, RequestContext& ctx) {
    auto p = caller(req, Function::write_records);
    if (!p) return std::move(p.error());
    auto key = idempotency_key(req);
    if (!key) return std::move(key.error());
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    const std::string& db = ctx.params.at("db");
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      const std::string record_id = uuids.next();
      const ContactState* contact = p->kind == "contact" ? ws.active_contact(p->id) : nullptr;
      if (p->kind == "contact" && contact == nullptr) return problem_for(req, bhttp::status::unauthorized, "sign in to continue");
      auto outcome = contact != nullptr ? decide_contact_create_record(ws, *contact, db, *body, record_id, *key, clock.now())
                                        : decide_create_record(ws, db, *body, record_id, p->id, *key);
      if (!outcome) return command_error(req, outcome.error());
      std::string id;
      Position pos;
      if (outcome->replayed) {
        id = outcome->replayed->record_id;
        pos = outcome->replayed->position;
      } else {
        id = record_id;
        auto appended_at = commit(outcome->drafts);
        if (!appended_at) return std::move(appended_at.error());
        pos = *appended_at;
      }
      auto res = http::json_response(req, bhttp::status::created,
                                     to_json(Json(Json::Object{{"id", id}, {"version", static_cast<std::int64_t>(1)}})));
      res.set(bhttp::field::location, "/api/v1/databases/" + db + "/records/" + id);
      res.set(bhttp::field::etag, "\"1\"");
      return with_position(std::move(res), pos);
    });
  }

  Response update_record(const Request& req, RequestContext& ctx) {
    auto p = caller(req, Function::write_records);
    if (!p) return std::move(p.error());
    auto match = if_match(req);
    if (!match) return std::move(match.error());
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    const std::string& db = ctx.params.at("db");
    const std::string& id = ctx.params.at("id");
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      const ContactState* contact = p->kind == "contact" ? ws.active_contact(p->id) : nullptr;
      if (p->kind == "contact" && contact == nullptr) return problem_for(req, bhttp::status::unauthorized, "sign in to continue");
      auto drafts = contact != nullptr ? decide_contact_update_record(ws, *contact, db, id, *body, *match, clock.now())
                                       : decide_update_record(ws, db, id, *body, *match);
      if (!drafts) return command_error(req, drafts.error());
      // The version the caller is shown, its ETag: a contact's visible version (stamps.hpp), which
      // an edit of a column it cannot read does not move. Its own edit changes only columns it
      // may read, so after one it is shown the new version like everyone.
      std::uint64_t version =
          contact != nullptr ? contact_version(ws, *contact, db, id).value_or(0) : ws.record(db, id)->version;
      std::optional<Position> pos;
      if (!drafts->empty()) {
        auto appended_at = commit(*drafts);
        if (!appended_at) return std::move(appended_at.error());
        pos = *appended_at;
        version = drafts->back().seq;
      }
      auto res = http::json_response(req, bhttp::status::ok,
                                     to_json(Json(Json::Object{{"id", id}, {"version", static_cast<std::int64_t>(version)}})));
      res.set(bhttp::field::etag, "\"" + std::to_string(version) + "\"");
      return pos ? with_position(std::move(res), *pos) : res;
    });
  }

  // Comments and approvals: the decision sees who is writing; a contact's rights come from its
  // policy. Answers `{id}` from the first event's `id_member`.
  template <typename Decide>
  Response collaboration_command(const Request& req, bool has_body, bhttp::status status, Decide decide,
                           std::string_view id_member = "comment_id") {
    auto p = caller(req, Function::write_records);
    if (!p) return std::move(p.error());
    auto parsed = has_body ? json_body(req) : std::expected<Json, Response>(Json());
    if (!parsed) return std::move(parsed.error());
    Json body = std::move(*parsed);
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      const Commenter who{p->kind, p->id, p->kind == "contact" ? ws.active_contact(p->id) : nullptr};
      auto drafts = decide(ws, who, body);
      if (!drafts) return command_error(req, drafts.error());
      auto pos = commit(*drafts);
      if (!pos) return std::move(pos.error());
      Response res{status, req.version()};
      res.keep_alive(req.keep_alive());
      if (status != bhttp::status::no_content) {
        res = http::json_response(req, status, to_json(Json(Json::Object{{"id", drafts->front().data.string_or(id_member, "")}})));
      }
      return with_position(std::move(res), *pos);
    });
  }

  Response add_comment(const Request& req, RequestContext& ctx) {
    const std::string comment_id = uuids.next();
    return collaboration_command(req, true, bhttp::status::created, [&](const WorkspaceState& ws, const Commenter& who, const Json& body) {
      return decide_add_comment(ws, who, ctx.params.at("db"), ctx.params.at("id"), body, comment_id, clock.now());
    });
  }

  Response edit_comment(const Request& req, RequestContext& ctx) {
    return collaboration_command(req, true, bhttp::status::ok, [&](const WorkspaceState& ws, const Commenter& who, const Json& body) {
      return decide_edit_comment(ws, who, ctx.params.at("id"), body, clock.now());
    });
  }

  Response delete_comment(const Request& req, RequestContext& ctx) {
    return collaboration_command(req, false, bhttp::status::no_content, [&](const WorkspaceState& ws, const Commenter& who, const Json&) {
      return decide_delete_comment(ws, who, ctx.params.at("id"), clock.now());
    });
  }

  Response request_approval(const Request& req, RequestContext& ctx) {
    const std::string approval_id = uuids.next();
    return collaboration_command(req, true, bhttp::status::created, [&](const WorkspaceState& ws, const Commenter& who, const Json& body) {
      return decide_request_approval(ws, who, ctx.params.at("db"), ctx.params.at("id"), body, approval_id);
    }, "approval_id");
  }

  Response decide_approval_request(const Request& req, RequestContext& ctx) {
    return collaboration_command(req, true, bhttp::status::ok, [&](const WorkspaceState& ws, const Commenter& who, const Json& body) {
      return decide_approval(ws, who, ctx.params.at("id"), body, clock.now());
    }, "approval_id");
  }

  Response define_form(const Request& req, RequestContext&) {
    return collaboration_command(req, true, bhttp::status::created, [&](const WorkspaceState& ws, const Commenter& who, const Json& body) {
      return decide_define_form(ws, who, body);
    }, "key");
  }

  // A contact's form submission: a create like its own, owned by its client.
  Response submit_form(const Request& req, RequestContext& ctx) {
    auto p = caller(req, Function::write_records);
    if (!p) return std::move(p.error());
    if (p->kind != "contact") return problem_for(req, bhttp::status::forbidden, "forms are submitted by client contacts");
    auto body = json_body(req);
    if (!body) return std::move(body.error());
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      const ContactState* contact = ws.active_contact(p->id);
      if (contact == nullptr) return problem_for(req, bhttp::status::unauthorized, "sign in to continue");
      const std::string record_id = uuids.next();
      auto outcome = decide_submit_form(ws, *contact, ctx.params.at("form"), *body, record_id, clock.now());
      if (!outcome) return command_error(req, outcome.error());
      auto pos = commit(outcome->drafts);
      if (!pos) return std::move(pos.error());
      return with_position(http::json_response(req, bhttp::status::created, to_json(Json(Json::Object{{"record_id", record_id}}))), *pos);
    });
  }

  Response delete_record(const Request& req, RequestContext& ctx) {
    auto p = caller(req, Function::delete_records);
    if (!p) return std::move(p.error());
    auto match = if_match(req);
    if (!match) return std::move(match.error());
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      auto drafts = decide_delete_record(ws, ctx.params.at("db"), ctx.params.at("id"), *match);
      if (!drafts) return command_error(req, drafts.error());
      auto pos = commit(*drafts);
      if (!pos) return std::move(pos.error());
      Response res{bhttp::status::no_content, req.version()};
      res.keep_alive(req.keep_alive());
      return with_position(std::move(res), *pos);
    });
  }

  // DELETE /api/v1/files/{file_id} (core/files.hpp decides who may).
  Response remove_file(const Request& req, RequestContext& ctx) {
    auto p = caller(req, Function::write_records);
    if (!p) return std::move(p.error());
    for (const auto& [k, _] : ctx.params) {
      if (k.starts_with("?")) return problem_for(req, bhttp::status::bad_request, "unknown parameter " + k.substr(1));
    }
    return write(req, *p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
      const Uploader who{p->kind, p->id, p->kind == "contact" ? ws.active_contact(p->id) : nullptr};
      auto drafts = decide_remove_file(ws, who, ctx.params.at("file_id"), clock.now());
      if (!drafts) return command_error(req, drafts.error());
      auto pos = commit(*drafts);
      if (!pos) return std::move(pos.error());
      spdlog::info("event=file_removed workspace={} file={}", p->workspace, ctx.params.at("file_id"));
      Response res{bhttp::status::no_content, req.version()};
      res.keep_alive(req.keep_alive());
      return with_position(std::move(res), *pos);
    });
  }

  // Blobs no live file holds, last stored before the grace period: removed. Runs only while the
  // write model is whole (ready): during a rebuild every blob counts as referenced.
  void sweep_blobs_once() {
    if (!ready) return;
    const auto cutoff = std::chrono::system_clock::time_point(std::chrono::milliseconds(clock.now().ms)) - cfg.blob_grace;
    auto referenced = [this](std::string_view sha256) {
      std::shared_lock lock(model_mu);
      return !ready || model.references_blob(sha256);
    };
    auto swept = sweep_blobs(*blobs, referenced, cutoff);
    std::lock_guard lock(stats_mu);
    if (!swept) {
      ++blob_sweep_failures;
      spdlog::error("event=blob_sweep_failed error=\"{}\"", swept.error());
      return;
    }
    ++blob_sweeps;
    blobs_removed += swept->removed;
    blob_bytes_removed += swept->bytes_removed;
    spdlog::info("event=blob_sweep blobs={} removed={} bytes_removed={}", swept->seen, swept->removed, swept->bytes_removed);
  }

  void run_blob_sweeps() {
    std::unique_lock lock(sweep_mu);
    while (!sweep_wake.wait_for(lock, cfg.blob_sweep_interval, [this] { return stopping.load(); })) {
      lock.unlock();
      sweep_blobs_once();
      lock.lock();
    }
  }

  // What a file upload (upload.hpp) uses of this service.
  UploadDeps upload_deps() {
    UploadDeps u;
    u.caller = [this](const Request& req) { return caller(req, Function::write_records); };
    u.read = [this](const Request& req, const Principal& p, const std::function<Response(const WorkspaceState&)>& look) {
      std::shared_lock lock(model_mu);
      if (!ready) return not_ready(req);
      const WorkspaceState* ws = model.workspace(p.workspace);
      if (ws == nullptr) return problem_for(req, bhttp::status::not_found, "no such workspace");
      return look(*ws);
    };
    u.write = [this](const Request& req, const Principal& p, const UploadDeps::Decide& decide) {
      return write(req, p, [&](const WorkspaceState& ws, auto&& commit) -> Response {
        return decide(ws, [&](const std::vector<Draft>& drafts) { return commit(drafts); });
      });
    };
    u.error = [](const Request& req, const CommandError& e) { return command_error(req, e); };
    u.new_id = [this] { return uuids.next(); };
    u.now = [this] { return clock.now(); };
    return u;
  }

  void samples(std::string& out) {
    std::lock_guard lock(stats_mu);
    write_metric(out, "apexloop_command_events_appended_total", "counter", "", static_cast<double>(appended));
    write_metric(out, "apexloop_command_append_failures_total", "counter", "", static_cast<double>(append_failures));
    write_metric(out, "apexloop_command_rebuild_events", "gauge",
                 "Events folded into the write model at the last rebuild.", static_cast<double>(rebuild_events));
    write_metric(out, "apexloop_command_ready", "gauge", "", ready ? 1.0 : 0.0);
    write_metric(out, "apexloop_command_blob_sweeps_total", "counter", "Blob sweeps completed.",
                 static_cast<double>(blob_sweeps));
    write_metric(out, "apexloop_command_blob_sweep_failures_total", "counter", "", static_cast<double>(blob_sweep_failures));
    write_metric(out, "apexloop_command_blobs_removed_total", "counter",
                 "Blobs the sweep removed: bytes no live file held any more.", static_cast<double>(blobs_removed));
    write_metric(out, "apexloop_command_blob_bytes_removed_total", "counter", "", static_cast<double>(blob_bytes_removed));
  }

};

CommandApp::CommandApp(CommandConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
CommandApp::~CommandApp() { stop(); }

std::expected<std::uint16_t, std::string> CommandApp::start() {
  auto& d = *impl_;
  auto signer = TokenSigner::from_env();
  if (!signer) return std::unexpected(signer.error());
  d.signer = std::move(*signer);
  std::filesystem::create_directories(d.cfg.data_dir);
  auto creds = CredentialStore::open(d.cfg.data_dir + "/credentials");
  if (!creds) return std::unexpected(creds.error());
  d.credentials = std::move(*creds);
  d.hasher = std::make_unique<PasswordHasher>(d.cfg.hash_concurrency);
  if (auto t = events::ensure_topic(d.cfg.kafka, 10s); !t) return std::unexpected(t.error());
  auto producer = events::Producer::create(d.cfg.kafka);
  if (!producer) return std::unexpected(producer.error());
  d.producer = std::move(*producer);
  d.blobs = std::make_shared<FileBlobStore>(d.cfg.data_dir + "/blobs");
  d.blobs->remove_stale_temporaries();  // what a crash mid-upload left behind

  auto router = std::make_shared<http::Router>();
  http::add_operational_routes(*router, [&d] { return d.ready.load(); }, d.http_metrics,
                               [&d](std::string& out) { d.samples(out); });
  auto bind = [&d](Response (Impl::*member)(const Request&, RequestContext&)) {
    return [&d, member](const Request& req, RequestContext& ctx) { return (d.*member)(req, ctx); };
  };
  router->add(bhttp::verb::post, "/api/v1/workspaces", bind(&Impl::create_workspace));
  router->add(bhttp::verb::post, "/api/v1/sessions", bind(&Impl::create_session));
  router->add(bhttp::verb::delete_, "/api/v1/sessions/current", bind(&Impl::end_session));
  router->add(bhttp::verb::post, "/api/v1/databases", bind(&Impl::define_database));
  router->add(bhttp::verb::post, "/api/v1/databases/{db}/columns", bind(&Impl::add_column));
  router->add(bhttp::verb::post, "/api/v1/databases/{db}/records", bind(&Impl::create_record));
  router->add(bhttp::verb::patch, "/api/v1/databases/{db}/records/{id}", bind(&Impl::update_record));
  router->add(bhttp::verb::delete_, "/api/v1/databases/{db}/records/{id}", bind(&Impl::delete_record));
  router->add(bhttp::verb::post, "/api/v1/client-types", bind(&Impl::define_client_type));
  router->add(bhttp::verb::post, "/api/v1/portal-roles", bind(&Impl::define_portal_role));
  router->add(bhttp::verb::post, "/api/v1/clients", bind(&Impl::create_client));
  router->add(bhttp::verb::patch, "/api/v1/clients/{id}", bind(&Impl::update_client));
  router->add(bhttp::verb::delete_, "/api/v1/clients/{id}", bind(&Impl::archive_client));
  router->add(bhttp::verb::post, "/api/v1/clients/{id}/contacts", bind(&Impl::invite_contact));
  router->add(bhttp::verb::delete_, "/api/v1/contacts/{id}", bind(&Impl::deactivate_contact));
  router->add(bhttp::verb::post, "/api/v1/invitations/{token}/accept", bind(&Impl::accept_invitation));
  router->add(bhttp::verb::post, "/api/v1/users", bind(&Impl::invite_user));
  router->add(bhttp::verb::delete_, "/api/v1/users/{id}", bind(&Impl::deactivate_user));
  router->add(bhttp::verb::put, "/api/v1/policies/{scope}/{role}/{db}", bind(&Impl::set_policy));
  router->add(bhttp::verb::delete_, "/api/v1/policies/{scope}/{role}/{db}", bind(&Impl::remove_policy));
  router->add(bhttp::verb::put, "/api/v1/views/{scope}/{db}/{view}", bind(&Impl::define_view));
  router->add(bhttp::verb::post, "/api/v1/databases/{db}/records/{id}/comments", bind(&Impl::add_comment));
  router->add(bhttp::verb::patch, "/api/v1/comments/{id}", bind(&Impl::edit_comment));
  router->add(bhttp::verb::delete_, "/api/v1/comments/{id}", bind(&Impl::delete_comment));
  router->add(bhttp::verb::post, "/api/v1/databases/{db}/records/{id}/approvals", bind(&Impl::request_approval));
  router->add(bhttp::verb::post, "/api/v1/approvals/{id}/decision", bind(&Impl::decide_approval_request));
  router->add(bhttp::verb::post, "/api/v1/forms", bind(&Impl::define_form));
  router->add(bhttp::verb::post, "/api/v1/forms/{form}/submissions", bind(&Impl::submit_form));
  router->add(bhttp::verb::post, "/api/v1/databases/{db}/records/{id}/files", upload_route(d.upload_deps(), d.blobs, d.cfg.max_upload_bytes));
  router->add(bhttp::verb::delete_, "/api/v1/files/{file_id}", bind(&Impl::remove_file));
  d.server = std::make_unique<http::Server>(
      d.cfg.http, [router](const Request& req, RequestContext& ctx) { return router->dispatch(req, ctx); },
      d.http_metrics);
  d.server->stream_bodies([router](const Request& head, RequestContext& ctx) { return router->match_streamed(head, ctx); });
  const auto port = d.server->start();
  d.start_rebuild();
  if (d.cfg.blob_sweep_interval.count() > 0) d.sweep_thread = std::thread([&d] { d.run_blob_sweeps(); });
  return port;
}

void CommandApp::stop() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.sweep_mu);  // so the sweep thread cannot miss the wake-up
    d.stopping = true;
  }
  d.sweep_wake.notify_all();
  if (d.sweep_thread.joinable()) d.sweep_thread.join();
  if (d.server) {
    d.server->stop();
    d.server->wait();
  }
  {
    std::lock_guard lock(d.rebuild_mu);
    if (d.rebuild_thread.joinable()) d.rebuild_thread.join();
  }
  d.producer.reset();
}

}  // namespace apexloop::command
