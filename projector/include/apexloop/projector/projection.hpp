#pragma once
// How events change the read models. The internal view keeps every record; each principal set
// (a client and portal role, or one contact where its policy names `contact.id`) keeps only the
// records its policy lets it read, already cut down to the columns it may read. Decisions come
// from the same pure access code the command service uses.

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "apexloop/core/event.hpp"
#include "apexloop/core/ids.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop::projector {

class KvView {
 public:
  virtual ~KvView() = default;
  [[nodiscard]] virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void del(std::string_view key) = 0;
  // Deletes every key with `prefix` (not empty), however many: what a set's rows a re-projection
  // replaces whole. Keys written under it afterwards are kept.
  virtual void del_prefix(std::string_view prefix) = 0;
  // A write that may reach the store ahead of the rest, once `flush_ahead` returns at the
  // latest: for keys nothing reads until then and nothing else writes in the same batch (a set's
  // rows in a generation nobody reads yet, see keys.hpp). Written again, it writes the same
  // bytes, so a batch cut short and done over leaves nothing behind. A view that cannot write
  // ahead keeps it with the rest.
  virtual void put_ahead(std::string_view key, std::string_view value) { put(key, value); }
  virtual void flush_ahead() {}
  // Every key with `prefix`, in order, including this view's own pending writes.
  virtual void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) = 0;
  // Work split across threads: a view that reads through this one and keeps its own writes,
  // usable on another thread as long as nothing writes this view; join() then takes its writes
  // in. Forks must write disjoint keys. A view that cannot fork answers nullptr (work stays
  // on one thread).
  [[nodiscard]] virtual std::unique_ptr<KvView> fork() { return nullptr; }
  virtual void join(KvView& /*forked*/) {}
};

// An in-memory view for tests.
class MapKv final : public KvView {
 public:
  std::map<std::string, std::string, std::less<>> data;
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  void del(std::string_view key) override;
  void del_prefix(std::string_view prefix) override;
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override;
  [[nodiscard]] std::unique_ptr<KvView> fork() override;
  void join(KvView& forked) override;
};

struct StepMemo;  // (projection.cpp)

class Projection {
 public:
  Projection();
  ~Projection();
  Projection(Projection&&) noexcept;
  Projection& operator=(Projection&&) noexcept;

  // Rebuilds the in-memory access model (schema, clients, contacts, policies) from the access
  // events stored beside the read models. Call once after opening a store.
  [[nodiscard]] std::expected<void, std::string> load(KvView& kv);

  // Applies `e`, which sits at `at` in the log. An error means the event contradicts the read
  // models (e.g. an update out of sequence) and the caller counts it. Contract: every check
  // comes before the first write, so an event that errs has written nothing.
  [[nodiscard]] std::expected<void, std::string> apply(const Envelope& e, Position at, KvView& kv);

 private:
  WriteModel access_;  // the write model without records: what visibility depends on
  // What record events look up of the store and the access model and keep for the next ones
  // (projection.cpp: StepMemo).
  std::unique_ptr<StepMemo> memo_;
  StepMemo* memo_for(const std::string& ws, const KvView& kv);
};

// The bytes set `set` is sent for record `id` of `db`, if the set can see it (how the query
// service reads a record by id: its location, then the set's list entry in generation `gen`,
// which the contact's route names).
[[nodiscard]] std::optional<std::string> served_record(KvView& kv, std::string_view ws, std::string_view set,
                                                       std::string_view gen, std::string_view db, std::string_view id);
// The generation set `set`'s rows of `db` are in (keys::list_gen; "" for none).
[[nodiscard]] std::string rows_gen(KvView& kv, std::string_view ws, std::string_view set, std::string_view db);

// The bytes the API sends for a record: `{id, version, created_at, updated_at, fields}` in that
// order, the system fields taken from `record` and the fields given.
[[nodiscard]] std::string served_json(const Json& record, const Json::Object& fields);

// Whether the projector keeps `view`'s rows for a set (`per_contact`: the set is one contact's).
// A view whose filter reads the clock, or a contact's id in a set several contacts share, has an
// answer the log alone does not fix; the query service filters and sorts those when asked.
[[nodiscard]] bool view_indexed(const ViewDef& view, bool per_contact);

// The key part that orders a served record within a view: each sort key's value encoded so that
// byte order is the view's order (numbers numerically, text byte-wise, absent last; a
// descending key inverted), then nothing more: the caller appends the creation order.
[[nodiscard]] std::string view_sort_key(const ViewDef& view, const Json& served);

// The served bytes of `served` cut to the view's columns and the owner column.
[[nodiscard]] std::string view_row(const ViewDef& view, const DatabaseDef& db, Json served);

// The principal sets of client `client` for (`role`, `db`) under `ws`: none without a policy,
// one shared set, or one per active contact when the read filter names contact.id.
struct PrincipalSet {
  std::string id;
  std::string role;
  PrincipalVars vars;
  friend auto operator<=>(const PrincipalSet& a, const PrincipalSet& b) { return a.id <=> b.id; }
  friend bool operator==(const PrincipalSet& a, const PrincipalSet& b) { return a.id == b.id; }
};
[[nodiscard]] std::vector<PrincipalSet> principal_sets(const WorkspaceState& ws, std::string_view client,
                                                       std::string_view role, std::string_view db, TimestampMs now);

}  // namespace apexloop::projector
