#include "apexloop/projector/files.hpp"

#include <gtest/gtest.h>

#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kRec = "0190a000-0000-7000-8000-000000000001";
const std::string kFile = "0190a000-0000-7000-8000-0000000f0001";
const std::string kSha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

Envelope attached(std::string_view name = "a.pdf") {
  Json::Object data{{"file_id", kFile}, {"database", "tickets"}, {"record_id", kRec}, {"column", "docs"},
                    {"name", std::string(name)}, {"size", std::int64_t{3}}, {"content_type", "application/pdf"},
                    {"sha256", kSha}};
  return Envelope{"f", "file.attached", 1, kWs, "file/" + kFile, 1, TimestampMs{2000}, Actor{"contact", "cara"}, "c", "",
                  Json(std::move(data))};
}

TEST(FilesProjection, KeepsTheMetadataUnderTheWorkspace) {
  MapKv kv;
  Projection proj;
  ASSERT_TRUE(proj.apply(Envelope{"w", "workspace.created", 1, kWs, "workspace/" + kWs, 1, TimestampMs{1}, Actor{"bootstrap", "b"},
                                  "c", "", *parse_json(R"({"name":"Acme"})")},
                         Position{0, 0}, kv)
                  .has_value());
  ASSERT_TRUE(proj.apply(attached("../x \"y\""), Position{0, 1}, kv).has_value());
  auto meta = kv.get(keys::file(kWs, kFile));
  ASSERT_TRUE(meta.has_value());
  auto j = *parse_json(*meta);
  EXPECT_EQ(j.string_or("record_id", ""), kRec);
  EXPECT_EQ(j.string_or("column", ""), "docs");
  EXPECT_EQ(j.string_or("sha256", ""), kSha);
  EXPECT_EQ(j.string_or("name", ""), "../x \"y\"");
  EXPECT_EQ(j.find("size")->as_int(), 3);
  EXPECT_EQ(j.string_or("uploaded_at", ""), "1970-01-01T00:00:02.000Z");
}

TEST(FilesProjection, RefusesTheSameFileTwiceAndWritesNothing) {
  MapKv kv;
  ASSERT_TRUE(apply_file_attached(attached("first"), kv).has_value());
  const auto before = kv.data;
  EXPECT_FALSE(apply_file_attached(attached("second"), kv).has_value());
  EXPECT_EQ(kv.data, before);
  Envelope bad = attached();
  bad.data.as_object()["sha256"] = "short";
  EXPECT_FALSE(apply_file_attached(bad, kv).has_value());
}

TEST(FilesProjection, ARemovedFileLeavesNoMetadataAndIsRemovedOnce) {
  MapKv kv;
  ASSERT_TRUE(apply_file_attached(attached(), kv).has_value());
  Envelope removed{"r", "file.removed", 1, kWs, "file/" + kFile, 2, TimestampMs{3000}, Actor{"user", "u"}, "c", "",
                   *parse_json(R"({"file_id":")" + kFile + R"(","database":"tickets","record_id":")" + kRec + R"(","column":"docs"})")};
  ASSERT_TRUE(apply_file_removed(removed, kv).has_value());
  EXPECT_FALSE(kv.get(keys::file(kWs, kFile)).has_value());
  EXPECT_FALSE(apply_file_removed(removed, kv).has_value());
}

TEST(FilesProjection, AFileGoesIntoAColumnOrOntoACommentNeverBoth) {
  MapKv kv;
  Envelope both = attached();
  both.data.as_object()["comment_id"] = "0190a000-0000-7000-8000-0000000c0001";
  EXPECT_FALSE(apply_file_attached(both, kv).has_value());
  Envelope neither = attached();
  neither.data.as_object().erase("column");
  EXPECT_FALSE(apply_file_attached(neither, kv).has_value());
  EXPECT_TRUE(kv.data.empty());
}

}  // namespace
}  // namespace apexloop::projector
