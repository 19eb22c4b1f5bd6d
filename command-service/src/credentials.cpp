#include "apexloop/command/credentials.hpp"

#include <rocksdb/db.h>
#include <sodium.h>

#include <stdexcept>

namespace apexloop::command {
namespace {

constexpr unsigned long long kOpsLimit = 2;
constexpr std::size_t kMemLimit = 19u * 1024u * 1024u;

std::string key_of(std::string_view workspace, std::string_view email) {
  return "cred/" + std::string(workspace) + "/" + std::string(email);
}

}  // namespace

std::expected<std::unique_ptr<CredentialStore>, std::string> CredentialStore::open(const std::string& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) return std::unexpected("credential store " + dir + ": " + s.ToString());
  auto store = std::unique_ptr<CredentialStore>(new CredentialStore());
  store->db_.reset(raw);
  return store;
}

CredentialStore::~CredentialStore() = default;

std::expected<void, std::string> CredentialStore::put(std::string_view workspace, std::string_view email,
                                                      const Credential& c) {
  rocksdb::WriteOptions wo;
  wo.sync = true;  // a workspace's admin must be able to sign in after a crash
  const auto s = db_->Put(wo, key_of(workspace, email), c.user_id + "\n" + c.hash);
  if (!s.ok()) return std::unexpected(s.ToString());
  return {};
}

std::optional<Credential> CredentialStore::get(std::string_view workspace, std::string_view email) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), key_of(workspace, email), &v).ok()) return std::nullopt;
  const auto nl = v.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  return Credential{v.substr(0, nl), v.substr(nl + 1)};
}

void CredentialStore::remove(std::string_view workspace, std::string_view email) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  db_->Delete(wo, key_of(workspace, email));
}

std::expected<void, std::string> CredentialStore::put_invitation(std::string_view token_hash, const Invitation& i) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const auto s = db_->Put(wo, "invite/" + std::string(token_hash),
                          i.workspace + "\n" + i.invitee_id + "\n" + std::to_string(i.expires_at_ms));
  if (!s.ok()) return std::unexpected(s.ToString());
  return {};
}

std::optional<Invitation> CredentialStore::get_invitation(std::string_view token_hash) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), "invite/" + std::string(token_hash), &v).ok()) return std::nullopt;
  const auto a = v.find('\n');
  const auto b = a == std::string::npos ? a : v.find('\n', a + 1);
  if (b == std::string::npos) return std::nullopt;
  return Invitation{v.substr(0, a), v.substr(a + 1, b - a - 1), std::stoll(v.substr(b + 1))};
}

void CredentialStore::remove_invitation(std::string_view token_hash) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  db_->Delete(wo, "invite/" + std::string(token_hash));
}

PasswordHasher::PasswordHasher(std::ptrdiff_t concurrency) : slots_(concurrency) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  auto h = hash("not a password anyone has: the timing decoy");
  if (!h) throw std::runtime_error("argon2id unavailable: " + h.error());
  dummy_hash_ = *h;
}

std::expected<std::string, std::string> PasswordHasher::hash(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  slots_.acquire();
  const int rc = crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                                       crypto_pwhash_ALG_ARGON2ID13);
  slots_.release();
  if (rc != 0) return std::unexpected("out of memory while hashing");
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view hash, std::string_view password) {
  const std::string h(hash);
  slots_.acquire();
  const int rc = crypto_pwhash_str_verify(h.c_str(), password.data(), password.size());
  slots_.release();
  return rc == 0;
}

void PasswordHasher::verify_dummy(std::string_view password) { (void)verify(dummy_hash_, password); }

}  // namespace apexloop::command
