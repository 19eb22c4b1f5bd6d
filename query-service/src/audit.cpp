#include "audit.hpp"

#include "paging.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <regex>
#include <unordered_map>

#include "apexloop/core/schema.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/projector/history.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/store.hpp"

namespace apexloop::query {

using namespace std::chrono_literals;
namespace bhttp = http::bhttp;

namespace {

constexpr std::size_t kEventsPerPiece = 500;  // one chunk of the stream at most: bounded memory
// Broker timestamps are taken when the producer sends, just after the envelope's `at`; seeking
// this much earlier than `from` makes sure no event with `at >= from` is skipped, whatever the
// clock skew between the writer and the broker.
constexpr std::int64_t kSeekSlackMs = 5 * 60 * 1000;
constexpr auto kStallLimit = 30s;  // a stream that makes no progress for this long is cut

std::optional<std::string> get(rocksdb::DB& db, const std::string& key) {
  std::string v;
  if (db.Get(rocksdb::ReadOptions(), key, &v).ok()) return v;
  return std::nullopt;
}

}  // namespace

http::Response record_history(const http::Request& req, http::RequestContext& ctx, const Principal& p, rocksdb::DB& db) {
  const auto& db_key = ctx.params.at("db");
  const auto& id = ctx.params.at("id");
  const auto limit = page_limit(req, ctx);
  if (!limit) return std::move(limit.error());
  // Only well-formed keys and ids reach the store, so no input can reach another key prefix; the
  // prefix starts with the caller's own workspace, so no other workspace's record is reachable.
  if (!is_valid_key(db_key) || !is_uuid(id)) return http::problem_for(req, bhttp::status::not_found, "no such record");
  const std::string prefix = keys::history_prefix(p.workspace, db_key, id);
  const auto cursor = page_cursor(req, ctx);
  if (!cursor) return std::move(cursor.error());
  // The entry a record still carries (projector/history.hpp) is read before the rows: a change
  // landing in between writes it out as a row first.
  std::optional<ExtraRow> carried;
  if (auto c = projector::carried_history([&](const std::string& key) { return get(db, key); }, p.workspace, db_key, id)) {
    carried = ExtraRow{std::move(c->key), std::move(c->entry)};
  }
  std::string body = "{\"items\":[";
  const auto page = append_page(db, prefix, page_start(prefix, *cursor), *limit, body, std::move(carried));
  // A record that never existed has no history; a deleted one keeps it. A cursor past the end
  // of an existing history is an empty page, not a 404.
  if (page.count == 0 && cursor->empty()) return http::problem_for(req, bhttp::status::not_found, "no such record");
  close_page(body, page);
  return http::json_response(req, bhttp::status::ok, std::move(body));
}

std::expected<AuditFilter, std::string> parse_audit_filter(const std::map<std::string, std::string, std::less<>>& params) {
  static const std::regex kType("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$");
  AuditFilter f;
  for (const auto& [name, value] : params) {
    if (!name.starts_with("?")) continue;  // path parameters
    const std::string_view q = std::string_view(name).substr(1);
    if (q == "from" || q == "to") {
      auto t = parse_timestamp(value);
      if (!t) return std::unexpected(std::string(q) + " must be an RFC 3339 date-time");
      (q == "from" ? f.from : f.to) = *t;
    } else if (q == "actor" || q == "client") {
      if (!is_uuid(value)) return std::unexpected(std::string(q) + " must be an id");
      (q == "actor" ? f.actor : f.client) = value;
    } else if (q == "type") {
      if (value.size() > 100 || !std::regex_match(value, kType)) return std::unexpected("type must be an event type such as record.updated");
      f.type = value;
    } else {
      // Deny by default: a misspelt filter must not silently widen the answer.
      return std::unexpected("unknown parameter " + std::string(q) + "; the filters are from, to, actor, client, type");
    }
  }
  if (f.from && f.to && f.to->ms < f.from->ms) return std::unexpected("to is before from");
  return f;
}

namespace {

// One audit stream: the workspace's partition, from the first offset that can hold `from`, up
// to the position the read models have applied when the request came in.
class AuditReader {
 public:
  AuditReader(std::unique_ptr<events::Consumer> consumer, rocksdb::DB& db, std::string workspace, AuditFilter filter,
              std::int32_t partition, std::int64_t end)
      : consumer_(std::move(consumer)),
        db_(db),
        ws_(std::move(workspace)),
        filter_(std::move(filter)),
        partition_(partition),
        end_(end) {}

  void start_at(std::int64_t offset) { next_ = offset; }

  // The next piece of NDJSON; false once the end is reached.
  bool next(std::string& out) {
    if (next_ >= end_) return false;
    auto batch = consumer_->poll(kEventsPerPiece, 200ms);
    if (batch.empty()) {
      if (std::chrono::steady_clock::now() - last_progress_ > kStallLimit) {
        throw std::runtime_error("the log did not answer for 30 s");
      }
      return true;
    }
    last_progress_ = std::chrono::steady_clock::now();
    for (const auto& m : batch) {
      if (m.position.partition != partition_ || m.position.offset < next_) continue;
      next_ = m.position.offset + 1;
      if (m.position.offset >= end_) break;
      // The key says whose event it is; the envelope must agree. Another workspace's event
      // that shares the partition never leaves.
      if (m.key != ws_) continue;
      auto e = events::decode(m.value);  // upcast: the stream shows current versions only
      if (!e || e->workspace != ws_) continue;
      if (!matches(*e)) continue;
      out += events::encode(*e);
      out.push_back('\n');
    }
    return next_ < end_;
  }

 private:
  bool matches(const Envelope& e) {
    if (filter_.from && e.at.ms < filter_.from->ms) return false;
    if (filter_.to && e.at.ms > filter_.to->ms) return false;
    if (!filter_.actor.empty() && e.actor.id != filter_.actor) return false;
    if (!filter_.type.empty() && e.type != filter_.type) return false;
    return filter_.client.empty() || about_client(e);
  }

  // An event is about a client when it names the client (its id, a `client:<id>` policy scope,
  // a session's principal), is done by one of its contacts, or touches a record the client owned
  // at that event (the owner the history read model recorded).
  bool about_client(const Envelope& e) {
    const std::string& c = filter_.client;
    const Json& d = e.data;
    if (d.string_or("client_id", "") == c || d.string_or("scope", "") == "client:" + c) return true;
    if (const Json* principal = d.find("principal"); principal != nullptr && principal->string_or("client_id", "") == c) {
      return true;
    }
    if (e.actor.kind == "contact" && client_of_contact(e.actor.id) == c) return true;
    if (e.type.starts_with("record.")) {
      auto h = projector::history_entry([&](const std::string& key) { return get(db_, key); }, ws_,
                                        d.string_or("database", ""), d.string_or("record_id", ""), e.seq);
      auto j = h ? parse_json(*h) : std::unexpected(JsonError::malformed);
      return j && j->string_or("owner", "") == c;
    }
    return false;
  }

  std::string client_of_contact(const std::string& id) {
    auto [it, fresh] = contacts_.try_emplace(id);
    if (fresh) {
      auto v = get(db_, keys::contact(ws_, id));
      auto j = v ? parse_json(*v) : std::unexpected(JsonError::malformed);
      if (j) it->second = j->string_or("client_id", "");
    }
    return it->second;
  }

  std::unique_ptr<events::Consumer> consumer_;
  rocksdb::DB& db_;
  std::string ws_;
  AuditFilter filter_;
  std::int32_t partition_;
  std::int64_t end_;
  std::int64_t next_ = 0;
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
  std::unordered_map<std::string, std::string> contacts_;  // contact id -> client id, per stream
};

}  // namespace

http::Response audit_stream(const http::Request& req, http::RequestContext& ctx, const Principal& p, rocksdb::DB& db,
                            const events::KafkaConfig& kafka) {
  auto filter = parse_audit_filter(ctx.params);
  if (!filter) return http::problem_for(req, bhttp::status::bad_request, filter.error());
  auto unavailable = [&](const std::string& why) {
    spdlog::error("event=audit_unavailable error=\"{}\"", why);
    auto res = http::problem_for(req, bhttp::status::service_unavailable, "the event log cannot be read now; retry");
    res.set(bhttp::field::retry_after, "1");
    return res;
  };
  auto consumer = events::Consumer::create(kafka, "apexloop-audit");
  if (!consumer) return unavailable(consumer.error());
  auto partition = (*consumer)->partition_of_key(p.workspace, 5s);
  if (!partition) return unavailable(partition.error());
  const auto applied = projector::read_offsets(db);
  const auto end_it = applied.find(*partition);
  const std::int64_t end = end_it == applied.end() ? 0 : end_it->second;
  std::int64_t start = 0;
  if (filter->from && end > 0) {
    auto at = (*consumer)->offset_for_time(*partition, std::max<std::int64_t>(0, filter->from->ms - kSeekSlackMs), 5s);
    if (!at) return unavailable(at.error());
    start = std::min(*at, end);
  }
  if (start < end) {
    if (auto a = (*consumer)->assign_one(*partition, start); !a) return unavailable(a.error());
  }
  auto reader = std::make_shared<AuditReader>(std::move(*consumer), db, p.workspace, *filter, *partition, end);
  reader->start_at(start);
  ctx.stream = [reader](std::string& piece) { return reader->next(piece); };
  auto res = http::json_response(req, bhttp::status::ok, "");
  res.set(bhttp::field::content_type, "application/x-ndjson");
  res.set(bhttp::field::cache_control, "no-store");
  return res;
}

}  // namespace apexloop::query
