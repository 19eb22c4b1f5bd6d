#include "apexloop/projector/store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>

#include "apexloop/events/codec.hpp"
#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";

std::string tmpdir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("apexloop-store-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

events::Message msg(std::int64_t offset, std::string type, std::string stream, std::uint64_t seq, std::string_view data) {
  Envelope e{"e", type, 1, kWs, std::move(stream), seq, TimestampMs{offset}, Actor{"user", "u"}, "c", "", *parse_json(data)};
  return events::Message{Position{0, offset}, kWs, events::encode(e), type};
}

std::vector<events::Message> log() {
  std::vector<events::Message> out;
  out.push_back(msg(0, "workspace.created", "workspace/" + kWs, 1, R"({"name":"Acme"})"));
  out.push_back(msg(1, "database.defined", "database/t", 1, R"({"key":"t","name":"T"})"));
  for (int i = 0; i < 50; ++i) {
    out.push_back(msg(2 + i, "record.created", "record/t/r" + std::to_string(i), 1,
                      R"({"database":"t","record_id":"r)" + std::to_string(i) + R"(","fields":{}})"));
  }
  return out;
}

TEST(Store, StoresOffsetsWithTheStateAndSkipsWhatItHasApplied) {
  const auto dir = tmpdir("offsets");
  const auto all = log();
  {
    auto store = ReadModelStore::open(dir);
    ASSERT_TRUE(store.has_value()) << store.error();
    auto s = (*store)->apply({all.begin(), all.begin() + 10});
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->applied, 10u);
    EXPECT_EQ((*store)->offsets().at(0), 10);
  }
  auto store = ReadModelStore::open(dir);
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ((*store)->offsets().at(0), 10) << "offsets survive a reopen";
  // A redelivery overlapping what was applied: the overlap is skipped, not applied twice.
  auto s = (*store)->apply({all.begin() + 5, all.end()});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->skipped, 5u);
  EXPECT_EQ(s->applied, all.size() - 10);
  EXPECT_EQ(s->rejected, 0u);
  std::filesystem::remove_all(dir);
}

TEST(Store, ReplayInOtherBatchSizesGivesTheSameHash) {
  const auto a = tmpdir("a");
  const auto b = tmpdir("b");
  const auto all = log();
  auto sa = ReadModelStore::open(a);
  auto sb = ReadModelStore::open(b);
  ASSERT_TRUE((*sa)->apply(all).has_value());
  for (std::size_t i = 0; i < all.size(); i += 7) {
    ASSERT_TRUE((*sb)->apply({all.begin() + i, all.begin() + std::min(all.size(), i + 7)}).has_value());
  }
  EXPECT_EQ(hash_read_models(*(*sa)->db()), hash_read_models(*(*sb)->db()));
  ASSERT_TRUE((*sb)->apply({msg(52, "database.defined", "database/u", 1, R"({"key":"u","name":"U"})")}).has_value());
  EXPECT_NE(hash_read_models(*(*sa)->db()), hash_read_models(*(*sb)->db()));
  sa->reset();
  sb->reset();
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST(Store, UndecodableEventsAreCountedAndPassed) {
  const auto dir = tmpdir("bad");
  auto store = ReadModelStore::open(dir);
  auto s = (*store)->apply({events::Message{Position{0, 0}, kWs, "not json", ""}, log()[0]});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->rejected, 1u);
  EXPECT_EQ(s->applied, 0u) << "workspace.created at offset 0 was already passed by the bad event";
  EXPECT_EQ((*store)->offsets().at(0), 1);
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace apexloop::projector
