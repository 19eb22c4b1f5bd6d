#include "apexloop/core/schema.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <utility>

#include "apexloop/core/clock.hpp"
#include "apexloop/core/ids.hpp"

namespace apexloop {
namespace {

constexpr std::array<std::pair<ColumnType, std::string_view>, 15> kTypeNames{{
    {ColumnType::text, "text"},
    {ColumnType::long_text, "long_text"},
    {ColumnType::number, "number"},
    {ColumnType::money, "money"},
    {ColumnType::date, "date"},
    {ColumnType::datetime, "datetime"},
    {ColumnType::boolean, "bool"},
    {ColumnType::select, "select"},
    {ColumnType::multi_select, "multi_select"},
    {ColumnType::email, "email"},
    {ColumnType::url, "url"},
    {ColumnType::relation, "relation"},
    {ColumnType::client, "client"},
    {ColumnType::contact, "contact"},
    {ColumnType::file, "file"},
}};

constexpr std::array<std::string_view, 4> kSystemFields{"id", "version", "created_at", "updated_at"};

bool has_control_chars(std::string_view s, bool allow_newlines) {
  return std::any_of(s.begin(), s.end(), [&](char c) {
    auto u = static_cast<unsigned char>(c);
    if (allow_newlines && (c == '\n' || c == '\r' || c == '\t')) return false;
    return u < 0x20 || u == 0x7F;
  });
}

bool is_currency(std::string_view s) {
  return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Decimal amount: optional minus, 1-15 integer digits, optional 1-4 fraction digits.
bool is_decimal_amount(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (int_digits == 0 || int_digits > 15) return false;
  if (i == s.size()) return true;
  if (s[i] != '.') return false;
  ++i;
  std::size_t frac = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac;
  return i == s.size() && frac >= 1 && frac <= 4;
}

bool is_valid_url(std::string_view s) {
  if (s.size() > 2048 || has_control_chars(s, false) || s.find(' ') != std::string_view::npos) {
    return false;
  }
  std::string_view rest;
  if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else {
    return false;
  }
  const auto host_end = rest.find_first_of("/?#");
  return host_end != 0 && !rest.empty();
}

const Json::Array* choices_of(const ColumnDef& c) {
  const Json* ch = c.options.find("choices");
  return ch != nullptr && ch->is_array() ? &ch->as_array() : nullptr;
}

bool is_choice(const ColumnDef& c, const Json& v) {
  const auto* choices = choices_of(c);
  return v.is_string() && choices != nullptr &&
         std::find(choices->begin(), choices->end(), v) != choices->end();
}

// An array of distinct ids, each accepted by `exists`; a single id string is taken as [id].
std::expected<Json, std::string> normalize_refs(const Json& value, std::string_view what,
                                                const auto& exists) {
  Json::Array ids;
  if (value.is_string()) {
    ids.push_back(value);
  } else if (value.is_array()) {
    ids = value.as_array();
  } else {
    return std::unexpected(std::string("expected an array of ") + std::string(what) + " ids");
  }
  if (ids.size() > kMaxReferences) return std::unexpected("too many references (at most 100)");
  std::set<std::string> seen;
  for (const auto& id : ids) {
    if (!id.is_string() || !is_uuid(id.as_string())) {
      return std::unexpected(std::string("not a ") + std::string(what) + " id");
    }
    if (!seen.insert(id.as_string()).second) return std::unexpected("duplicate reference");
    if (!exists(id.as_string())) return std::unexpected(std::string("no such ") + std::string(what));
  }
  return Json(std::move(ids));
}

}  // namespace

std::optional<ColumnType> parse_column_type(std::string_view s) {
  for (const auto& [t, name] : kTypeNames) {
    if (name == s) return t;
  }
  return std::nullopt;
}

std::string_view to_string(ColumnType t) {
  for (const auto& [type, name] : kTypeNames) {
    if (type == t) return name;
  }
  return "text";
}

bool is_valid_key(std::string_view s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_valid_name(const Json* v, std::size_t max) {
  return v != nullptr && v->is_string() && !v->as_string().empty() && v->as_string().size() <= max &&
         !has_control_chars(v->as_string(), false);
}

bool is_valid_email(std::string_view s) {
  if (s.size() < 3 || s.size() > 254 || has_control_chars(s, false)) return false;
  const auto at = s.find('@');
  if (at == 0 || at == std::string_view::npos || s.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const auto domain = s.substr(at + 1);
  const auto dot = domain.find('.');
  return s.find(' ') == std::string_view::npos && dot != std::string_view::npos && dot != 0 &&
         domain.back() != '.';
}

DatabaseDef database_from_json(const Json& j) {
  DatabaseDef db{std::string(j.string_or("key", "")), std::string(j.string_or("name", "")), {}};
  if (const Json* cols = j.find("columns"); cols != nullptr && cols->is_array()) {
    for (const auto& c : cols->as_array()) {
      ColumnDef col;
      col.key = std::string(c.string_or("key", ""));
      col.name = std::string(c.string_or("name", ""));
      col.type = parse_column_type(c.string_or("type", "")).value_or(ColumnType::text);
      if (const Json* o = c.find("options"); o != nullptr && o->is_object()) col.options = *o;
      const Json* internal = c.find("internal");
      col.internal = internal != nullptr && internal->is_bool() && internal->as_bool();
      db.columns.push_back(std::move(col));
    }
  }
  return db;
}

const ColumnDef* DatabaseDef::column(std::string_view k) const {
  auto it = std::find_if(columns.begin(), columns.end(), [&](const ColumnDef& c) { return c.key == k; });
  return it == columns.end() ? nullptr : &*it;
}

std::expected<ColumnDef, std::vector<FieldError>> validate_column_definition(
    const Json& body, const DatabaseDef& db, const RefResolver& refs) {
  std::vector<FieldError> errors;
  ColumnDef col;
  if (!body.is_object()) return std::unexpected(std::vector<FieldError>{{"", "expected an object"}});
  for (const auto& [k, _] : body.as_object()) {
    if (k != "key" && k != "name" && k != "type" && k != "options" && k != "internal") {
      errors.push_back({k, "unknown member"});
    }
  }
  const Json* key = body.find("key");
  if (key == nullptr || !key->is_string() || !is_valid_key(key->as_string())) {
    errors.push_back({"key", "must match ^[a-z][a-z0-9_]{0,62}$"});
  } else if (std::find(kSystemFields.begin(), kSystemFields.end(), key->as_string()) !=
             kSystemFields.end()) {
    errors.push_back({"key", "is a system field"});
  } else if (db.column(key->as_string()) != nullptr) {
    errors.push_back({"key", "a column with this key exists"});
  } else {
    col.key = key->as_string();
  }
  if (!is_valid_name(body.find("name"))) {
    errors.push_back({"name", "must be a non-empty string of at most 200 bytes"});
  } else {
    col.name = body.find("name")->as_string();
  }
  const Json* type = body.find("type");
  std::optional<ColumnType> t;
  if (type != nullptr && type->is_string()) t = parse_column_type(type->as_string());
  if (!t.has_value()) {
    errors.push_back({"type", "unknown column type"});
  } else {
    col.type = *t;
  }
  const Json* internal = body.find("internal");
  if (internal != nullptr && !internal->is_bool()) {
    errors.push_back({"internal", "must be a boolean"});
  } else {
    col.internal = internal != nullptr && internal->as_bool();
  }
  const Json* options = body.find("options");
  if (options != nullptr && !options->is_object() && !options->is_null()) {
    errors.push_back({"options", "must be an object"});
  } else if (options != nullptr && options->is_object()) {
    col.options = *options;
  }
  if (db.columns.size() >= kMaxColumnsPerDatabase) {
    errors.push_back({"key", "a database has at most 200 columns"});
  }
  if (t && errors.empty()) {
    const auto& opts = col.options.as_object();
    auto only = [&](std::initializer_list<std::string_view> allowed) {
      for (const auto& [k, _] : opts) {
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
          errors.push_back({"options." + k, "not an option of this column type"});
        }
      }
    };
    switch (*t) {
      case ColumnType::select:
      case ColumnType::multi_select: {
        only({"choices"});
        const auto* choices = choices_of(col);
        std::set<std::string> seen;
        bool ok = choices != nullptr && !choices->empty() && choices->size() <= 500;
        for (std::size_t i = 0; ok && i < choices->size(); ++i) {
          const Json& c = (*choices)[i];
          ok = is_valid_name(&c) && seen.insert(c.as_string()).second;
        }
        if (!ok) errors.push_back({"options.choices", "must be 1-500 distinct non-empty strings"});
        break;
      }
      case ColumnType::relation: {
        only({"database"});
        const Json* target = col.options.find("database");
        if (target == nullptr || !target->is_string() ||
            (target->as_string() != db.key && !refs.database_exists(target->as_string()))) {
          errors.push_back({"options.database", "must name an existing database"});
        }
        break;
      }
      case ColumnType::money: {
        only({"currency"});
        const Json* cur = col.options.find("currency");
        if (cur != nullptr && !(cur->is_string() && is_currency(cur->as_string()))) {
          errors.push_back({"options.currency", "must be an ISO 4217 code like EUR"});
        }
        break;
      }
      default: only({}); break;
    }
    if (*t == ColumnType::client) {
      const bool has_owner = std::any_of(db.columns.begin(), db.columns.end(), [](const ColumnDef& c) {
        return c.type == ColumnType::client;
      });
      if (has_owner) errors.push_back({"type", "a database has at most one client column"});
      if (col.internal) errors.push_back({"internal", "the client column cannot be internal"});
    }
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return col;
}

std::expected<Json, std::string> normalize_value(const ColumnDef& column, const Json& value,
                                                 const RefResolver& refs) {
  if (value.is_null()) return value;
  switch (column.type) {
    case ColumnType::text:
    case ColumnType::long_text: {
      const bool long_text = column.type == ColumnType::long_text;
      const std::size_t max = long_text ? kMaxLongTextBytes : kMaxTextBytes;
      if (!value.is_string()) return std::unexpected("expected a string");
      if (value.as_string().size() > max) {
        return std::unexpected(long_text ? "longer than 200000 bytes" : "longer than 10000 bytes");
      }
      if (has_control_chars(value.as_string(), long_text)) {
        return std::unexpected("contains control characters");
      }
      return value;
    }
    case ColumnType::number:
      if (!value.is_number() || !std::isfinite(value.as_number())) {
        return std::unexpected("expected a number");
      }
      return value;
    case ColumnType::money: {
      // {amount: "12.50", currency: "EUR"}; amounts are decimal strings so no cent is lost to
      // binary floating point. A column's currency is the default and the only one allowed.
      const Json* cur_opt = column.options.find("currency");
      if (!value.is_object()) return std::unexpected("expected {amount, currency}");
      const Json* amount = value.find("amount");
      const Json* cur = value.find("currency");
      for (const auto& [k, _] : value.as_object()) {
        if (k != "amount" && k != "currency") return std::unexpected("unknown member " + k);
      }
      if (amount == nullptr || !amount->is_string() || !is_decimal_amount(amount->as_string())) {
        return std::unexpected("amount must be a decimal string like \"12.50\"");
      }
      if (cur == nullptr) cur = cur_opt;
      if (cur == nullptr || !cur->is_string() || !is_currency(cur->as_string())) {
        return std::unexpected("currency must be an ISO 4217 code like EUR");
      }
      if (cur_opt != nullptr && *cur_opt != *cur) {
        return std::unexpected("this column holds " + cur_opt->as_string() + " only");
      }
      return Json(Json::Object{{"amount", *amount}, {"currency", *cur}});
    }
    case ColumnType::date:
      if (!value.is_string() || !is_valid_date(value.as_string())) {
        return std::unexpected("expected a date YYYY-MM-DD");
      }
      return value;
    case ColumnType::datetime: {
      if (!value.is_string()) return std::unexpected("expected an RFC 3339 date-time");
      auto ts = parse_timestamp(value.as_string());
      if (!ts) return std::unexpected(ts.error());
      return Json(format_timestamp(*ts));
    }
    case ColumnType::boolean:
      if (!value.is_bool()) return std::unexpected("expected true or false");
      return value;
    case ColumnType::select:
      if (!is_choice(column, value)) return std::unexpected("not one of the column's choices");
      return value;
    case ColumnType::multi_select: {
      if (!value.is_array()) return std::unexpected("expected an array of choices");
      std::set<std::string> seen;
      for (const auto& v : value.as_array()) {
        if (!is_choice(column, v)) return std::unexpected("not one of the column's choices");
        if (!seen.insert(v.as_string()).second) return std::unexpected("duplicate choice");
      }
      return value;
    }
    case ColumnType::email:
      if (!value.is_string() || !is_valid_email(value.as_string())) {
        return std::unexpected("expected an e-mail address");
      }
      return value;
    case ColumnType::url:
      if (!value.is_string() || !is_valid_url(value.as_string())) {
        return std::unexpected("expected an http or https URL");
      }
      return value;
    case ColumnType::relation: {
      const std::string target(column.options.string_or("database", ""));
      return normalize_refs(value, "record",
                            [&](std::string_view id) { return refs.record_exists(target, id); });
    }
    case ColumnType::client:
      if (!value.is_string() || !is_uuid(value.as_string())) return std::unexpected("expected a client id");
      if (!refs.client_exists(value.as_string())) return std::unexpected("no such client");
      return value;
    case ColumnType::contact:
      if (!value.is_string() || !is_uuid(value.as_string())) return std::unexpected("expected a contact id");
      if (!refs.contact_exists(value.as_string())) return std::unexpected("no such contact");
      return value;
    case ColumnType::file:
      return normalize_refs(value, "file", [&](std::string_view id) { return refs.file_exists(id); });
  }
  return std::unexpected("unsupported column type");
}

}  // namespace apexloop
