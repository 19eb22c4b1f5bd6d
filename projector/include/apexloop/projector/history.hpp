#pragma once
// Record history (GET /api/v1/databases/{db}/records/{id}/history): the projector keeps, per
// record, one entry per event of that record, oldest first, with who, when, the event type and
// each changed field's value before and after.
//
// Why a read model rather than reading the log per request: the log is partitioned by workspace,
// so one record's history would cost a scan of the whole workspace's partition on every request;
// kept here it is one prefix scan of exactly that record's entries, paged by version, and it is
// rebuilt by a replay like every other read model (so it is covered by the replay hash).
//
// Two steps, because a deletion's "before" must be read before the models drop the record, and
// an event the models refuse must write nothing (Projection::apply's contract): prepare reads,
// commit writes, and commit runs only once the event was applied.

#include <optional>
#include <string>

#include "apexloop/core/event.hpp"
#include "apexloop/core/ids.hpp"
#include "apexloop/core/workspace.hpp"
#include "apexloop/projector/projection.hpp"

namespace apexloop::projector {

struct PendingHistory {
  std::string key;
  std::string entry;  // JSON
};

// For record.created/updated/deleted of a known database: the entry to write, read from `kv`
// before the event changes it. Nothing for any other event.
[[nodiscard]] std::optional<PendingHistory> prepare_history(const Envelope& e, Position at, const WorkspaceState& ws,
                                                            KvView& kv);

void commit_history(const std::optional<PendingHistory>& h, KvView& kv);

}  // namespace apexloop::projector
