#include "apexloop/projector/stored_record.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace apexloop::projector {
namespace {

constexpr std::string_view kMagic = "R2";
constexpr std::string_view kMagicCreated = "R3";  // R2 and the Creation
constexpr std::string_view kMagicUnstamped = "R1";  // before field stamps, see the header

// Reads length-prefixed parts off the front of `in`; any read past the end fails the decode.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u32(std::uint32_t& n) {
    if (in_.size() < 4) return false;
    n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool u64(std::uint64_t& n) {
    std::uint32_t lo = 0, hi = 0;
    if (!u32(lo) || !u32(hi)) return false;
    n = (static_cast<std::uint64_t>(hi) << 32) | lo;
    return true;
  }
  bool bytes(std::string& s) {
    std::uint32_t n = 0;
    if (!u32(n) || in_.size() < n) return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// The characters of a JSON string without escapes, read straight off its text.
std::optional<std::string_view> plain_string(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  const std::string_view inner = text.substr(1, text.size() - 2);
  // Two memchr scans: cheaper than find_first_of's per-character search of the set.
  if (inner.find('\\') == std::string_view::npos && inner.find('"') == std::string_view::npos) return inner;
  return std::nullopt;
}

// Field values as stored are JSON text we wrote ourselves; the common scalars are read without a
// full parse.
std::optional<Json> parse_value(std::string_view text) {
  if (auto plain = plain_string(text)) return Json(*plain);
  if (!text.empty() && (text.front() == '-' || (text.front() >= '0' && text.front() <= '9'))) {
    std::int64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc{} && ptr == text.data() + text.size()) return Json(n);
  }
  auto v = parse_json(text);
  return v ? std::optional<Json>(std::move(*v)) : std::nullopt;
}

auto lower(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view key) {
  return std::lower_bound(fields.begin(), fields.end(), key, [](const auto& f, std::string_view k) { return f.first < k; });
}

}  // namespace

const std::string* StoredRecord::field(std::string_view key) const {
  auto it = lower(fields, key);
  return it != fields.end() && it->first == key ? &it->second : nullptr;
}

void StoredRecord::set_field(std::string_view key, const std::optional<Json>& value) {
  auto it = std::lower_bound(fields.begin(), fields.end(), key, [](const auto& f, std::string_view k) { return f.first < k; });
  const bool present = it != fields.end() && it->first == key;
  if (!value || value->is_null()) {
    if (present) fields.erase(it);
    return;
  }
  if (present) {
    it->second = to_json(*value);
  } else {
    fields.emplace(it, std::string(key), to_json(*value));
  }
}

std::optional<std::string_view> StoredRecord::plain_string_field(std::string_view key) const {
  const std::string* text = field(key);
  return text == nullptr ? std::nullopt : plain_string(*text);
}

std::string StoredRecord::string_field(std::string_view key) const {
  const std::string* text = field(key);
  if (text == nullptr) return "";
  if (auto plain = plain_string(*text)) return std::string(*plain);
  auto v = parse_value(*text);
  return v && v->is_string() ? v->as_string() : "";
}

Json::Object StoredRecord::parse_fields(const std::vector<std::string>& keys) const {
  Json::Object out;
  for (const auto& k : keys) {
    if (const std::string* text = field(k)) {
      if (auto v = parse_value(*text)) out.insert_or_assign(k, std::move(*v));
    }
  }
  return out;
}

namespace {

// Writes the encoding into a buffer sized for it beforehand (each part a memcpy, no growth).
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  void u32(std::uint32_t n) {
    for (int i = 0; i < 4; ++i) *p_++ = static_cast<char>((n >> (8 * i)) & 0xff);
  }
  void u64(std::uint64_t n) {
    u32(static_cast<std::uint32_t>(n & 0xffffffffu));
    u32(static_cast<std::uint32_t>(n >> 32));
  }
  void raw(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void bytes(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    raw(s);
  }

 private:
  char* p_;
};

}  // namespace

std::string StoredRecord::encode() const {
  std::string out;
  encode_into(out);
  return out;
}

void StoredRecord::encode_into(std::string& out) const {
  std::size_t size = kMagic.size() + 4 * 4 + id.size() + created_at.size() + updated_at.size() + order.size() + 8 + 4;
  for (const auto& [k, v] : fields) size += 8 + k.size() + v.size();
  size += 4;
  for (const auto& f : stamps) size += 4 + f.field.size() + 16;
  if (creation) {
    size += 5 * 4 + creation->actor_kind.size() + creation->actor_id.size() + creation->event_id.size() +
            creation->position.size() + creation->owner_key.size() + 8;
  }
  // (The size the lambda is handed is not used: GCC 12's library hands it the grown capacity.)
  out.resize_and_overwrite(size, [&](char* p, std::size_t) {
    Writer w(p);
    w.raw(creation ? kMagicCreated : kMagic);
    for (std::string_view s : {std::string_view(id), std::string_view(created_at), std::string_view(updated_at),
                               std::string_view(order)}) {
      w.bytes(s);
    }
    w.u64(version);
    w.u32(static_cast<std::uint32_t>(fields.size()));
    for (const auto& [k, v] : fields) {
      w.bytes(k);
      w.bytes(v);
    }
    w.u32(static_cast<std::uint32_t>(stamps.size()));
    for (const auto& f : stamps) {
      w.bytes(f.field);
      w.u64(f.stamp.version);
      w.u64(static_cast<std::uint64_t>(f.stamp.at.ms));
    }
    if (creation) {
      for (const std::string* s : {&creation->actor_kind, &creation->actor_id, &creation->event_id,
                                   &creation->position, &creation->owner_key}) {
        w.bytes(*s);
      }
      w.u64(creation->seq);
    }
    return size;
  });
}

std::optional<StoredRecord> StoredRecord::decode(std::string_view bytes) {
  StoredRecord r;
  if (!decode_into(bytes, r)) return std::nullopt;
  return r;
}

bool StoredRecord::decode_into(std::string_view bytes, StoredRecord& r, bool creation) {
  const bool created = bytes.starts_with(kMagicCreated);
  const bool stamped = created || bytes.starts_with(kMagic);
  if (!stamped && !bytes.starts_with(kMagicUnstamped)) return false;
  Reader in(bytes.substr(kMagic.size()));
  std::uint32_t n = 0;
  if (!in.bytes(r.id) || !in.bytes(r.created_at) || !in.bytes(r.updated_at) || !in.bytes(r.order) ||
      !in.u64(r.version) || !in.u32(n)) {
    return false;
  }
  // Every field takes at least 8 bytes, so a corrupt count cannot make us reserve gigabytes.
  if (n > bytes.size() / 8) return false;
  r.fields.resize(n);
  for (auto& [k, v] : r.fields) {
    if (!in.bytes(k) || !in.bytes(v)) return false;
  }
  if (stamped) {
    // Likewise 20 bytes per stamp.
    if (!in.u32(n) || n > bytes.size() / 20) return false;
    r.stamps.resize(n);
    for (auto& f : r.stamps) {
      std::uint64_t at = 0;
      if (!in.bytes(f.field) || !in.u64(f.stamp.version) || !in.u64(at)) return false;
      f.stamp.at = TimestampMs{static_cast<std::int64_t>(at)};
    }
  } else {
    r.stamps.clear();
    if (r.version > 1) {
      // Which fields its edits changed is not known: the ones it holds are taken as changed by
      // its last event, so every reader is still shown the real version and time (see the header).
      auto at = parse_timestamp(r.updated_at);
      if (!at) return false;
      r.stamps.reserve(r.fields.size());
      for (const auto& [k, _] : r.fields) r.stamps.push_back({k, Stamp{r.version, *at}});
    }
  }
  if (created && !creation) {
    r.creation.reset();
    return true;  // (what follows is the creation, not read)
  }
  if (created) {
    if (!r.creation) r.creation.emplace();  // else its strings' buffers are reused
    auto& c = *r.creation;
    if (!in.bytes(c.actor_kind) || !in.bytes(c.actor_id) || !in.bytes(c.event_id) || !in.bytes(c.position) ||
        !in.bytes(c.owner_key) || !in.u64(c.seq)) {
      return false;
    }
  } else {
    r.creation.reset();
  }
  return in.done();
}

StoredRecord stored_record(std::string_view id, std::uint64_t version, std::string_view created_at,
                           std::string_view updated_at, std::string_view order, const Json::Object& fields) {
  StoredRecord r;
  assign_stored_record(r, id, version, created_at, updated_at, order, fields);
  return r;
}

void assign_stored_record(StoredRecord& r, std::string_view id, std::uint64_t version, std::string_view created_at,
                          std::string_view updated_at, std::string_view order, const Json::Object& fields) {
  r.id.assign(id);
  r.version = version;
  r.created_at.assign(created_at);
  r.updated_at.assign(updated_at);
  r.order.assign(order);
  r.stamps.clear();
  // Json::Object is already in key order. The fields' strings are overwritten in place.
  std::size_t n = 0;
  for (const auto& [k, v] : fields) {
    if (v.is_null()) continue;
    if (n == r.fields.size()) r.fields.emplace_back();
    auto& [key, text] = r.fields[n++];
    key.assign(k);
    text.clear();
    write_json(text, v);
  }
  r.fields.resize(n);
}

void append_served_head(std::string& out, const StoredRecord& r, Shown shown) {
  out += "{\"id\":";
  write_json_string(out, r.id);
  out += ",\"version\":";
  out += std::to_string(shown.version);
  out += ",\"created_at\":";
  write_json_string(out, r.created_at);
  out += ",\"updated_at\":";
  write_json_string(out, shown.updated_at);
  out += ",\"fields\":{";
}

}  // namespace apexloop::projector
