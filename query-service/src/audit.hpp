#pragma once
// Audit reads (internal admin and auditor; core/authz Function::read_audit):
//   GET /api/v1/databases/{db}/records/{id}/history  from the projector's history read model
//   GET /api/v1/audit                                 an NDJSON stream read from the log itself
//
// Why two sources: a record's history is a small, hot, paged read, kept by the projector per
// record (see projector/history.hpp). The audit stream is the workspace's whole log, which
// Kafka already keeps in order and forever: it is read from there, from the workspace's own
// partition only, and never copied a second time into RocksDB. It ends at the position the
// read models have applied, so it agrees with every other read (and honours Apexloop-After).

#include <rocksdb/db.h>

#include "apexloop/events/kafka.hpp"
#include "apexloop/runtime/auth.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::query {

[[nodiscard]] http::Response record_history(const http::Request& req, http::RequestContext& ctx, const Principal& p,
                                            rocksdb::DB& db);

[[nodiscard]] http::Response audit_stream(const http::Request& req, http::RequestContext& ctx, const Principal& p,
                                          rocksdb::DB& db, const events::KafkaConfig& kafka);

// The audit stream's filters, validated (bad input is a 400 before anything is read).
struct AuditFilter {
  std::optional<TimestampMs> from, to;  // inclusive bounds on the event's `at`
  std::string actor;                    // an actor id
  std::string client;                   // a client id: events about it or by its contacts
  std::string type;                     // an event type
};
[[nodiscard]] std::expected<AuditFilter, std::string> parse_audit_filter(
    const std::map<std::string, std::string, std::less<>>& params);

}  // namespace apexloop::query
