#pragma once
// Deterministic ids and parsing for the benchmark loaders: benchmarks are repeatable runs.

#include <cstdint>
#include <cstdio>
#include <string>

#include "apexloop/core/json.hpp"

namespace apexloop::bench {

// A UUID-shaped id `<prefix>-<n as 12 hex digits>`; `prefix` is the first 23 characters.
inline std::string id_of(const char* prefix, std::uint64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%012llx", prefix, static_cast<unsigned long long>(n));
  return buf;
}

inline Json parse(const std::string& s) { return *parse_json(s); }

}  // namespace apexloop::bench
