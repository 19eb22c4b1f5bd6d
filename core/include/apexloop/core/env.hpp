#pragma once
// Configuration comes from the environment (twelve-factor); these read it with a fallback.

#include <string>
#include <string_view>

namespace apexloop {

[[nodiscard]] std::string env_or(const char* name, std::string_view fallback);
// The variable as an integer; the fallback when unset, empty or not a whole number.
[[nodiscard]] long env_long(const char* name, long fallback);

}  // namespace apexloop
