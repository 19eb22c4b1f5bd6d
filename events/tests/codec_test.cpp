#include "apexloop/events/codec.hpp"

#include <gtest/gtest.h>

namespace apexloop::events {
namespace {

Envelope sample() {
  return Envelope{"0190a000-0000-7000-8000-000000000001",
                  "record.updated",
                  1,
                  "0190a000-0000-7000-8000-00000000aaaa",
                  "record/tickets/0190a000-0000-7000-8000-000000000002",
                  3,
                  TimestampMs{1'795'000'000'123},
                  Actor{"user", "0190a000-0000-7000-8000-00000000ad01"},
                  "0190a000-0000-7000-8000-0000000000c0",
                  "",
                  *parse_json(R"({"database":"tickets","record_id":"0190a000-0000-7000-8000-000000000002",
                                 "changes":{"status":{"before":"open","after":"done"}}})")};
}

TEST(Codec, RoundTrips) {
  const Envelope e = sample();
  auto back = decode(encode(e));
  ASSERT_TRUE(back.has_value()) << back.error().detail;
  EXPECT_EQ(*back, e);
}

TEST(Codec, EncodesTheEnvelopeInItsDocumentedOrder) {
  const std::string bytes = encode(sample());
  EXPECT_TRUE(bytes.starts_with(R"({"id":"0190a000-0000-7000-8000-000000000001","type":"record.updated","v":1,)"));
  EXPECT_NE(bytes.find(R"("at":"2026-11-18T11:06:40.123Z")"), std::string::npos);
  EXPECT_EQ(encode(sample()), bytes) << "the same envelope must always give the same bytes";
}

TEST(Codec, RefusesWhatIsNotAnEnvelope) {
  EXPECT_EQ(decode("{").error().kind, DecodeError::malformed_json);
  EXPECT_EQ(decode("[]").error().kind, DecodeError::not_an_envelope);
  std::string bytes = encode(sample());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {R"("v":1)", R"("v":"1")"},
           {R"("seq":3)", R"("seq":0)"},
           {R"("at":"2026-11-18T11:06:40.123Z")", R"("at":"yesterday")"},
           {R"("actor":{"kind":"user",)", R"("actor":{"kind":1,)"},
           {R"("data":{)", R"("data":[{)"}}) {
    std::string broken = bytes;
    broken.replace(broken.find(from), from.size(), to);
    if (to.starts_with(R"("data":[{)")) broken.insert(broken.size() - 1, "]");
    EXPECT_FALSE(decode(broken).has_value()) << broken;
  }
}

}  // namespace
}  // namespace apexloop::events
