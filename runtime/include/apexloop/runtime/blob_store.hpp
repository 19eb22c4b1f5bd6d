#pragma once
// Content-addressed storage for uploaded file bytes, behind a small interface so an
// S3-compatible store can replace the local one. A blob is named by the SHA-256 of its bytes
// only: nothing a caller sends (a file name, an id) ever becomes part of a path.
//
// Bytes arrive pushed, piece by piece, as the HTTP body streams in (begin() → write()... →
// commit()); put(std::istream&) is the same for a caller that holds a stream to pull from.
// Equal bytes are stored once. A writer dropped without commit() leaves nothing behind.

#include <cstdint>
#include <expected>
#include <filesystem>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace apexloop {

struct BlobInfo {
  std::string sha256;  // 64 lowercase hex digits
  std::uint64_t size = 0;
  friend bool operator==(const BlobInfo&, const BlobInfo&) = default;
};

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;  // without commit(): the bytes written so far are discarded
  [[nodiscard]] virtual std::expected<void, std::string> write(std::string_view bytes) = 0;
  // Stores the bytes under their hash (once: equal bytes are already there) and names them.
  [[nodiscard]] virtual std::expected<BlobInfo, std::string> commit() = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  [[nodiscard]] virtual std::uint64_t size() const = 0;
  // The next bytes into `out`; 0 at the end.
  [[nodiscard]] virtual std::expected<std::size_t, std::string> read(std::span<char> out) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  [[nodiscard]] virtual std::expected<std::unique_ptr<BlobWriter>, std::string> begin() = 0;
  // Null when there is no such blob (or `sha256` is not 64 lowercase hex digits).
  [[nodiscard]] virtual std::expected<std::unique_ptr<BlobReader>, std::string> open(std::string_view sha256) const = 0;
  // Everything `in` holds, read in pieces.
  [[nodiscard]] std::expected<BlobInfo, std::string> put(std::istream& in);
};

[[nodiscard]] bool is_sha256_hex(std::string_view s);

// Blobs under `<root>/<sha256[0:2]>/<sha256>`, written first to `<root>/tmp/` (same file
// system, so the move into place is one atomic rename) while hashed with SHA-256.
class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(std::filesystem::path root);
  [[nodiscard]] std::expected<std::unique_ptr<BlobWriter>, std::string> begin() override;
  [[nodiscard]] std::expected<std::unique_ptr<BlobReader>, std::string> open(std::string_view sha256) const override;
  // Temporary files a crash left behind; only the one process that writes calls this, at start.
  void remove_stale_temporaries() const;
  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// In memory, for tests.
class MemoryBlobStore final : public BlobStore {
 public:
  [[nodiscard]] std::expected<std::unique_ptr<BlobWriter>, std::string> begin() override;
  [[nodiscard]] std::expected<std::unique_ptr<BlobReader>, std::string> open(std::string_view sha256) const override;
  [[nodiscard]] std::size_t count() const;

 private:
  friend class MemoryBlobWriter;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>, std::less<>> blobs_;
};

}  // namespace apexloop
