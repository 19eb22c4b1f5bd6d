#include "apexloop/projector/written_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace apexloop::projector {
namespace {

std::string key(std::size_t i) { return "rc/0190a000-0000-7000-8000-00000000aaaa/projects/" + std::to_string(i); }

TEST(WrittenKeys, EveryKeyAddedMayBeThereAndFewOthersDo) {
  WrittenKeys keys(1 << 14);
  const std::size_t first_layer = keys.bytes();
  constexpr std::size_t kAdded = 300'000;  // past the first layer's room and the next two
  std::vector<std::uint64_t> hashes;
  for (std::size_t i = 0; i < kAdded; ++i) hashes.push_back(WrittenKeys::hash(key(i)));
  keys.add(hashes);
  EXPECT_GT(keys.bytes(), first_layer) << "it grew";
  std::size_t missed = 0;
  for (std::size_t i = 0; i < kAdded; ++i) missed += keys.may_contain(key(i)) ? 0 : 1;
  EXPECT_EQ(missed, 0u) << "a key added is never reported missing";
  std::size_t false_maybes = 0;
  constexpr std::size_t kOthers = 100'000;
  for (std::size_t i = kAdded; i < kAdded + kOthers; ++i) false_maybes += keys.may_contain(key(i)) ? 1 : 0;
  EXPECT_LT(false_maybes, kOthers / 50) << "under 2% of the keys never added come out maybe";
  // Two bytes of room a key; the newest layer may be little used yet.
  EXPECT_LE(keys.bytes(), kAdded * 10);
}

TEST(WrittenKeys, AnEmptyFilterHasNothing) {
  WrittenKeys keys;
  EXPECT_FALSE(keys.may_contain(key(1)));
  EXPECT_FALSE(keys.may_contain(""));
  keys.add("");
  EXPECT_TRUE(keys.may_contain(""));
  EXPECT_FALSE(keys.may_contain(key(1)));
}

TEST(WrittenKeys, ReadersNeverLockAndSeeWhatWasAddedBeforeThem) {
  WrittenKeys keys(1 << 12);
  keys.add(key(0));
  std::atomic<bool> done{false};
  std::atomic<std::size_t> wrong{0};
  std::thread reader([&] {
    while (!done.load()) wrong += keys.may_contain(key(0)) ? 0 : 1;
  });
  for (std::size_t i = 1; i < 300'000; i += 1000) {  // the writer grows the filter meanwhile
    std::vector<std::uint64_t> hashes;
    for (std::size_t j = i; j < i + 1000; ++j) hashes.push_back(WrittenKeys::hash(key(j)));
    keys.add(hashes);
  }
  done = true;
  reader.join();
  EXPECT_EQ(wrong, 0u);
  for (std::size_t i = 0; i < 300'000; i += 997) EXPECT_TRUE(keys.may_contain(key(i))) << i;
}

}  // namespace
}  // namespace apexloop::projector
