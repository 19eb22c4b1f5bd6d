#include "apexloop/runtime/blob_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

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

}  // namespace
}  // namespace apexloop
