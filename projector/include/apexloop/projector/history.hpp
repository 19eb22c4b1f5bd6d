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
//
// A record's creation is the exception: its entry is not written when the record is created
// but kept in the record (StoredRecord::creation) and written by the record's first change,
// before that change's own. Until then the record's fields are exactly the fields the creation
// gave, so the entry read from the record is the very one that would have been written; a
// record that is only ever created (most of a replay) costs one key and ~400 bytes fewer.
// Readers take a history through history_entry() and the record's carried_history().
// A creation with a null field (which records do not keep) writes its entry at once.

#include <optional>
#include <string>
#include <string_view>

#include "apexloop/core/event.hpp"
#include "apexloop/core/ids.hpp"
#include "apexloop/core/workspace.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/projection.hpp"
#include "apexloop/projector/stored_record.hpp"

namespace apexloop::projector {

struct PendingHistory {
  std::string key;
  std::string entry;  // JSON
};

// For record.created/updated/deleted of a known database: the entry to write. `before` is the
// record as stored before the event (null for a creation, or a record that does not exist): the
// owner of an update that leaves it, and every field a deletion removes, are taken from it.
// Nothing for any other event.
[[nodiscard]] std::optional<PendingHistory> prepare_history(const Envelope& e, Position at, const WorkspaceState& ws,
                                                            const StoredRecord* before);

void commit_history(const std::optional<PendingHistory>& h, KvView& kv);

// Whether a record.created event's entry is kept in the record it creates (its fields are an
// object without nulls) rather than written at once.
[[nodiscard]] bool carries_creation(const Envelope& e);
// What the record created by `e` keeps of it, into `c` (its strings' buffers reused).
void assign_creation(Creation& c, const Envelope& e, Position at, std::string_view owner_key);
// The creation entry a record still carries: its key and the entry, exactly as prepare_history
// would have written it. Nothing once the record has changed.
[[nodiscard]] std::optional<PendingHistory> carried_history(std::string_view ws, std::string_view db,
                                                            const StoredRecord& r);

// The same for record `id`, read through `get(key) -> std::optional<std::string>` (the store
// the caller reads): nothing when the record does not exist or no longer carries it.
template <typename Get>
std::optional<PendingHistory> carried_history(Get&& get, std::string_view ws, std::string_view db, std::string_view id) {
  const std::optional<std::string> where = get(keys::record_location(ws, db, id));
  const auto row = where ? keys::owner_row_at(ws, db, *where) : std::nullopt;
  if (!row) return std::nullopt;
  const std::optional<std::string> bytes = get(*row);
  auto rec = bytes ? StoredRecord::decode(*bytes) : std::nullopt;
  return rec ? carried_history(ws, db, *rec) : std::nullopt;
}

// The history entry of record `id` at version `seq`, carried or written.
template <typename Get>
std::optional<std::string> history_entry(Get&& get, std::string_view ws, std::string_view db, std::string_view id,
                                         std::uint64_t seq) {
  // The record first: a change landing between the two reads writes the entry out before the
  // record drops it, so one of the two reads holds it.
  if (auto carried = carried_history(get, ws, db, id); carried && carried->key == keys::history(ws, db, id, seq)) {
    return std::move(carried->entry);
  }
  return get(keys::history(ws, db, id, seq));
}

}  // namespace apexloop::projector
