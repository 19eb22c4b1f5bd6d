#include "apexloop/projector/store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "apexloop/core/workspace.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/events/upcast.hpp"
#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";

std::string tmpdir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("apexloop-store-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

events::Message msg(std::int64_t offset, std::string type, std::string stream, std::uint64_t seq, std::string_view data) {
  Envelope e{"e", type, 1, kWs, std::move(stream), seq, TimestampMs{offset}, Actor{"user", "u"}, "c", "", *parse_json(data)};
  return events::Message{Position{0, offset}, kWs, events::encode(e), type};
}

std::vector<events::Message> log() {
  std::vector<events::Message> out;
  out.push_back(msg(0, "workspace.created", "workspace/" + kWs, 1, R"({"name":"Acme"})"));
  out.push_back(msg(1, "database.defined", "database/t", 1, R"({"key":"t","name":"T"})"));
  for (int i = 0; i < 50; ++i) {
    out.push_back(msg(2 + i, "record.created", "record/t/r" + std::to_string(i), 1,
                      R"({"database":"t","record_id":"r)" + std::to_string(i) + R"(","fields":{}})"));
  }
  return out;
}

TEST(Store, StoresOffsetsWithTheStateAndSkipsWhatItHasApplied) {
  const auto dir = tmpdir("offsets");
  const auto all = log();
  {
    auto store = ReadModelStore::open(dir);
    ASSERT_TRUE(store.has_value()) << store.error();
    auto s = (*store)->apply({all.begin(), all.begin() + 10});
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->applied, 10u);
    EXPECT_EQ((*store)->offsets().at(0), 10);
  }
  auto store = ReadModelStore::open(dir);
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ((*store)->offsets().at(0), 10) << "offsets survive a reopen";
  // A redelivery overlapping what was applied: the overlap is skipped, not applied twice.
  auto s = (*store)->apply({all.begin() + 5, all.end()});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->skipped, 5u);
  EXPECT_EQ(s->applied, all.size() - 10);
  EXPECT_EQ(s->rejected, 0u);
  std::filesystem::remove_all(dir);
}

TEST(Store, ReplayInOtherBatchSizesGivesTheSameHash) {
  const auto a = tmpdir("a");
  const auto b = tmpdir("b");
  const auto all = log();
  auto sa = ReadModelStore::open(a);
  auto sb = ReadModelStore::open(b);
  ASSERT_TRUE((*sa)->apply(all).has_value());
  for (std::size_t i = 0; i < all.size(); i += 7) {
    ASSERT_TRUE((*sb)->apply({all.begin() + i, all.begin() + std::min(all.size(), i + 7)}).has_value());
  }
  EXPECT_EQ(hash_read_models(*(*sa)->db()), hash_read_models(*(*sb)->db()));
  ASSERT_TRUE((*sb)->apply({msg(52, "database.defined", "database/u", 1, R"({"key":"u","name":"U"})")}).has_value());
  EXPECT_NE(hash_read_models(*(*sa)->db()), hash_read_models(*(*sb)->db()));
  sa->reset();
  sb->reset();
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST(Store, UndecodableEventsAreCountedAndPassed) {
  const auto dir = tmpdir("bad");
  auto store = ReadModelStore::open(dir);
  auto s = (*store)->apply({events::Message{Position{0, 0}, kWs, "not json", ""}, log()[0]});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->rejected, 1u);
  EXPECT_EQ(s->applied, 0u) << "workspace.created at offset 0 was already passed by the bad event";
  EXPECT_EQ((*store)->offsets().at(0), 1);
  store->reset();
  std::filesystem::remove_all(dir);
}

// A log the real decisions write (every event one the command service could have appended):
// three clients, so that a type-wide re-projection forks; a contact of the first.
class DecidedLog {
 public:
  static constexpr const char* kAdmin = "0190a000-0000-7000-8000-00000000ad01";
  static constexpr const char* kContact = "0190a000-0000-7000-8000-0000000000e1";
  DecidedLog() {
    commit(*decide_create_workspace(*parse_json(R"({"name":"A","admin":{"email":"a@x.io","name":"A","password":"0123456789"}})"), kWs,
                                    kAdmin));
    commit(*decide_define_database(ws(), *parse_json(R"({"key":"tickets","name":"Tickets"})")));
    for (const char* c : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"text"})", R"({"key":"priority","name":"Priority","type":"number"})"}) {
      commit(*decide_add_column(ws(), "tickets", *parse_json(c)));
    }
    commit(*decide_define_client_type(ws(), *parse_json(R"({"key":"retainer","name":"Retainer"})")));
    commit(*decide_define_portal_role(ws(), *parse_json(R"({"key":"stakeholder","name":"Stakeholder"})")));
    for (int c = 0; c < 3; ++c) {
      clients.push_back("0190a000-0000-7000-8000-0000000000c" + std::to_string(c));
      commit(*decide_create_client(ws(), *parse_json(R"({"name":"C","client_type":"retainer"})"), clients.back()));
    }
    commit(*decide_invite_contact(ws(), clients[0], *parse_json(R"({"email":"ada@c.io","name":"Ada","role":"stakeholder"})"), kContact,
                                  TimestampMs{0}));
  }
  void policy(const char* body) {
    commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets", *parse_json(body)));
  }
  void remove_policy() { commit(*decide_remove_policy(ws(), "type:retainer", "stakeholder", "tickets")); }
  void update(const std::string& id, const std::string& body) {
    auto d = decide_update_record(ws(), "tickets", id, *parse_json(body), ws().record("tickets", id)->version);
    ASSERT_TRUE(d.has_value()) << d.error().detail;
    commit(*d);
  }
  void remove(const std::string& id) {
    auto d = decide_delete_record(ws(), "tickets", id, ws().record("tickets", id)->version);
    ASSERT_TRUE(d.has_value()) << d.error().detail;
    commit(*d);
  }
  std::string record(int i) {
    const std::string id = "0190a000-0000-7000-8000-0000000" + std::to_string(10000 + i);
    const std::string fields = R"({"fields":{"owner":")" + clients[static_cast<std::size_t>(i) % 3] + R"(","title":"T)" +
                               std::to_string(i) + R"(","status":"open","priority":)" + std::to_string(i % 10) + "}}";
    commit(decide_create_record(ws(), "tickets", *parse_json(fields), id, kAdmin, std::nullopt)->drafts);
    return id;
  }
  const WorkspaceState& ws() const { return *wm_.workspace(kWs); }
  std::vector<std::string> clients;
  std::vector<events::Message> messages;

 private:
  void commit(const std::vector<Draft>& drafts) {
    for (const auto& d : drafts) {
      Envelope e{"e" + std::to_string(offset_), d.type, 1, kWs, d.stream, d.seq, TimestampMs{1'795'000'000'000 + offset_},
                 Actor{"user", kAdmin}, kAdmin, "", d.data};
      e.v = events::current_version(e.type);
      ASSERT_TRUE(wm_.apply(e, Position{0, offset_}).has_value()) << d.type;
      messages.push_back({Position{0, offset_++}, kWs, events::encode(e), e.type});
    }
  }
  WriteModel wm_;
  std::int64_t offset_ = 0;
};

// What `set` is sent for record `id`, read from the store as the query service reads it.
std::optional<std::string> served(rocksdb::DB& db, const std::string& set, const std::string& gen, const std::string& id) {
  StoreView view(db);
  return served_record(view, kWs, set, gen, "tickets", id);
}

std::size_t keys_under(rocksdb::DB& db, const std::string& prefix) {
  std::size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  return n;
}

TEST(Store, AColumnChangeMovesASetToItsNextGenerationAndDropsTheLastOneWhole) {
  DecidedLog log;
  log.policy(R"({"read":{"columns":["title","status"]}})");
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(log.record(i));
  log.policy(R"({"read":{"columns":["title","priority"],"filter":{"field":"priority","op":"lt","value":5}}})");  // gen 1
  const std::size_t after_first = log.messages.size();
  log.policy(R"({"read":{"columns":["priority","title"]}})");  // the same columns: the rows stay where they are
  log.policy(R"({"read":{"columns":["title","status"]}})");    // gen 2
  const auto& all = log.messages;
  const std::string set = log.clients[0] + ":stakeholder";
  const std::string ada = DecidedLog::kContact;

  const auto dir = tmpdir("gens");
  auto store = ReadModelStore::open(dir);
  ASSERT_TRUE((*store)->apply({all.begin(), all.begin() + static_cast<std::ptrdiff_t>(after_first)}).has_value());
  rocksdb::DB& db = *(*store)->db();  // (which waits for RocksDB to have the batch)
  std::string route;
  ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), keys::route(kWs, ada, "tickets"), &route).ok());
  EXPECT_EQ(route, set + "/1");
  EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, set, "tickets", "")), 0u) << "the first rows are gone whole";
  EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, set, "tickets", "1")), 5u) << "client 0's records with priority < 5";
  auto three = parse_json(served(db, set, "1", ids[3]).value_or(""));
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->string_or("id", ""), ids[3]);
  EXPECT_EQ(to_json(*three->find("fields")), R"({"owner":")" + log.clients[0] + R"(","priority":3,"title":"T3"})");
  EXPECT_FALSE(served(db, set, "1", ids[6]).has_value()) << "priority 6 is filtered out";
  EXPECT_FALSE(served(db, set, "", ids[3]).has_value());

  ASSERT_TRUE((*store)->apply({all.begin() + static_cast<std::ptrdiff_t>(after_first), all.end()}).has_value());
  ASSERT_EQ((*store)->db(), &db);  // waits for the batch again
  ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), keys::route(kWs, ada, "tickets"), &route).ok());
  EXPECT_EQ(route, set + "/2") << "a filter change alone keeps the generation; the columns change moves it";
  EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, set, "tickets", "1")), 0u);
  EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, set, "tickets", "2")), 10u);
  EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, log.clients[1] + ":stakeholder", "tickets", "2")), 10u);
  auto row = parse_json(*served(db, set, "2", ids[6]));
  EXPECT_EQ(to_json(*row->find("fields")), R"({"owner":")" + log.clients[0] + R"(","status":"open","title":"T6"})");
  const std::string hash = hash_read_models(db);

  // The same log in other batch sizes (one event at a time: every drop reaches RocksDB on its
  // own; in sevens: drops and rows of several changes share a batch) gives the same store.
  for (const std::size_t size : {std::size_t{1}, std::size_t{7}}) {
    const auto other = tmpdir("gens-" + std::to_string(size));
    auto s2 = ReadModelStore::open(other);
    for (std::size_t i = 0; i < all.size(); i += size) {
      ASSERT_TRUE((*s2)->apply({all.begin() + static_cast<std::ptrdiff_t>(i), all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + size))})
                      .has_value());
    }
    EXPECT_EQ(hash_read_models(*(*s2)->db()), hash) << "batches of " << size;
    s2->reset();
    std::filesystem::remove_all(other);
  }
  store->reset();
  auto reopened = ReadModelStore::open(dir);
  EXPECT_EQ(hash_read_models(*(*reopened)->db()), hash) << "the range deletions hold after a reopen";
  reopened->reset();
  std::filesystem::remove_all(dir);
}

TEST(Store, ASetThatGoesAndComesBackNeverUsesAGenerationTwice) {
  DecidedLog log;
  log.policy(R"({"read":{"columns":["title","status"]}})");
  for (int i = 0; i < 6; ++i) log.record(i);
  log.policy(R"({"read":{"columns":["title"]}})");  // gen 1
  log.remove_policy();                              // the set goes; its generation key stays
  log.policy(R"({"read":{"columns":["title"]}})");  // back, in generation 1 (emptied when it went)
  log.policy(R"({"read":{"columns":["status"]}})"); // gen 2: never used before
  const std::string set = log.clients[0] + ":stakeholder";
  std::string hash;
  for (const std::size_t size : {log.messages.size(), std::size_t{1}, std::size_t{3}}) {
    const auto dir = tmpdir("again-" + std::to_string(size));
    auto store = ReadModelStore::open(dir);
    for (std::size_t i = 0; i < log.messages.size(); i += size) {
      ASSERT_TRUE((*store)->apply({log.messages.begin() + static_cast<std::ptrdiff_t>(i),
                                   log.messages.begin() + static_cast<std::ptrdiff_t>(std::min(log.messages.size(), i + size))})
                      .has_value());
    }
    rocksdb::DB& db = *(*store)->db();
    std::string route;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), keys::route(kWs, DecidedLog::kContact, "tickets"), &route).ok());
    EXPECT_EQ(route, set + "/2");
    EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, set, "tickets", "1")), 0u);
    EXPECT_EQ(keys_under(db, keys::list_prefix(kWs, set, "tickets", "2")), 2u) << "client 0 owns records 0 and 3";
    if (hash.empty()) hash = hash_read_models(db);
    EXPECT_EQ(hash_read_models(db), hash) << "batches of " << size;
    store->reset();
    std::filesystem::remove_all(dir);
  }
}

TEST(Store, AViewReadsARouteAndTheRowsItNamesFromOneState) {
  DecidedLog log;
  log.policy(R"({"read":{"columns":["title","status"]}})");
  const std::string id = log.record(0);
  const std::size_t before = log.messages.size();
  log.policy(R"({"read":{"columns":["title"]}})");  // gen 1: the rows move, the old ones are dropped
  const auto dir = tmpdir("view");
  auto store = ReadModelStore::open(dir);
  ASSERT_TRUE((*store)->apply({log.messages.begin(), log.messages.begin() + static_cast<std::ptrdiff_t>(before)}).has_value());
  auto view = std::make_unique<StoreView>(*(*store)->db());
  ASSERT_TRUE((*store)->apply({log.messages.begin() + static_cast<std::ptrdiff_t>(before), log.messages.end()}).has_value());
  (void)(*store)->db();  // the batch has landed
  // The view still reads the route as it was, and the rows that route names are still there.
  const auto route = keys::parse_route(view->get(keys::route(kWs, DecidedLog::kContact, "tickets")).value_or(""));
  EXPECT_EQ(route.gen, "");
  auto row = served_record(*view, kWs, route.set, route.gen, "tickets", id);
  ASSERT_TRUE(row.has_value());
  EXPECT_NE(row->find(R"("status":"open")"), std::string::npos);
  // A new view sees the new generation, and nothing of the old one.
  view.reset();
  auto now_view = std::make_unique<StoreView>(*(*store)->db());
  StoreView& now = *now_view;
  const auto moved = keys::parse_route(now.get(keys::route(kWs, DecidedLog::kContact, "tickets")).value_or(""));
  EXPECT_EQ(moved.gen, "1");
  EXPECT_FALSE(served_record(now, kWs, moved.set, "", "tickets", id).has_value());
  row = served_record(now, kWs, moved.set, moved.gen, "tickets", id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->find(R"("status")"), std::string::npos);
  EXPECT_THROW(now.put("k", "v"), std::logic_error);
  now_view.reset();  // (views go before their store)
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST(Store, TheHashLeavesOutRowsOfAGenerationNoSetNames) {
  DecidedLog log;
  log.policy(R"({"read":{"columns":["title","status"]}})");
  log.record(0);
  log.policy(R"({"read":{"columns":["title"]}})");  // gen 1
  const auto dir = tmpdir("unnamed");
  auto store = ReadModelStore::open(dir);
  ASSERT_TRUE((*store)->apply(log.messages).has_value());
  rocksdb::DB& db = *(*store)->db();
  const std::string set = log.clients[0] + ":stakeholder";
  const std::string hash = hash_read_models(db);
  // Rows written ahead of a batch that never landed (the projector killed in between).
  ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), keys::list_prefix(kWs, set, "tickets", "2") + keys::order_key(99), "{}").ok());
  EXPECT_EQ(hash_read_models(db), hash);
  // A row in the generation the set names is a read model: the hash sees it (negative control).
  ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), keys::list_prefix(kWs, set, "tickets", "1") + keys::order_key(99), "{}").ok());
  EXPECT_NE(hash_read_models(db), hash);
  store->reset();
  std::filesystem::remove_all(dir);
}

// A log that reads back what it wrote in every way the projection does: records it changes,
// sets and generations its policy changes move (and drop whole), rows the forks of a
// re-projection write ahead.
std::vector<events::Message> read_back_log() {
  DecidedLog log;
  log.policy(R"({"read":{"columns":["title","status"]}})");
  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i) ids.push_back(log.record(i));
  for (int i = 0; i < 24; i += 3) log.update(ids[static_cast<std::size_t>(i)], R"({"fields":{"status":"done"}})");
  log.remove(ids[4]);
  log.policy(R"({"read":{"columns":["title","priority"],"filter":{"field":"status","op":"eq","value":"done"}}})");
  for (int i = 24; i < 30; ++i) ids.push_back(log.record(i));
  log.update(ids[3], R"({"fields":{"title":"seen before and after"}})");  // reads its row the forks wrote ahead
  log.update(ids[25], R"({"fields":{"status":"done","title":"again"}})");
  log.update(ids[1], R"({"fields":{"status":"done"}})");
  log.policy(R"({"read":{"columns":["status"]}})");
  for (int i = 30; i < 36; ++i) ids.push_back(log.record(i));
  log.update(ids[31], R"({"fields":{"status":"done"}})");
  log.update(ids[6], R"({"fields":{"title":"after the last policy"}})");
  return std::move(log.messages);
}

// Applies all[from, to) in batches of `size`, none rejected.
void apply_in(ReadModelStore& store, const std::vector<events::Message>& all, std::size_t from, std::size_t to,
              std::size_t size) {
  for (std::size_t i = from; i < to; i += size) {
    auto s = store.apply({all.begin() + static_cast<std::ptrdiff_t>(i),
                          all.begin() + static_cast<std::ptrdiff_t>(std::min(to, i + size))});
    ASSERT_TRUE(s.has_value()) << s.error();
    ASSERT_EQ(s->rejected, 0u);
  }
}

// The hash of a store that applied `all` in one batch with the default options.
std::string plain_hash(const std::vector<events::Message>& all) {
  const auto dir = tmpdir("plain");
  auto plain = ReadModelStore::open(dir);
  apply_in(**plain, all, 0, all.size(), all.size());
  std::string hash = hash_read_models(*(*plain)->db());
  plain->reset();
  std::filesystem::remove_all(dir);
  return hash;
}

// `options` build the same store as the default ones: in any batch size, and when it is opened
// again half-way and finished.
void expect_same_store(const StoreOptions& options, const std::string& name) {
  const auto all = read_back_log();
  const std::string hash = plain_hash(all);
  for (const std::size_t size : {all.size(), std::size_t{1}, std::size_t{4}}) {
    const auto dir = tmpdir(name + "-" + std::to_string(size));
    auto store = ReadModelStore::open(dir, options);
    ASSERT_TRUE(store.has_value()) << store.error();
    apply_in(**store, all, 0, all.size(), size);
    EXPECT_EQ(hash_read_models(*(*store)->db()), hash) << "batches of " << size;
    store->reset();
    std::filesystem::remove_all(dir);
  }
  const auto dir = tmpdir(name + "-reopened");
  {
    auto store = ReadModelStore::open(dir, options);
    apply_in(**store, all, 0, all.size() / 2, 5);
  }
  auto store = ReadModelStore::open(dir, options);  // not empty: no filter of written keys now
  apply_in(**store, all, all.size() / 2, all.size(), 5);
  EXPECT_EQ(hash_read_models(*(*store)->db()), hash) << "opened again half-way";
  store->reset();
  std::filesystem::remove_all(dir);
}

// A rebuild keeps a filter of the keys it wrote and reads no key outside it from RocksDB. What
// it reads back must all be found.
TEST(Store, AStoreFilteringTheKeysItWroteEndsTheSameAsOneThatDoesNot) {
  expect_same_store({.filter_written_keys = true}, "filtered");
}

// A rebuild writing table files of its own reads what it wrote back from its windows (the open
// one, the full ones waiting for their file), and from the files once RocksDB has them. Windows
// of one byte make a file of every batch (and keep the applying thread waiting for the writer);
// windows of 64 kB hold several batches, so that a drop, a write and a read of one key meet in
// one window.
TEST(Store, AStoreWritingItsOwnTablesEndsTheSameAsOneThatDoesNot) {
  for (const std::size_t window : {std::size_t{1}, std::size_t{64} << 10}) {
    for (const bool filtered : {false, true}) {
      SCOPED_TRACE("windows of " + std::to_string(window) + " bytes" + (filtered ? ", filtered" : ""));
      expect_same_store({.write_ahead_log = false, .filter_written_keys = filtered, .own_tables = true,
                         .own_table_bytes = window},
                        "own-" + std::to_string(window) + (filtered ? "-filtered" : ""));
    }
  }
}

TEST(Store, AStoreWritingItsOwnTablesRemovesAFileARunCutShortLeft) {
  const auto dir = tmpdir("own-leftover");
  {
    auto store = ReadModelStore::open(dir, {.write_ahead_log = false, .own_tables = true});
    ASSERT_TRUE(store.has_value()) << store.error();
  }
  const auto leftover = std::filesystem::path(dir) / "bulk-3.sst";
  { std::ofstream(leftover) << "half a table file"; }
  auto store = ReadModelStore::open(dir, {.write_ahead_log = false, .own_tables = true});
  ASSERT_TRUE(store.has_value()) << store.error();
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / "CURRENT")) << "RocksDB's own files stay";
  store->reset();
  std::filesystem::remove_all(dir);
}

// A rebuild leaves one level-0 file per window; compacted, the store holds the same read models
// in its last level and nothing in level 0.
TEST(Store, ARebuildCompactedHoldsTheSameReadModels) {
  const auto all = read_back_log();
  const auto dir = tmpdir("compacted");
  std::string hash;
  {
    auto store = ReadModelStore::open(dir, {.write_ahead_log = false, .compact = false, .own_tables = true,
                                            .own_table_bytes = 1});
    ASSERT_TRUE(store.has_value()) << store.error();
    apply_in(**store, all, 0, all.size(), 4);
    hash = hash_read_models(*(*store)->db());
    std::string files;
    ASSERT_TRUE((*store)->db()->GetProperty("rocksdb.num-files-at-level0", &files));
    EXPECT_GT(std::stoi(files), 10) << "a file per window";
  }
  auto took = compact_read_models(dir);
  ASSERT_TRUE(took.has_value()) << took.error();
  auto store = ReadModelStore::open(dir);
  ASSERT_TRUE(store.has_value()) << store.error();
  std::string files;
  ASSERT_TRUE((*store)->db()->GetProperty("rocksdb.num-files-at-level0", &files));
  EXPECT_EQ(files, "0");
  EXPECT_EQ(hash_read_models(*(*store)->db()), hash);
  EXPECT_EQ(hash, plain_hash(all));
  store->reset();
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(compact_read_models(dir).has_value()) << "no store there";
}

TEST(Store, OwnTablesNeedTheWriteAheadLogOff) {
  const auto dir = tmpdir("own-with-log");
  auto store = ReadModelStore::open(dir, {.own_tables = true});
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().find("write-ahead log"), std::string::npos) << store.error();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace apexloop::projector
