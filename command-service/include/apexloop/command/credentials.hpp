#pragma once
// The command-service's own credential store: Argon2id password hashes keyed by workspace and
// e-mail. Hashes live here and nowhere else: never in the log, never in a log line.

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>

namespace rocksdb {
class DB;
}

namespace apexloop::command {

struct Credential {
  std::string user_id;
  std::string hash;  // libsodium's crypto_pwhash_str encoding ($argon2id$v=19$m=...)
};

// An open invitation, found by the SHA-256 of its token (the raw token is never stored).
struct Invitation {
  std::string workspace;
  std::string invitee_id;  // a contact or an internal user
  std::int64_t expires_at_ms = 0;
};

class CredentialStore {
 public:
  [[nodiscard]] static std::expected<std::unique_ptr<CredentialStore>, std::string> open(const std::string& dir);
  ~CredentialStore();
  [[nodiscard]] std::expected<void, std::string> put(std::string_view workspace, std::string_view email,
                                                     const Credential& c);
  [[nodiscard]] std::optional<Credential> get(std::string_view workspace, std::string_view email) const;
  void remove(std::string_view workspace, std::string_view email);

  [[nodiscard]] std::expected<void, std::string> put_invitation(std::string_view token_hash, const Invitation& i);
  [[nodiscard]] std::optional<Invitation> get_invitation(std::string_view token_hash) const;
  void remove_invitation(std::string_view token_hash);

 private:
  std::unique_ptr<rocksdb::DB> db_;
};

// Argon2id at m = 19 MiB, t = 2, p = 1 (OWASP's minimum). At most `concurrency` hashes run at
// once, so a flood of sign-ins queues instead of exhausting the cores and memory.
class PasswordHasher {
 public:
  explicit PasswordHasher(std::ptrdiff_t concurrency = 2);
  [[nodiscard]] std::expected<std::string, std::string> hash(std::string_view password);
  [[nodiscard]] bool verify(std::string_view hash, std::string_view password);
  // Spends the same work as a real verify, for unknown accounts: timing must not tell.
  void verify_dummy(std::string_view password);

 private:
  std::counting_semaphore<64> slots_;
  std::string dummy_hash_;
};

}  // namespace apexloop::command
