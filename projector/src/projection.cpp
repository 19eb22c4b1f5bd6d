#include "apexloop/projector/projection.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <thread>

#include "apexloop/events/codec.hpp"
#include "apexloop/projector/files.hpp"
#include "apexloop/projector/history.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/stored_record.hpp"

namespace apexloop {

namespace projector {

std::optional<std::string> MapKv::get(std::string_view key) {
  auto it = data.find(key);
  if (it == data.end()) return std::nullopt;
  return it->second;
}
void MapKv::put(std::string_view key, std::string_view value) { data.insert_or_assign(std::string(key), std::string(value)); }
void MapKv::del(std::string_view key) {
  auto it = data.find(key);
  if (it != data.end()) data.erase(it);
}
void MapKv::del_prefix(std::string_view prefix) {
  auto first = data.lower_bound(prefix), last = first;
  while (last != data.end() && last->first.starts_with(prefix)) ++last;
  data.erase(first, last);
}
void MapKv::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) {
  // Collected first so that `fn` may write to this view while we walk it.
  std::vector<std::pair<std::string, std::string>> hits;
  for (auto it = data.lower_bound(prefix); it != data.end() && it->first.starts_with(prefix); ++it) hits.emplace_back(*it);
  for (const auto& [k, v] : hits) fn(k, v);
}

namespace {

// MapKv's fork: reads through the map, which nobody writes until the fork has joined.
class MapForkKv final : public KvView {
 public:
  explicit MapForkKv(const MapKv& base) : base_(base) {}
  std::optional<std::string> get(std::string_view key) override {
    if (auto it = mine.find(key); it != mine.end()) return it->second;
    if (in_dropped(key)) return std::nullopt;
    if (auto it = base_.data.find(key); it != base_.data.end()) return it->second;
    return std::nullopt;
  }
  void put(std::string_view key, std::string_view value) override { mine.insert_or_assign(std::string(key), std::string(value)); }
  void del(std::string_view key) override { mine.insert_or_assign(std::string(key), std::nullopt); }
  void del_prefix(std::string_view prefix) override {
    std::erase_if(mine, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    dropped.emplace_back(prefix);
  }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override {
    std::map<std::string, std::optional<std::string>, std::less<>> hits;
    for (auto it = base_.data.lower_bound(prefix); it != base_.data.end() && it->first.starts_with(prefix); ++it) {
      if (!in_dropped(it->first)) hits.emplace(it->first, it->second);
    }
    for (auto it = mine.lower_bound(prefix); it != mine.end() && it->first.starts_with(prefix); ++it) {
      hits.insert_or_assign(it->first, it->second);
    }
    for (const auto& [k, v] : hits) {
      if (v) fn(k, *v);
    }
  }
  std::map<std::string, std::optional<std::string>, std::less<>> mine;  // this fork's writes
  std::vector<std::string> dropped;                                     // and prefixes it deleted

 private:
  bool in_dropped(std::string_view key) const {
    return std::any_of(dropped.begin(), dropped.end(), [&](const std::string& p) { return key.starts_with(p); });
  }
  const MapKv& base_;
};

}  // namespace

std::unique_ptr<KvView> MapKv::fork() { return std::make_unique<MapForkKv>(*this); }
void MapKv::join(KvView& forked) {
  auto& f = dynamic_cast<MapForkKv&>(forked);
  for (const auto& p : f.dropped) del_prefix(p);
  for (const auto& [k, v] : f.mine) v ? put(k, *v) : del(k);
}

std::string served_json(const Json& canonical, const Json::Object& fields) {
  std::string out;
  out += "{\"id\":";
  write_json_string(out, canonical.string_or("id", ""));
  out += ",\"version\":";
  write_json(out, *canonical.find("version"));
  out += ",\"created_at\":";
  write_json_string(out, canonical.string_or("created_at", ""));
  out += ",\"updated_at\":";
  write_json_string(out, canonical.string_or("updated_at", ""));
  out += ",\"fields\":";
  write_json(out, Json(fields));
  out.push_back('}');
  return out;
}

std::optional<std::string> served_record(KvView& kv, std::string_view ws, std::string_view set, std::string_view gen,
                                         std::string_view db, std::string_view id) {
  auto location = kv.get(keys::record_location(ws, db, id));
  const auto order = location ? keys::order_of_location(*location) : std::string_view();
  if (order.empty()) return std::nullopt;
  return kv.get(keys::list_prefix(ws, set, db, gen) + std::string(order));
}

std::string rows_gen(KvView& kv, std::string_view ws, std::string_view set, std::string_view db) {
  return kv.get(keys::list_gen(ws, set, db)).value_or("");
}

bool view_indexed(const ViewDef& view, bool per_contact) {
  if (!view.filter) return true;
  return !uses_var(*view.filter, "now") && (per_contact || !uses_var(*view.filter, "contact.id"));
}

namespace {

// One sort value, ordered like the query-time comparison it replaces: absent after everything,
// numbers by value, anything else by its text. Text is escaped (0 -> 0 0xff) and terminated
// (0 1) so that a shorter value sorts before its extensions and the next key cannot bleed in.
void append_sort_value(std::string& out, const Json* v, bool descending) {
  const std::size_t start = out.size();
  if (v == nullptr || v->is_null()) {
    out.push_back('\x02');
  } else if (v->is_number()) {
    out.push_back('\x01');
    const double d = v->as_number();
    std::uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    bits = (bits >> 63) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  } else {
    out.push_back('\x01');
    const std::string text = v->is_string() ? v->as_string() : to_json(*v);
    for (const char c : text) {
      out.push_back(c);
      if (c == '\0') out.push_back('\xff');
    }
    out.push_back('\0');
    out.push_back('\x01');
  }
  if (descending) {
    for (std::size_t i = start; i < out.size(); ++i) out[i] = static_cast<char>(~out[i]);
  }
}

// A sort field's value in a served record: a system field, else a field.
const Json* sort_value(const Json& served, const std::string& field) {
  if (const Json* v = served.find(field)) return v;
  const Json* fields = served.find("fields");
  return fields == nullptr ? nullptr : fields->find(field);
}

}  // namespace

std::string view_sort_key(const ViewDef& view, const Json& served) {
  std::string out;
  for (const auto& key : view.sort) append_sort_value(out, sort_value(served, key.field), key.descending);
  return out;
}

std::string view_row(const ViewDef& view, const DatabaseDef& db, Json served) {
  const ColumnDef* owner = owner_column(db);
  auto& fields = served.as_object()["fields"].as_object();
  erase_if(fields, [&](const auto& kv) {
    return (owner == nullptr || kv.first != owner->key) &&
           std::find(view.columns.begin(), view.columns.end(), kv.first) == view.columns.end();
  });
  return served_json(served, fields);
}

std::vector<PrincipalSet> principal_sets(const WorkspaceState& ws, std::string_view client, std::string_view role,
                                         std::string_view db, TimestampMs now) {
  std::vector<PrincipalSet> out;
  const ClientState* c = ws.active_client(client);
  const PolicyEntry* p = c == nullptr ? nullptr : ws.effective_policy(*c, role, db);
  if (p == nullptr) return out;
  const std::string shared = std::string(client) + ":" + std::string(role);
  if (p->policy.read_filter && uses_var(*p->policy.read_filter, "contact.id")) {
    for (const auto& [id, contact] : ws.contacts) {
      if (contact.client_id == client && contact.role == role && ws.active_contact(id) != nullptr) {
        out.push_back({shared + ":" + id, std::string(role), ws.vars_of(contact, now)});
      }
    }
  } else {
    out.push_back({shared, std::string(role), PrincipalVars{"", std::string(client), c->client_type, now}});
  }
  return out;
}

namespace {

bool is_access_event(std::string_view t) {
  return t == event_type::user_added || t == event_type::database_defined || t == event_type::column_added ||
         t == event_type::client_type_defined || t == event_type::portal_role_defined || t == event_type::client_created ||
         t == event_type::client_updated || t == event_type::client_archived || t == event_type::contact_invited ||
         t == event_type::contact_joined || t == event_type::contact_deactivated || t == event_type::policy_set ||
         t == event_type::policy_removed || t == event_type::view_defined || t == event_type::user_invited ||
         t == event_type::user_joined || t == event_type::user_deactivated;
}

// Record `id`, if it exists. Where a record lives: rc/ holds "<owner>/<order>", pointing at ro/
// (keys::owner_row), which holds the record itself, by owner and in creation order, so
// re-projecting one client's records is one scan.
std::optional<StoredRecord> load_record(KvView& kv, std::string_view ws, std::string_view db, std::string_view id) {
  auto where = kv.get(keys::record_location(ws, db, id));
  if (!where) return std::nullopt;
  const auto row = keys::owner_row_at(ws, db, *where);
  if (!row) throw std::runtime_error("corrupt record pointer for " + std::string(id));
  auto bytes = kv.get(*row);
  auto rec = bytes ? StoredRecord::decode(*bytes) : std::nullopt;
  if (!rec) throw std::runtime_error("corrupt or missing record " + std::string(id));
  return rec;
}

std::string owner_of(const DatabaseDef& db, const StoredRecord& rec) {
  const ColumnDef* owner = owner_column(db);
  return owner == nullptr ? "" : rec.string_field(owner->key);
}

// The same read off the record's text when it needs no unescaping (ids we wrote), else
// decoded into `scratch`.
std::string_view owner_in(const DatabaseDef& db, const StoredRecord& rec, std::string& scratch) {
  const ColumnDef* owner = owner_column(db);
  if (owner == nullptr) return {};
  if (auto plain = rec.plain_string_field(owner->key)) return *plain;
  scratch = rec.string_field(owner->key);
  return scratch;
}

std::set<std::pair<std::string, std::string>> relation_targets(const DatabaseDef& db, const StoredRecord& rec) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& col : db.columns) {
    if (col.type != ColumnType::relation) continue;
    const std::string* text = rec.field(col.key);
    auto v = text == nullptr ? std::nullopt : std::optional(parse_json(*text).value_or(Json()));
    if (!v || !v->is_array()) continue;
    for (const auto& id : v->as_array()) {
      if (id.is_string()) out.emplace(std::string(col.options.string_or("database", "")), id.as_string());
    }
  }
  return out;
}

// A list of keys as one value: each key length-prefixed (keys here may hold any byte).
std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) {
    const auto n = static_cast<std::uint32_t>(k.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += k;
  }
  return out;
}

std::vector<std::string> split_keys(std::string_view joined) {
  std::vector<std::string> out;
  while (joined.size() >= 4) {
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(joined[i])) << (8 * i);
    joined.remove_prefix(4);
    if (n > joined.size()) throw std::runtime_error("corrupt view refs");
    out.emplace_back(joined.substr(0, n));
    joined.remove_prefix(n);
  }
  return out;
}

// The id of a record from the bytes served for it, which begin `{"id":"`.
std::string served_id(std::string_view served) {
  constexpr std::string_view head = "{\"id\":\"";
  const auto end = served.find('"', head.size());
  if (served.starts_with(head) && end != std::string_view::npos && served.substr(0, end).find('\\') == std::string_view::npos) {
    return std::string(served.substr(head.size(), end - head.size()));
  }
  auto j = parse_json(served);  // an id with escapes: read it properly
  return j ? std::string(j->string_or("id", "")) : "";
}

// What one principal set may read of one database under one access model, prepared once and
// applied to many records.
struct SetRule {
  const Policy* policy = nullptr;   // none: the set reads nothing of this database
  std::vector<std::string> inputs;  // the fields the row rule reads: the owner and the filter's
  bool clocked = false;             // the filter reads `now`, so past answers live in the store only
  // The columns the set is sent (readable_column), sorted by key: asked for every field of
  // every record placed.
  std::vector<std::pair<std::string_view, const ColumnDef*>> shown;

  // The column `key` when the set is sent it, else nullptr.
  const ColumnDef* sent(std::string_view key) const {
    auto it = std::lower_bound(shown.begin(), shown.end(), key,
                               [](const auto& c, std::string_view k) { return c.first < k; });
    return it != shown.end() && it->first == key ? it->second : nullptr;
  }
};

SetRule rule_of(const WorkspaceState& model, const PrincipalSet& set, const DatabaseDef& db) {
  SetRule rule;
  const ClientState* client = model.active_client(set.vars.client_id);
  const PolicyEntry* entry = client == nullptr ? nullptr : model.effective_policy(*client, set.role, db.key);
  if (entry == nullptr) return rule;
  rule.policy = &entry->policy;
  for (const auto& c : db.columns) {
    if (readable_column(entry->policy, db, c.key)) rule.shown.emplace_back(c.key, &c);
  }
  std::sort(rule.shown.begin(), rule.shown.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (const ColumnDef* owner = owner_column(db)) rule.inputs.push_back(owner->key);
  if (entry->policy.read_filter) {
    for (auto& f : filter_fields(*entry->policy.read_filter)) {
      if (std::find(rule.inputs.begin(), rule.inputs.end(), f) == rule.inputs.end()) rule.inputs.push_back(std::move(f));
    }
    rule.clocked = uses_var(*entry->policy.read_filter, "now");
  }
  return rule;
}

// The version and updated_at a set under `rule` is shown for a record: as of the last change to
// a column it reads (stamps.hpp); `scratch` may hold the time's text.
Shown shown_to_set(const SetRule& rule, const StoredRecord& rec, std::string& scratch) {
  return shown_to(rec, [&](std::string_view key) { return rule.sent(key) != nullptr; }, scratch);
}

// The row rule on a stored record, parsing only the fields it reads. A filter on a system field
// sees what the set is shown, as the command service's decisions do.
bool visible(const SetRule& rule, const DatabaseDef& db, const StoredRecord& rec, const PrincipalVars& vars) {
  if (rule.policy == nullptr) return false;
  // Without a filter the rule is ownership alone, read off the owner's JSON text when it is a
  // plain string (ours always are): no parse, no allocation, the answer may_read would give.
  if (!rule.policy->read_filter && !vars.client_id.empty()) {
    const ColumnDef* owner = owner_column(db);
    if (owner == nullptr || rec.field(owner->key) == nullptr) return false;
    if (auto text = rec.plain_string_field(owner->key)) return *text == vars.client_id;
  }
  const Json::Object fields = rec.parse_fields(rule.inputs);
  std::string scratch;
  const Shown shown = shown_to_set(rule, rec, scratch);
  return may_read(*rule.policy, db, RecordView{fields, rec.id, shown.version, rec.created_at, shown.updated_at}, vars);
}

// Objects attached to a record that follow it into the sets that see it.
struct Attached {
  std::string (*all_prefix)(std::string_view ws, std::string_view db, std::string_view record);
  std::string (*set_prefix)(std::string_view ws, std::string_view set, std::string_view db, std::string_view record);
  std::string (*marker)(std::string_view ws, std::string_view db);  // present once one is shown to contacts
  bool (*shown_to_contacts)(std::string_view json);
};

bool client_visible(std::string_view comment) {
  auto j = parse_json(comment);
  return j && j->string_or("visibility", "") == "client";
}

const Attached kCommentsKind{keys::comments_prefix, keys::set_comments_prefix, keys::client_comments_marker, client_visible};
const Attached kApprovalsKind{keys::approvals_prefix, keys::set_approvals_prefix, keys::approvals_marker,
                              [](std::string_view) { return true; }};

bool same_columns(const Policy& a, const Policy& b) {
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  return sorted(a.read_columns) == sorted(b.read_columns);
}

// A set's rows as held before a re-projection, each with its order key, back to back in one
// buffer, in key order.
class HeldRows {
 public:
  void add(std::string_view order, std::string_view row) {
    entries_.push_back({bytes_.size(), order.size(), row.size()});
    bytes_ += order;
    bytes_ += row;
  }
  std::size_t size() const { return entries_.size(); }
  std::string_view order(std::size_t i) const {
    return std::string_view(bytes_).substr(entries_[i].at, entries_[i].order);
  }
  std::string_view row(std::size_t i) const {
    return std::string_view(bytes_).substr(entries_[i].at + entries_[i].order, entries_[i].row);
  }

 private:
  struct Entry {
    std::size_t at, order, row;
  };
  std::string bytes_;
  std::vector<Entry> entries_;
};

// What one event does to one workspace's read models.
//
}  // namespace

// What a Step looks up once and may keep for later events of the same workspace: the generation
// of each set's rows, whether a kind of attached object is shown to contacts in a database, and
// each set's rule. It stays true while the access model is unchanged and every write of those
// keys goes through a Step that keeps it (set_gen, write_attached): Projection::apply drops it
// on every access event (their Steps, and the forks of a re-projection, keep their own), for
// another workspace and for another view of the store. A store that fails a batch is done with
// (its projector stops), so no memo outlives a write that did not land.
struct StepMemo {
  struct Attached {
    const void* kind;
    std::string db;
    bool present;  // any of that kind shown to contacts in that database
  };
  std::string ws;
  const KvView* kv = nullptr;
  std::vector<Attached> attached;
  std::map<std::string, std::string, std::less<>> gens;  // "<set>/<db>": gen_of()
  std::map<std::string, SetRule, std::less<>> rules;      // "<set>/<db>": rule_for()
  std::map<std::string, std::vector<PrincipalSet>, std::less<>> sets;  // "<client>/<role>/<db>": sets_for()
  // Buffers a Step writes into, kept from one Step to the next (a replay makes one per event);
  // clear() leaves them. Only one Step uses a memo at a time.
  struct Buffers {
    std::string notice_order;          // the event's place in the log, for events that notify
    std::string place_key, place_row;  // place()'s key and row (it does not nest)
    std::string now_text;              // now as text, once a notice needs it
  } buffers;
  void clear() {
    attached.clear();
    gens.clear();
    rules.clear();
    sets.clear();
  }
};

namespace {

// A set holds exactly the records its current policy lets it read, so whether a record is in a
// set is computed, not looked up: the rule's answer on the record as stored. (Filters that read
// `now` are the exception; their earlier answers are only in the store.)
class Step {
 public:
  // `kept`: the memo to use and keep (StepMemo), else one of its own.
  Step(const WorkspaceState& ws, KvView& kv, TimestampMs now, StepMemo* kept = nullptr)
      : ws_(ws), kv_(kv), now_(now), memo_(kept != nullptr ? *kept : own_memo_), buf_(memo_.buffers) {}

  // The internal view of a record (every field), the record itself, and the owner and relation
  // indexes.
  // (`before` or `after` null: the record is being created or deleted.)
  void write_internal(const DatabaseDef& db, const StoredRecord* before, const StoredRecord* after) {
    const std::string& w = ws_.id;
    const StoredRecord& any = after ? *after : *before;
    std::string old_scratch, new_scratch;
    const std::string_view old_owner = before ? owner_in(db, *before, old_scratch) : "";
    const std::string_view new_owner = after ? owner_in(db, *after, new_scratch) : "";
    // Buffers kept from one record to the next (a put copies what it is given).
    thread_local std::string key, value, internal_row;
    if (before && (!after || old_owner != new_owner)) {
      keys::owner_row(key, w, db.key, old_owner, any.order);
      kv_.del(key);
    }
    keys::list_row(internal_row, w, keys::kInternalSet, db.key, "", any.order);
    if (after) {
      value.clear();
      append_served(value, *after, [](const auto&, const auto&, auto&) { return true; });
      kv_.put(internal_row, value);
      if (!before || old_owner != new_owner) {
        keys::record_location(key, w, db.key, any.id);
        keys::assign(value, {new_owner, "/", any.order});
        kv_.put(key, value);
      }
      keys::owner_row(key, w, db.key, new_owner, any.order);
      after->encode_into(value);
      kv_.put(key, value);
    } else {
      keys::record_location(key, w, db.key, any.id);
      kv_.del(key);
      kv_.del(internal_row);
    }
    const auto old_targets = before ? relation_targets(db, *before) : std::set<std::pair<std::string, std::string>>{};
    const auto new_targets = after ? relation_targets(db, *after) : std::set<std::pair<std::string, std::string>>{};
    for (const auto& [tdb, tid] : old_targets) {
      if (!new_targets.contains({tdb, tid})) kv_.del(keys::referrers_prefix(w, tdb, tid) + db.key + "/" + any.id);
    }
    for (const auto& [tdb, tid] : new_targets) {
      if (!old_targets.contains({tdb, tid})) kv_.put(keys::referrers_prefix(w, tdb, tid) + db.key + "/" + any.id, "");
    }
  }

  // Re-projects one record into every set of its owners (before and after), then the records
  // of the same client that point at it, when its visibility changed somewhere.
  void reproject_record(const DatabaseDef& db, const StoredRecord* before, const StoredRecord* after) {
    if (ws_.portal_roles.empty()) return;  // no sets but the internal one
    std::set<std::string> owners;
    if (before) owners.insert(owner_of(db, *before));
    if (after) owners.insert(owner_of(db, *after));
    owners.erase("");
    const StoredRecord& any = after ? *after : *before;
    for (const auto& owner : owners) {
      bool flipped = false;
      for (const auto& [role, _] : ws_.portal_roles) {
        for (const auto& set : sets_for(owner, role, db.key)) {
          const SetRule& rule = rule_for(set, db);
          const bool was = before && in_set(rule, set, db, *before);
          const bool is = after && visible(rule, db, *after, set.vars);
          std::optional<std::string> shown_before;
          if (notifying_ && was && is) {
            shown_before = kv_.get(keys::list_prefix(ws_.id, set.id, db.key, gen_of(set.id, db.key)) + any.order);
          }
          flipped = place(set, rule, db, any, was, is) || flipped;
          // (place() leaves the row the set is sent in buf_.place_row.)
          if (notifying_ && is) notify_record(set.id, db.key, any.id, was ? &shown_before : nullptr, buf_.place_row, !before);
        }
      }
      // A record just created has no referrers yet: a relation must name an existing record,
      // and ids are never reused.
      if (flipped && before) reproject_referrers(owner, db.key, any.id);
    }
  }

  // Record events notify (access changes never do): `at_order` is the event's place in the log.
  void notify_as(std::string_view at_order) {
    buf_.notice_order.assign(at_order);
    notifying_ = true;
  }

  // A notice for `set` when what it is sent of a record changed: it appeared, or one of the
  // fields it sees changed (an edit it cannot see changes nothing it is sent, so says nothing).
  void notify_record(const std::string& set, const std::string& db, const std::string& record,
                     const std::optional<std::string>* shown_before, const std::string& shown_now, bool created) {
    std::string summary;
    if (shown_before == nullptr) {
      summary = created ? "new record" : "now shown to you";
    } else {
      auto old_row = *shown_before ? parse_json(**shown_before) : std::unexpected(JsonError::malformed);
      auto new_row = parse_json(shown_now);
      if (!old_row || !new_row) return;
      const Json::Object& a = old_row->find("fields")->as_object();
      const Json::Object& b = new_row->find("fields")->as_object();
      std::vector<std::string> changed;
      for (const auto& [k, v] : b) {
        auto it = a.find(k);
        if (it == a.end() || !(it->second == v)) changed.push_back(k);
      }
      for (const auto& [k, _] : a) {
        if (!b.contains(k)) changed.push_back(k);
      }
      if (changed.empty()) return;
      std::sort(changed.begin(), changed.end());
      summary = "changed: ";
      for (std::size_t i = 0; i < changed.size(); ++i) summary += (i > 0 ? ", " : "") + changed[i];
    }
    notice(set, shown_before != nullptr ? "record_updated" : created ? "record_created" : "record_shown", db, record, summary);
  }

  void notice(const std::string& set, std::string_view kind, const std::string& db, const std::string& record,
              const std::string& summary) {
    // {at, database, id, kind, record_id, summary}: written as text, in the key order a
    // Json::Object would give.
    thread_local std::string text, key;  // reused: a put copies them
    text.clear();
    text += "{\"at\":";
    if (!now_formatted_) assign_timestamp(buf_.now_text, now_);
    now_formatted_ = true;
    write_json_string(text, buf_.now_text);
    text += ",\"database\":";
    write_json_string(text, db);
    text += ",\"id\":";
    write_json_string(text, buf_.notice_order);
    text += ",\"kind\":";
    write_json_string(text, kind);
    text += ",\"record_id\":";
    write_json_string(text, record);
    text += ",\"summary\":";
    write_json_string(text, summary);
    text.push_back('}');
    keys::notice(key, ws_.id, set, buf_.notice_order);
    kv_.put(key, text);
  }

  // After access changed: for each (client, role, database) in scope, drop the sets that no
  // longer exist, rebuild the ones that do, and point each contact at its set.
  void reproject_scope(const WorkspaceState& before, const std::set<std::string>& clients,
                       const std::set<std::string>& roles, const std::set<std::string>& dbs) {
    // Two clients' sets share no key, so with a view that can fork, the clients are rebuilt
    // on two threads (a type-wide policy change touches every record of every client), each
    // into its own fork, joined in a fixed order: the result does not depend on timing.
    std::array<std::unique_ptr<KvView>, 2> forks;
    if (clients.size() > 1) forks = {kv_.fork(), kv_.fork()};
    if (!forks[0] || !forks[1]) {
      for (const auto& client : clients) reproject_client(before, client, roles, dbs);
      return;
    }
    std::array<std::vector<std::string>, 2> share;
    std::size_t i = 0;
    for (const auto& client : clients) share[i++ % 2].push_back(client);
    std::array<std::exception_ptr, 2> failed;
    auto work = [&](std::size_t n) {
      try {
        Step step(ws_, *forks[n], now_);
        for (const auto& client : share[n]) step.reproject_client(before, client, roles, dbs);
      } catch (...) {
        failed[n] = std::current_exception();
      }
    };
    std::thread other(work, 1);
    work(0);
    other.join();
    for (const auto& f : failed) {
      if (f) std::rethrow_exception(f);
    }
    for (auto& f : forks) kv_.join(*f);
    memo_.gens.clear();  // the forks may have moved sets to new generations
  }

  void reproject_client(const WorkspaceState& before, const std::string& client, const std::set<std::string>& roles,
                        const std::set<std::string>& dbs) {
    for (const auto& role : roles) {
      for (const auto& db_key : dbs) {
        const DatabaseDef* db = ws_.database(db_key);
        const DatabaseDef* old_db = before.database(db_key);
        const auto old_sets = principal_sets(before, client, role, db_key, now_);
        const auto new_sets = db == nullptr ? std::vector<PrincipalSet>{} : principal_sets(ws_, client, role, db_key, now_);
        for (const auto& s : old_sets) {
          if (std::find(new_sets.begin(), new_sets.end(), s) == new_sets.end()) drop(s.id, client, db_key);
        }
        for (const auto& s : new_sets) {
          write_listing(s, *db);
          auto old = std::find(old_sets.begin(), old_sets.end(), s);
          const SetRule old_rule = old == old_sets.end() || old_db == nullptr ? SetRule{} : rule_of(before, *old, *old_db);
          const SetRule rule = rule_of(ws_, s, *db);
          // What the set holds now, walked in step with the client's records (both in creation
          // order): a row that comes out the same (a change of write rights, say) is not written
          // again. Rows come out the same only when the set reads the same columns as before, so
          // only then is what it holds worth reading. Each record is decoded into the same
          // StoredRecord: a scan of many records allocates next to nothing.
          const std::string old_gen = gen_of(s.id, db_key);
          const bool same = old_rule.policy != nullptr && same_columns(*old_rule.policy, *rule.policy);
          HeldRows held;
          if (same) {
            const std::string list = keys::list_prefix(ws_.id, s.id, db_key, old_gen);
            kv_.scan(list, [&](std::string_view key, std::string_view bytes) {
              held.add(key.substr(list.size()), bytes);
            });
          }
          // Other columns: every row changes, so every row is written under the set's next
          // generation of rows (keys RocksDB holds no older versions of, cheap to insert), and the
          // old generation goes whole once the records are placed (until then it still answers
          // what the set held, which a clocked rule reads).
          const bool fresh = old_rule.policy != nullptr && !same;
          if (fresh) set_gen(s.id, db_key, keys::next_gen(old_gen));
          const std::string gen = gen_of(s.id, db_key);
          // Rows written afresh need not know whether a record was in the set before, unless
          // something else follows it in or out: views, attached comments and approvals, records
          // that point at it. Without any of those, nothing reads the rows until the batch lands.
          const bool track_was = !fresh || has_views(db_key) || has_attached(kCommentsKind, db_key) ||
                                 has_attached(kApprovalsKind, db_key) || referable(db_key);
          const Rows rows = !fresh ? Rows::over_held : track_was ? Rows::afresh : Rows::afresh_ahead;
          std::size_t next_held = 0;
          StoredRecord rec;
          kv_.scan(keys::owner_prefix(ws_.id, db_key, client), [&](std::string_view, std::string_view bytes) {
            // (Placed, never written back: the record's creation is not needed.)
            if (!StoredRecord::decode_into(bytes, rec, false)) throw std::runtime_error("corrupt record in " + db_key);
            while (next_held < held.size() && held.order(next_held) < rec.order) ++next_held;
            std::optional<std::string_view> shown;
            if (next_held < held.size() && held.order(next_held) == rec.order) shown = held.row(next_held);
            const bool was = track_was && old_rule.policy != nullptr && in_set(old_rule, *old, *old_db, rec, old_gen);
            if (place(s, rule, *db, rec, was, visible(rule, *db, rec, s.vars), shown, &gen, rows)) {
              reproject_referrers(client, db_key, rec.id);
            }
          });
          if (fresh) {
            kv_.flush_ahead();
            kv_.del_prefix(keys::list_prefix(ws_.id, s.id, db_key, old_gen));
          }
        }
        route_contacts(before, client, role, db_key, new_sets);
      }
    }
  }

 private:
  // Whether `rec` is in `set` (under `rule`) as the store holds it now: in generation `gen` when
  // given, else the set's own.
  bool in_set(const SetRule& rule, const PrincipalSet& set, const DatabaseDef& db, const StoredRecord& rec,
              std::optional<std::string_view> gen = std::nullopt) {
    if (rule.clocked) {
      const std::string_view g = gen ? *gen : std::string_view(gen_of(set.id, db.key));
      return kv_.get(keys::list_prefix(ws_.id, set.id, db.key, g) + rec.order).has_value();
    }
    return visible(rule, db, rec, set.vars);
  }

  // The generation of set `set`'s rows of `db` (keys::list_gen), read once per step.
  const std::string& gen_of(const std::string& set, const std::string& db) {
    thread_local std::string key;
    keys::assign(key, {set, "/", db});
    auto it = memo_.gens.find(key);
    if (it == memo_.gens.end()) it = memo_.gens.emplace(key, rows_gen(kv_, ws_.id, set, db)).first;
    return it->second;
  }
  // principal_sets(), once per client, role and database; the sets' `now` is this step's.
  const std::vector<PrincipalSet>& sets_for(const std::string& client, const std::string& role, const std::string& db) {
    thread_local std::string key;
    keys::assign(key, {client, "/", role, "/", db});
    auto it = memo_.sets.find(key);
    if (it == memo_.sets.end()) it = memo_.sets.emplace(key, principal_sets(ws_, client, role, db, now_)).first;
    for (auto& set : it->second) set.vars.now = now_;
    return it->second;
  }
  // rule_of(), once per set and database.
  const SetRule& rule_for(const PrincipalSet& set, const DatabaseDef& db) {
    thread_local std::string key;
    keys::assign(key, {set.id, "/", db.key});
    auto it = memo_.rules.find(key);
    if (it == memo_.rules.end()) it = memo_.rules.emplace(key, rule_of(ws_, set, db)).first;
    return it->second;
  }
  // Generations only move forward, and their keys stay when a set goes (drop()): a set never
  // uses one twice, so rows written ahead never meet an older batch's writes of the same keys.
  void set_gen(const std::string& set, const std::string& db, std::string gen) {
    kv_.put(keys::list_gen(ws_.id, set, db), gen);
    memo_.gens.insert_or_assign(keys::cat({set, "/", db}), std::move(gen));
  }

  // How place() writes a set's row: over what the set holds, or afresh in a generation just begun
  // (nothing there to delete); afresh and ahead when nothing reads the rows before the caller's
  // flush_ahead(): they may go to the store ahead of the batch (KvView::put_ahead), since nobody
  // reads that generation until the batch that names it lands.
  enum class Rows { over_held, afresh, afresh_ahead };

  // Puts or removes one record in one set; answers whether its visibility there changed.
  // `shown` is what the set holds for the record now, when the caller has it at hand: a row whose
  // bytes come out the same is not written again. `gen` is the set's generation, when the caller
  // has it at hand.
  bool place(const PrincipalSet& set, const SetRule& rule, const DatabaseDef& db, const StoredRecord& rec, bool was,
             bool is, std::optional<std::string_view> shown = std::nullopt, const std::string* gen = nullptr,
             Rows rows = Rows::over_held) {
    // Built in buffers the Step keeps: a re-projection places every record of a client.
    std::string& l_key = buf_.place_key;
    keys::list_row(l_key, ws_.id, set.id, db.key, gen != nullptr ? *gen : gen_of(set.id, db.key), rec.order);
    if (is) {
      // An edit of a column the set cannot read changes nothing here, not even version or
      // updated_at: the bytes stay as they were (issue 5).
      auto keep = [&](const std::string& key, const std::string& text, std::string& replacement) {
        const ColumnDef* col = rule.sent(key);
        if (col == nullptr) return false;
        return col->type != ColumnType::relation || visible_relations(set, *col, text, replacement);
      };
      std::string& served = buf_.place_row;
      served.clear();
      std::string scratch;
      append_served(served, rec, shown_to_set(rule, rec, scratch), keep);
      if (rows == Rows::afresh_ahead) {
        kv_.put_ahead(l_key, served);
      } else if (shown != served) {
        kv_.put(l_key, served);
      }
      place_views(set, db, rec.order, &served);
    } else if (was) {
      if (rows == Rows::over_held) kv_.del(l_key);
      place_views(set, db, rec.order, nullptr);
    }
    if (was != is) {
      for (const Attached* kind : {&kCommentsKind, &kApprovalsKind}) place_attached(*kind, set, db.key, rec.id, is);
    }
    return was != is;
  }

  // A record entering a set brings what is attached to it and shown to contacts (client-visible
  // comments, approval requests); one leaving takes it along.
  void place_attached(const Attached& kind, const PrincipalSet& set, const std::string& db, const std::string& record,
                      bool visible) {
    if (!has_attached(kind, db)) return;
    const std::string to = kind.set_prefix(ws_.id, set.id, db, record);
    if (!visible) {
      kv_.scan(to, [&](std::string_view key, std::string_view) { kv_.del(key); });
      return;
    }
    const std::string from = kind.all_prefix(ws_.id, db, record);
    kv_.scan(from, [&](std::string_view key, std::string_view json) {
      if (kind.shown_to_contacts(json)) kv_.put(to + std::string(key.substr(from.size())), json);
    });
  }

  // Asked for every record that enters or leaves a set: answered from a memo (a few entries,
  // searched without allocating), the store asked once per kind and database.
  bool has_attached(const Attached& kind, const std::string& db) {
    for (const auto& m : memo_.attached) {
      if (m.kind == &kind && m.db == db) return m.present;
    }
    memo_.attached.push_back({&kind, db, kv_.get(kind.marker(ws_.id, db)).has_value()});
    return memo_.attached.back().present;
  }

  void mark_attached(const Attached& kind, const std::string& db) {
    for (auto& m : memo_.attached) {
      if (m.kind == &kind && m.db == db) m.present = true;
    }
  }

 public:
  // Writes (or, with `served` null, removes) attached object `order` on a record: in the
  // internal set, and when shown to contacts in every set that sees the record now.
  // With notify_as() set and a `notice_kind`, each set it is shown in is notified too.
  void write_attached(const Attached& kind, const DatabaseDef& db, const std::string& record, const std::string& order,
                      const std::string* served, bool shown_to_contacts, std::string_view notice_kind = {},
                      const std::string& summary = {}) {
    const std::string internal = kind.set_prefix(ws_.id, keys::kInternalSet, db.key, record) + order;
    served != nullptr ? kv_.put(internal, *served) : kv_.del(internal);
    if (!shown_to_contacts) return;
    if (served != nullptr && !has_attached(kind, db.key)) {
      kv_.put(kind.marker(ws_.id, db.key), "");
      mark_attached(kind, db.key);
    }
    auto rec = load_record(kv_, ws_.id, db.key, record);
    if (!rec) return;  // a deleted record's attachments are in no set
    const std::string owner = owner_of(db, *rec);
    if (owner.empty()) return;
    for (const auto& [role, _] : ws_.portal_roles) {
      for (const auto& set : principal_sets(ws_, owner, role, db.key, now_)) {
        if (!in_set(rule_for(set, db), set, db, *rec)) continue;
        const std::string key = kind.set_prefix(ws_.id, set.id, db.key, record) + order;
        served != nullptr ? kv_.put(key, *served) : kv_.del(key);
        if (served != nullptr && notifying_ && !notice_kind.empty()) notice(set.id, notice_kind, db.key, record, summary);
      }
    }
  }

 private:
  // The views `set` reads `db` through: its client type's, replaced by name by its client's own.
  std::map<std::string, const ViewDef*> views_of(const PrincipalSet& set, const std::string& db) const {
    std::map<std::string, const ViewDef*> out;
    for (const std::string& scope : {"type:" + set.vars.client_type, "client:" + set.vars.client_id}) {
      for (auto it = ws_.views.lower_bound({scope, db, ""});
           it != ws_.views.end() && std::get<0>(it->first) == scope && std::get<1>(it->first) == db; ++it) {
        out[std::get<2>(it->first)] = &it->second;
      }
    }
    return out;
  }

  bool has_views(const std::string& db) const {
    return std::any_of(ws_.views.begin(), ws_.views.end(), [&](const auto& v) { return std::get<1>(v.first) == db; });
  }

  // Puts a record's rows in the set's view indexes (or, with `served` null, takes them out),
  // replacing the keys it had there, which its view-refs entry lists.
  void place_views(const PrincipalSet& set, const DatabaseDef& db, const std::string& order, const std::string* served) {
    if (!has_views(db.key)) return;
    const std::string refs_key = keys::view_refs_prefix(ws_.id, set.id, db.key) + order;
    std::vector<std::string> placed;
    if (served != nullptr) {
      auto row = parse_json(*served);
      if (!row) throw std::runtime_error("unreadable served record");
      const Json::Object& fields = row->find("fields")->as_object();
      const RecordView rv{fields, row->string_or("id", ""), static_cast<std::uint64_t>(row->find("version")->as_int()),
                          row->string_or("created_at", ""), row->string_or("updated_at", "")};
      for (const auto& [name, view] : views_of(set, db.key)) {
        if (!view_indexed(*view, !set.vars.contact_id.empty())) continue;
        if (view->filter && !evaluate(*view->filter, rv, set.vars)) continue;
        placed.push_back(keys::view_index_prefix(ws_.id, set.id, db.key, name) + view_sort_key(*view, *row) + order);
        kv_.put(placed.back(), view_row(*view, db, *row));
      }
    }
    if (auto before = kv_.get(refs_key)) {
      for (const auto& key : split_keys(*before)) {
        if (std::find(placed.begin(), placed.end(), key) == placed.end()) kv_.del(key);
      }
      if (placed.empty()) kv_.del(refs_key);
    }
    if (!placed.empty()) kv_.put(refs_key, join_keys(placed));
  }

  // A relation value that points at a record this set cannot see is left out, so its existence
  // does not leak. A shared set cannot know what each contact sees of a per-contact database,
  // so such targets are left out there too. Answers false when no id is left.
  bool visible_relations(const PrincipalSet& set, const ColumnDef& col, const std::string& text, std::string& kept_text) {
    auto ids = parse_json(text);
    if (!ids || !ids->is_array()) return false;
    const std::string tdb_key(col.options.string_or("database", ""));
    const DatabaseDef* tdb = ws_.database(tdb_key);
    if (tdb == nullptr) return false;
    const SetRule rule = rule_of(ws_, set, *tdb);
    if (rule.policy == nullptr) return false;
    if (rule.policy->read_filter && uses_var(*rule.policy->read_filter, "contact.id") && set.vars.contact_id.empty()) {
      return false;
    }
    Json::Array kept;
    for (const auto& tid : ids->as_array()) {
      if (!tid.is_string()) continue;
      auto target = load_record(kv_, ws_.id, tdb_key, tid.as_string());
      if (target && visible(rule, *tdb, *target, set.vars)) kept.push_back(tid);
    }
    if (kept.empty()) return false;
    kept_text = to_json(Json(std::move(kept)));
    return true;
  }

  void reproject_referrers(const std::string& client, const std::string& db, const std::string& id) {
    if (!referable(db)) return;  // no relation column points at this database: nothing to scan
    const std::string prefix = keys::referrers_prefix(ws_.id, db, id);
    kv_.scan(prefix, [&](std::string_view key, std::string_view) {
      const auto rest = key.substr(prefix.size());
      const auto slash = rest.find('/');
      const std::string from_db(rest.substr(0, slash));
      const std::string from_id(rest.substr(slash + 1));
      const DatabaseDef* fdb = ws_.database(from_db);
      auto rec = fdb == nullptr ? std::nullopt : load_record(kv_, ws_.id, from_db, from_id);
      // Only the same client's records can show this one: ownership is never crossed.
      if (!rec || owner_of(*fdb, *rec) != client) return;
      for (const auto& [role, _] : ws_.portal_roles) {
        for (const auto& s : principal_sets(ws_, client, role, from_db, now_)) {
          const SetRule rule = rule_of(ws_, s, *fdb);
          place(s, rule, *fdb, *rec, in_set(rule, s, *fdb, *rec), visible(rule, *fdb, *rec, s.vars));
        }
      }
    });
  }

  bool referable(const std::string& db) const {
    for (const auto& [_, from] : ws_.databases) {
      for (const auto& col : from.columns) {
        if (col.type == ColumnType::relation && col.options.string_or("database", "") == db) return true;
      }
    }
    return false;
  }

  // A set that no longer exists for `db`: its records leave it, and the same client's records
  // that point at them are re-projected (regression: a relation outlived its target's policy).
  void drop(const std::string& set, const std::string& client, const std::string& db) {
    std::vector<std::string> ids;
    kv_.scan(keys::list_prefix(ws_.id, set, db, gen_of(set, db)), [&](std::string_view key, std::string_view served) {
      ids.push_back(served_id(served));
      kv_.del(key);
    });
    // (The set's generation key stays: see set_gen.)
    for (const auto& prefix : {keys::set_views_prefix(ws_.id, set, db), keys::view_refs_prefix(ws_.id, set, db),
                               keys::set_all_comments_prefix(ws_.id, set, db), keys::set_all_approvals_prefix(ws_.id, set, db)}) {
      kv_.scan(prefix, [&](std::string_view key, std::string_view) { kv_.del(key); });
    }
    kv_.del(keys::set_database(ws_.id, set, db));
    // A set that reads no database any more (its client archived, its contact gone) is no one's
    // feed either.
    bool reads_any = false;
    kv_.scan(keys::set_database_prefix(ws_.id, set), [&](std::string_view, std::string_view) { reads_any = true; });
    if (!reads_any) kv_.scan(keys::notices_prefix(ws_.id, set), [&](std::string_view key, std::string_view) { kv_.del(key); });
    for (const auto& id : ids) reproject_referrers(client, db, id);
  }

  void write_listing(const PrincipalSet& set, const DatabaseDef& db) {
    const PolicyEntry* entry = ws_.effective_policy(*ws_.active_client(set.vars.client_id), set.role, db.key);
    const ColumnDef* owner = owner_column(db);
    Json::Array columns;
    for (const auto& c : db.columns) {
      const bool readable = (owner != nullptr && c.key == owner->key) ||
                            std::find(entry->policy.read_columns.begin(), entry->policy.read_columns.end(), c.key) !=
                                entry->policy.read_columns.end();
      if (!readable || c.internal) continue;
      const bool writable = std::find(entry->policy.write_columns.begin(), entry->policy.write_columns.end(), c.key) !=
                            entry->policy.write_columns.end();
      columns.push_back(Json(Json::Object{{"key", c.key},
                                          {"name", c.name},
                                          {"type", std::string(to_string(c.type))},
                                          {"options", c.options},
                                          {"readable", true},
                                          {"writable", writable}}));
    }
    kv_.put(keys::set_database(ws_.id, set.id, db.key),
            to_json(Json(Json::Object{{"key", db.key},
                                      {"name", db.name},
                                      {"columns", Json(std::move(columns))},
                                      {"create", entry->policy.create}})));
  }

  void route_contacts(const WorkspaceState& before, const std::string& client, const std::string& role,
                      const std::string& db, const std::vector<PrincipalSet>& sets) {
    std::set<std::string> contacts;
    for (const auto* model : {&before, &ws_}) {
      for (const auto& [id, c] : model->contacts) {
        if (c.client_id == client && c.role == role) contacts.insert(id);
      }
    }
    for (const auto& id : contacts) {
      const std::string key = keys::route(ws_.id, id, db);
      if (ws_.active_contact(id) == nullptr) {
        kv_.del(key);
        continue;
      }
      auto it = std::find_if(sets.begin(), sets.end(), [&](const PrincipalSet& s) {
        return s.vars.contact_id.empty() || s.vars.contact_id == id;
      });
      if (it == sets.end()) {
        kv_.del(key);
      } else {
        kv_.put(key, keys::route_value(it->id, gen_of(it->id, db)));
      }
    }
  }

  const WorkspaceState& ws_;
  KvView& kv_;
  TimestampMs now_;
  StepMemo own_memo_;
  StepMemo& memo_;
  StepMemo::Buffers& buf_;     // memo_'s
  bool notifying_ = false;     // notify_as() was called: buf_.notice_order is this event's
  bool now_formatted_ = false;  // buf_.now_text is now_'s
};

// The clients a scope (`client:<id>` or `type:<key>`) names, before or after an event.
std::set<std::string> clients_in_scope(const WorkspaceState& before, const WorkspaceState& after, std::string_view scope) {
  if (scope.starts_with("client:")) return {std::string(scope.substr(7))};
  std::set<std::string> out;
  for (const auto* model : {&before, &after}) {
    for (const auto& [id, c] : model->clients) {
      if ("type:" + c.client_type == scope) out.insert(id);
    }
  }
  return out;
}

std::set<std::string> keys_of(const auto& map) {
  std::set<std::string> out;
  for (const auto& [k, _] : map) out.insert(k);
  return out;
}

}  // namespace

// A comment as served: who wrote it, when, its body and visibility, whether it was edited.
std::expected<void, std::string> apply_comment(const WorkspaceState& ws, const Envelope& e, Position at, KvView& kv, StepMemo* memo) {
  const Json& d = e.data;
  const std::string id(d.string_or("comment_id", ""));
  const DatabaseDef* db = ws.database(d.string_or("database", ""));
  if (db == nullptr) return std::unexpected("comment in an unknown database");
  Step step(ws, kv, e.at, memo);
  if (e.type == event_type::comment_added) {
    if (kv.get(keys::comment_location(ws.id, id))) return std::unexpected("comment added twice");
    const std::string record(d.string_or("record_id", ""));
    const std::string order = keys::order_key(at.offset);
    const std::string at_text = format_timestamp(e.at);
    const std::string visibility(d.string_or("visibility", ""));
    const std::string served = to_json(Json(Json::Object{{"id", id},
                                                         {"author", Json(Json::Object{{"kind", e.actor.kind}, {"id", e.actor.id}})},
                                                         {"body", std::string(d.string_or("body", ""))},
                                                         {"visibility", visibility},
                                                         {"created_at", at_text},
                                                         {"updated_at", at_text},
                                                         {"edited", false}}));
    kv.put(keys::comment_location(ws.id, id), db->key + "/" + record + "/" + order);
    kv.put(keys::comments_prefix(ws.id, db->key, record) + order, served);
    step.notify_as(order);
    const std::string body(d.string_or("body", ""));
    step.write_attached(kCommentsKind, *db, record, order, &served, visibility == "client", "comment_added",
                        body.size() > 100 ? body.substr(0, 100) + "..." : body);
    return {};
  }
  auto where = kv.get(keys::comment_location(ws.id, id));
  if (!where) return std::unexpected("change to an unknown comment");
  const auto first = where->find('/'), last = where->rfind('/');
  const std::string record = where->substr(first + 1, last - first - 1);
  const std::string order = where->substr(last + 1);
  const std::string key = keys::comments_prefix(ws.id, db->key, record) + order;
  auto current = kv.get(key);
  auto comment = current ? parse_json(*current) : std::unexpected(JsonError::malformed);
  if (!comment) return std::unexpected("unreadable comment " + id);
  const bool client = comment->string_or("visibility", "") == "client";
  if (e.type == event_type::comment_deleted) {
    kv.del(keys::comment_location(ws.id, id));
    kv.del(key);
    step.write_attached(kCommentsKind, *db, record, order, nullptr, client);
    return {};
  }
  auto& obj = comment->as_object();
  obj["body"] = std::string(d.string_or("body", ""));
  obj["updated_at"] = format_timestamp(e.at);
  obj["edited"] = true;
  const std::string served = to_json(*comment);
  kv.put(key, served);
  step.write_attached(kCommentsKind, *db, record, order, &served, client);
  return {};
}

// A file attached or removed: its metadata (projector/src/files.cpp) and, for a comment's file,
// the comment as served, whose `files` lists it wherever the comment is shown (only there).
std::expected<void, std::string> apply_file(const WorkspaceState& ws, const Envelope& e, KvView& kv, StepMemo* memo) {
  const Json& d = e.data;
  const bool attached = e.type == event_type::file_attached;
  const std::string comment_id(d.string_or("comment_id", ""));
  if (comment_id.empty()) return attached ? apply_file_attached(e, kv) : apply_file_removed(e, kv);
  // Everything checked before the first write. A comment deleted since lists nothing to update.
  const DatabaseDef* db = ws.database(d.string_or("database", ""));
  const auto location = kv.get(keys::comment_location(ws.id, comment_id));
  const auto where = location ? keys::comment_place(*location) : std::nullopt;
  if (attached && (db == nullptr || !where)) return std::unexpected("file attached to an unknown comment");
  std::string key;
  std::expected<Json, JsonError> comment = std::unexpected(JsonError::malformed);
  if (where && db != nullptr) {
    key = keys::comments_prefix(ws.id, db->key, where->record) + where->order;
    auto current = kv.get(key);
    if (current) comment = parse_json(*current);
    if (!comment || !comment->is_object()) return std::unexpected("unreadable comment " + comment_id);
  }
  if (auto r = attached ? apply_file_attached(e, kv) : apply_file_removed(e, kv); !r) return r;
  if (!comment) return {};
  auto& obj = comment->as_object();
  Json::Array files;
  if (auto it = obj.find("files"); it != obj.end() && it->second.is_array()) files = it->second.as_array();
  const std::string file_id(d.string_or("file_id", ""));
  if (attached) {
    files.push_back(Json(Json::Object{{"id", file_id},
                                      {"name", std::string(d.string_or("name", ""))},
                                      {"size", *d.find("size")},
                                      {"content_type", std::string(d.string_or("content_type", ""))}}));
  } else {
    std::erase_if(files, [&](const Json& f) { return f.string_or("id", "") == file_id; });
  }
  obj.erase("files");
  if (!files.empty()) obj.emplace("files", Json(std::move(files)));
  const std::string served = to_json(*comment);
  kv.put(key, served);
  Step step(ws, kv, e.at, memo);
  step.write_attached(kCommentsKind, *db, where->record, where->order, &served, comment->string_or("visibility", "") == "client");
  return {};
}

// An approval as served: what is asked, its status, and who asked and decided when.
std::expected<void, std::string> apply_approval(const WorkspaceState& ws, const Envelope& e, Position at, KvView& kv, StepMemo* memo) {
  const Json& d = e.data;
  const std::string id(d.string_or("approval_id", ""));
  const DatabaseDef* db = ws.database(d.string_or("database", ""));
  if (db == nullptr) return std::unexpected("approval in an unknown database");
  const std::string record(d.string_or("record_id", ""));
  const Json who(Json::Object{{"kind", e.actor.kind}, {"id", e.actor.id}});
  Step step(ws, kv, e.at, memo);
  if (e.type == event_type::approval_requested) {
    if (kv.get(keys::approval_location(ws.id, id))) return std::unexpected("approval requested twice");
    const std::string order = keys::order_key(at.offset);
    Json::Object approval{{"id", id}, {"title", std::string(d.string_or("title", ""))}, {"status", "pending"},
                          {"requested_by", who}, {"requested_at", format_timestamp(e.at)}};
    if (const Json* detail = d.find("detail")) approval.emplace("detail", *detail);
    const std::string served = to_json(Json(std::move(approval)));
    kv.put(keys::approval_location(ws.id, id), db->key + "/" + record + "/" + order);
    kv.put(keys::approvals_prefix(ws.id, db->key, record) + order, served);
    step.notify_as(order);
    step.write_attached(kApprovalsKind, *db, record, order, &served, true, "approval_requested", std::string(d.string_or("title", "")));
    return {};
  }
  auto where = kv.get(keys::approval_location(ws.id, id));
  if (!where) return std::unexpected("decision on an unknown approval");
  const std::string order = where->substr(where->rfind('/') + 1);
  const std::string key = keys::approvals_prefix(ws.id, db->key, record) + order;
  auto current = kv.get(key);
  auto approval = current ? parse_json(*current) : std::unexpected(JsonError::malformed);
  if (!approval) return std::unexpected("unreadable approval " + id);
  auto& obj = approval->as_object();
  obj["status"] = std::string(d.string_or("decision", ""));
  obj["decided_by"] = who;
  obj["decided_at"] = format_timestamp(e.at);
  if (const Json* comment = d.find("comment")) obj["comment"] = *comment;
  const std::string served = to_json(*approval);
  kv.put(key, served);
  step.notify_as(keys::order_key(at.offset));
  step.write_attached(kApprovalsKind, *db, record, order, &served, true, "approval_decided",
                      std::string(approval->string_or("title", "")) + ": " + std::string(d.string_or("decision", "")));
  return {};
}

Projection::Projection() : memo_(std::make_unique<StepMemo>()) {}
Projection::~Projection() = default;
Projection::Projection(Projection&&) noexcept = default;
Projection& Projection::operator=(Projection&&) noexcept = default;

StepMemo* Projection::memo_for(const std::string& ws, const KvView& kv) {
  if (memo_->ws != ws || memo_->kv != &kv) {
    memo_->clear();
    memo_->ws = ws;
    memo_->kv = &kv;
  }
  return memo_.get();
}

std::expected<void, std::string> Projection::load(KvView& kv) {
  memo_->clear();
  std::string error;
  kv.scan(keys::kAccessLogPrefix, [&](std::string_view key, std::string_view value) {
    const auto nl = value.find('\n');
    const auto slash = key.rfind('/');
    auto e = events::decode(value.substr(nl + 1));
    if (nl == std::string_view::npos || !e) {
      error = "unreadable access event " + std::string(key);
      return;
    }
    const Position at{std::stoi(std::string(value.substr(0, nl))),
                      static_cast<std::int64_t>(std::stoull(std::string(key.substr(slash + 1)), nullptr, 16))};
    if (auto r = access_.apply(*e, at); !r && error.empty()) error = r.error();
  });
  if (!error.empty()) return std::unexpected(error);
  return {};
}

std::expected<void, std::string> Projection::apply(const Envelope& e, Position at, KvView& kv) {
  const Json& d = e.data;
  const std::string& w = e.workspace;
  auto log_access = [&] {
    kv.put(keys::access_log_prefix(w) + keys::order_key(at.offset), std::to_string(at.partition) + "\n" + events::encode(e));
  };
  const bool access = is_access_event(e.type);
  if (e.type == event_type::workspace_created || access) memo_->clear();  // (StepMemo)
  if (e.type == event_type::workspace_created) {
    if (auto r = access_.apply(e, at); !r) return r;
    log_access();
    kv.put(keys::workspace(w), to_json(Json(Json::Object{{"id", w}, {"name", d.string_or("name", "")}})));
    return {};
  }
  const WorkspaceState* current = access_.workspace(w);
  if (current == nullptr) return std::unexpected("event for an unknown workspace");

  if (access) {
    const WorkspaceState before = *current;
    if (auto r = access_.apply(e, at); !r) return r;
    log_access();
    const WorkspaceState& ws = *access_.workspace(w);
    Step access_step(ws, kv, e.at);
    std::set<std::string> clients, roles = keys_of(ws.portal_roles), dbs = keys_of(ws.databases);
    if (e.type.starts_with("user.")) {
      // The query service ends a deactivated user's sessions with this row, as with contacts.
      const UserState& u = ws.users.at(std::string(d.string_or("user_id", "")));
      kv.put(keys::user(w, u.id), to_json(Json(Json::Object{{"id", u.id},
                                                            {"email", u.email},
                                                            {"name", u.name},
                                                            {"role", u.role},
                                                            {"active", ws.active_user(u.id) != nullptr}})));
      return {};
    }
    if (e.type == event_type::database_defined || e.type == event_type::column_added) {
      const DatabaseDef& db = *ws.database(e.type == event_type::database_defined ? d.string_or("key", "")
                                                                                  : d.string_or("database", ""));
      Json::Array columns;
      for (const auto& c : db.columns) {
        columns.push_back(Json(Json::Object{{"key", c.key},
                                            {"name", c.name},
                                            {"type", std::string(to_string(c.type))},
                                            {"options", c.options},
                                            {"internal", c.internal}}));
      }
      kv.put(keys::database(w, db.key),
             to_json(Json(Json::Object{{"key", db.key}, {"name", db.name}, {"columns", Json(std::move(columns))}})));
      clients = keys_of(ws.clients);
      dbs = {db.key};
    } else if (e.type == event_type::view_defined) {
      Json::Object view = d.as_object();
      for (const char* k : {"scope", "database", "view"}) view.erase(k);
      kv.put(keys::view(w, d.string_or("scope", ""), d.string_or("database", ""), d.string_or("view", "")),
             to_json(Json(std::move(view))));
      // The sets of the clients in scope rebuild their view rows (a view changes rarely).
      clients = clients_in_scope(before, ws, d.string_or("scope", ""));
      dbs = {std::string(d.string_or("database", ""))};
    } else if (e.type == event_type::client_created || e.type == event_type::client_updated ||
               e.type == event_type::client_archived) {
      clients = {std::string(d.string_or("client_id", ""))};
      const ClientState& c = ws.clients.at(*clients.begin());
      kv.put(keys::client(w, c.id), to_json(Json(Json::Object{{"id", c.id},
                                                              {"name", c.name},
                                                              {"client_type", c.client_type},
                                                              {"archived", c.archived}})));
      if (e.type == event_type::client_archived) {
        // An archived client's contacts are out at once: the query service ends their sessions.
        for (const auto& [id, c] : ws.contacts) {
          if (c.client_id == *clients.begin()) {
            kv.put(keys::contact(w, id), to_json(Json(Json::Object{{"id", id}, {"client_id", c.client_id},
                                                                   {"role", c.role}, {"active", false}})));
          }
        }
      }
    } else if (e.type == event_type::contact_invited || e.type == event_type::contact_joined ||
               e.type == event_type::contact_deactivated) {
      const ContactState& c = ws.contacts.at(std::string(d.string_or("contact_id", "")));
      kv.put(keys::contact(w, c.id), to_json(Json(Json::Object{{"id", c.id},
                                                               {"client_id", c.client_id},
                                                               {"role", c.role},
                                                               {"active", ws.active_contact(c.id) != nullptr}})));
      clients = {c.client_id};
      roles = {c.role};
    } else if (e.type == event_type::policy_set || e.type == event_type::policy_removed) {
      clients = clients_in_scope(before, ws, d.string_or("scope", ""));
      roles = {std::string(d.string_or("role", ""))};
      dbs = {std::string(d.string_or("database", ""))};
    }
    access_step.reproject_scope(before, clients, roles, dbs);
    return {};
  }

  if (e.type == event_type::session_ended) {
    kv.put(keys::session(w, d.string_or("session_id", "")), std::string(d.string_or("expires_at", "")));
    return {};
  }
  const WorkspaceState& ws = *current;
  StepMemo* memo = memo_for(w, kv);
  if (e.type == event_type::file_attached || e.type == event_type::file_removed) return apply_file(ws, e, kv, memo);
  if (e.type == event_type::comment_added || e.type == event_type::comment_edited ||
      e.type == event_type::comment_deleted) {
    return apply_comment(ws, e, at, kv, memo);
  }
  if (e.type == event_type::approval_requested || e.type == event_type::approval_decided) {
    return apply_approval(ws, e, at, kv, memo);
  }
  if (e.type == event_type::form_defined) {
    // Kept whole for internal users and once per client type it is for; a redefinition first
    // takes it away from the types it was for.
    const std::string key(d.string_or("key", ""));
    if (auto old = kv.get(keys::forms_prefix(w) + key)) {
      if (auto old_form = parse_json(*old); old_form && old_form->find("client_types") != nullptr) {
        for (const auto& t : old_form->find("client_types")->as_array()) kv.del(keys::forms_for_type_prefix(w, t.as_string()) + key);
      }
    }
    const std::string form = to_json(d);
    kv.put(keys::forms_prefix(w) + key, form);
    for (const auto& t : d.find("client_types")->as_array()) kv.put(keys::forms_for_type_prefix(w, t.as_string()) + key, form);
    return {};
  }
  const std::string_view db_key = d.string_or("database", "");  // (into e, which outlives this call)
  const std::string_view id = d.string_or("record_id", "");
  const DatabaseDef* db = ws.database(db_key);
  // Read before this event changes the record. A creation's own entry is kept in the record
  // (history.hpp), and written out by the record's first change, with that change's entry.
  const bool carried = carries_creation(e);
  std::optional<StoredRecord> before;  // the record an update or a deletion changes, read once
  if ((e.type == event_type::record_updated || e.type == event_type::record_deleted) && db != nullptr) {
    before = load_record(kv, w, db_key, id);
  }
  const auto history = carried ? std::nullopt : prepare_history(e, at, ws, before ? &*before : nullptr);
  std::optional<PendingHistory> creation;
  if (e.type == event_type::record_created) {
    const Json* fields = d.find("fields");
    if (fields == nullptr || !fields->is_object()) return std::unexpected("record.created without fields");
    if (db == nullptr) return std::unexpected("record in an unknown database");
    thread_local std::string location;
    keys::record_location(location, w, db_key, id);
    if (kv.get(location)) return std::unexpected("record created twice");
    // One record per thread, refilled for each creation: its strings keep their buffers.
    thread_local StoredRecord after;
    thread_local std::string at_text, order;
    assign_timestamp(at_text, e.at);
    keys::assign_order_key(order, at.offset);
    assign_stored_record(after, id, 1, at_text, at_text, order, fields->as_object());
    if (carried) {
      const ColumnDef* owner = owner_column(*db);
      assign_creation(after.creation ? *after.creation : after.creation.emplace(), e, at,
                      owner == nullptr ? "" : owner->key);
    } else {
      after.creation.reset();
    }
    Step step(ws, kv, e.at, memo);
    step.notify_as(order);
    step.write_internal(*db, nullptr, &after);
    step.reproject_record(*db, nullptr, &after);
  } else if (e.type == event_type::record_updated) {
    const Json* changes = d.find("changes");
    if (changes == nullptr || !changes->is_object()) return std::unexpected("record.updated without changes");
    if (!before) return std::unexpected("update of an unknown record");
    if (before->version + 1 != e.seq) return std::unexpected("record.updated out of sequence");
    creation = carried_history(w, db_key, *before);
    StoredRecord after = *before;
    after.creation.reset();
    for (const auto& [key, change] : changes->as_object()) {
      const Json* value = change.find("after");
      after.set_field(key, value == nullptr ? std::nullopt : std::optional<Json>(*value));
      restamp(after.stamps, key, Stamp{e.seq, e.at});  // a cleared field keeps its stamp
    }
    after.version = e.seq;
    after.updated_at = format_timestamp(e.at);
    Step step(ws, kv, e.at, memo);
    step.notify_as(keys::order_key(at.offset));
    step.write_internal(*db, &*before, &after);
    step.reproject_record(*db, &*before, &after);
  } else if (e.type == event_type::record_deleted) {
    if (!before) return std::unexpected("delete of an unknown record");
    creation = carried_history(w, db_key, *before);
    Step step(ws, kv, e.at, memo);
    step.write_internal(*db, &*before, nullptr);
    step.reproject_record(*db, &*before, nullptr);
  }
  // Only now: an event the models refused has written nothing.
  commit_history(creation, kv);
  commit_history(history, kv);
  return {};
}

}  // namespace projector
}  // namespace apexloop
