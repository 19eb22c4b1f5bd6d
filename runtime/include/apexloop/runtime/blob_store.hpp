#pragma once
// Content-addressed storage for uploaded file bytes, behind a small interface so an
// S3-compatible store can replace the local one. A blob is named by the SHA-256 of its bytes
// only: nothing a caller sends (a file name, an id) ever becomes part of a path.
//
// Bytes arrive pushed, piece by piece, as the HTTP body streams in (begin() → write()... →
// commit()); put(std::istream&) is the same for a caller that holds a stream to pull from.
// Equal bytes are stored once. A writer dropped without commit() leaves nothing behind.
//
// Blobs no live file refers to any more (all files with those bytes removed, or an upload whose
// append failed) are deleted by sweep_blobs(), but only once they were last stored longer ago
// than a grace period: an upload stores its bytes just before its event is appended, and storing
// equal bytes again counts as storing them now, so bytes on their way into the log are young.

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
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

// A blob as a sweep sees it: when it was last stored (first, or again as equal bytes).
struct StoredBlob {
  std::string sha256;
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point stored_at;
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
  // Calls `fn` for every blob, in no particular order; `fn` may remove the blob it is given.
  [[nodiscard]] virtual std::expected<void, std::string> for_each(const std::function<void(const StoredBlob&)>& fn) const = 0;
  // Deletes the blob unless it was last stored at or after `cutoff`; answers whether it did.
  // Atomic with respect to a commit() of equal bytes: either the commit finds the blob gone and
  // stores it afresh, or the blob is young and stays.
  [[nodiscard]] virtual std::expected<bool, std::string> remove_if_stored_before(
      std::string_view sha256, std::chrono::system_clock::time_point cutoff) = 0;
};

[[nodiscard]] bool is_sha256_hex(std::string_view s);

struct SweepStats {
  std::size_t seen = 0;
  std::size_t removed = 0;
  std::uint64_t bytes_removed = 0;
};
// Deletes every blob that `referenced` says no live file holds and that was last stored before
// `cutoff` (now minus the grace period). `referenced` is asked about a blob just before it goes.
[[nodiscard]] std::expected<SweepStats, std::string> sweep_blobs(BlobStore& store,
                                                                 const std::function<bool(std::string_view sha256)>& referenced,
                                                                 std::chrono::system_clock::time_point cutoff);

// Blobs under `<root>/<sha256[0:2]>/<sha256>`, written first to `<root>/tmp/` (same file
// system, so the move into place is one atomic rename) while hashed with SHA-256. A blob's mtime
// is when it was last stored: committing equal bytes again touches it. Commits and removals are
// serialised within the process, which is the only one that writes (the command service).
class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(std::filesystem::path root);
  [[nodiscard]] std::expected<std::unique_ptr<BlobWriter>, std::string> begin() override;
  [[nodiscard]] std::expected<std::unique_ptr<BlobReader>, std::string> open(std::string_view sha256) const override;
  [[nodiscard]] std::expected<void, std::string> for_each(const std::function<void(const StoredBlob&)>& fn) const override;
  [[nodiscard]] std::expected<bool, std::string> remove_if_stored_before(
      std::string_view sha256, std::chrono::system_clock::time_point cutoff) override;
  // Temporary files a crash left behind; only the one process that writes calls this, at start.
  void remove_stale_temporaries() const;
  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  std::shared_ptr<std::mutex> placing_ = std::make_shared<std::mutex>();  // commit() and removal
};

// In memory, for tests; `now` is its clock (simulated time in tests).
class MemoryBlobStore final : public BlobStore {
 public:
  using Now = std::function<std::chrono::system_clock::time_point()>;
  explicit MemoryBlobStore(Now now = [] { return std::chrono::system_clock::now(); }) : now_(std::move(now)) {}
  [[nodiscard]] std::expected<std::unique_ptr<BlobWriter>, std::string> begin() override;
  [[nodiscard]] std::expected<std::unique_ptr<BlobReader>, std::string> open(std::string_view sha256) const override;
  [[nodiscard]] std::expected<void, std::string> for_each(const std::function<void(const StoredBlob&)>& fn) const override;
  [[nodiscard]] std::expected<bool, std::string> remove_if_stored_before(
      std::string_view sha256, std::chrono::system_clock::time_point cutoff) override;
  [[nodiscard]] std::size_t count() const;

 private:
  friend class MemoryBlobWriter;
  struct Blob {
    std::shared_ptr<const std::string> bytes;
    std::chrono::system_clock::time_point stored_at;
  };
  Now now_;
  mutable std::mutex mu_;
  std::map<std::string, Blob, std::less<>> blobs_;
};

}  // namespace apexloop
