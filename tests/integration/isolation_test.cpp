// The isolation property test (issue: per-client projections). Seeded random workspaces and
// command sequences run through the real stack; after every step every contact's every read
// (databases, paginated lists, records by id, other clients' ids) must equal what a plain oracle
// computes from the commands alone, and no answer may carry another client's canary or any
// internal column's canary. A failing seed is printed; add it to kRegressionSeeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>

#include "harness.hpp"
#include "stack.hpp"

namespace apexloop::testing {
namespace {

// Seeds that once failed stay here for good, each with a one-line why.
const std::vector<std::uint64_t> kRegressionSeeds = {
    6765469567945439077ull,  // removing a policy dropped a set without re-projecting relations that pointed into it
    11867104852379403304ull,  // a set's rows taken as its old membership: a record a relation pass had just put in lost its approvals
};
constexpr int kSteps = 60;

struct Comment {
  std::string id, body;
  bool client = false;             // client-visible; otherwise an internal note
  std::string author;              // the contact that wrote it; empty for the admin
  std::vector<std::string> files;  // the names of its live files, in upload order
};

struct Approval {
  std::string id, title, status = "pending";
};

struct Record {
  std::string id;
  std::uint64_t version = 1;
  Json::Object fields;
  std::map<std::string, std::uint64_t> stamps;  // field -> the version that last changed it (cleared ones too)
  std::vector<Comment> comments;    // live ones, oldest first
  std::vector<Approval> approvals;  // oldest first
};

struct Contact {
  std::string id, client, role, token;
  bool active = true;
};

using Key = std::tuple<std::string, std::string, std::string>;  // scope, role, db

// The plain oracle: what each contact may see, computed from the commands sent, with its own
// filter evaluator (deliberately not the product's access code).
struct Oracle {
  std::map<std::string, std::string> type_of;  // client -> client type
  std::set<std::string> archived;
  std::vector<Contact> contacts;
  std::map<Key, Json> policies;
  std::map<std::string, std::vector<Record>> records;  // db -> in creation order

  const Json* policy(const Contact& c, const std::string& db) const {
    if (archived.contains(c.client)) return nullptr;
    if (auto it = policies.find({"client:" + c.client, c.role, db}); it != policies.end()) return &it->second;
    if (auto it = policies.find({"type:" + type_of.at(c.client), c.role, db}); it != policies.end()) return &it->second;
    return nullptr;
  }

  static bool uses_contact(const Json& f) {
    if (const Json* v = f.find("value"); v != nullptr && v->is_object()) return true;
    for (const char* k : {"all", "any"}) {
      if (const Json* list = f.find(k)) {
        for (const auto& x : list->as_array()) {
          if (uses_contact(x)) return true;
        }
      }
    }
    if (const Json* n = f.find("not")) return uses_contact(*n);
    return false;
  }

  static bool eval(const Json& f, const Json::Object& fields, const Contact& c, bool shared) {
    if (const Json* all = f.find("all")) {
      return std::all_of(all->as_array().begin(), all->as_array().end(), [&](const Json& x) { return eval(x, fields, c, shared); });
    }
    if (const Json* any = f.find("any")) {
      return std::any_of(any->as_array().begin(), any->as_array().end(), [&](const Json& x) { return eval(x, fields, c, shared); });
    }
    if (const Json* n = f.find("not")) return !eval(*n, fields, c, shared);
    const std::string field(f.string_or("field", ""));
    const std::string op(f.string_or("op", ""));
    auto it = fields.find(field);
    const Json* actual = it == fields.end() || it->second.is_null() ? nullptr : &it->second;
    Json value = f.find("value") != nullptr ? *f.find("value") : Json();
    if (value.is_object()) value = Json(shared ? std::string() : c.id);  // {"var":"contact.id"}
    if (op == "is_empty") return actual == nullptr || (actual->is_string() && actual->as_string().empty());
    if (op == "ne") return actual == nullptr || !(*actual == value);
    if (actual == nullptr) return false;
    if (op == "eq") return *actual == value;
    if (op == "in") {
      const auto& l = value.as_array();
      return std::find(l.begin(), l.end(), *actual) != l.end();
    }
    if (op == "gt") return actual->as_number() > value.as_number();
    if (op == "lte") return actual->as_number() <= value.as_number();
    if (op == "contains") return actual->as_string().find(value.as_string()) != std::string::npos;
    ADD_FAILURE() << "oracle: unknown op " << op;
    return false;
  }

  bool visible(const Contact& c, const std::string& db, const Record& r, bool shared = false) const {
    const Json* p = policy(c, db);
    if (p == nullptr || !c.active) return false;
    auto owner = r.fields.find("owner");
    if (owner == r.fields.end() || owner->second != Json(c.client)) return false;
    const Json* filter = p->find("read")->find("filter");
    return filter == nullptr || eval(*filter, r.fields, c, shared);
  }

  const Record* find(const std::string& db, const std::string& id) const {
    for (const auto& r : records.at(db)) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }
  Record* find_mut(const std::string& db, const std::string& id) {
    for (auto& r : records.at(db)) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }

  std::set<std::string> readable(const Contact& c, const std::string& db) const {
    std::set<std::string> out{"owner"};
    for (const auto& col : policy(c, db)->find("read")->find("columns")->as_array()) out.insert(col.as_string());
    return out;
  }

  // Issue 5: the version a contact is shown (and edits against) is that of the last change to a
  // column it reads, or 1; an edit of anything else moves nothing it sees.
  std::uint64_t shown_version(const Contact& c, const std::string& db, const Record& r) const {
    std::uint64_t v = 1;
    for (const auto& col : readable(c, db)) {
      if (auto it = r.stamps.find(col); it != r.stamps.end()) v = std::max(v, it->second);
    }
    return v;
  }

  Json::Object view(const Contact& c, const std::string& db, const Record& r) const {
    const std::set<std::string> readable = this->readable(c, db);
    Json::Object out;
    for (const auto& [k, v] : r.fields) {
      if (!readable.contains(k) || v.is_null()) continue;
      if (k == "link") {
        // A relation keeps only targets this contact can see; beta is always a shared set, so a
        // target in an alpha filtered by contact.id is never shown there.
        const Json* ap = policy(c, "alpha");
        Json::Array kept;
        for (const auto& id : v.as_array()) {
          const Record* t = find("alpha", id.as_string());
          const bool per_contact = ap != nullptr && ap->find("read")->find("filter") != nullptr &&
                                   uses_contact(*ap->find("read")->find("filter"));
          if (t != nullptr && !per_contact && visible(c, "alpha", *t, true)) kept.push_back(id);
        }
        if (!kept.empty()) out.emplace(k, Json(std::move(kept)));
        continue;
      }
      out.emplace(k, v);
    }
    return out;
  }
};

class Isolation {
 public:
  Isolation(Stack& stack, std::uint64_t seed) : stack_(stack), seed_(seed), rng_(seed) {}

  void run() {
    setup();
    note_visibility();
    for (step_ = 0; step_ < kSteps && !::testing::Test::HasFatalFailure(); ++step_) {
      act();
      comment_act();
      check_everyone();
    }
  }

  std::size_t checks = 0;
  std::size_t mismatches = 0;
  std::size_t hidden_moves = 0;  // reads where the contact's version was below the real one
  std::size_t stale_probes = 0;  // contact edits sent with the real version, which it was not shown

 private:
  // ---- the admin's side ----
  HttpResult admin(const std::string& method, const std::string& target, const std::string& body = "",
                   std::map<std::string, std::string> h = {}) {
    h["Authorization"] = "Bearer " + admin_token_;
    if (!body.empty()) h["Content-Type"] = "application/json";
    auto r = http_request(stack_.origin, method, target, body, h);
    if (const auto p = r.header("apexloop-position"); !p.empty()) position_ = p;
    if (r.status >= 300) ADD_FAILURE() << where() << method << " " << target << " " << body << " -> " << r.status << " " << r.body;
    return r;
  }

  void setup() {
    auto ws = http_request(stack_.origin, "POST", "/api/v1/workspaces",
                           R"({"name":"Isolation","admin":{"email":"admin@iso.test","name":"Admin","password":"admin password 123"}})",
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
    ASSERT_EQ(ws.status, 201) << ws.body;
    const std::string workspace(json_of(ws).string_or("workspace_id", ""));
    auto session = http_request(stack_.origin, "POST", "/api/v1/sessions",
                                R"({"workspace":")" + workspace + R"(","email":"admin@iso.test","password":"admin password 123"})",
                                {{"Content-Type", "application/json"}});
    admin_token_ = std::string(json_of(session).string_or("token", ""));
    for (const char* t : {"retainer", "project", "enterprise"}) admin("POST", "/api/v1/client-types", R"({"key":")" + std::string(t) + R"(","name":"T"})");
    for (const char* r : {"stakeholder", "billing"}) admin("POST", "/api/v1/portal-roles", R"({"key":")" + std::string(r) + R"(","name":"R"})");
    admin("POST", "/api/v1/databases", R"({"key":"alpha","name":"Alpha"})");
    admin("POST", "/api/v1/databases", R"({"key":"beta","name":"Beta"})");
    for (const char* db : {"alpha", "beta"}) {
      const std::string path = "/api/v1/databases/" + std::string(db) + "/columns";
      admin("POST", path, R"({"key":"owner","name":"Client","type":"client"})");
      admin("POST", path, R"({"key":"title","name":"Title","type":"text"})");
      admin("POST", path, R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","review","done"]}})");
      admin("POST", path, R"({"key":"secret","name":"Secret","type":"text","internal":true})");
      oracle_.records[db];
    }
    admin("POST", "/api/v1/databases/alpha/columns", R"({"key":"priority","name":"Priority","type":"number"})");
    admin("POST", "/api/v1/databases/alpha/columns", R"({"key":"docs","name":"Docs","type":"file"})");
    admin("POST", "/api/v1/databases/alpha/columns", R"({"key":"requester","name":"Requester","type":"contact"})");
    admin("POST", "/api/v1/databases/beta/columns", R"({"key":"link","name":"Link","type":"relation","options":{"database":"alpha"}})");
    const int clients = 3 + pick(2);
    for (int i = 0; i < clients; ++i) {
      const std::string type = pick_of(std::vector<std::string>{"retainer", "project", "enterprise"});
      auto r = admin("POST", "/api/v1/clients", R"({"name":"Client )" + std::to_string(i) + R"(","client_type":")" + type + R"("})");
      const std::string id(json_of(r).string_or("id", ""));
      oracle_.type_of[id] = type;
      clients_.push_back(id);
      for (int k = 0; k < 2; ++k) invite(id);
    }
    for (int i = 0; i < 6; ++i) set_random_policy();
    for (int i = 0; i < 12; ++i) create_record();
  }

  void invite(const std::string& client) {
    const std::string role = pick_of(std::vector<std::string>{"stakeholder", "billing"});
    const std::string email = "c" + std::to_string(oracle_.contacts.size()) + "-" + std::to_string(seed_) + "@iso.test";
    auto inv = json_of(admin("POST", "/api/v1/clients/" + client + "/contacts",
                             R"({"email":")" + email + R"(","name":"C","role":")" + role + R"("})"));
    auto accepted = http_request(stack_.origin, "POST", "/api/v1/invitations/" + std::string(inv.string_or("invitation_token", "")) + "/accept",
                                 R"({"password":"contact password 1"})", {{"Content-Type", "application/json"}});
    ASSERT_EQ(accepted.status, 201) << accepted.body;
    position_ = accepted.header("apexloop-position");
    oracle_.contacts.push_back({std::string(inv.string_or("id", "")), client, role, std::string(json_of(accepted).string_or("token", "")), true});
  }

  Json random_filter(const std::string& db, int depth = 0) {
    const int kind = pick(depth < 2 ? 9 : 6);
    const std::vector<std::string> statuses{"open", "review", "done"};
    switch (kind) {
      case 0: return parse(R"({"field":"status","op":"eq","value":")" + pick_of(statuses) + R"("})");
      case 1: return parse(R"({"field":"status","op":"ne","value":")" + pick_of(statuses) + R"("})");
      case 2: return parse(R"({"field":"status","op":"in","value":[")" + pick_of(statuses) + R"(",")" + pick_of(statuses) + R"("]})");
      case 3:
        if (db == "alpha") return parse(R"({"field":"priority","op":")" + pick_of(std::vector<std::string>{"gt", "lte"}) +
                                        R"(","value":)" + std::to_string(pick(10)) + "}");
        return parse(R"({"field":"link","op":"is_empty"})");
      case 4: return parse(R"({"field":"title","op":"contains","value":")" + pick_of(std::vector<std::string>{"a", "e", "x"}) + R"("})");
      case 5:
        if (db == "alpha") return parse(R"({"field":"requester","op":"eq","value":{"var":"contact.id"}})");
        return parse(R"({"field":"title","op":"is_empty"})");
      case 6: return Json(Json::Object{{"not", random_filter(db, depth + 1)}});
      default: {
        Json::Array parts{random_filter(db, depth + 1), random_filter(db, depth + 1)};
        return Json(Json::Object{{kind == 7 ? "all" : "any", Json(std::move(parts))}});
      }
    }
  }

  void set_random_policy() {
    const std::string db = pick_of(std::vector<std::string>{"alpha", "beta"});
    const std::string role = pick_of(std::vector<std::string>{"stakeholder", "billing"});
    const std::string scope = pick(3) == 0 ? "client:" + pick_of(active_clients())
                                           : "type:" + pick_of(std::vector<std::string>{"retainer", "project", "enterprise"});
    std::vector<std::string> candidates = db == "alpha" ? std::vector<std::string>{"title", "status", "priority", "requester"}
                                                        : std::vector<std::string>{"title", "status", "link"};
    Json::Array read, write;
    for (const auto& c : candidates) {
      if (pick(3) != 0) read.push_back(Json(c));
    }
    for (const auto& c : read) {
      if (pick(2) == 0) write.push_back(c);
    }
    // The file column is granted (to read) from the side stream, so older seeds keep their paths.
    if (db == "alpha" && cpick(2) == 0) read.push_back(Json("docs"));
    Json::Object read_part{{"columns", Json(read)}};
    if (pick(3) != 0) read_part.emplace("filter", random_filter(db));
    Json body(Json::Object{{"read", Json(std::move(read_part))},
                           {"write", Json(Json::Object{{"columns", Json(write)}, {"create", pick(2) == 0}})},
                           {"comment", cpick(2) == 0},
                           {"approve", cpick(2) == 0}});
    admin("PUT", "/api/v1/policies/" + scope + "/" + role + "/" + db, to_json(body));
    oracle_.policies[{scope, role, db}] = body;
  }

  Json::Object random_fields(const std::string& db, bool with_owner) {
    Json::Object f;
    if (with_owner && pick(10) != 0) {
      const std::string owner = pick_of(active_clients());
      f["owner"] = owner;
      f["title"] = "t" + std::string(pick(2) ? "a" : "e") + " CANARY-" + owner;
    } else if (with_owner) {
      f["title"] = "unowned";
    }
    f["status"] = pick_of(std::vector<std::string>{"open", "review", "done"});
    f["secret"] = "CANARY-INT-" + std::to_string(pick(1'000'000));
    if (db == "alpha") {
      f["priority"] = static_cast<std::int64_t>(pick(10));
      const auto contacts = active_contacts();
      if (pick(2) == 0 && !contacts.empty()) f["requester"] = pick_of(contacts)->id;
    } else if (!oracle_.records["alpha"].empty() && pick(2) == 0) {
      Json::Array links;
      for (int i = 0; i < 1 + pick(2); ++i) links.push_back(Json(pick_of(oracle_.records["alpha"]).id));
      std::sort(links.begin(), links.end(), [](const Json& a, const Json& b) { return a.as_string() < b.as_string(); });
      links.erase(std::unique(links.begin(), links.end()), links.end());
      f["link"] = Json(std::move(links));
    }
    return f;
  }

  void create_record() {
    const std::string db = pick_of(std::vector<std::string>{"alpha", "beta"});
    Json::Object fields = random_fields(db, true);
    auto r = admin("POST", "/api/v1/databases/" + db + "/records", to_json(Json(Json::Object{{"fields", Json(fields)}})));
    oracle_.records[db].push_back({std::string(json_of(r).string_or("id", "")), 1, fields});
  }

  static void merge(Record& rec, const Json::Object& change) {
    std::vector<std::string> changed;
    for (const auto& [k, v] : change) {
      auto it = rec.fields.find(k);
      const Json before = it == rec.fields.end() ? Json() : it->second;
      if (before == v) continue;
      changed.push_back(k);
      if (v.is_null()) {
        rec.fields.erase(k);
      } else {
        rec.fields[k] = v;
      }
    }
    if (changed.empty()) return;
    ++rec.version;
    for (const auto& k : changed) rec.stamps[k] = rec.version;
  }

  void update_record() {
    const std::string db = pick_of(std::vector<std::string>{"alpha", "beta"});
    if (oracle_.records[db].empty()) return;
    Record& rec = pick_of(oracle_.records[db]);
    Json::Object change = random_fields(db, pick(4) == 0);
    for (auto it = change.begin(); it != change.end();) it = pick(2) == 0 ? change.erase(it) : std::next(it);
    if (change.empty()) change["status"] = "done";
    // A title carries its owner's canary: owner and title change together, so a canary never
    // sits on another client's record by the test's own doing.
    const auto owner = change.contains("owner") ? change.at("owner") : (rec.fields.contains("owner") ? rec.fields.at("owner") : Json());
    if (change.contains("owner") || change.contains("title")) {
      change["title"] = owner.is_string() ? "t CANARY-" + owner.as_string() : "unowned";
    }
    admin("PATCH", "/api/v1/databases/" + db + "/records/" + rec.id, to_json(Json(Json::Object{{"fields", Json(change)}})),
          {{"If-Match", std::to_string(rec.version)}});
    merge(rec, change);
  }

  // A contact tries an edit; the oracle says what must happen.
  void contact_edit() {
    const auto contacts = active_contacts();
    if (contacts.empty()) return;
    const Contact& c = *pick_of(contacts);
    const std::string db = pick_of(std::vector<std::string>{"alpha", "beta"});
    if (oracle_.records[db].empty()) return;
    Record& rec = pick_of(oracle_.records[db]);
    const std::string column = pick_of(db == "alpha" ? std::vector<std::string>{"title", "status", "priority", "secret", "owner"}
                                                     : std::vector<std::string>{"title", "status", "secret", "owner"});
    Json value = column == "priority" ? Json(static_cast<std::int64_t>(pick(10)))
                 : column == "status" ? Json(pick_of(std::vector<std::string>{"open", "review", "done"}))
                 : column == "owner"  ? Json(pick_of(clients_))
                                      : Json("edit" + std::to_string(pick(100)));
    Json::Object change{{column, value}};
    int expected = 200;
    bool leaves_view = false;
    const Json* p = oracle_.policy(c, db);
    if (!oracle_.visible(c, db, rec)) {
      expected = 404;
    } else {
      bool writable = false;
      for (const auto& w : p->find("write")->find("columns")->as_array()) writable = writable || w.as_string() == column;
      Record after = rec;
      merge(after, change);
      if (!writable) {
        expected = 403;
      } else if (!oracle_.visible(c, db, after)) {
        expected = 403;
        leaves_view = true;  // decided after If-Match: a stale version is 409 first
      }
    }
    // The contact sends the version it is shown. Now and then, when an edit it cannot see made
    // the real version differ, it sends that one instead: never shown to it, so stale (409), and
    // whether it is the real one must not be learnt from the answer. (Own random stream: the
    // other steps and the regression seeds stay as they were.)
    std::uint64_t if_match = expected == 404 ? rec.version : oracle_.shown_version(c, db, rec);
    if (expected != 404 && if_match != rec.version && version_rng_() % 3 == 0) {
      if_match = rec.version;
      ++stale_probes;
      if (expected == 200 || leaves_view) expected = 409;
    }
    auto r = http_request(stack_.origin, "PATCH", "/api/v1/databases/" + db + "/records/" + rec.id,
                          to_json(Json(Json::Object{{"fields", Json(change)}})),
                          {{"Authorization", "Bearer " + c.token}, {"Content-Type", "application/json"},
                           {"If-Match", std::to_string(if_match)}, {"Apexloop-After", position_}});
    expect(r.status == expected, "contact edit " + column + " on " + db + "/" + rec.id + " with If-Match " + std::to_string(if_match) +
                                     ": expected " + std::to_string(expected) + ", got " + std::to_string(r.status) + " " + r.body);
    if (r.status == 200) {
      if (const auto pos = r.header("apexloop-position"); !pos.empty()) position_ = pos;
      merge(rec, change);
      const std::string shown = std::to_string(oracle_.shown_version(c, db, rec));
      expect(json_of(r).find("version") != nullptr && std::to_string(json_of(r).find("version")->as_int()) == shown &&
                 r.header("etag") == "\"" + shown + "\"",
             "contact edit answered version " + r.body + " etag " + r.header("etag") + ", expected " + shown);
    }
  }

  void act() {
    const int roll = pick(100);
    if (roll < 25) {
      create_record();
    } else if (roll < 50) {
      update_record();
    } else if (roll < 65) {
      set_random_policy();
    } else if (roll < 70 && !oracle_.policies.empty()) {
      auto it = oracle_.policies.begin();
      std::advance(it, pick(static_cast<int>(oracle_.policies.size())));
      const auto [scope, role, db] = it->first;
      if (scope.starts_with("client:") && oracle_.archived.contains(scope.substr(7))) return;
      admin("DELETE", "/api/v1/policies/" + scope + "/" + role + "/" + db);
      oracle_.policies.erase(it);
    } else if (roll < 73 && active_clients().size() > 2) {
      const std::string client = pick_of(active_clients());
      admin("DELETE", "/api/v1/clients/" + client);
      oracle_.archived.insert(client);
      for (auto& c : oracle_.contacts) {
        if (c.client == client) c.active = false;
      }
    } else if (roll < 76 && active_contacts().size() > 2) {
      Contact* c = pick_of(active_contacts());
      admin("DELETE", "/api/v1/contacts/" + c->id);
      c->active = false;
    } else if (roll < 81) {
      const std::string client = pick_of(active_clients());
      const std::string type = pick_of(std::vector<std::string>{"retainer", "project", "enterprise"});
      if (type != oracle_.type_of[client]) {
        admin("PATCH", "/api/v1/clients/" + client, R"({"client_type":")" + type + R"("})");
        oracle_.type_of[client] = type;
      }
    } else if (roll < 83) {
      const std::string db = pick_of(std::vector<std::string>{"alpha", "beta"});
      auto& list = oracle_.records[db];
      if (list.empty()) return;
      const std::size_t i = static_cast<std::size_t>(pick(static_cast<int>(list.size())));
      admin("DELETE", "/api/v1/databases/" + db + "/records/" + list[i].id);
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      contact_edit();
    }
  }

  // ---- comments, drawn from their own random stream so that the other steps (and the
  // regression seeds) stay as they were ----
  void comment_act() {
    const std::string db = cpick(2) == 0 ? "alpha" : "beta";
    auto& list = oracle_.records[db];
    if (list.empty()) return;
    Record& rec = list[static_cast<std::size_t>(cpick(static_cast<int>(list.size())))];
    const int roll = cpick(16);
    if (roll == 13) return upload(db, rec);
    if (roll == 14) return comment_file(db, rec);
    if (roll == 15) return remove_file();
    if (roll >= 10) return approval_act(db, rec, roll);
    if (roll < 4) {
      // Internal notes carry the internal canary that every read is scanned for.
      const bool client = cpick(2) == 0;
      const std::string body = client ? "note " + std::to_string(++comment_n_) : "CANARY-INT-NOTE " + std::to_string(++comment_n_);
      auto r = admin("POST", "/api/v1/databases/" + db + "/records/" + rec.id + "/comments",
                     to_json(Json(Json::Object{{"body", body}, {"visibility", client ? "client" : "internal"}})));
      rec.comments.push_back({std::string(json_of(r).string_or("id", "")), body, client, "", {}});
    } else if (roll < 6 && !rec.comments.empty()) {
      auto& c = rec.comments[static_cast<std::size_t>(cpick(static_cast<int>(rec.comments.size())))];
      if (c.body.starts_with("from contact")) return;  // only its author may change it
      c.body += " (edited)";
      admin("PATCH", "/api/v1/comments/" + c.id, to_json(Json(Json::Object{{"body", c.body}})));
    } else if (roll < 7 && !rec.comments.empty()) {
      const auto i = static_cast<std::size_t>(cpick(static_cast<int>(rec.comments.size())));
      if (rec.comments[i].body.starts_with("from contact")) return;
      admin("DELETE", "/api/v1/comments/" + rec.comments[i].id);
      rec.comments.erase(rec.comments.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      auto contacts = active_contacts();
      if (contacts.empty()) return;
      const Contact& c = *contacts[static_cast<std::size_t>(cpick(static_cast<int>(contacts.size())))];
      const std::string body = "from contact " + std::to_string(++comment_n_);
      auto r = http_request(stack_.origin, "POST", "/api/v1/databases/" + db + "/records/" + rec.id + "/comments",
                            to_json(Json(Json::Object{{"body", body}})),
                            {{"Authorization", "Bearer " + c.token}, {"Content-Type", "application/json"}});
      const Json* policy = oracle_.policy(c, db);
      const int expected = !oracle_.visible(c, db, rec) ? 404 : policy->find("comment")->as_bool() ? 201 : 403;
      expect(r.status == expected, "contact comment on " + db + "/" + rec.id + ": expected " + std::to_string(expected) +
                                       ", got " + std::to_string(r.status) + " " + r.body);
      if (r.status == 201) {
        position_ = r.header("apexloop-position");
        rec.comments.push_back({std::string(json_of(r).string_or("id", "")), body, true, c.id, {}});
      }
    }
  }

  // Approvals: the admin asks; a contact decides, with the status the oracle expects.
  void approval_act(const std::string& db, Record& rec, int roll) {
    if (roll == 10 || rec.approvals.empty()) {
      const std::string title = "approval " + std::to_string(++comment_n_);
      auto r = admin("POST", "/api/v1/databases/" + db + "/records/" + rec.id + "/approvals", R"({"title":")" + title + R"("})");
      rec.approvals.push_back({std::string(json_of(r).string_or("id", "")), title});
      return;
    }
    auto contacts = active_contacts();
    if (contacts.empty()) return;
    const Contact& c = *contacts[static_cast<std::size_t>(cpick(static_cast<int>(contacts.size())))];
    Approval& a = rec.approvals[static_cast<std::size_t>(cpick(static_cast<int>(rec.approvals.size())))];
    const std::string decision = std::vector<std::string>{"approved", "rejected", "changes_requested"}[static_cast<std::size_t>(cpick(3))];
    auto r = http_request(stack_.origin, "POST", "/api/v1/approvals/" + a.id + "/decision", R"({"decision":")" + decision + R"("})",
                          {{"Authorization", "Bearer " + c.token}, {"Content-Type", "application/json"}});
    const Json* policy = oracle_.policy(c, db);
    const int expected = !oracle_.visible(c, db, rec)             ? 404
                         : !policy->find("approve")->as_bool()   ? 403
                         : a.status != "pending"                  ? 409
                                                                  : 200;
    expect(r.status == expected, "decision on " + a.id + ": expected " + std::to_string(expected) + ", got " +
                                     std::to_string(r.status) + " " + r.body);
    if (r.status == 200) {
      position_ = r.header("apexloop-position");
      a.status = decision;
    }
  }

  // The admin attaches a file, its name carrying the record's client canary; the oracle learns
  // the file column's new value from the admin's own read.
  void upload(const std::string& db, Record& rec) {
    if (db != "alpha") return;
    const std::string n = std::to_string(++comment_n_);
    const auto owner = rec.fields.contains("owner") ? rec.fields.at("owner") : Json("none");
    const std::string name = "file " + n + " CANARY-" + (owner.is_string() ? owner.as_string() : "none") + ".txt";
    auto r = admin("POST", "/api/v1/databases/alpha/records/" + rec.id + "/files?column=docs", "bytes of file " + n,
                   {{"X-Filename", name}, {"Content-Type", "text/plain"}});
    if (r.status != 201) return;
    const std::string file(json_of(r).string_or("file_id", ""));
    auto back = admin("GET", "/api/v1/databases/alpha/records/" + rec.id, "", {{"Apexloop-After", position_}});
    const Json stored = json_of(back);
    rec.version = static_cast<std::uint64_t>(stored.find("version")->as_int());
    rec.fields["docs"] = *stored.find("fields")->find("docs");
    rec.stamps["docs"] = rec.version;
    files_.push_back({file, "alpha", rec.id, "", name, "bytes of file " + n, false});
  }

  // A file onto a comment, by its author: the admin on its own comment or note, or the contact
  // that wrote it (while it reads the record). An internal note's file carries the internal
  // canary in its name, which every contact's read is scanned for.
  void comment_file(const std::string& db, Record& picked) {
    // Contacts' comments are rare (few policies let them comment): half the time, one of those.
    std::vector<std::pair<Record*, Comment*>> by_contacts;
    for (auto& r : oracle_.records.at(db)) {
      for (auto& cm : r.comments) {
        if (!cm.author.empty()) by_contacts.emplace_back(&r, &cm);
      }
    }
    if (by_contacts.empty() || cpick(2) == 0) {
      if (picked.comments.empty()) return;
      by_contacts = {{&picked, &picked.comments[static_cast<std::size_t>(cpick(static_cast<int>(picked.comments.size())))]}};
    }
    auto [record, comment] = by_contacts[static_cast<std::size_t>(cpick(static_cast<int>(by_contacts.size())))];
    Record& rec = *record;
    Comment& cm = *comment;
    const std::string n = std::to_string(++comment_n_);
    const std::string name = cm.client ? "comment file " + n + ".txt" : "CANARY-INT-NOTE-FILE " + n + ".txt";
    const std::string target = "/api/v1/databases/" + db + "/records/" + rec.id + "/files?comment=" + cm.id;
    const std::map<std::string, std::string> meta{{"X-Filename", name}, {"Content-Type", "text/plain"}};
    HttpResult r;
    if (cm.author.empty()) {
      r = admin("POST", target, "bytes of comment file " + n, meta);
    } else {
      auto author = std::find_if(oracle_.contacts.begin(), oracle_.contacts.end(), [&](const Contact& c) { return c.id == cm.author; });
      if (author == oracle_.contacts.end() || !author->active) return;
      auto h = meta;
      h["Authorization"] = "Bearer " + author->token;
      r = http_request(stack_.origin, "POST", target, "bytes of comment file " + n, h);
      const int expected = oracle_.visible(*author, db, rec) ? 201 : 404;
      expect(r.status == expected, "file onto comment " + cm.id + " by its author: expected " + std::to_string(expected) +
                                       ", got " + std::to_string(r.status) + " " + r.body);
      if (r.status == 201) position_ = r.header("apexloop-position");
    }
    if (r.status != 201) return;
    cm.files.push_back(name);
    files_.push_back({std::string(json_of(r).string_or("file_id", "")), db, rec.id, cm.id, name, "bytes of comment file " + n, false});
  }

  // The admin removes a file; from then on no one downloads it, and a column drops its id (the
  // oracle learns the column's new value from the admin's own read).
  void remove_file() {
    std::vector<File*> live;
    for (auto& f : files_) {
      if (!f.removed) live.push_back(&f);
    }
    if (live.empty()) return;
    File& f = *live[static_cast<std::size_t>(cpick(static_cast<int>(live.size())))];
    admin("DELETE", "/api/v1/files/" + f.id);
    f.removed = true;
    Record* rec = oracle_.find_mut(f.db, f.record);
    if (rec == nullptr) return;
    for (auto& cm : rec->comments) {
      if (cm.id == f.comment) std::erase(cm.files, f.name);
    }
    if (f.comment.empty()) {
      const Json stored = json_of(admin("GET", "/api/v1/databases/" + f.db + "/records/" + f.record, "", {{"Apexloop-After", position_}}));
      const auto version = static_cast<std::uint64_t>(stored.find("version")->as_int());
      if (version != rec->version) rec->stamps["docs"] = version;  // the removal's record.updated dropped the id
      rec->version = version;
      const Json* docs = stored.find("fields")->find("docs");
      if (docs != nullptr) {
        rec->fields["docs"] = *docs;
      } else {
        rec->fields.erase("docs");
      }
    }
  }

  // A contact downloads a file only while it sees the record and its file column holding it;
  // otherwise 404 with no trace of the file's name.
  void check_files(const Contact& c) {
    for (int i = 0; i < 2 && !files_.empty(); ++i) {
      const auto& f = files_[static_cast<std::size_t>(cpick(static_cast<int>(files_.size())))];
      const Record* rec = oracle_.find(f.db, f.record);
      bool may = false;
      if (!f.removed && rec != nullptr && oracle_.visible(c, f.db, *rec)) {
        if (!f.comment.empty()) {
          // A comment's file: while the contact is shown the comment (never an internal note).
          may = std::any_of(rec->comments.begin(), rec->comments.end(), [&](const Comment& cm) { return cm.id == f.comment && cm.client; });
        } else {
          const auto fields = oracle_.view(c, f.db, *rec);
          auto docs = fields.find("docs");
          may = docs != fields.end() && docs->second.is_array() &&
                std::find(docs->second.as_array().begin(), docs->second.as_array().end(), Json(f.id)) != docs->second.as_array().end();
        }
      }
      auto r = http_request(stack_.origin, "GET", "/api/v1/files/" + f.id, "",
                            {{"Authorization", "Bearer " + c.token}, {"Apexloop-After", position_}});
      if (may) {
        expect(r.status == 200 && r.body == f.bytes, "file " + f.id + " for " + c.id + ": " + std::to_string(r.status));
      } else {
        std::string everything = r.body;
        for (const auto& [k, v] : r.headers) everything += k + v;
        expect(r.status == 404 && everything.find(f.name) == std::string::npos && everything.find("CANARY") == std::string::npos,
               "file " + f.id + " for " + c.id + " (may not) answered " + std::to_string(r.status) + " " + r.body);
      }
    }
  }

  // A contact sees the approval requests of a record it sees, with their status; else 404.
  void check_approvals(const Contact& c, const std::string& db) {
    const auto& all = oracle_.records.at(db);
    for (int i = 0; i < 2 && !all.empty(); ++i) {
      const Record& rec = all[static_cast<std::size_t>(cpick(static_cast<int>(all.size())))];
      auto r = read(c, "/api/v1/databases/" + db + "/records/" + rec.id + "/approvals");
      if (!oracle_.visible(c, db, rec)) {
        expect(r.status == 404, "approvals of an invisible record answered " + std::to_string(r.status));
        continue;
      }
      std::vector<std::string> expected, actual;
      for (const auto& a : rec.approvals) expected.push_back(a.title + "=" + a.status);
      if (!expect(r.status == 200, "approvals answered " + std::to_string(r.status) + " " + r.body)) continue;
      const Json body = json_of(r);
      for (const auto& item : body.find("items")->as_array()) {
        actual.push_back(std::string(item.string_or("title", "")) + "=" + std::string(item.string_or("status", "")));
      }
      expect(actual == expected, "approvals of " + db + "/" + rec.id + " for " + c.id + ": " + r.body);
    }
  }

  // Every notice a contact has is about a record it could see at some step.
  void check_notifications(const Contact& c) {
    auto r = read(c, "/api/v1/notifications?limit=500");
    if (!expect(r.status == 200, "notifications answered " + std::to_string(r.status) + " " + r.body)) return;
    const Json body = json_of(r);
    const auto& seen = ever_visible_[c.id];
    for (const auto& item : body.find("items")->as_array()) {
      const std::string id(item.string_or("record_id", ""));
      expect(seen.contains(id), "contact " + c.id + " was notified about " + id + ", which it never saw: " + to_json(item));
    }
  }

  // A contact sees the client-visible comments of a record it sees, in order; else 404.
  void check_comments(const Contact& c, const std::string& db) {
    const auto& all = oracle_.records.at(db);
    for (int i = 0; i < 2 && !all.empty(); ++i) {
      const Record& rec = all[static_cast<std::size_t>(cpick(static_cast<int>(all.size())))];
      auto r = read(c, "/api/v1/databases/" + db + "/records/" + rec.id + "/comments");
      if (!oracle_.visible(c, db, rec)) {
        expect(r.status == 404, "comments of an invisible record answered " + std::to_string(r.status));
        continue;
      }
      // Each comment as its body and the names of its files.
      std::vector<std::string> expected, actual;
      for (const auto& cm : rec.comments) {
        if (!cm.client) continue;
        expected.push_back(cm.body);
        for (const auto& name : cm.files) expected.back() += " [" + name + "]";
      }
      if (!expect(r.status == 200, "comments answered " + std::to_string(r.status) + " " + r.body)) continue;
      const Json body = json_of(r);
      for (const auto& item : body.find("items")->as_array()) {
        actual.emplace_back(item.string_or("body", ""));
        if (const Json* files = item.find("files")) {
          for (const auto& f : files->as_array()) actual.back() += " [" + std::string(f.string_or("name", "")) + "]";
        }
      }
      expect(actual == expected, "comments of " + db + "/" + rec.id + " for " + c.id + ": " + r.body);
    }
  }

  // ---- every contact's every read ----
  HttpResult read(const Contact& c, const std::string& target) {
    auto r = http_request(stack_.origin, "GET", target, "", {{"Authorization", "Bearer " + c.token}, {"Apexloop-After", position_}});
    // No answer may carry an internal column's canary or another client's canary.
    expect(r.body.find("CANARY-INT") == std::string::npos, "internal canary in " + target + ": " + r.body);
    for (const auto& other : clients_) {
      if (other != c.client) expect(r.body.find("CANARY-" + other) == std::string::npos, "foreign canary in " + target);
    }
    return r;
  }

  // What each contact sees now, remembered: a notice may only ever be about such a record.
  void note_visibility() {
    for (const auto& c : oracle_.contacts) {
      if (!c.active) continue;
      for (const std::string db : {"alpha", "beta"}) {
        for (const auto& rec : oracle_.records.at(db)) {
          if (oracle_.visible(c, db, rec)) ever_visible_[c.id].insert(rec.id);
        }
      }
    }
  }

  void check_everyone() {
    note_visibility();
    for (const auto& c : oracle_.contacts) {
      if (!c.active) {
        expect(read(c, "/api/v1/databases").status == 401, "a deactivated contact still reads");
        continue;
      }
      check_databases(c);
      for (const std::string db : {"alpha", "beta"}) {
        check_list(c, db);
        check_by_id(c, db);
        check_comments(c, db);
        check_approvals(c, db);
      }
      check_notifications(c);
      check_files(c);
    }
  }

  void check_databases(const Contact& c) {
    auto r = read(c, "/api/v1/databases");
    std::map<std::string, std::set<std::string>> expected;
    for (const std::string db : {"alpha", "beta"}) {
      if (const Json* p = oracle_.policy(c, db)) {
        auto& cols = expected[db];
        cols.insert("owner");
        for (const auto& col : p->find("read")->find("columns")->as_array()) cols.insert(col.as_string());
      }
    }
    std::map<std::string, std::set<std::string>> actual;
    if (!expect(r.status == 200, "databases answered " + std::to_string(r.status) + " " + r.body)) return;
    const Json body = json_of(r);  // named: a temporary would die before the loop below runs
    for (const auto& item : body.find("items")->as_array()) {
      auto& cols = actual[std::string(item.string_or("key", ""))];
      for (const auto& col : item.find("columns")->as_array()) cols.insert(std::string(col.string_or("key", "")));
    }
    expect(actual == expected, "databases of contact " + c.id + ": " + r.body);
  }

  void check_list(const Contact& c, const std::string& db) {
    std::vector<std::string> expected_ids;
    for (const auto& rec : oracle_.records.at(db)) {
      if (oracle_.visible(c, db, rec)) expected_ids.push_back(rec.id);
    }
    if (oracle_.policy(c, db) == nullptr) {
      expect(read(c, "/api/v1/databases/" + db + "/records").status == 404, "list of an ungranted database is not 404");
      return;
    }
    const int limit = 1 + pick(5);
    std::vector<std::string> ids;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto r = read(c, "/api/v1/databases/" + db + "/records?limit=" + std::to_string(limit) + (cursor.empty() ? "" : "&cursor=" + cursor));
      if (!expect(r.status == 200, "list answered " + std::to_string(r.status) + " " + r.body)) return;
      const Json body = json_of(r);
      for (const auto& item : body.find("items")->as_array()) {
        const std::string id(item.string_or("id", ""));
        ids.push_back(id);
        const Record* rec = oracle_.find(db, id);
        expect(rec != nullptr && to_json(*item.find("fields")) == to_json(Json(oracle_.view(c, db, *rec))),
               "fields of " + db + "/" + id + " for " + c.id + ": got " + to_json(*item.find("fields")) + " expected " +
                   (rec ? to_json(Json(oracle_.view(c, db, *rec))) : "<none>"));
        if (rec != nullptr) check_stamp(c, db, *rec, item, "list");
      }
      const Json* next = body.find("next_cursor");
      if (next == nullptr || !next->is_string()) break;
      cursor = next->as_string();
    }
    expect(ids == expected_ids, "rows of " + db + " for contact " + c.id);
  }

  void check_by_id(const Contact& c, const std::string& db) {
    const auto& all = oracle_.records.at(db);
    for (int i = 0; i < 4 && !all.empty(); ++i) {
      const Record& rec = pick_of(all);
      auto r = read(c, "/api/v1/databases/" + db + "/records/" + rec.id);
      if (oracle_.visible(c, db, rec)) {
        expect(r.status == 200 && json_of(r).find("fields") != nullptr &&
                   to_json(*json_of(r).find("fields")) == to_json(Json(oracle_.view(c, db, rec))),
               "record " + db + "/" + rec.id + " for " + c.id + ": " + std::to_string(r.status) + " " + r.body);
        if (r.status == 200) {
          check_stamp(c, db, rec, json_of(r), "record");
          if (oracle_.shown_version(c, db, rec) < rec.version) probe_if_match(c, db, rec);
          expect(r.header("etag") == "\"" + std::to_string(oracle_.shown_version(c, db, rec)) + "\"",
                 "ETag of " + db + "/" + rec.id + " for " + c.id + ": " + r.header("etag"));
        }
      } else {
        expect(r.status == 404, "invisible record " + db + "/" + rec.id + " answered " + std::to_string(r.status));
      }
    }
  }

  // A contact is shown the version of the last change it can read and that event's time; the
  // oracle learns event times once per record version, from the admin's history of the record.
  void check_stamp(const Contact& c, const std::string& db, const Record& rec, const Json& served, const std::string& what) {
    const std::uint64_t v = oracle_.shown_version(c, db, rec);
    if (v < rec.version) ++hidden_moves;
    const Json* version = served.find("version");
    expect(version != nullptr && version->is_int() && static_cast<std::uint64_t>(version->as_int()) == v,
           what + " version of " + db + "/" + rec.id + " for " + c.id + ": expected " + std::to_string(v) + " in " + to_json(served));
    const std::string at = event_time(db, rec.id, v);
    expect(served.string_or("updated_at", "") == at && !at.empty(),
           what + " updated_at of " + db + "/" + rec.id + " for " + c.id + ": expected " + at + " in " + to_json(served));
  }

  // Behind an edit it cannot see, an empty PATCH (it changes nothing, so appends nothing either
  // way) is 409 with the real version, never shown to the contact, and 200 with the one it is
  // shown, answering that version.
  void probe_if_match(const Contact& c, const std::string& db, const Record& rec) {
    const std::uint64_t shown = oracle_.shown_version(c, db, rec);
    for (const std::uint64_t v : {rec.version, shown}) {
      auto r = http_request(stack_.origin, "PATCH", "/api/v1/databases/" + db + "/records/" + rec.id, R"({"fields":{}})",
                            {{"Authorization", "Bearer " + c.token}, {"Content-Type", "application/json"},
                             {"If-Match", std::to_string(v)}, {"Apexloop-After", position_}});
      if (v != shown) {
        ++stale_probes;
        expect(r.status == 409,
               "empty PATCH of " + db + "/" + rec.id + " by " + c.id + " with the real version " + std::to_string(v) +
                   " answered " + std::to_string(r.status) + " " + r.body);
      } else {
        expect(r.status == 200 && r.header("etag") == "\"" + std::to_string(shown) + "\"",
               "empty PATCH of " + db + "/" + rec.id + " by " + c.id + " with its version " + std::to_string(v) + " answered " +
                   std::to_string(r.status) + " " + r.body + " etag " + r.header("etag"));
      }
    }
  }

  std::string event_time(const std::string& db, const std::string& id, std::uint64_t version) {
    const auto key = std::make_tuple(db, id, version);
    if (auto it = event_times_.find(key); it != event_times_.end()) return it->second;
    auto r = http_request(stack_.origin, "GET", "/api/v1/databases/" + db + "/records/" + id + "/history?limit=500", "",
                          {{"Authorization", "Bearer " + admin_token_}, {"Apexloop-After", position_}});
    if (r.status != 200) return "";
    const Json body = json_of(r);
    for (const auto& item : body.find("items")->as_array()) {
      event_times_[std::make_tuple(db, id, static_cast<std::uint64_t>(item.find("seq")->as_int()))] = item.string_or("at", "");
    }
    return event_times_[key];
  }

  // ---- helpers ----
  bool expect(bool ok, const std::string& what) {
    ++checks;
    if (!ok) {
      ++mismatches;
      if (mismatches <= 20) ADD_FAILURE() << where() << what;
    }
    return ok;
  }
  std::string where() const { return "isolation seed=" + std::to_string(seed_) + " step=" + std::to_string(step_) + ": "; }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  int cpick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(comment_rng_); }
  template <typename T>
  T& pick_of(std::vector<T>& v) { return v[static_cast<std::size_t>(pick(static_cast<int>(v.size())))]; }
  template <typename T>
  T pick_of(const std::vector<T>& v) { return v[static_cast<std::size_t>(pick(static_cast<int>(v.size())))]; }
  static Json parse(const std::string& s) { return *parse_json(s); }
  std::vector<std::string> active_clients() const {
    std::vector<std::string> out;
    for (const auto& c : clients_) {
      if (!oracle_.archived.contains(c)) out.push_back(c);
    }
    return out;
  }
  std::vector<Contact*> active_contacts() {
    std::vector<Contact*> out;
    for (auto& c : oracle_.contacts) {
      if (c.active) out.push_back(&c);
    }
    return out;
  }

  Stack& stack_;
  std::uint64_t seed_;
  std::mt19937_64 rng_;
  std::mt19937_64 comment_rng_{seed_ ^ 0x9e3779b97f4a7c15ull};
  std::mt19937_64 version_rng_{seed_ ^ 0x5851f42d4c957f2dull};  // stale If-Match probes
  std::map<std::tuple<std::string, std::string, std::uint64_t>, std::string> event_times_;  // (db, id, seq) -> at
  int comment_n_ = 0;
  struct File {
    std::string id, db, record;
    std::string comment;  // the comment it is on; empty for a file in the `docs` column
    std::string name, bytes;
    bool removed = false;
  };
  std::vector<File> files_;
  std::map<std::string, std::set<std::string>> ever_visible_;  // contact -> records it could see at some step
  int step_ = -1;
  std::string admin_token_;
  std::string position_;
  std::vector<std::string> clients_;
  Oracle oracle_;
};

TEST(Isolation, EveryReadOfEveryContactMatchesTheOracle) {
  Stack stack;
  stack.start();
  std::vector<std::uint64_t> seeds = kRegressionSeeds;
  if (const char* s = std::getenv("APEXLOOP_ISOLATION_SEEDS"); s != nullptr && *s != '\0') {
    std::stringstream in(s);
    for (std::uint64_t v; in >> v;) seeds.push_back(v);
  } else {
    // Fresh seeds every run, printed so that a failure can be replayed.
    std::random_device rd;
    for (int i = 0; i < 3; ++i) seeds.push_back((static_cast<std::uint64_t>(rd()) << 32) | rd());
  }
  std::size_t checks = 0, mismatches = 0, hidden_moves = 0, stale_probes = 0;
  for (auto seed : seeds) {
    std::printf("isolation: seed %llu\n", static_cast<unsigned long long>(seed));
    Isolation run(stack, seed);
    run.run();
    checks += run.checks;
    mismatches += run.mismatches;
    hidden_moves += run.hidden_moves;
    stale_probes += run.stale_probes;
    std::printf(
        "isolation: seed %llu: %zu checks, %zu mismatches, %zu reads behind an edit the contact cannot see, "
        "%zu stale If-Match probes\n",
        static_cast<unsigned long long>(seed), run.checks, run.mismatches, run.hidden_moves, run.stale_probes);
  }
  std::printf("isolation: %zu checks, %zu mismatches\n", checks, mismatches);
  EXPECT_EQ(mismatches, 0u);
  // The visible version is exercised: some reads follow an edit the contact cannot see (issue 5).
  EXPECT_GT(hidden_moves, 0u);
  EXPECT_GE(checks, 10'000u) << "the property test must make at least 10,000 checks per run";
}

}  // namespace
}  // namespace apexloop::testing
