#pragma once
// Databases, typed columns and the validation of field values. Pure: references to other
// objects are checked through the RefResolver the caller passes in.

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/json.hpp"

namespace apexloop {

enum class ColumnType {
  text, long_text, number, money, date, datetime, boolean, select, multi_select,
  email, url, relation, client, contact, file,
};
[[nodiscard]] std::optional<ColumnType> parse_column_type(std::string_view s);
[[nodiscard]] std::string_view to_string(ColumnType t);

// Keys of databases and columns: ^[a-z][a-z0-9_]{0,62}$.
[[nodiscard]] bool is_valid_key(std::string_view s);

struct ColumnDef {
  std::string key;
  std::string name;
  ColumnType type = ColumnType::text;
  Json options = Json(Json::Object{});
  bool internal = false;
};

struct DatabaseDef {
  std::string key;
  std::string name;
  std::vector<ColumnDef> columns;  // in the order they were added
  [[nodiscard]] const ColumnDef* column(std::string_view key) const;
};

inline constexpr std::size_t kMaxColumnsPerDatabase = 200;
inline constexpr std::size_t kMaxNameBytes = 200;
inline constexpr std::size_t kMaxTextBytes = 10'000;
inline constexpr std::size_t kMaxLongTextBytes = 200'000;
inline constexpr std::size_t kMaxReferences = 100;

struct FieldError {
  std::string field;
  std::string message;
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

// What a value may point at. The write model answers; tests pass fakes.
class RefResolver {
 public:
  virtual ~RefResolver() = default;
  [[nodiscard]] virtual bool database_exists(std::string_view db) const = 0;
  [[nodiscard]] virtual bool record_exists(std::string_view db, std::string_view id) const = 0;
  [[nodiscard]] virtual bool client_exists(std::string_view id) const = 0;
  [[nodiscard]] virtual bool contact_exists(std::string_view id) const = 0;
  [[nodiscard]] virtual bool file_exists(std::string_view id) const = 0;
};

// Checks a column definition request `{key, name, type, options?, internal?}` for `db`.
[[nodiscard]] std::expected<ColumnDef, std::vector<FieldError>> validate_column_definition(
    const Json& body, const DatabaseDef& db, const RefResolver& refs);

// Checks one value for a column and answers its normalised form (datetimes in UTC ms, money
// with its currency). `null` is valid for every type and means "no value".
[[nodiscard]] std::expected<Json, std::string> normalize_value(const ColumnDef& column,
                                                               const Json& value,
                                                               const RefResolver& refs);

// A database from its JSON form `{key, name, columns: [{key, name, type, options, internal}]}`.
[[nodiscard]] DatabaseDef database_from_json(const Json& j);

// A non-empty string of at most `max` bytes without control characters.
[[nodiscard]] bool is_valid_name(const Json* v, std::size_t max = kMaxNameBytes);
[[nodiscard]] bool is_valid_email(std::string_view s);

}  // namespace apexloop
