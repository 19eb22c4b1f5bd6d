#include "apexloop/events/upcast.hpp"

#include <gtest/gtest.h>

#include "apexloop/events/codec.hpp"

namespace apexloop::events {
namespace {

// A session.started exactly as version 1 wrote it (before the principal was grouped).
const std::string kV1 =
    R"({"id":"0190a000-0000-7000-8000-000000000001","type":"session.started","v":1,)"
    R"("workspace":"0190a000-0000-7000-8000-00000000aaaa","stream":"session/0190a000-0000-7000-8000-000000005e55",)"
    R"("seq":1,"at":"2026-11-18T11:06:40.123Z","actor":{"kind":"contact","id":"0190a000-0000-7000-8000-00000000c0c0"},)"
    R"("correlation":"0190a000-0000-7000-8000-0000000000c0","causation":"",)"
    R"("data":{"session_id":"0190a000-0000-7000-8000-000000005e55","principal_id":"0190a000-0000-7000-8000-00000000c0c0",)"
    R"("kind":"contact","role":"stakeholder","client_id":"0190a000-0000-7000-8000-00000000acde","method":"invitation",)"
    R"("expires_at":"2026-11-25T11:06:40.123Z"}})";

TEST(Upcast, SessionStartedIsWrittenAsVersion2) {
  EXPECT_EQ(current_version(event_type::session_started), 2);
  EXPECT_EQ(current_version(event_type::record_updated), 1) << "a type without steps stays at v1";
}

TEST(Upcast, AVersion1SessionStartedReadsAsVersion2) {
  auto e = decode(kV1);
  ASSERT_TRUE(e.has_value()) << e.error().detail;
  EXPECT_EQ(e->v, 2);
  EXPECT_EQ(to_json(e->data),
            R"({"expires_at":"2026-11-25T11:06:40.123Z","method":"invitation","principal":{"client_id":)"
            R"("0190a000-0000-7000-8000-00000000acde","id":"0190a000-0000-7000-8000-00000000c0c0","kind":"contact",)"
            R"("role":"stakeholder"},"session_id":"0190a000-0000-7000-8000-000000005e55"})");
  EXPECT_EQ(e->id, "0190a000-0000-7000-8000-000000000001") << "the envelope is untouched";
  EXPECT_EQ(e->seq, 1u);
}

TEST(Upcast, AUserSessionHasNoClient) {
  std::string bytes = kV1;
  const std::string client = R"("client_id":"0190a000-0000-7000-8000-00000000acde",)";
  bytes.erase(bytes.find(client), client.size());
  auto e = decode(bytes);
  ASSERT_TRUE(e.has_value()) << e.error().detail;
  EXPECT_EQ(e->data.find("principal")->find("client_id"), nullptr);
}

TEST(Upcast, Version2PassesThroughUnchangedAndRoundTrips) {
  auto v2 = decode(kV1);
  ASSERT_TRUE(v2.has_value());
  auto again = decode(encode(*v2));
  ASSERT_TRUE(again.has_value()) << again.error().detail;
  EXPECT_EQ(*again, *v2) << "upcasting a current event is the identity";
}

TEST(Upcast, Version1DataThatCannotBeConvertedIsAnErrorNotACrash) {
  std::string bytes = kV1;
  const std::string principal = R"("principal_id":"0190a000-0000-7000-8000-00000000c0c0",)";
  bytes.erase(bytes.find(principal), principal.size());
  auto e = decode(bytes);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().detail.find("principal_id"), std::string::npos) << e.error().detail;
}

TEST(Upcast, ANewerVersionThanTheReaderKnowsIsLeftAsWritten) {
  std::string bytes = kV1;
  bytes.replace(bytes.find(R"("v":1)"), 5, R"("v":3)");
  auto e = decode(bytes);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->v, 3);
  EXPECT_NE(e->data.find("principal_id"), nullptr);
}

// Each adds one member, so the result shows which steps ran.
std::expected<Json, std::string> add_member(const Json& d, const char* text) {
  Json out = d;
  const Json extra = *parse_json(text);
  for (const auto& [k, v] : extra.as_object()) out.as_object().insert_or_assign(k, v);
  return out;
}
std::expected<Json, std::string> add_b(const Json& d) { return add_member(d, R"({"b":2})"); }
std::expected<Json, std::string> add_c(const Json& d) { return add_member(d, R"({"c":3})"); }

TEST(Upcast, StepsChainFromTheWrittenVersionToTheCurrentOne) {
  UpcasterRegistry r;
  r.add("thing.happened", 1, add_b);
  r.add("thing.happened", 2, add_c);
  EXPECT_EQ(r.current_version("thing.happened"), 3);
  Envelope from1;
  from1.type = "thing.happened";
  from1.v = 1;
  from1.data = *parse_json(R"({"a":1})");
  ASSERT_TRUE(r.upcast(from1).has_value());
  EXPECT_EQ(from1.v, 3);
  EXPECT_EQ(to_json(from1.data), R"({"a":1,"b":2,"c":3})");
  Envelope from2;
  from2.type = "thing.happened";
  from2.v = 2;
  from2.data = *parse_json(R"({"a":1})");
  ASSERT_TRUE(r.upcast(from2).has_value());
  EXPECT_EQ(to_json(from2.data), R"({"a":1,"c":3})") << "only the steps after the written version run";
}

}  // namespace
}  // namespace apexloop::events
