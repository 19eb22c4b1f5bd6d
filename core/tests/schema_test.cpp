#include "apexloop/core/schema.hpp"

#include <gtest/gtest.h>

#include <set>

namespace apexloop {
namespace {

struct FakeRefs final : RefResolver {
  std::set<std::string, std::less<>> dbs{"projects"};
  std::set<std::string, std::less<>> records{"0190a000-0000-7000-8000-000000000001"};
  std::set<std::string, std::less<>> clients{"0190a000-0000-7000-8000-0000000000c1"};
  bool database_exists(std::string_view db) const override { return dbs.contains(db); }
  bool record_exists(std::string_view, std::string_view id) const override { return records.contains(id); }
  bool client_exists(std::string_view id) const override { return clients.contains(id); }
  bool contact_exists(std::string_view) const override { return false; }
  bool file_exists(std::string_view) const override { return false; }
};

ColumnDef col(ColumnType t, Json options = Json(Json::Object{})) {
  ColumnDef c;
  c.key = "c";
  c.name = "C";
  c.type = t;
  c.options = std::move(options);
  return c;
}

Json parse(std::string_view s) { return *parse_json(s); }

struct Case {
  ColumnType type;
  const char* options;
  const char* value;
  bool ok;
  const char* normalized = nullptr;  // when it differs from the input
};

void PrintTo(const Case& c, std::ostream* os) { *os << to_string(c.type) << " " << c.value; }

class NormalizeValue : public ::testing::TestWithParam<Case> {};

TEST_P(NormalizeValue, AcceptsValidAndRejectsInvalid) {
  const Case& c = GetParam();
  FakeRefs refs;
  auto r = normalize_value(col(c.type, parse(c.options)), parse(c.value), refs);
  EXPECT_EQ(r.has_value(), c.ok) << to_string(c.type) << " " << c.value;
  if (r && c.normalized != nullptr) {
    EXPECT_EQ(to_json(*r), c.normalized);
  }
  if (!r) {
    EXPECT_FALSE(r.error().empty());
  }
}

const char* kChoices = R"({"choices":["open","done"]})";

INSTANTIATE_TEST_SUITE_P(
    EveryType, NormalizeValue,
    ::testing::Values(
        Case{ColumnType::text, "{}", R"("hello")", true}, Case{ColumnType::text, "{}", "1", false},
        Case{ColumnType::text, "{}", R"("a\nb")", false}, Case{ColumnType::long_text, "{}", R"("a\nb")", true},
        Case{ColumnType::text, "{}", "null", true}, Case{ColumnType::number, "{}", "1.5", true},
        Case{ColumnType::number, "{}", R"("1")", false},
        Case{ColumnType::money, "{}", R"({"amount":"12.50","currency":"EUR"})", true},
        Case{ColumnType::money, R"({"currency":"CZK"})", R"({"amount":"12"})", true,
             R"({"amount":"12","currency":"CZK"})"},
        Case{ColumnType::money, R"({"currency":"CZK"})", R"({"amount":"12","currency":"EUR"})", false},
        Case{ColumnType::money, "{}", R"({"amount":12.5,"currency":"EUR"})", false},
        Case{ColumnType::money, "{}", R"({"amount":"1.23456","currency":"EUR"})", false},
        Case{ColumnType::money, "{}", R"({"amount":"1","currency":"eur"})", false},
        Case{ColumnType::date, "{}", R"("2026-02-28")", true}, Case{ColumnType::date, "{}", R"("2026-02-30")", false},
        Case{ColumnType::datetime, "{}", R"("2026-01-01T01:00:00+01:00")", true, R"("2026-01-01T00:00:00.000Z")"},
        Case{ColumnType::datetime, "{}", R"("2026-01-01")", false}, Case{ColumnType::boolean, "{}", "true", true},
        Case{ColumnType::boolean, "{}", "0", false}, Case{ColumnType::select, kChoices, R"("open")", true},
        Case{ColumnType::select, kChoices, R"("closed")", false},
        Case{ColumnType::multi_select, kChoices, R"(["open","done"])", true},
        Case{ColumnType::multi_select, kChoices, R"(["open","open"])", false},
        Case{ColumnType::multi_select, kChoices, R"("open")", false},
        Case{ColumnType::email, "{}", R"("ada@example.com")", true},
        Case{ColumnType::email, "{}", R"("ada@@example.com")", false},
        Case{ColumnType::email, "{}", R"("ada@localhost")", false},
        Case{ColumnType::url, "{}", R"("https://example.com/a?b")", true},
        Case{ColumnType::url, "{}", R"js("javascript:alert(1)")js", false},
        Case{ColumnType::url, "{}", R"("https://")", false},
        Case{ColumnType::relation, R"({"database":"projects"})", R"(["0190a000-0000-7000-8000-000000000001"])", true},
        Case{ColumnType::relation, R"({"database":"projects"})", R"("0190a000-0000-7000-8000-000000000001")", true,
             R"(["0190a000-0000-7000-8000-000000000001"])"},
        Case{ColumnType::relation, R"({"database":"projects"})", R"(["0190a000-0000-7000-8000-000000000002"])", false},
        Case{ColumnType::relation, R"({"database":"projects"})", R"(["not-an-id"])", false},
        Case{ColumnType::client, "{}", R"("0190a000-0000-7000-8000-0000000000c1")", true},
        Case{ColumnType::client, "{}", R"("0190a000-0000-7000-8000-0000000000c2")", false},
        Case{ColumnType::contact, "{}", R"("0190a000-0000-7000-8000-0000000000c1")", false},
        Case{ColumnType::file, "{}", R"(["0190a000-0000-7000-8000-0000000000f1"])", false}));

TEST(ColumnDefinition, AcceptsEachTypeWithItsOptions) {
  FakeRefs refs;
  DatabaseDef db{"tickets", "Tickets", {}};
  for (const char* body : {R"({"key":"title","name":"Title","type":"text"})",
                           R"({"key":"status","name":"Status","type":"select","options":{"choices":["a","b"]}})",
                           R"({"key":"project","name":"Project","type":"relation","options":{"database":"projects"}})",
                           R"({"key":"fee","name":"Fee","type":"money","options":{"currency":"EUR"},"internal":true})",
                           R"({"key":"owner","name":"Owner","type":"client"})"}) {
    auto c = validate_column_definition(parse(body), db, refs);
    ASSERT_TRUE(c.has_value()) << body << ": " << c.error()[0].field << " " << c.error()[0].message;
  }
}

TEST(ColumnDefinition, RefusesEveryMistakeWithTheFieldNamed) {
  FakeRefs refs;
  DatabaseDef db{"tickets", "Tickets", {col(ColumnType::client)}};
  db.columns[0].key = "owner";
  struct Bad {
    const char* body;
    const char* field;
  };
  for (const Bad& b : {Bad{R"({"key":"Bad","name":"x","type":"text"})", "key"},
                       Bad{R"({"key":"id","name":"x","type":"text"})", "key"},
                       Bad{R"({"key":"owner","name":"x","type":"text"})", "key"},
                       Bad{R"({"key":"a","name":"","type":"text"})", "name"},
                       Bad{R"({"key":"a","name":"x","type":"blob"})", "type"},
                       Bad{R"({"key":"a","name":"x","type":"select"})", "options.choices"},
                       Bad{R"({"key":"a","name":"x","type":"select","options":{"choices":["a","a"]}})", "options.choices"},
                       Bad{R"({"key":"a","name":"x","type":"relation","options":{"database":"nope"}})", "options.database"},
                       Bad{R"({"key":"a","name":"x","type":"text","options":{"x":1}})", "options.x"},
                       Bad{R"({"key":"a","name":"x","type":"client"})", "type"},
                       Bad{R"({"key":"a","name":"x","type":"text","internal":"yes"})", "internal"},
                       Bad{R"({"key":"a","name":"x","type":"text","extra":1})", "extra"}}) {
    auto c = validate_column_definition(parse(b.body), db, refs);
    ASSERT_FALSE(c.has_value()) << b.body;
    bool named = false;
    for (const auto& e : c.error()) named = named || e.field == b.field;
    EXPECT_TRUE(named) << b.body << " should name " << b.field;
  }
}

TEST(Keys, Pattern) {
  EXPECT_TRUE(is_valid_key("a"));
  EXPECT_TRUE(is_valid_key("due_date2"));
  EXPECT_FALSE(is_valid_key(""));
  EXPECT_FALSE(is_valid_key("2a"));
  EXPECT_FALSE(is_valid_key("a-b"));
  EXPECT_FALSE(is_valid_key("a/b"));
  EXPECT_FALSE(is_valid_key(std::string(64, 'a')));
}

}  // namespace
}  // namespace apexloop
