#include "apexloop/runtime/blob_store.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace apexloop {

namespace fs = std::filesystem;

namespace {

std::string errno_text(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

std::chrono::system_clock::time_point mtime_of(const struct stat& st) {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

class Sha256 {
 public:
  Sha256() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    crypto_hash_sha256_init(&state_);
  }
  void update(std::string_view bytes) {
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  }
  std::string hex() {
    std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256_final(&state_, digest.data());
    std::array<char, crypto_hash_sha256_BYTES * 2 + 1> out{};
    sodium_bin2hex(out.data(), out.size(), digest.data(), digest.size());
    return std::string(out.data(), crypto_hash_sha256_BYTES * 2);
  }

 private:
  crypto_hash_sha256_state state_{};
};

// A temporary file being written and hashed; removed unless committed.
class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(fs::path root, fs::path temp, int fd, std::shared_ptr<std::mutex> placing)
      : root_(std::move(root)), temp_(std::move(temp)), fd_(fd), placing_(std::move(placing)) {}
  ~FileBlobWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) {
      std::error_code ec;
      fs::remove(temp_, ec);
    }
  }

  std::expected<void, std::string> write(std::string_view bytes) override {
    if (fd_ < 0) return std::unexpected("the blob is closed");
    hash_.update(bytes);
    size_ += bytes.size();
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(errno_text("writing a blob"));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  std::expected<BlobInfo, std::string> commit() override {
    if (fd_ < 0) return std::unexpected("the blob is closed");
    // Durable before it is named: the event that points at it is appended right after.
    if (::fsync(fd_) != 0) return std::unexpected(errno_text("syncing a blob"));
    ::close(fd_);
    fd_ = -1;
    BlobInfo info{hash_.hex(), size_};
    const fs::path dir = root_ / info.sha256.substr(0, 2);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return std::unexpected("creating " + dir.string() + ": " + ec.message());
    const fs::path final_path = dir / info.sha256;
    std::lock_guard lock(*placing_);  // against a sweep removing these very bytes meanwhile
    // The same bytes are stored already (the temp goes): stored again now, so the sweep's grace
    // period starts over and bytes about to be attached are never swept.
    if (::utimensat(AT_FDCWD, final_path.c_str(), nullptr, 0) == 0) return info;
    if (errno != ENOENT) return std::unexpected(errno_text("touching a blob"));
    fs::rename(temp_, final_path, ec);
    if (ec) return std::unexpected("storing a blob: " + ec.message());
    committed_ = true;
    return info;
  }

 private:
  fs::path root_;
  fs::path temp_;
  int fd_ = -1;
  std::shared_ptr<std::mutex> placing_;
  bool committed_ = false;
  Sha256 hash_;
  std::uint64_t size_ = 0;
};

class FileBlobReader final : public BlobReader {
 public:
  FileBlobReader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  ~FileBlobReader() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  std::expected<std::size_t, std::string> read(std::span<char> out) override {
    for (;;) {
      const ssize_t n = ::read(fd_, out.data(), out.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected(errno_text("reading a blob"));
      return static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
  std::uint64_t size_;
};

}  // namespace

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::expected<BlobInfo, std::string> BlobStore::put(std::istream& in) {
  auto w = begin();
  if (!w) return std::unexpected(w.error());
  std::array<char, 64 * 1024> buf{};
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    if (auto r = (*w)->write(std::string_view(buf.data(), n)); !r) return std::unexpected(r.error());
  }
  if (in.bad()) return std::unexpected("reading the input failed");
  return (*w)->commit();
}

FileBlobStore::FileBlobStore(fs::path root) : root_(std::move(root)) {}

std::expected<std::unique_ptr<BlobWriter>, std::string> FileBlobStore::begin() {
  std::error_code ec;
  const fs::path tmp = root_ / "tmp";
  fs::create_directories(tmp, ec);
  if (ec) return std::unexpected("creating " + tmp.string() + ": " + ec.message());
  // mkstemp: a fresh name of our own making, created exclusively, readable by us only.
  std::string name = (tmp / "upload-XXXXXX").string();
  const int fd = ::mkstemp(name.data());
  if (fd < 0) return std::unexpected(errno_text("creating a temporary blob"));
  return std::make_unique<FileBlobWriter>(root_, fs::path(name), fd, placing_);
}

std::expected<std::unique_ptr<BlobReader>, std::string> FileBlobStore::open(std::string_view sha256) const {
  if (!is_sha256_hex(sha256)) return nullptr;
  const fs::path path = root_ / std::string(sha256.substr(0, 2)) / std::string(sha256);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;
    return std::unexpected(errno_text("opening a blob"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::unexpected("a blob is not a regular file");
  }
  return std::make_unique<FileBlobReader>(fd, static_cast<std::uint64_t>(st.st_size));
}

std::expected<void, std::string> FileBlobStore::for_each(const std::function<void(const StoredBlob&)>& fn) const {
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    const bool prefix = name.size() == 2 && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (prefix && entry.is_directory()) dirs.push_back(entry.path());  // not tmp/
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return std::unexpected("listing " + root_.string() + ": " + ec.message());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    // One prefix directory at a time (1/256 of the store), listed before `fn` may remove any.
    std::vector<StoredBlob> blobs;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      struct stat st {};
      if (!is_sha256_hex(name) || !name.starts_with(dir.filename().string()) || ::lstat(entry.path().c_str(), &st) != 0 ||
          !S_ISREG(st.st_mode)) {
        continue;
      }
      blobs.push_back({name, static_cast<std::uint64_t>(st.st_size), mtime_of(st)});
    }
    if (ec) return std::unexpected("listing " + dir.string() + ": " + ec.message());
    for (const auto& b : blobs) fn(b);
  }
  return {};
}

std::expected<bool, std::string> FileBlobStore::remove_if_stored_before(std::string_view sha256,
                                                                        std::chrono::system_clock::time_point cutoff) {
  if (!is_sha256_hex(sha256)) return false;
  const fs::path path = root_ / std::string(sha256.substr(0, 2)) / std::string(sha256);
  std::lock_guard lock(*placing_);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return std::unexpected(errno_text("inspecting a blob"));
  }
  if (!S_ISREG(st.st_mode) || mtime_of(st) >= cutoff) return false;
  if (::unlink(path.c_str()) != 0) return std::unexpected(errno_text("removing a blob"));
  return true;
}

std::expected<SweepStats, std::string> sweep_blobs(BlobStore& store, const std::function<bool(std::string_view)>& referenced,
                                                   std::chrono::system_clock::time_point cutoff) {
  SweepStats stats;
  std::string error;
  auto walked = store.for_each([&](const StoredBlob& b) {
    ++stats.seen;
    // Young bytes may be on their way into the log: not even asked about.
    if (b.stored_at >= cutoff || referenced(b.sha256)) return;
    auto removed = store.remove_if_stored_before(b.sha256, cutoff);
    if (!removed) {
      if (error.empty()) error = removed.error();
      return;
    }
    if (*removed) {
      ++stats.removed;
      stats.bytes_removed += b.size;
    }
  });
  if (!walked) return std::unexpected(walked.error());
  if (!error.empty()) return std::unexpected(error);
  return stats;
}

void FileBlobStore::remove_stale_temporaries() const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "tmp", ec)) {
    std::error_code ignored;
    fs::remove(entry.path(), ignored);
  }
}

// ---- in memory ----

class MemoryBlobWriter final : public BlobWriter {
 public:
  explicit MemoryBlobWriter(MemoryBlobStore& store) : store_(store) {}
  std::expected<void, std::string> write(std::string_view bytes) override {
    hash_.update(bytes);
    bytes_.append(bytes);
    return {};
  }
  std::expected<BlobInfo, std::string> commit() override {
    BlobInfo info{hash_.hex(), bytes_.size()};
    const auto now = store_.now_();
    std::lock_guard lock(store_.mu_);
    auto [it, fresh] = store_.blobs_.try_emplace(info.sha256, MemoryBlobStore::Blob{nullptr, now});
    if (fresh) it->second.bytes = std::make_shared<const std::string>(std::move(bytes_));
    it->second.stored_at = now;
    return info;
  }

 private:
  MemoryBlobStore& store_;
  Sha256 hash_;
  std::string bytes_;
};

namespace {
class MemoryBlobReader final : public BlobReader {
 public:
  explicit MemoryBlobReader(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_->size(); }
  std::expected<std::size_t, std::string> read(std::span<char> out) override {
    const std::size_t n = std::min(out.size(), bytes_->size() - at_);
    std::memcpy(out.data(), bytes_->data() + at_, n);
    at_ += n;
    return n;
  }

 private:
  std::shared_ptr<const std::string> bytes_;
  std::size_t at_ = 0;
};
}  // namespace

std::expected<std::unique_ptr<BlobWriter>, std::string> MemoryBlobStore::begin() {
  return std::make_unique<MemoryBlobWriter>(*this);
}

std::expected<std::unique_ptr<BlobReader>, std::string> MemoryBlobStore::open(std::string_view sha256) const {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(sha256);
  if (it == blobs_.end()) return nullptr;
  return std::make_unique<MemoryBlobReader>(it->second.bytes);
}

std::expected<void, std::string> MemoryBlobStore::for_each(const std::function<void(const StoredBlob&)>& fn) const {
  std::vector<StoredBlob> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [sha, blob] : blobs_) all.push_back({sha, blob.bytes->size(), blob.stored_at});
  }
  for (const auto& b : all) fn(b);
  return {};
}

std::expected<bool, std::string> MemoryBlobStore::remove_if_stored_before(std::string_view sha256,
                                                                          std::chrono::system_clock::time_point cutoff) {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(sha256);
  if (it == blobs_.end() || it->second.stored_at >= cutoff) return false;
  blobs_.erase(it);
  return true;
}

std::size_t MemoryBlobStore::count() const {
  std::lock_guard lock(mu_);
  return blobs_.size();
}

}  // namespace apexloop
