#pragma once
// How one event changes the read models: a pure function over a key-value view, so unit tests
// run it on a map and the projector runs it on a RocksDB write batch.

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "apexloop/core/event.hpp"
#include "apexloop/core/ids.hpp"

namespace apexloop::projector {

class KvView {
 public:
  virtual ~KvView() = default;
  [[nodiscard]] virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void del(std::string_view key) = 0;
};

// An in-memory view for tests and for hashing expectations.
class MapKv final : public KvView {
 public:
  std::map<std::string, std::string, std::less<>> data;
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  void del(std::string_view key) override;
};

// Applies `e`, which sits at `at` in the log. An error means the event contradicts the read
// model (e.g. an update out of sequence) and the caller counts it. Contract: every check comes
// before the first write, so an event that errs has written nothing.
[[nodiscard]] std::expected<void, std::string> project(const Envelope& e, Position at, KvView& kv);

}  // namespace apexloop::projector
