#include "apexloop/core/access.hpp"

#include <gtest/gtest.h>

namespace apexloop {
namespace {

Json parse(std::string_view s) {
  auto j = parse_json(s);
  EXPECT_TRUE(j.has_value()) << s;
  return j ? *j : Json();
}

const std::string kAcme = "0190a000-0000-7000-8000-0000000000c1";
const std::string kGlobex = "0190a000-0000-7000-8000-0000000000c2";

DatabaseDef tickets() {
  DatabaseDef db{"tickets", "Tickets", {}};
  auto add = [&](std::string key, ColumnType t, bool internal = false, Json options = Json(Json::Object{})) {
    db.columns.push_back(ColumnDef{key, key, t, std::move(options), internal});
  };
  add("owner", ColumnType::client);
  add("title", ColumnType::text);
  add("status", ColumnType::select, false, parse(R"({"choices":["open","done"]})"));
  add("priority", ColumnType::number);
  add("due", ColumnType::date);
  add("requester", ColumnType::contact);
  add("tags", ColumnType::multi_select, false, parse(R"({"choices":["a","b","c"]})"));
  add("fee", ColumnType::money);
  add("margin", ColumnType::number, true);
  return db;
}

PrincipalVars acme_vars() {
  return PrincipalVars{"0190a000-0000-7000-8000-0000000000e1", kAcme, "retainer", TimestampMs{1'795'000'000'000}};
}

struct Rec {
  Json::Object fields;
  std::string id = "0190a000-0000-7000-8000-000000000001";
  RecordView view() const { return RecordView{fields, id, 3, "2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z"}; }
};

Rec rec(std::string_view fields) { return Rec{parse(fields).as_object()}; }

bool holds(std::string_view filter, const Rec& r, const PrincipalVars& vars = acme_vars()) {
  auto f = parse_filter(parse(filter), tickets(), "filter");
  EXPECT_TRUE(f.has_value()) << filter << ": " << (f ? "" : f.error()[0].field + " " + f.error()[0].message);
  return f && evaluate(*f, r.view(), vars);
}

TEST(Filter, EveryOperator) {
  const Rec r = rec(R"({"owner":")" + kAcme + R"(","title":"Printer on fire","status":"open","priority":3,
                       "due":"2026-11-18","tags":["a","b"],"fee":{"amount":"12.50","currency":"EUR"}})");
  EXPECT_TRUE(holds(R"({"field":"status","op":"eq","value":"open"})", r));
  EXPECT_FALSE(holds(R"({"field":"status","op":"eq","value":"done"})", r));
  EXPECT_TRUE(holds(R"({"field":"status","op":"ne","value":"done"})", r));
  EXPECT_TRUE(holds(R"({"field":"status","op":"in","value":["open","x"]})", r));
  EXPECT_FALSE(holds(R"({"field":"status","op":"nin","value":["open"]})", r));
  EXPECT_TRUE(holds(R"({"field":"priority","op":"lt","value":4})", r));
  EXPECT_TRUE(holds(R"({"field":"priority","op":"lte","value":3.0})", r));
  EXPECT_FALSE(holds(R"({"field":"priority","op":"gt","value":3})", r));
  EXPECT_TRUE(holds(R"({"field":"priority","op":"gte","value":3})", r));
  EXPECT_TRUE(holds(R"({"field":"due","op":"lt","value":"2026-12-01"})", r));
  EXPECT_TRUE(holds(R"({"field":"title","op":"contains","value":"fire"})", r));
  EXPECT_TRUE(holds(R"({"field":"tags","op":"contains","value":"b"})", r));
  EXPECT_FALSE(holds(R"({"field":"tags","op":"contains","value":"c"})", r));
  EXPECT_TRUE(holds(R"({"field":"tags","op":"in","value":["c","a"]})", r));
  EXPECT_TRUE(holds(R"({"field":"fee","op":"gt","value":12})", r));
  EXPECT_TRUE(holds(R"({"field":"requester","op":"is_empty"})", r));
  EXPECT_TRUE(holds(R"({"field":"title","op":"not_empty"})", r));
  EXPECT_TRUE(holds(R"({"field":"version","op":"eq","value":3})", r));
  EXPECT_TRUE(holds(R"({"field":"created_at","op":"lt","value":"2026-11-02"})", r));
}

TEST(Filter, AbsentFieldsNeverCompare) {
  const Rec r = rec(R"({"title":""})");
  EXPECT_FALSE(holds(R"({"field":"priority","op":"lt","value":100})", r));
  EXPECT_FALSE(holds(R"({"field":"priority","op":"gte","value":-100})", r));
  EXPECT_TRUE(holds(R"({"field":"priority","op":"ne","value":1})", r));
  EXPECT_TRUE(holds(R"({"field":"title","op":"is_empty"})", r)) << "an empty string is empty";
  EXPECT_FALSE(holds(R"({"field":"status","op":"in","value":["open"]})", r));
  EXPECT_TRUE(holds(R"({"field":"status","op":"nin","value":["open"]})", r));
}

TEST(Filter, Combinators) {
  const Rec r = rec(R"({"status":"open","priority":1})");
  EXPECT_TRUE(holds(R"({"all":[{"field":"status","op":"eq","value":"open"},{"field":"priority","op":"eq","value":1}]})", r));
  EXPECT_FALSE(holds(R"({"all":[{"field":"status","op":"eq","value":"open"},{"field":"priority","op":"eq","value":2}]})", r));
  EXPECT_TRUE(holds(R"({"any":[{"field":"status","op":"eq","value":"done"},{"field":"priority","op":"eq","value":1}]})", r));
  EXPECT_FALSE(holds(R"({"any":[{"field":"status","op":"eq","value":"done"},{"field":"priority","op":"eq","value":2}]})", r));
  EXPECT_TRUE(holds(R"({"not":{"field":"status","op":"eq","value":"done"}})", r));
  EXPECT_FALSE(holds(R"({"not":{"not":{"field":"status","op":"eq","value":"done"}}})", r));
}

TEST(Filter, PrincipalVariables) {
  PrincipalVars v = acme_vars();
  const Rec mine = rec(R"({"requester":")" + v.contact_id + R"(","owner":")" + kAcme + R"(","due":"2026-11-18"})");
  EXPECT_TRUE(holds(R"({"field":"requester","op":"eq","value":{"var":"contact.id"}})", mine, v));
  EXPECT_TRUE(holds(R"({"field":"owner","op":"eq","value":{"var":"client.id"}})", mine, v));
  EXPECT_FALSE(holds(R"({"field":"title","op":"eq","value":{"var":"client.type"}})", mine, v));
  // now = 2026-11-18T11:06:40Z; a date column compares with today's date.
  EXPECT_TRUE(holds(R"({"field":"due","op":"lte","value":{"var":"now"}})", mine, v));
  EXPECT_FALSE(holds(R"({"field":"due","op":"lt","value":{"var":"now"}})", mine, v));
  EXPECT_TRUE(holds(R"({"field":"updated_at","op":"lt","value":{"var":"now"}})", mine, v));
  v.contact_id = "someone-else";
  EXPECT_FALSE(holds(R"({"field":"requester","op":"eq","value":{"var":"contact.id"}})", mine, v));
  auto f = parse_filter(parse(R"({"any":[{"field":"title","op":"eq","value":"x"},{"field":"requester","op":"eq","value":{"var":"contact.id"}}]})"),
                        tickets(), "f");
  EXPECT_TRUE(uses_var(*f, "contact.id"));
  EXPECT_FALSE(uses_var(*f, "now"));
}

TEST(Filter, EveryMalformedShapeIsRefusedWithItsPath) {
  struct Bad {
    const char* json;
    const char* path;
  };
  for (const Bad& b : {Bad{R"([])", "f"},
                       Bad{R"({"field":"nope","op":"eq","value":1})", "f.field"},
                       Bad{R"({"field":"title","op":"like","value":"x"})", "f.op"},
                       Bad{R"({"field":"title","op":"eq"})", "f.value"},
                       Bad{R"({"field":"title","op":"is_empty","value":1})", "f.value"},
                       Bad{R"({"field":"title","op":"in","value":"x"})", "f.value"},
                       Bad{R"({"field":"title","op":"in","value":[{"a":1}]})", "f.value"},
                       Bad{R"({"field":"title","op":"eq","value":{"var":"user.id"}})", "f.value"},
                       Bad{R"({"field":"title","op":"eq","value":[1]})", "f.value"},
                       Bad{R"({"field":"title","op":"eq","value":null})", "f.value"},
                       Bad{R"({"field":"title","op":"eq","value":"x","extra":1})", "f.extra"},
                       Bad{R"({"all":[]})", "f.all"},
                       Bad{R"({"all":[{"field":"x","op":"eq","value":1}]})", "f.all[0].field"},
                       Bad{R"({"all":[],"any":[]})", "f"},
                       Bad{R"({"not":{"field":"title","op":"nope"}})", "f.not.op"}}) {
    auto f = parse_filter(parse(b.json), tickets(), "f");
    ASSERT_FALSE(f.has_value()) << b.json;
    EXPECT_EQ(f.error()[0].field, b.path) << b.json << ": " << f.error()[0].message;
  }
}

TEST(Filter, DepthAndSizeAreBounded) {
  std::string deep = R"({"field":"title","op":"is_empty"})";
  for (int i = 0; i < 8; ++i) deep = R"({"not":)" + deep + "}";
  EXPECT_FALSE(parse_filter(parse(deep), tickets(), "f").has_value());
  std::string wide = R"({"any":[)";
  for (int i = 0; i < 70; ++i) wide += std::string(i ? "," : "") + R"({"field":"title","op":"is_empty"})";
  wide += "]}";
  EXPECT_FALSE(parse_filter(parse(wide), tickets(), "f").has_value());
}

TEST(Filter, AViewMayOnlyNameItsFields) {
  EXPECT_FALSE(parse_filter(parse(R"({"field":"margin","op":"gt","value":1})"), tickets(), "f", {"title"}).has_value());
  EXPECT_TRUE(parse_filter(parse(R"({"field":"title","op":"is_empty"})"), tickets(), "f", {"title"}).has_value());
  EXPECT_TRUE(parse_filter(parse(R"({"field":"id","op":"is_empty"})"), tickets(), "f", {"title"}).has_value());
}

TEST(Policy, ParsesAFullPolicy) {
  auto p = parse_policy(parse(R"({"read":{"columns":["title","status","due"],"filter":{"field":"status","op":"ne","value":"done"}},
                                 "write":{"columns":["status"],"create":true},"comment":true,"approve":false})"),
                        tickets());
  ASSERT_TRUE(p.has_value()) << p.error()[0].field << " " << p.error()[0].message;
  EXPECT_EQ(p->read_columns, (std::vector<std::string>{"title", "status", "due"}));
  EXPECT_TRUE(p->read_filter.has_value());
  EXPECT_EQ(p->write_columns, std::vector<std::string>{"status"});
  EXPECT_TRUE(p->create);
  EXPECT_TRUE(p->comment);
  EXPECT_FALSE(p->approve);
}

TEST(Policy, RefusesEveryBreachOfTheRules) {
  struct Bad {
    const char* json;
    const char* field;
  };
  for (const Bad& b : {Bad{R"({"read":{"columns":["margin"]}})", "read.columns"},
                       Bad{R"({"read":{"columns":["nope"]}})", "read.columns"},
                       Bad{R"({"read":{"columns":["title"]},"write":{"columns":["status"]}})", "write.columns"},
                       Bad{R"({"read":{"columns":["title","owner"]},"write":{"columns":["owner"]}})", "write.columns"},
                       Bad{R"({"read":{"columns":["title"]},"write":{"columns":["margin"]}})", "write.columns"},
                       Bad{R"({"read":{"columns":"title"}})", "read.columns"},
                       Bad{R"({"write":{"columns":[]}})", "read"},
                       Bad{R"({"read":{"columns":[]},"comment":"yes"})", "comment"},
                       Bad{R"({"read":{"columns":[]},"write":{"columns":[],"create":1}})", "write.create"},
                       Bad{R"({"read":{"columns":[],"filter":{"field":"x","op":"eq","value":1}}})", "read.filter.field"},
                       Bad{R"({"read":{"columns":[]},"admin":true})", "admin"}}) {
    auto p = parse_policy(parse(b.json), tickets());
    ASSERT_FALSE(p.has_value()) << b.json;
    bool named = false;
    for (const auto& e : p.error()) named = named || e.field == b.field;
    EXPECT_TRUE(named) << b.json << " should name " << b.field << ", said " << p.error()[0].field;
  }
  DatabaseDef no_owner{"notes", "Notes", {ColumnDef{"title", "Title", ColumnType::text, Json(Json::Object{}), false}}};
  auto p = parse_policy(parse(R"({"read":{"columns":["title"]}})"), no_owner);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error()[0].field, "database");
}

TEST(Access, OwnershipIsMandatoryAndNoFilterWidensIt) {
  auto p = parse_policy(parse(R"({"read":{"columns":["title"],"filter":{"any":[{"field":"title","op":"not_empty"},{"field":"title","op":"is_empty"}]}}})"),
                        tickets());
  ASSERT_TRUE(p.has_value());
  const auto db = tickets();
  EXPECT_TRUE(may_read(*p, db, rec(R"({"owner":")" + kAcme + R"(","title":"x"})").view(), acme_vars()));
  EXPECT_FALSE(may_read(*p, db, rec(R"({"owner":")" + kGlobex + R"(","title":"x"})").view(), acme_vars()));
  EXPECT_FALSE(may_read(*p, db, rec(R"({"title":"no owner"})").view(), acme_vars())) << "no owner, no client sees it";
  PrincipalVars nobody = acme_vars();
  nobody.client_id.clear();
  EXPECT_FALSE(may_read(*p, db, rec(R"({"owner":""})").view(), nobody));
}

TEST(Access, ReadableFieldsAreTheOwnerAndTheGrantedColumnsOnly) {
  auto p = parse_policy(parse(R"({"read":{"columns":["title"]}})"), tickets());
  const auto fields = readable_fields(*p, tickets(), rec(R"({"owner":")" + kAcme + R"(","title":"x","status":"open","margin":99})").fields);
  EXPECT_EQ(to_json(Json(fields)), R"({"owner":")" + kAcme + R"(","title":"x"})");
}

TEST(Access, EditRules) {
  auto p = parse_policy(parse(R"({"read":{"columns":["title","status"],"filter":{"field":"status","op":"ne","value":"archived_x"}},
                                 "write":{"columns":["status"],"filter":{"field":"status","op":"eq","value":"open"}}})"),
                        tickets());
  ASSERT_TRUE(p.has_value());
  const auto db = tickets();
  const auto v = acme_vars();
  const std::string owner = R"("owner":")" + kAcme + R"(")";
  const Rec open = rec("{" + owner + R"(,"status":"open","title":"t"})");
  const Rec done = rec("{" + owner + R"(,"status":"done","title":"t"})");
  const auto status_change = parse(R"({"status":"done"})").as_object();
  EXPECT_EQ(check_edit(*p, db, open.view(), status_change, done.view(), v), std::nullopt);
  EXPECT_EQ(check_edit(*p, db, done.view(), status_change, done.view(), v), WriteDenial::write_filter_fails);
  EXPECT_EQ(check_edit(*p, db, open.view(), parse(R"({"title":"u"})").as_object(), open.view(), v),
            WriteDenial::column_not_writable);
  const Rec foreign = rec(R"({"owner":")" + kGlobex + R"(","status":"open"})");
  EXPECT_EQ(check_edit(*p, db, foreign.view(), status_change, foreign.view(), v), WriteDenial::not_visible);
  const Rec moved = rec(R"({"owner":")" + kGlobex + R"(","status":"done"})");
  EXPECT_EQ(check_edit(*p, db, open.view(), status_change, moved.view(), v), WriteDenial::would_leave_view);
}

}  // namespace
}  // namespace apexloop
