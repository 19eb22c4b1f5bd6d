#include "apexloop/query/app.hpp"

#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "apexloop/core/access.hpp"
#include "apexloop/core/authz.hpp"
#include "apexloop/core/schema.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/store.hpp"
#include "apexloop/runtime/auth.hpp"
#include "apexloop/runtime/service.hpp"
#include "audit.hpp"
#include "files.hpp"
#include "paging.hpp"
#include "response_cache.hpp"

namespace apexloop::query {

using namespace std::chrono_literals;
namespace bhttp = http::bhttp;

namespace {

// The served record starts {"id":"<uuid>","version":N,...}: read N without parsing the rest.
std::string version_of(std::string_view record) {
  constexpr std::string_view kTag = "\"version\":";
  const auto at = record.find(kTag);
  if (at == std::string_view::npos) return "0";
  auto start = at + kTag.size();
  auto end = start;
  while (end < record.size() && record[end] >= '0' && record[end] <= '9') ++end;
  return std::string(record.substr(start, end - start));
}

}  // namespace

struct QueryApp::Impl {
  QueryConfig cfg;
  std::unique_ptr<rocksdb::DB> db;
  std::string secondary_dir;
  std::optional<TokenSigner> signer;
  SystemClock clock;
  HttpMetrics http_metrics{"query-service"};
  std::unique_ptr<http::Server> server;
  std::unique_ptr<FileBlobStore> blobs;  // uploaded files, read only (files.hpp)
  std::thread catch_up;
  std::atomic<bool> stopping{false};
  std::atomic<bool> ready{false};

  std::mutex offsets_mu;
  std::map<std::int32_t, std::int64_t> applied;  // next offset per partition, as last seen
  std::uint64_t catch_up_errors = 0;
  std::atomic<std::uint64_t> store_version{0};  // the secondary's sequence number after the last catch-up
  ResponseCache cache{static_cast<std::size_t>(env_long("APEXLOOP_QUERY_CACHE_BYTES", 64L << 20))};

  explicit Impl(QueryConfig c) : cfg(std::move(c)) {}

  void refresh_offsets() {
    auto seen = projector::read_offsets(*db);
    std::lock_guard lock(offsets_mu);
    applied = std::move(seen);
  }

  void run_catch_up() {
    while (!stopping.load()) {
      const auto s = db->TryCatchUpWithPrimary();
      if (!s.ok()) {
        std::lock_guard lock(offsets_mu);
        if (catch_up_errors++ % 1000 == 0) spdlog::warn("event=catch_up_failed error=\"{}\"", s.ToString());
      } else {
        refresh_offsets();
        store_version = db->GetLatestSequenceNumber();
        ready = true;
      }
      std::this_thread::sleep_for(cfg.catch_up_interval);
    }
  }

  // Read-your-writes: the answer waits (bounded, without holding a thread) until the projection
  // has applied the caller's position.
  std::optional<http::Response> wait_for_position(const http::Request& req, http::RequestContext& ctx) {
    auto it = req.find("Apexloop-After");
    if (it == req.end()) return std::nullopt;
    auto pos = parse_position(std::string_view(it->value().data(), it->value().size()));
    if (!pos) return http::problem_for(req, bhttp::status::bad_request, "Apexloop-After: " + pos.error());
    auto reached = [this, at = *pos] {
      std::lock_guard lock(offsets_mu);
      auto a = applied.find(at.partition);
      return a != applied.end() && a->second > at.offset;
    };
    if (reached()) return std::nullopt;
    if (!ctx.wait_expired) {
      ctx.wait(reached, cfg.max_after_wait);
      return http::Response{};  // not sent: the server calls again when reached or due
    }
    auto res = http::problem_for(req, bhttp::status::service_unavailable,
                                 "the read models have not yet caught up with that position; retry");
    res.set(bhttp::field::retry_after, "1");
    return res;
  }

  std::optional<std::string> get(const std::string& key) const {
    std::string v;
    const auto s = db->Get(rocksdb::ReadOptions(), key, &v);
    if (s.ok()) return v;
    return std::nullopt;
  }

  // Every read route: authenticate, honour Apexloop-After, check the caller may use `function` at
  // all (core/authz), then answer from the caller's prefix. A GET answered 200 is kept for reuse
  // by the same credential while the read models stay exactly as they were (see ResponseCache).
  template <typename F>
  http::Router::Route guarded(Function function, F f) {
    return [this, function, f](const http::Request& req, http::RequestContext& ctx) -> http::Response {
      if (!ready) return http::problem_for(req, bhttp::status::service_unavailable, "starting");
      // Read before answering: an answer is never older than the version it is filed under.
      const std::uint64_t version = store_version.load();
      const std::string cache_key = cache_key_of(req);
      if (!cache_key.empty()) {
        if (auto hit = cache.find(cache_key, version, clock.now())) return http::Response(*hit);
      }
      auto principal = authenticate(req, *signer, clock);
      if (!principal) return std::move(principal.error());
      if (auto wait = wait_for_position(req, ctx)) return std::move(*wait);
      if (auto refused = refuse_ended(req, *principal)) return std::move(*refused);
      if (authorize(principal->kind, principal->role, function) != Verdict::allow) {
        return http::problem_for(req, bhttp::status::forbidden, "your role may not do this");
      }
      auto res = f(req, ctx, *principal);
      if (!cache_key.empty() && res.result() == bhttp::status::ok && !ctx.stream) cache.store(cache_key, version, principal->expires_at, res);
      return res;
    };
  }

  // The credential and the target; empty (no caching) without a credential, or when the caller
  // waits for a position, which the version read first may not include yet.
  static std::string cache_key_of(const http::Request& req) {
    const auto auth = req.find(bhttp::field::authorization);
    if (auth == req.end() || req.find("Apexloop-After") != req.end()) return "";
    std::string key(auth->value().data(), auth->value().size());
    key.push_back('\n');
    key.append(req.target().data(), req.target().size());
    return key;
  }

  // A session ended by logout, a user or contact deactivated (or its client archived), or a
  // token whose role is no longer the user's, is refused here as in the command service.
  std::optional<http::Response> refuse_ended(const http::Request& req, const Principal& p) const {
    const bool ended = get(keys::session(p.workspace, p.session_id)).has_value() ||
                       (p.kind == "contact" && !contact_active(p)) || (p.kind == "user" && !user_active(p)) ||
                       (p.kind != "user" && p.kind != "contact");
    if (ended) return http::problem_for(req, bhttp::status::unauthorized, "sign in to continue");
    return std::nullopt;
  }

  // A deactivated user's sessions end at once, and a token's role must still be the user's.
  bool user_active(const Principal& p) const {
    auto u = get(keys::user(p.workspace, p.id));
    auto j = u ? parse_json(*u) : std::unexpected(JsonError::malformed);
    const Json* active = j ? j->find("active") : nullptr;
    return active != nullptr && active->is_bool() && active->as_bool() && j->string_or("role", "") == p.role;
  }

  bool contact_active(const Principal& p) const {
    auto c = get(keys::contact(p.workspace, p.id));
    auto j = c ? parse_json(*c) : std::unexpected(JsonError::malformed);
    const Json* active = j ? j->find("active") : nullptr;
    return active != nullptr && active->is_bool() && active->as_bool() && j->string_or("client_id", "") == p.client_id;
  }

  // The only permission logic on the read path: which key prefix (principal set, and the
  // generation of its rows) the caller reads `db` from. None means the database is not there for
  // this caller: 404.
  // Read through `view`, the same view the rows are then read through.
  std::optional<keys::Route> set_for(const Principal& p, const std::string& db_key, projector::StoreView& view) const {
    if (!is_valid_key(db_key)) return std::nullopt;
    if (p.kind == "user") {
      if (!view.get(keys::database(p.workspace, db_key))) return std::nullopt;
      return keys::Route{std::string(keys::kInternalSet), {}};
    }
    auto route = view.get(keys::route(p.workspace, p.id, db_key));
    if (!route) return std::nullopt;
    return keys::parse_route(*route);
  }

  http::Response list_databases(const http::Request& req, http::RequestContext&, const Principal& p) {
    if (p.kind == "contact") {
      Json::Array items;
      const std::string prefix = keys::route_prefix(p.workspace, p.id);
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const std::string db_key = it->key().ToString().substr(prefix.size());
        auto listing = get(keys::set_database(p.workspace, keys::parse_route(it->value().ToStringView()).set, db_key));
        if (auto j = listing ? parse_json(*listing) : std::unexpected(JsonError::malformed)) items.push_back(std::move(*j));
      }
      return http::json_response(req, bhttp::status::ok, to_json(Json(Json::Object{{"items", Json(std::move(items))}})));
    }
    const bool can_write = p.role == "admin" || p.role == "member";
    const std::string prefix = keys::database_prefix(p.workspace);
    Json::Array items;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto j = parse_json(it->value().ToStringView());
      if (!j || !j->is_object()) continue;
      for (auto& col : j->as_object()["columns"].as_array()) {
        col.as_object()["readable"] = true;
        col.as_object()["writable"] = can_write;
      }
      items.push_back(std::move(*j));
    }
    return http::json_response(req, bhttp::status::ok, to_json(Json(Json::Object{{"items", Json(std::move(items))}})));
  }

  http::Response list_records(const http::Request& req, http::RequestContext& ctx, const Principal& p) {
    const auto& db_key = ctx.params.at("db");
    projector::StoreView view(*db);
    const auto set = set_for(p, db_key, view);
    if (!set) return http::problem_for(req, bhttp::status::not_found, "no such database");
    const auto limit = page_limit(req, ctx);
    if (!limit) return std::move(limit.error());
    if (auto v = ctx.params.find("?view"); v != ctx.params.end()) {
      const bool limit_given = ctx.params.contains("?limit");
      return list_view(req, ctx, p, view, *set, db_key, v->second, limit_given ? std::optional<std::size_t>(*limit) : std::nullopt);
    }
    const auto cursor = page_cursor(req, ctx);
    if (!cursor) return std::move(cursor.error());
    const std::string prefix = keys::list_prefix(p.workspace, set->set, db_key, set->gen);
    std::string body = "{\"items\":[";
    close_page(body, append_page(view.iterator(), prefix, page_start(prefix, *cursor), *limit, body));
    return http::json_response(req, bhttp::status::ok, std::move(body));
  }

  // A named view over the caller's own rows: it starts from the already-permitted set, so it can
  // only narrow. The view is the client's own, else its client type's. The projector keeps the
  // rows of most views ready, in order and cut to their columns; a view whose filter reads the
  // clock (or a contact's id, in a set contacts share) is filtered and sorted here, the same way.
  http::Response list_view(const http::Request& req, http::RequestContext& ctx, const Principal& p, projector::StoreView& store,
                           const keys::Route& route,
                           const std::string& db_key, const std::string& name, std::optional<std::size_t> limit) {
    auto no_view = [&] { return http::problem_for(req, bhttp::status::not_found, "no such view"); };
    if (p.kind != "contact" || !is_valid_key(name)) return no_view();
    auto client = store.get(keys::client(p.workspace, p.client_id));
    auto client_json = client ? parse_json(*client) : std::unexpected(JsonError::malformed);
    if (!client_json) return no_view();
    const std::string client_type(client_json->string_or("client_type", ""));
    auto view_text = store.get(keys::view(p.workspace, "client:" + p.client_id, db_key, name));
    if (!view_text) view_text = store.get(keys::view(p.workspace, "type:" + client_type, db_key, name));
    auto view_json = view_text ? parse_json(*view_text) : std::unexpected(JsonError::malformed);
    auto db_json = store.get(keys::database(p.workspace, db_key));
    auto db_parsed = db_json ? parse_json(*db_json) : std::unexpected(JsonError::malformed);
    if (!view_json || !db_parsed) return no_view();
    const DatabaseDef def = database_from_json(*db_parsed);
    const auto view = view_def_from_json(*view_json, def);
    if (!view) return no_view();
    const std::size_t page = limit.value_or(view->limit ? static_cast<std::size_t>(*view->limit) : kDefaultLimit);
    const std::string cursor = ctx.params.contains("?cursor") ? ctx.params.at("?cursor") : "";
    const std::string& set = route.set;
    if (projector::view_indexed(*view, std::count(set.begin(), set.end(), ':') == 2)) {
      return list_view_index(req, keys::view_index_prefix(p.workspace, set, db_key, name), cursor, page);
    }
    const PrincipalVars vars{p.id, p.client_id, client_type, clock.now()};
    std::vector<std::pair<std::string, Json>> rows;  // (sort key, row), in creation order
    const std::string prefix = keys::list_prefix(p.workspace, set, db_key, route.gen);
    rocksdb::Iterator& it = store.iterator();
    for (it.Seek(prefix); it.Valid() && it.key().starts_with(prefix); it.Next()) {
      auto rec = parse_json(it.value().ToStringView());
      if (!rec) continue;
      const auto& fields = rec->find("fields")->as_object();
      const RecordView rv{fields, rec->string_or("id", ""), static_cast<std::uint64_t>(rec->find("version")->as_int()),
                          rec->string_or("created_at", ""), rec->string_or("updated_at", "")};
      if (view->filter && !evaluate(*view->filter, rv, vars)) continue;
      rows.emplace_back(projector::view_sort_key(*view, *rec), std::move(*rec));
    }
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::size_t from = 0;
    if (!cursor.empty()) {
      auto r = std::from_chars(cursor.data() + 1, cursor.data() + cursor.size(), from);
      if (!cursor.starts_with("v") || r.ec != std::errc{} || r.ptr != cursor.data() + cursor.size()) {
        return http::problem_for(req, bhttp::status::bad_request, "bad cursor");
      }
    }
    std::string body = "{\"items\":[";
    std::size_t next = from;
    for (; next < rows.size() && next - from < page; ++next) {
      // Cut to the view's columns only now: the filter and the sort saw every readable field.
      if (next > from) body.push_back(',');
      body += projector::view_row(*view, def, std::move(rows[next].second));
    }
    body += "],\"next_cursor\":";
    body += next < rows.size() ? "\"v" + std::to_string(next) + "\"" : std::string("null");
    body.push_back('}');
    return http::json_response(req, bhttp::status::ok, std::move(body));
  }

  // A page of a view the projector keeps: the cursor is `k` and the hex of the last row's key.
  http::Response list_view_index(const http::Request& req, const std::string& prefix, const std::string& cursor,
                                 std::size_t page) {
    std::string start = prefix;
    if (!cursor.empty()) {
      auto after = from_hex(std::string_view(cursor).substr(1));
      if (!cursor.starts_with("k") || cursor.size() > 4097 || !after) {
        return http::problem_for(req, bhttp::status::bad_request, "bad cursor");
      }
      start += *after;
      start.push_back('\0');  // the smallest key strictly after the cursor's
    }
    std::string body = "{\"items\":[";
    const auto end = append_page(*db, prefix, start, page, body);
    body += "],\"next_cursor\":";
    body += end.more_after ? "\"k" + to_hex(*end.more_after) + "\"" : std::string("null");
    body.push_back('}');
    return http::json_response(req, bhttp::status::ok, std::move(body));
  }

  static std::string to_hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
      out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
      out.push_back(kHex[static_cast<unsigned char>(c) & 0xf]);
    }
    return out;
  }

  static std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    auto digit = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      const int hi = digit(hex[i]), lo = digit(hex[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
  }

  http::Response list_clients(const http::Request& req, http::RequestContext&, const Principal& p) {
    Json::Array items;
    const std::string prefix = keys::client_prefix(p.workspace);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (auto j = parse_json(it->value().ToStringView())) items.push_back(std::move(*j));
    }
    return http::json_response(req, bhttp::status::ok, to_json(Json(Json::Object{{"items", Json(std::move(items))}})));
  }

  http::Response get_record(const http::Request& req, http::RequestContext& ctx, const Principal& p) {
    const auto& db_key = ctx.params.at("db");
    const auto& id = ctx.params.at("id");
    // Only well-formed keys and ids reach the store, so no input can reach another key prefix.
    projector::StoreView view(*db);
    const auto set = is_uuid(id) ? set_for(p, db_key, view) : std::nullopt;
    auto rec = set ? projector::served_record(view, p.workspace, set->set, set->gen, db_key, id) : std::nullopt;
    if (!rec) return http::problem_for(req, bhttp::status::not_found, "no such record");
    auto res = http::json_response(req, bhttp::status::ok, *rec);
    res.set(bhttp::field::etag, "\"" + version_of(*rec) + "\"");
    return res;
  }

  // A contact's feed, newest first: the notices of every set it reads through, merged. The
  // cursor is the last notice's id; the next page holds older ones. Users have no feed (yet).
  http::Response list_notifications(const http::Request& req, http::RequestContext& ctx, const Principal& p) {
    const auto page = page_limit(req, ctx);
    if (!page) return std::move(page.error());
    const std::size_t limit = *page;
    const auto cursor = page_cursor(req, ctx);
    if (!cursor) return std::move(cursor.error());
    const std::string& before = *cursor;
    std::set<std::string> sets;
    if (p.kind == "contact") {
      const std::string routes = keys::route_prefix(p.workspace, p.id);
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek(routes); it->Valid() && it->key().starts_with(routes); it->Next()) {
        sets.insert(keys::parse_route(it->value().ToStringView()).set);
      }
    }
    // Up to limit + 1 newest from each set, older than the cursor; then the newest of all.
    std::vector<std::pair<std::string, std::string>> found;  // (order, notice)
    for (const auto& set : sets) {
      const std::string prefix = keys::notices_prefix(p.workspace, set);
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      std::size_t n = 0;
      for (it->SeekForPrev(prefix + (before.empty() ? std::string("\xff") : before)); it->Valid() && it->key().starts_with(prefix) && n <= limit;
           it->Prev()) {
        const std::string order = it->key().ToString().substr(prefix.size());
        if (!before.empty() && order >= before) continue;
        found.emplace_back(order, it->value().ToString());
        ++n;
      }
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string body = "{\"items\":[";
    const std::size_t shown = std::min(limit, found.size());
    for (std::size_t i = 0; i < shown; ++i) {
      if (i > 0) body.push_back(',');
      body += found[i].second;
    }
    body += "],\"next_cursor\":";
    body += found.size() > limit ? "\"" + found[limit - 1].first + "\"" : std::string("null");
    body.push_back('}');
    return http::json_response(req, bhttp::status::ok, std::move(body));
  }

  // The forms the caller may use: all of them for internal users; for a contact, those for its
  // client's type.
  http::Response list_forms(const http::Request& req, http::RequestContext&, const Principal& p) {
    std::string prefix = keys::forms_prefix(p.workspace);
    if (p.kind == "contact") {
      auto client = get(keys::client(p.workspace, p.client_id));
      auto client_json = client ? parse_json(*client) : std::unexpected(JsonError::malformed);
      if (!client_json) return http::problem_for(req, bhttp::status::unauthorized, "sign in to continue");
      prefix = keys::forms_for_type_prefix(p.workspace, client_json->string_or("client_type", ""));
    }
    std::string body = "{\"items\":[";
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    std::size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (n++ > 0) body.push_back(',');
      body.append(it->value().data(), it->value().size());
    }
    body += "]}";
    return http::json_response(req, bhttp::status::ok, std::move(body));
  }

  // The comments the caller sees on a record it sees, oldest first: its set's copies only.
  http::Response list_comments(const http::Request& req, http::RequestContext& ctx, const Principal& p) {
    return list_attached(req, ctx, p, keys::set_comments_prefix);
  }

  // The approval requests on a record the caller sees, oldest first.
  http::Response list_approvals(const http::Request& req, http::RequestContext& ctx, const Principal& p) {
    return list_attached(req, ctx, p, keys::set_approvals_prefix);
  }

  template <typename Prefix>
  http::Response list_attached(const http::Request& req, http::RequestContext& ctx, const Principal& p, Prefix set_prefix) {
    const auto& db_key = ctx.params.at("db");
    const auto& id = ctx.params.at("id");
    projector::StoreView view(*db);
    const auto set = is_uuid(id) ? set_for(p, db_key, view) : std::nullopt;
    if (!set || !projector::served_record(view, p.workspace, set->set, set->gen, db_key, id)) {
      return http::problem_for(req, bhttp::status::not_found, "no such record");
    }
    std::string body = "{\"items\":[";
    const std::string prefix = set_prefix(p.workspace, set->set, db_key, id);
    append_page(view.iterator(), prefix, prefix, kMaxLimit * 10, body);  // bounded: 5,000 on one record is plenty to show
    body += "]}";
    return http::json_response(req, bhttp::status::ok, std::move(body));
  }

  void samples(std::string& out) {
    std::lock_guard lock(offsets_mu);
    write_metric_head(out, "apexloop_query_applied_offset", "gauge",
                      "Next offset the visible read models have applied.");
    for (const auto& [p, off] : applied) {
      write_sample(out, "apexloop_query_applied_offset", fmt::format("partition=\"{}\"", p), static_cast<double>(off));
    }
    write_metric(out, "apexloop_query_catch_up_errors_total", "counter", "", static_cast<double>(catch_up_errors));
  }
};

QueryApp::QueryApp(QueryConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
QueryApp::~QueryApp() { stop(); }

std::expected<std::uint16_t, std::string> QueryApp::start() {
  auto& d = *impl_;
  auto signer = TokenSigner::from_env();
  if (!signer) return std::unexpected(signer.error());
  d.signer = std::move(*signer);
  const std::string primary = d.cfg.data_dir + "/readmodel";
  // The projector creates the store; wait for it rather than racing it at start-up.
  for (int i = 0; i < 600 && !std::filesystem::exists(primary + "/CURRENT"); ++i) std::this_thread::sleep_for(100ms);
  d.secondary_dir = d.cfg.data_dir + "/query-secondary-" + std::to_string(::getpid());
  std::filesystem::create_directories(d.secondary_dir);
  auto db = projector::open_secondary(primary, d.secondary_dir);
  if (!db) return std::unexpected(db.error());
  d.db = std::move(*db);

  d.blobs = std::make_unique<FileBlobStore>(d.cfg.data_dir + "/blobs");
  auto router = std::make_shared<http::Router>();
  http::add_operational_routes(*router, [&d] { return d.ready.load(); }, d.http_metrics,
                               [&d](std::string& out) { d.samples(out); });
  auto bind = [&d](auto member, Function function = Function::read_records) {
    return d.guarded(function, [&d, member](const http::Request& req, http::RequestContext& ctx, const Principal& p) {
      return (d.*member)(req, ctx, p);
    });
  };
  router->add(bhttp::verb::get, "/api/v1/databases", bind(&Impl::list_databases));
  router->add(bhttp::verb::get, "/api/v1/clients", bind(&Impl::list_clients, Function::read_workspace));
  router->add(bhttp::verb::get, "/api/v1/databases/{db}/records", bind(&Impl::list_records));
  router->add(bhttp::verb::get, "/api/v1/databases/{db}/records/{id}", bind(&Impl::get_record));
  router->add(bhttp::verb::get, "/api/v1/databases/{db}/records/{id}/comments", bind(&Impl::list_comments));
  router->add(bhttp::verb::get, "/api/v1/databases/{db}/records/{id}/approvals", bind(&Impl::list_approvals));
  router->add(bhttp::verb::get, "/api/v1/notifications", bind(&Impl::list_notifications));
  router->add(bhttp::verb::get, "/api/v1/forms", bind(&Impl::list_forms));
  // Audit (issue 6, query-service/src/audit.hpp): admin and auditor only.
  router->add(bhttp::verb::get, "/api/v1/databases/{db}/records/{id}/history",
              d.guarded(Function::read_audit, [&d](const http::Request& req, http::RequestContext& ctx, const Principal& p) {
                return record_history(req, ctx, p, *d.db);
              }));
  router->add(bhttp::verb::get, "/api/v1/audit",
              d.guarded(Function::read_audit, [&d](const http::Request& req, http::RequestContext& ctx, const Principal& p) {
                return audit_stream(req, ctx, p, *d.db, d.cfg.kafka);
              }));
  router->add(bhttp::verb::get, "/api/v1/files/{file_id}",
              d.guarded(Function::read_records, [&d](const http::Request& req, http::RequestContext& ctx, const Principal& p) {
                return download_file(req, ctx, p, *d.db, *d.blobs);
              }));
  d.server = std::make_unique<http::Server>(
      d.cfg.http, [router](const http::Request& req, http::RequestContext& ctx) { return router->dispatch(req, ctx); },
      d.http_metrics);
  d.catch_up = std::thread([&d] { d.run_catch_up(); });
  return d.server->start();
}

void QueryApp::stop() {
  auto& d = *impl_;
  if (d.server) {
    d.server->stop();
    d.server->wait();
  }
  d.stopping = true;
  if (d.catch_up.joinable()) d.catch_up.join();
  d.db.reset();
  if (!d.secondary_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(d.secondary_dir, ec);
  }
}

}  // namespace apexloop::query
