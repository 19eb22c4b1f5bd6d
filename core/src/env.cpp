#include "apexloop/core/env.hpp"

#include <cstdlib>

namespace apexloop {

std::string env_or(const char* name, std::string_view fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != nullptr && *end == '\0' ? n : fallback;
}

}  // namespace apexloop
