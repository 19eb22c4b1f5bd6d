#pragma once
// The access model of ACCESS.md as pure functions: filter expressions, policies, and what one
// principal may see of one record. The projector and the command service both decide with this
// code, so a read and a write can never disagree about what a contact may touch.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/clock.hpp"
#include "apexloop/core/json.hpp"
#include "apexloop/core/schema.hpp"

namespace apexloop {

// What `{"var": ...}` in a filter stands for.
struct PrincipalVars {
  std::string contact_id;
  std::string client_id;
  std::string client_type;
  TimestampMs now;
};

enum class FilterOp { eq, ne, in, nin, lt, lte, gt, gte, contains, is_empty, not_empty };
[[nodiscard]] std::optional<FilterOp> parse_filter_op(std::string_view s);

// A parsed, validated filter: `{"all": [...]}`, `{"any": [...]}`, `{"not": f}` or a leaf
// `{"field": F, "op": OP, "value": V}` where V may be `{"var": "contact.id" | "client.id" |
// "client.type" | "now"}`.
struct Filter {
  enum class Kind { all, any, negate, leaf };
  Kind kind = Kind::all;
  std::vector<Filter> children;
  std::string field;
  std::optional<ColumnType> field_type;  // unset for system fields
  FilterOp op = FilterOp::eq;
  Json value;       // the literal, when `var` is empty
  std::string var;  // the principal variable, when set
};

inline constexpr std::size_t kMaxFilterDepth = 8;
inline constexpr std::size_t kMaxFilterNodes = 64;
inline constexpr std::size_t kMaxFilterListItems = 100;

// Checks a filter against a database. `fields` limits which fields a filter may name (the
// columns a view may use); empty means every column and system field of `db`.
[[nodiscard]] std::expected<Filter, std::vector<FieldError>> parse_filter(
    const Json& json, const DatabaseDef& db, std::string_view path,
    const std::vector<std::string>& fields = {});

// The values a filter sees: a record's fields plus its system fields.
struct RecordView {
  const Json::Object& fields;
  std::string_view id;
  std::uint64_t version = 0;
  std::string_view created_at;
  std::string_view updated_at;
};

[[nodiscard]] bool evaluate(const Filter& f, const RecordView& r, const PrincipalVars& vars);
[[nodiscard]] bool uses_var(const Filter& f, std::string_view var);
// The record fields a filter reads (system fields excluded), each once: evaluating the filter
// needs these and no others.
[[nodiscard]] std::vector<std::string> filter_fields(const Filter& f);

struct Policy {
  std::vector<std::string> read_columns;
  std::optional<Filter> read_filter;
  std::vector<std::string> write_columns;
  bool create = false;
  std::optional<Filter> write_filter;
  bool comment = false;
  bool approve = false;
};

// Checks a policy body for `db` (ACCESS.md "Policies"): the database needs its client column;
// columns exist; internal columns are never granted; write ⊆ read; the owner is never writable.
[[nodiscard]] std::expected<Policy, std::vector<FieldError>> parse_policy(const Json& body,
                                                                         const DatabaseDef& db);

// The owner column of a database (its one `client` column), if any.
[[nodiscard]] const ColumnDef* owner_column(const DatabaseDef& db);

// Row rule: the owner is the contact's client AND the read filter holds.
[[nodiscard]] bool may_read(const Policy& p, const DatabaseDef& db, const RecordView& r,
                            const PrincipalVars& vars);

// Column rule: the fields a principal under `p` is sent (owner column plus read columns; the
// system fields travel outside `fields`).
[[nodiscard]] Json::Object readable_fields(const Policy& p, const DatabaseDef& db, const Json::Object& fields);
// The same rule for one field key.
[[nodiscard]] bool readable_column(const Policy& p, const DatabaseDef& db, std::string_view key);

enum class WriteDenial { not_visible, write_filter_fails, column_not_writable, would_leave_view };
// Write rule for an edit by a contact: the record is visible, `write.filter` holds before the
// edit, every changed column is writable and the record stays visible afterwards.
[[nodiscard]] std::optional<WriteDenial> check_edit(const Policy& p, const DatabaseDef& db,
                                                    const RecordView& before, const Json::Object& changes,
                                                    const RecordView& after, const PrincipalVars& vars);

}  // namespace apexloop
