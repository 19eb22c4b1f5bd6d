#include "apexloop/runtime/blob_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <sstream>

namespace apexloop {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "apexloop-blobs-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::size_t files_under(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

std::string read_all(BlobReader& r) {
  std::string out;
  char buf[7];  // small on purpose: many reads
  for (;;) {
    auto n = r.read(buf);
    EXPECT_TRUE(n.has_value());
    if (!n || *n == 0) return out;
    out.append(buf, *n);
  }
}

// sha256("abc"), FIPS 180-2 appendix B.1.
constexpr std::string_view kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(FileBlobStore, NamesBytesByTheirSha256AndReadsThemBack) {
  TempDir dir;
  FileBlobStore store(dir.path);
  auto w = store.begin();
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->write("a").has_value());
  ASSERT_TRUE((*w)->write("bc").has_value());
  auto info = (*w)->commit();
  ASSERT_TRUE(info.has_value()) << info.error();
  EXPECT_EQ(info->sha256, kAbc);
  EXPECT_EQ(info->size, 3u);
  EXPECT_TRUE(fs::is_regular_file(dir.path / "ba" / std::string(kAbc)));
  auto r = store.open(kAbc);
  ASSERT_TRUE(r.has_value() && *r != nullptr);
  EXPECT_EQ((*r)->size(), 3u);
  EXPECT_EQ(read_all(**r), "abc");
}

TEST(FileBlobStore, StoresEqualBytesOnceAndLeavesNoTemporary) {
  TempDir dir;
  FileBlobStore store(dir.path);
  std::istringstream one("same bytes"), two("same bytes");
  auto a = store.put(one);
  auto b = store.put(two);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(files_under(dir.path), 1u);
  EXPECT_TRUE(fs::is_empty(dir.path / "tmp"));
}

TEST(FileBlobStore, AWriterDroppedBeforeCommitLeavesNothing) {
  TempDir dir;
  FileBlobStore store(dir.path);
  {
    auto w = store.begin();
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE((*w)->write(std::string(200'000, 'x')).has_value());
    EXPECT_EQ(files_under(dir.path / "tmp"), 1u);  // it was being written
  }
  EXPECT_EQ(files_under(dir.path), 0u);
}

TEST(FileBlobStore, OpensOnlyWellFormedHashes) {
  TempDir dir;
  FileBlobStore store(dir.path);
  std::istringstream in("abc");
  ASSERT_TRUE(store.put(in).has_value());
  for (std::string_view bad : {"../../etc/passwd", "", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                               "ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}) {
    auto r = store.open(bad);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, nullptr) << bad;
  }
  auto missing = store.open(std::string(64, '0'));
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(*missing, nullptr);
}

TEST(FileBlobStore, RemovesStaleTemporaries) {
  TempDir dir;
  FileBlobStore store(dir.path);
  auto w = store.begin();
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->write("partial").has_value());
  store.remove_stale_temporaries();  // as after a crash, at the next start
  EXPECT_EQ(files_under(dir.path), 0u);
}

TEST(MemoryBlobStore, BehavesLikeTheFileStore) {
  MemoryBlobStore store;
  std::istringstream one("abc"), two("abc");
  auto a = store.put(one);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->sha256, kAbc);
  ASSERT_TRUE(store.put(two).has_value());
  EXPECT_EQ(store.count(), 1u);
  { auto w = store.begin(); ASSERT_TRUE((*w)->write("dropped").has_value()); }
  EXPECT_EQ(store.count(), 1u);
  auto r = store.open(kAbc);
  ASSERT_TRUE(r.has_value() && *r != nullptr);
  EXPECT_EQ(read_all(**r), "abc");
}

// ---- the sweep of blobs no live file holds ----

using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

std::string put(BlobStore& store, const std::string& bytes) {
  std::istringstream in(bytes);
  auto info = store.put(in);
  EXPECT_TRUE(info.has_value());
  return info ? info->sha256 : "";
}

// Backdates a stored blob, as if it had been stored `ago`.
void age(const fs::path& root, const std::string& sha, Clock::duration ago) {
  const auto then = std::chrono::duration_cast<std::chrono::nanoseconds>((Clock::now() - ago).time_since_epoch()).count();
  const timespec times[2] = {{then / 1'000'000'000, then % 1'000'000'000}, {then / 1'000'000'000, then % 1'000'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root / sha.substr(0, 2) / sha).c_str(), times, 0), 0);
}

std::set<std::string> listed(const BlobStore& store) {
  std::set<std::string> out;
  EXPECT_TRUE(store.for_each([&](const StoredBlob& b) { out.insert(b.sha256); }).has_value());
  return out;
}

TEST(BlobSweep, RemovesOnlyUnreferencedBlobsOlderThanTheGracePeriod) {
  Clock::time_point now = Clock::now();
  MemoryBlobStore store([&] { return now; });
  const std::string live = put(store, "live"), orphan = put(store, "orphan"), again = put(store, "stored again");
  now += 2h;
  const std::string young = put(store, "young orphan");
  put(store, "stored again");  // equal bytes stored anew (an upload in flight): the grace starts over
  const std::set<std::string> referenced{live};
  std::vector<std::string> asked;
  auto stats = sweep_blobs(store, [&](std::string_view sha) {
    asked.emplace_back(sha);
    return referenced.contains(std::string(sha));
  }, now - 1h);
  ASSERT_TRUE(stats.has_value()) << stats.error();
  EXPECT_EQ(stats->seen, 4u);
  EXPECT_EQ(stats->removed, 1u);
  EXPECT_EQ(stats->bytes_removed, std::string("orphan").size());
  EXPECT_EQ(listed(store), (std::set<std::string>{live, again, young}));
  EXPECT_EQ(asked.size(), 2u) << "young blobs are not even looked up";
}

TEST(BlobSweep, TheFileStoreSweepsOldOrphansAndLeavesUploadsInFlightAlone) {
  TempDir dir;
  FileBlobStore store(dir.path);
  const std::string live = put(store, "live bytes"), orphan = put(store, "orphan bytes"), reused = put(store, "reused bytes");
  const std::string young = put(store, "young orphan");
  for (const auto& sha : {live, orphan, reused}) age(dir.path, sha, 48h);
  // An upload of equal bytes commits after the orphan was found old but before the sweep gets to
  // it: storing them again makes them young, so they stay.
  auto stats = sweep_blobs(store, [&](std::string_view sha) {
    if (sha == reused) {
      EXPECT_EQ(put(store, "reused bytes"), reused);
    }
    return sha == live;
  }, Clock::now() - 1h);
  ASSERT_TRUE(stats.has_value()) << stats.error();
  EXPECT_EQ(stats->removed, 1u);
  EXPECT_EQ(listed(store), (std::set<std::string>{live, reused, young}));
  auto gone = store.open(orphan);
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(*gone, nullptr);
  // A body still streaming in sits in tmp/, which the sweep never touches; it commits fine after.
  auto writer = store.begin();
  ASSERT_TRUE(writer.has_value());
  ASSERT_TRUE((*writer)->write("orphan bytes").has_value());
  ASSERT_TRUE(sweep_blobs(store, [](std::string_view) { return false; }, Clock::now() + 1h).has_value());
  EXPECT_EQ(listed(store), std::set<std::string>{});
  auto info = (*writer)->commit();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->sha256, orphan) << "the same bytes stored afresh after the sweep removed them";
  auto back = store.open(orphan);
  ASSERT_TRUE(back.has_value() && *back != nullptr);
  EXPECT_EQ(read_all(**back), "orphan bytes");
}

TEST(BlobSweep, RemovalChecksTheAgeAgainAtTheMomentItRemoves) {
  TempDir dir;
  FileBlobStore store(dir.path);
  const std::string sha = put(store, "bytes");
  EXPECT_FALSE(*store.remove_if_stored_before(sha, Clock::now() - 1h)) << "stored just now";
  age(dir.path, sha, 2h);
  EXPECT_TRUE(*store.remove_if_stored_before(sha, Clock::now() - 1h));
  EXPECT_FALSE(*store.remove_if_stored_before(sha, Clock::now() - 1h)) << "already gone";
  EXPECT_FALSE(*store.remove_if_stored_before("../../etc/passwd", Clock::now())) << "only content addresses";
}

}  // namespace
}  // namespace apexloop
