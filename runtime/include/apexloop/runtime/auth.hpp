#pragma once
// Session tokens: a signed, expiring statement of who the caller is, verifiable by every service
// with the shared key from configuration and no shared state. The key never leaves the process.

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "apexloop/core/clock.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop {

struct Principal {
  std::string workspace;
  std::string kind;  // "user" (internal) or "contact"
  std::string id;
  std::string role;  // admin, member, auditor, or the contact's portal role
  std::string client_id;
  std::string session_id;
  TimestampMs expires_at;
};

enum class TokenError { malformed, bad_signature, expired };

class TokenSigner {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  explicit TokenSigner(const std::array<std::uint8_t, kKeyBytes>& key) : key_(key) {}

  // Loads a 64-hex-digit key from APEXLOOP_SESSION_KEY or the file named by
  // APEXLOOP_SESSION_KEY_FILE. There is no default key.
  [[nodiscard]] static std::expected<TokenSigner, std::string> from_env();

  [[nodiscard]] std::string issue(const Principal& p) const;
  [[nodiscard]] std::expected<Principal, TokenError> verify(std::string_view token, TimestampMs now) const;

 private:
  std::array<std::uint8_t, kKeyBytes> key_;
};

// Base64url without padding, and constant-time string comparison, from libsodium.
[[nodiscard]] std::string base64url(std::string_view bytes);
[[nodiscard]] std::expected<std::string, std::string> unbase64url(std::string_view text);
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);
// Lowercase hex of SHA-256.
[[nodiscard]] std::string sha256_hex(std::string_view bytes);
// `n` random bytes from the OS CSPRNG.
[[nodiscard]] std::string random_bytes(std::size_t n);

// The bearer token of an Authorization header, or empty.
[[nodiscard]] std::string_view bearer_token(std::string_view authorization);

// The caller's principal from `Authorization: Bearer`, or the 401 to answer. Every failure
// (missing, malformed, forged, expired) answers the same.
[[nodiscard]] std::expected<Principal, http::Response> authenticate(const http::Request& req,
                                                                    const TokenSigner& signer,
                                                                    const Clock& clock);

}  // namespace apexloop
