#include "apexloop/core/access.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <set>

namespace apexloop {
namespace {

constexpr std::array<std::pair<FilterOp, std::string_view>, 11> kOps{{
    {FilterOp::eq, "eq"},
    {FilterOp::ne, "ne"},
    {FilterOp::in, "in"},
    {FilterOp::nin, "nin"},
    {FilterOp::lt, "lt"},
    {FilterOp::lte, "lte"},
    {FilterOp::gt, "gt"},
    {FilterOp::gte, "gte"},
    {FilterOp::contains, "contains"},
    {FilterOp::is_empty, "is_empty"},
    {FilterOp::not_empty, "not_empty"},
}};

constexpr std::array<std::string_view, 4> kVars{"contact.id", "client.id", "client.type", "now"};
constexpr std::array<std::string_view, 4> kSystemFields{"id", "version", "created_at", "updated_at"};

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool is_scalar(const Json& v) { return v.is_string() || v.is_number() || v.is_bool(); }

class FilterParser {
 public:
  FilterParser(const DatabaseDef& db, const std::vector<std::string>& fields) : db_(db), fields_(fields) {}

  std::optional<Filter> parse(const Json& j, const std::string& path, std::size_t depth) {
    if (++nodes_ > kMaxFilterNodes) return fail(path, "a filter has at most 64 parts");
    if (depth > kMaxFilterDepth) return fail(path, "a filter nests at most 8 deep");
    if (!j.is_object()) return fail(path, "a filter is an object");
    const auto& obj = j.as_object();
    for (std::string_view comb : {"all", "any"}) {
      if (const Json* list = j.find(comb)) {
        if (obj.size() != 1) return fail(path, "a combinator stands alone in its object");
        if (!list->is_array() || list->as_array().empty()) return fail(path + "." + std::string(comb), "needs a non-empty array");
        Filter f;
        f.kind = comb == "all" ? Filter::Kind::all : Filter::Kind::any;
        const auto& items = list->as_array();
        for (std::size_t i = 0; i < items.size(); ++i) {
          auto child = parse(items[i], path + "." + std::string(comb) + "[" + std::to_string(i) + "]", depth + 1);
          if (!child) return std::nullopt;
          f.children.push_back(std::move(*child));
        }
        return f;
      }
    }
    if (const Json* inner = j.find("not")) {
      if (obj.size() != 1) return fail(path, "a combinator stands alone in its object");
      auto child = parse(*inner, path + ".not", depth + 1);
      if (!child) return std::nullopt;
      Filter f;
      f.kind = Filter::Kind::negate;
      f.children.push_back(std::move(*child));
      return f;
    }
    return leaf(j, path);
  }

  std::vector<FieldError> errors;

 private:
  std::optional<Filter> fail(const std::string& path, std::string message) {
    errors.push_back({path, std::move(message)});
    return std::nullopt;
  }

  std::optional<Filter> leaf(const Json& j, const std::string& path) {
    for (const auto& [k, _] : j.as_object()) {
      if (k != "field" && k != "op" && k != "value") return fail(path + "." + k, "unknown member");
    }
    Filter f;
    f.kind = Filter::Kind::leaf;
    const Json* field = j.find("field");
    if (field == nullptr || !field->is_string()) return fail(path + ".field", "must name a field");
    f.field = field->as_string();
    const bool system = std::find(kSystemFields.begin(), kSystemFields.end(), f.field) != kSystemFields.end();
    const ColumnDef* col = db_.column(f.field);
    if (!system && col == nullptr) return fail(path + ".field", "no such field");
    if (!fields_.empty() && !system && !contains(fields_, f.field)) return fail(path + ".field", "no such field");
    if (col != nullptr) f.field_type = col->type;
    const Json* op = j.find("op");
    auto parsed = op != nullptr && op->is_string() ? parse_filter_op(op->as_string()) : std::nullopt;
    if (!parsed) return fail(path + ".op", "unknown operator");
    f.op = *parsed;
    const Json* value = j.find("value");
    if (f.op == FilterOp::is_empty || f.op == FilterOp::not_empty) {
      if (value != nullptr) return fail(path + ".value", "this operator takes no value");
      return f;
    }
    if (value == nullptr) return fail(path + ".value", "this operator needs a value");
    if (f.op == FilterOp::in || f.op == FilterOp::nin) {
      if (!value->is_array() || value->as_array().size() > kMaxFilterListItems ||
          !std::all_of(value->as_array().begin(), value->as_array().end(), is_scalar)) {
        return fail(path + ".value", "must be an array of at most 100 strings, numbers or booleans");
      }
      f.value = *value;
      return f;
    }
    if (value->is_object()) {
      const Json* var = value->find("var");
      if (value->as_object().size() != 1 || var == nullptr || !var->is_string() ||
          std::find(kVars.begin(), kVars.end(), var->as_string()) == kVars.end()) {
        return fail(path + ".value", "a variable is {\"var\": \"contact.id\" | \"client.id\" | \"client.type\" | \"now\"}");
      }
      f.var = var->as_string();
      return f;
    }
    if (!is_scalar(*value)) return fail(path + ".value", "must be a string, number, boolean or variable");
    f.value = *value;
    return f;
  }

  const DatabaseDef& db_;
  const std::vector<std::string>& fields_;
  std::size_t nodes_ = 0;
};

Json field_value(const RecordView& r, std::string_view field) {
  if (field == "id") return Json(r.id);
  if (field == "version") return Json(static_cast<std::int64_t>(r.version));
  if (field == "created_at") return Json(r.created_at);
  if (field == "updated_at") return Json(r.updated_at);
  auto it = r.fields.find(field);
  return it == r.fields.end() ? Json(nullptr) : it->second;
}

Json resolve(const Filter& f, const PrincipalVars& vars) {
  if (f.var.empty()) return f.value;
  if (f.var == "contact.id") return Json(vars.contact_id);
  if (f.var == "client.id") return Json(vars.client_id);
  if (f.var == "client.type") return Json(vars.client_type);
  // now: a date column compares with today's date, everything else with the full timestamp.
  std::string now = format_timestamp(vars.now);
  if (f.field_type == ColumnType::date) now.resize(10);
  return Json(std::move(now));
}

// Money compares by amount; numbers numerically; strings byte-wise (dates and normalised
// datetimes sort correctly that way). Anything else is not ordered.
std::optional<double> amount_of(const Json& v) {
  if (v.is_number()) return v.as_number();
  if (const Json* a = v.find("amount"); a != nullptr && a->is_string()) {
    double d = 0;
    const auto& s = a->as_string();
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec == std::errc{}) return d;
  }
  return std::nullopt;
}

std::optional<int> order(const Json& a, const Json& b) {
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return (c > 0) - (c < 0);
  }
  auto x = amount_of(a);
  auto y = amount_of(b);
  if (x && y) return (*x > *y) - (*x < *y);
  return std::nullopt;
}

bool equal(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return a.as_number() == b.as_number();
  if (a.is_object() && b.is_number()) return amount_of(a) == b.as_number();
  return a == b;
}

// eq on a list (multi_select, relation) means "exactly this one value".
bool matches(const Json& actual, const Json& expected) {
  if (actual.is_array()) return actual.as_array().size() == 1 && equal(actual.as_array().front(), expected);
  return equal(actual, expected);
}

bool is_empty_value(const Json& v) {
  return v.is_null() || (v.is_string() && v.as_string().empty()) || (v.is_array() && v.as_array().empty());
}

bool evaluate_leaf(const Filter& f, const RecordView& r, const PrincipalVars& vars) {
  const Json actual = field_value(r, f.field);
  if (f.op == FilterOp::is_empty) return is_empty_value(actual);
  if (f.op == FilterOp::not_empty) return !is_empty_value(actual);
  const Json expected = resolve(f, vars);
  switch (f.op) {
    case FilterOp::eq: return matches(actual, expected);
    case FilterOp::ne: return !matches(actual, expected);
    case FilterOp::in:
    case FilterOp::nin: {
      const auto& list = expected.as_array();
      const bool hit = std::any_of(list.begin(), list.end(), [&](const Json& x) {
        if (actual.is_array()) {
          return std::any_of(actual.as_array().begin(), actual.as_array().end(), [&](const Json& a) { return equal(a, x); });
        }
        return equal(actual, x);
      });
      return f.op == FilterOp::in ? hit : !hit;
    }
    case FilterOp::lt:
    case FilterOp::lte:
    case FilterOp::gt:
    case FilterOp::gte: {
      auto c = order(actual, expected);
      if (!c) return false;  // absent or not comparable: the condition does not hold
      switch (f.op) {
        case FilterOp::lt: return *c < 0;
        case FilterOp::lte: return *c <= 0;
        case FilterOp::gt: return *c > 0;
        default: return *c >= 0;
      }
    }
    case FilterOp::contains:
      if (actual.is_array()) {
        return std::any_of(actual.as_array().begin(), actual.as_array().end(), [&](const Json& a) { return equal(a, expected); });
      }
      if (actual.is_string() && expected.is_string()) return actual.as_string().find(expected.as_string()) != std::string::npos;
      return false;
    default: return false;
  }
}

std::expected<std::vector<std::string>, std::string> column_list(const Json* v) {
  if (v == nullptr) return std::vector<std::string>{};
  if (!v->is_array()) return std::unexpected("must be an array of column keys");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& c : v->as_array()) {
    if (!c.is_string()) return std::unexpected("must be an array of column keys");
    if (seen.insert(c.as_string()).second) out.push_back(c.as_string());
  }
  return out;
}

}  // namespace

std::optional<FilterOp> parse_filter_op(std::string_view s) {
  for (const auto& [op, name] : kOps) {
    if (name == s) return op;
  }
  return std::nullopt;
}

std::expected<Filter, std::vector<FieldError>> parse_filter(const Json& json, const DatabaseDef& db,
                                                            std::string_view path,
                                                            const std::vector<std::string>& fields) {
  FilterParser p(db, fields);
  auto f = p.parse(json, std::string(path), 1);
  if (!f) return std::unexpected(std::move(p.errors));
  return std::move(*f);
}

bool evaluate(const Filter& f, const RecordView& r, const PrincipalVars& vars) {
  switch (f.kind) {
    case Filter::Kind::all:
      return std::all_of(f.children.begin(), f.children.end(), [&](const Filter& c) { return evaluate(c, r, vars); });
    case Filter::Kind::any:
      return std::any_of(f.children.begin(), f.children.end(), [&](const Filter& c) { return evaluate(c, r, vars); });
    case Filter::Kind::negate: return !evaluate(f.children.front(), r, vars);
    case Filter::Kind::leaf: return evaluate_leaf(f, r, vars);
  }
  return false;
}

bool uses_var(const Filter& f, std::string_view var) {
  if (f.kind == Filter::Kind::leaf) return f.var == var;
  return std::any_of(f.children.begin(), f.children.end(), [&](const Filter& c) { return uses_var(c, var); });
}

namespace {
void collect_fields(const Filter& f, std::vector<std::string>& out) {
  if (f.kind != Filter::Kind::leaf) {
    for (const auto& c : f.children) collect_fields(c, out);
  } else if (f.field_type && !contains(out, f.field)) {
    out.push_back(f.field);
  }
}
}  // namespace

std::vector<std::string> filter_fields(const Filter& f) {
  std::vector<std::string> out;
  collect_fields(f, out);
  return out;
}

const ColumnDef* owner_column(const DatabaseDef& db) {
  auto it = std::find_if(db.columns.begin(), db.columns.end(), [](const ColumnDef& c) { return c.type == ColumnType::client; });
  return it == db.columns.end() ? nullptr : &*it;
}

std::expected<Policy, std::vector<FieldError>> parse_policy(const Json& body, const DatabaseDef& db) {
  std::vector<FieldError> errors;
  if (!body.is_object()) return std::unexpected(std::vector<FieldError>{{"", "a policy is an object"}});
  for (const auto& [k, _] : body.as_object()) {
    if (k != "read" && k != "write" && k != "comment" && k != "approve") errors.push_back({k, "unknown member"});
  }
  const ColumnDef* owner = owner_column(db);
  if (owner == nullptr) errors.push_back({"database", "a database clients may see needs a client column (its owner)"});
  Policy p;
  auto check_columns = [&](const char* path, const std::vector<std::string>& cols) {
    for (const auto& c : cols) {
      const ColumnDef* col = db.column(c);
      if (col == nullptr) {
        errors.push_back({std::string(path), "no such column: " + c});
      } else if (col->internal) {
        errors.push_back({std::string(path), "internal columns can never be granted: " + c});
      }
    }
  };
  auto filter_of = [&](const Json* section, const std::string& path) -> std::optional<Filter> {
    const Json* f = section->find("filter");
    if (f == nullptr || f->is_null()) return std::nullopt;
    auto parsed = parse_filter(*f, db, path + ".filter");
    if (!parsed) {
      errors.insert(errors.end(), parsed.error().begin(), parsed.error().end());
      return std::nullopt;
    }
    return std::move(*parsed);
  };
  const Json* read = body.find("read");
  if (read == nullptr || !read->is_object()) {
    errors.push_back({"read", "must be an object {columns, filter?}"});
  } else {
    for (const auto& [k, _] : read->as_object()) {
      if (k != "columns" && k != "filter") errors.push_back({"read." + k, "unknown member"});
    }
    auto cols = column_list(read->find("columns"));
    if (!cols) {
      errors.push_back({"read.columns", cols.error()});
    } else {
      check_columns("read.columns", *cols);
      p.read_columns = std::move(*cols);
    }
    p.read_filter = filter_of(read, "read");
  }
  if (const Json* write = body.find("write"); write != nullptr) {
    if (!write->is_object()) {
      errors.push_back({"write", "must be an object {columns, create?, filter?}"});
    } else {
      for (const auto& [k, _] : write->as_object()) {
        if (k != "columns" && k != "filter" && k != "create") errors.push_back({"write." + k, "unknown member"});
      }
      auto cols = column_list(write->find("columns"));
      if (!cols) {
        errors.push_back({"write.columns", cols.error()});
      } else {
        check_columns("write.columns", *cols);
        for (const auto& c : *cols) {
          if (owner != nullptr && c == owner->key) {
            errors.push_back({"write.columns", "the owner column is never writable"});
          } else if (!contains(p.read_columns, c)) {
            errors.push_back({"write.columns", "write columns must also be read columns: " + c});
          }
        }
        p.write_columns = std::move(*cols);
      }
      const Json* create = write->find("create");
      if (create != nullptr && !create->is_bool()) errors.push_back({"write.create", "must be a boolean"});
      p.create = create != nullptr && create->is_bool() && create->as_bool();
      p.write_filter = filter_of(write, "write");
    }
  }
  for (const char* flag : {"comment", "approve"}) {
    const Json* v = body.find(flag);
    if (v != nullptr && !v->is_bool()) errors.push_back({flag, "must be a boolean"});
    const bool on = v != nullptr && v->is_bool() && v->as_bool();
    (std::string_view(flag) == "comment" ? p.comment : p.approve) = on;
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return p;
}

bool may_read(const Policy& p, const DatabaseDef& db, const RecordView& r, const PrincipalVars& vars) {
  const ColumnDef* owner = owner_column(db);
  if (owner == nullptr || vars.client_id.empty()) return false;
  auto it = r.fields.find(owner->key);
  // Ownership is not optional, and no filter can widen it.
  if (it == r.fields.end() || !it->second.is_string() || it->second.as_string() != vars.client_id) return false;
  return !p.read_filter || evaluate(*p.read_filter, r, vars);
}

bool readable_column(const Policy& p, const DatabaseDef& db, std::string_view key) {
  const ColumnDef* col = db.column(key);
  if (col == nullptr || col->internal) return false;  // belt and braces: internal never leaves
  const ColumnDef* owner = owner_column(db);
  return (owner != nullptr && key == owner->key) || contains(p.read_columns, key);
}

Json::Object readable_fields(const Policy& p, const DatabaseDef& db, const Json::Object& fields) {
  Json::Object out;
  for (const auto& [k, v] : fields) {
    if (readable_column(p, db, k)) out.emplace(k, v);
  }
  return out;
}

std::optional<WriteDenial> check_edit(const Policy& p, const DatabaseDef& db, const RecordView& before,
                                      const Json::Object& changes, const RecordView& after,
                                      const PrincipalVars& vars) {
  if (!may_read(p, db, before, vars)) return WriteDenial::not_visible;
  if (p.write_filter && !evaluate(*p.write_filter, before, vars)) return WriteDenial::write_filter_fails;
  for (const auto& [k, _] : changes) {
    if (!contains(p.write_columns, k)) return WriteDenial::column_not_writable;
  }
  if (!may_read(p, db, after, vars)) return WriteDenial::would_leave_view;
  return std::nullopt;
}

}  // namespace apexloop
