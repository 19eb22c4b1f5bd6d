#include "apexloop/runtime/auth.hpp"

#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apexloop/core/json.hpp"

namespace apexloop {
namespace {

constexpr std::string_view kPrefix = "ax1.";

std::string mac_of(const std::array<std::uint8_t, TokenSigner::kKeyBytes>& key, std::string_view msg) {
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256(mac.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                         key.data());
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::expected<std::string, std::string> unbase64url(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::unexpected("not base64url");
  }
  out.resize(len);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> h{};
  crypto_hash_sha256(h.data(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  std::string hex(h.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), h.data(), h.size());
  hex.pop_back();
  return hex;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size()) return {};
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i]))) {
      return {};
    }
  }
  return authorization.substr(kBearer.size());
}

std::expected<TokenSigner, std::string> TokenSigner::from_env() {
  if (sodium_init() < 0) return std::unexpected("libsodium failed to initialise");
  std::string hex;
  if (const char* k = std::getenv("APEXLOOP_SESSION_KEY"); k != nullptr && *k != '\0') {
    hex = k;
  } else if (const char* f = std::getenv("APEXLOOP_SESSION_KEY_FILE"); f != nullptr && *f != '\0') {
    std::ifstream in(f);
    if (!in) return std::unexpected(std::string("cannot read APEXLOOP_SESSION_KEY_FILE ") + f);
    std::getline(in, hex);
  } else {
    return std::unexpected("set APEXLOOP_SESSION_KEY_FILE (or APEXLOOP_SESSION_KEY): 64 hex digits");
  }
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
  std::array<std::uint8_t, kKeyBytes> key{};
  std::size_t len = 0;
  if (hex.size() != kKeyBytes * 2 ||
      sodium_hex2bin(key.data(), key.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != kKeyBytes) {
    return std::unexpected("the session key must be 64 hex digits");
  }
  return TokenSigner(key);
}

std::string TokenSigner::issue(const Principal& p) const {
  Json::Object claims{{"ws", p.workspace}, {"k", p.kind},   {"sub", p.id},
                      {"r", p.role},       {"sid", p.session_id}, {"exp", p.expires_at.ms}};
  if (!p.client_id.empty()) claims.emplace("c", p.client_id);
  std::string msg = std::string(kPrefix) + base64url(to_json(Json(std::move(claims))));
  const std::string mac = base64url(mac_of(key_, msg));
  return msg + "." + mac;
}

std::expected<Principal, TokenError> TokenSigner::verify(std::string_view token, TimestampMs now) const {
  if (token.size() > 2048 || !token.starts_with(kPrefix)) return std::unexpected(TokenError::malformed);
  const auto dot = token.rfind('.');
  if (dot <= kPrefix.size()) return std::unexpected(TokenError::malformed);
  const std::string_view msg = token.substr(0, dot);
  auto mac = unbase64url(token.substr(dot + 1));
  if (!mac) return std::unexpected(TokenError::malformed);
  if (!constant_time_equal(*mac, mac_of(key_, msg))) return std::unexpected(TokenError::bad_signature);
  auto payload = unbase64url(msg.substr(kPrefix.size()));
  if (!payload) return std::unexpected(TokenError::malformed);
  auto claims = parse_json(*payload);
  if (!claims || !claims->is_object()) return std::unexpected(TokenError::malformed);
  const Json* exp = claims->find("exp");
  if (exp == nullptr || !exp->is_int()) return std::unexpected(TokenError::malformed);
  Principal p{std::string(claims->string_or("ws", "")), std::string(claims->string_or("k", "")),
              std::string(claims->string_or("sub", "")), std::string(claims->string_or("r", "")),
              std::string(claims->string_or("c", "")),  std::string(claims->string_or("sid", "")),
              TimestampMs{exp->as_int()}};
  if (p.expires_at <= now) return std::unexpected(TokenError::expired);
  return p;
}

std::expected<Principal, http::Response> authenticate(const http::Request& req, const TokenSigner& signer,
                                                     const Clock& clock) {
  auto it = req.find(http::bhttp::field::authorization);
  std::string_view token;
  if (it != req.end()) token = bearer_token(std::string_view(it->value().data(), it->value().size()));
  auto p = token.empty() ? std::unexpected(TokenError::malformed) : signer.verify(token, clock.now());
  if (!p) {
    auto res = http::problem_for(req, http::bhttp::status::unauthorized, "sign in to continue");
    res.set(http::bhttp::field::www_authenticate, "Bearer");
    return std::unexpected(std::move(res));
  }
  return *p;
}

}  // namespace apexloop
