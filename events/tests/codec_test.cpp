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

// The detail of each refusal is part of what a reader logs: it stays as it was.
TEST(Codec, SaysWhatIsWrongWithAnEnvelope) {
  const std::string bytes = encode(sample());
  auto detail = [&](const std::string& from, const std::string& to) {
    std::string broken = bytes;
    broken.replace(broken.find(from), from.size(), to);
    auto d = decode(broken);
    return d ? std::string("decoded") : d.error().detail;
  };
  EXPECT_EQ(decode("{").error().detail, "malformed JSON");
  EXPECT_EQ(decode("[]").error().detail, "an event is a JSON object");
  EXPECT_EQ(detail(R"("id":)", R"("di":)"), "missing or non-string envelope member");
  EXPECT_EQ(detail(R"("causation":"")", R"("causation":null)"), "missing or non-string envelope member");
  EXPECT_EQ(detail(R"("v":1)", R"("v":1.0)"), "bad v");
  EXPECT_EQ(detail(R"("v":1)", R"("v":1001)"), "bad v");
  EXPECT_EQ(detail(R"("seq":3)", R"("seq":18446744073709551615)"), "bad seq");
  EXPECT_EQ(detail(R"("seq":3)", R"("seq":-3)"), "bad seq");
  EXPECT_TRUE(detail(R"("at":"2026-11-18T11:06:40.123Z")", R"("at":"yesterday")").starts_with("bad at: "));
  EXPECT_EQ(detail(R"("actor":{"kind":"user",)", R"("actor":{"kind":1,)"), "bad actor");
  EXPECT_EQ(detail(R"("actor":{"kind":"user",)", R"("actor":"user","x":{)"), "bad actor");
  EXPECT_EQ(detail(R"("data":{)", R"("data":null,"x":{)"), "data must be an object");
  // The first failing check speaks, in the order the members are checked.
  EXPECT_EQ(detail(R"("data":{)", R"("type":1,"data":{)"), "missing or non-string envelope member");
}

// Of duplicate members the last counts (as parsing to a Json always had it); unknown ones are
// ignored.
TEST(Codec, TheLastOfDuplicateMembersCounts) {
  std::string bytes = encode(sample());
  bytes.insert(bytes.size() - 1,
               R"(,"type":"record.deleted","seq":9,"extra":[1],"actor":{"id":"a","kind":"x","id":"b"},)"
               R"("data":{"b":1,"a":2,"b":3})");
  auto e = decode(bytes);
  ASSERT_TRUE(e.has_value()) << e.error().detail;
  EXPECT_EQ(e->type, "record.deleted");
  EXPECT_EQ(e->seq, 9u);
  EXPECT_EQ(e->actor, (Actor{"x", "b"}));
  EXPECT_EQ(to_json(e->data), R"({"a":2,"b":3})");
  EXPECT_EQ(e->id, sample().id);
}

// A reader decodes message after message into the same envelopes: each must come out exactly as
// a fresh decode gives it, whatever the envelope held before (longer or shorter strings, other
// data, an older version to upcast), and a failure says so.
TEST(Codec, DecodingIntoAUsedEnvelopeGivesWhatAFreshDecodeGives) {
  Envelope other = sample();
  other.type = "session.started";
  other.stream = "s";
  other.causation = "0190a000-0000-7000-8000-0000000000c1";
  other.actor = Actor{"bootstrap", ""};
  other.data = *parse_json(R"({"session_id":"0190a000-0000-7000-8000-000000005e55","method":"password",)"
                           R"("principal_id":"0190a000-0000-7000-8000-00000000ad01","kind":"user","role":"admin",)"
                           R"("expires_at":"2026-11-25T11:06:40.123Z"})");
  other.v = 1;  // session.started as version 1 wrote it: read as version 2
  Envelope into;
  for (const Envelope& e : {sample(), other, sample(), other}) {
    const std::string bytes = encode(e);
    auto fresh = decode(bytes);
    ASSERT_TRUE(fresh.has_value()) << fresh.error().detail;
    auto done = decode_into(bytes, into);
    ASSERT_TRUE(done.has_value()) << done.error().detail;
    EXPECT_EQ(into, *fresh) << bytes;
  }
  EXPECT_EQ(into.v, 2) << "upcast";
  auto bad = decode_into("{\"id\":1}", into);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, DecodeError::not_an_envelope);
  EXPECT_FALSE(decode_into("not json", into).has_value());
}

// A replay's decoders parse each message where it lies in one buffer of messages back to back,
// the next message (or, after the last, the padding) being what simdjson reads past its end.
TEST(Codec, DecodingInPlaceBetweenOtherMessagesGivesWhatAFreshDecodeGives) {
  Envelope other = sample();
  other.type = "record.deleted";
  other.data = *parse_json(R"({"database":"projects","record_id":"0190a000-0000-7000-8000-000000000002"})");
  const std::vector<std::string> messages = {encode(sample()), "{\"not\":\"an envelope\"}", encode(other), "{",
                                             encode(sample())};
  std::string packed;
  std::vector<std::size_t> ends;
  for (const auto& m : messages) {
    packed += m;
    ends.push_back(packed.size());
  }
  packed.append(kDecodePadding, ' ');
  Envelope into;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string_view value(packed.data() + begin, ends[i] - begin);
    begin = ends[i];
    auto fresh = decode(messages[i]);
    auto done = decode_padded_into(value, into);
    ASSERT_EQ(done.has_value(), fresh.has_value()) << messages[i];
    if (fresh) {
      EXPECT_EQ(into, *fresh) << messages[i];
    } else {
      EXPECT_EQ(done.error().kind, fresh.error().kind) << messages[i];
    }
  }
}

}  // namespace
}  // namespace apexloop::events
