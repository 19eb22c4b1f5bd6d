#include <gtest/gtest.h>

#include "apexloop/core/workspace.hpp"

namespace apexloop {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";
const std::string kMia = "0190a000-0000-7000-8000-00000000ad02";
const std::string kAcme = "0190a000-0000-7000-8000-0000000000c1";
const std::string kAda = "0190a000-0000-7000-8000-0000000000e1";
const std::string kSession = "0190a000-0000-7000-8000-00000000005e";
const TimestampMs kNow{1'795'000'000'000};
const TimestampMs kWeek{kNow.ms + 7 * 24 * 3600 * 1000LL};

Json parse(std::string_view s) { return *parse_json(s); }

class PeopleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    commit(*decide_create_workspace(parse(R"({"name":"A","admin":{"email":"a@x.io","name":"A","password":"0123456789"}})"), kWs, kAdmin));
    commit(*decide_define_client_type(ws(), parse(R"({"key":"retainer","name":"Retainer"})")));
    commit(*decide_define_portal_role(ws(), parse(R"({"key":"stakeholder","name":"Stakeholder"})")));
    commit(*decide_create_client(ws(), parse(R"({"name":"Acme","client_type":"retainer"})"), kAcme));
  }
  void commit(const std::vector<Draft>& drafts, WriteModel* into = nullptr) {
    for (const auto& d : drafts) {
      Envelope e{"id", d.type, 1, kWs, d.stream, d.seq, kNow, Actor{"user", kAdmin}, "c", "", d.data};
      log.push_back(e);
      auto r = (into != nullptr ? *into : wm).apply(e, Position{0, offset++});
      ASSERT_TRUE(r.has_value()) << d.type << ": " << r.error();
    }
  }
  const WorkspaceState& ws() const { return *wm.workspace(kWs); }
  void invite_mia(std::string_view role = "member", TimestampMs expires = kWeek) {
    commit(*decide_invite_user(ws(), parse(R"({"email":"Mia@X.io","name":"Mia","role":")" + std::string(role) + R"("})"), kMia,
                               expires));
  }
  WriteModel wm;
  std::vector<Envelope> log;
  std::int64_t offset = 0;
};

TEST_F(PeopleTest, AnInvitedUserCarriesItsExpiryAndNoSecret) {
  auto d = decide_invite_user(ws(), parse(R"({"email":"Mia@X.io","name":"Mia","role":"auditor"})"), kMia, kWeek);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].type, "user.invited");
  EXPECT_EQ((*d)[0].stream, "user/" + kMia);
  EXPECT_EQ(to_json((*d)[0].data), R"({"email":"mia@x.io","invitation_expires_at":")" + format_timestamp(kWeek) +
                                       R"(","name":"Mia","role":"auditor","user_id":")" + kMia + R"("})");
  commit(*d);
  EXPECT_EQ(ws().active_user(kMia), nullptr) << "an invited user is not in until it joins";
  EXPECT_FALSE(may_sign_in(ws(), kMia).has_value());
}

TEST_F(PeopleTest, InvitingValidatesRoleEmailAndUniqueness) {
  for (const char* bad : {R"({"email":"m@x.io","name":"M","role":"owner"})", R"({"email":"m@x.io","name":"M","role":"stakeholder"})",
                          R"({"email":"not an email","name":"M","role":"member"})", R"({"email":"m@x.io","name":"","role":"member"})",
                          R"({"email":"m@x.io","name":"M","role":"member","id":"x"})", R"({"email":"m@x.io","name":"M"})", R"([])"}) {
    auto r = decide_invite_user(ws(), parse(bad), kMia, kWeek);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().kind, CommandErrorKind::invalid) << bad;
  }
  EXPECT_EQ(decide_invite_user(ws(), parse(R"({"email":"A@x.io","name":"M","role":"member"})"), kMia, kWeek).error().kind,
            CommandErrorKind::conflict)
      << "the admin holds that e-mail";
  invite_mia();
  EXPECT_EQ(decide_invite_contact(ws(), kAcme, parse(R"({"email":"mia@x.io","name":"M","role":"stakeholder"})"), kAda, kWeek)
                .error()
                .kind,
            CommandErrorKind::conflict)
      << "a pending user invitation holds its e-mail against contacts too";
}

TEST_F(PeopleTest, AnInvitationIsAcceptedOnceAndOnlyBeforeTheExpiryItsEventCarries) {
  invite_mia("member", TimestampMs{kNow.ms + 1000});
  const Json answer = parse(R"({"name":"Mia M","password":"0123456789"})");
  ASSERT_TRUE(open_invitation(ws(), kMia, TimestampMs{kNow.ms + 999}).has_value());
  EXPECT_FALSE(open_invitation(ws(), kMia, TimestampMs{kNow.ms + 1000}).has_value()) << "expired at its expiry";
  EXPECT_EQ(decide_accept_invitation(ws(), kMia, answer, TimestampMs{kNow.ms + 1000}).error().kind, CommandErrorKind::not_found);
  // A replay of the same events decides the same: the expiry is in the event, not in a clock.
  WriteModel replayed;
  for (std::size_t i = 0; i < log.size(); ++i) ASSERT_TRUE(replayed.apply(log[i], Position{0, static_cast<std::int64_t>(i)}));
  EXPECT_EQ(replayed.workspace(kWs)->users.at(kMia).invitation_expires_at, TimestampMs{kNow.ms + 1000});

  auto bad = decide_accept_invitation(ws(), kMia, parse(R"({"password":"short"})"), kNow);
  EXPECT_EQ(bad.error().kind, CommandErrorKind::invalid);
  auto ok = decide_accept_invitation(ws(), kMia, answer, kNow);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)[0].type, "user.joined");
  EXPECT_EQ((*ok)[0].seq, 2u);
  EXPECT_EQ(to_json((*ok)[0].data), R"({"name":"Mia M","user_id":")" + kMia + R"("})") << "no password";
  commit(*ok);
  const auto grant = may_sign_in(ws(), kMia);
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->kind, "user");
  EXPECT_EQ(grant->role, "member");
  EXPECT_EQ(decide_accept_invitation(ws(), kMia, answer, kNow).error().kind, CommandErrorKind::not_found) << "used once";
}

TEST_F(PeopleTest, ContactInvitationsExpireTheSameWay) {
  commit(*decide_invite_contact(ws(), kAcme, parse(R"({"email":"ada@acme.io","name":"Ada","role":"stakeholder"})"), kAda,
                                TimestampMs{kNow.ms + 5}));
  const Json answer = parse(R"({"password":"0123456789"})");
  EXPECT_EQ(decide_accept_invitation(ws(), kAda, answer, TimestampMs{kNow.ms + 5}).error().kind, CommandErrorKind::not_found);
  auto ok = decide_accept_invitation(ws(), kAda, answer, kNow);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)[0].type, "contact.joined");
  commit(*ok);
  const auto grant = may_sign_in(ws(), kAda);
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->kind, "contact");
  EXPECT_EQ(grant->client_id, kAcme);
  EXPECT_EQ(grant->role, "stakeholder");
}

TEST_F(PeopleTest, DeactivationEndsSignInAndSparesTheLastAdmin) {
  EXPECT_EQ(decide_deactivate_user(ws(), kAdmin).error().kind, CommandErrorKind::conflict);
  invite_mia("admin");
  EXPECT_EQ(decide_deactivate_user(ws(), kAdmin).error().kind, CommandErrorKind::conflict)
      << "an admin who has not joined does not count";
  commit(*decide_accept_invitation(ws(), kMia, parse(R"({"password":"0123456789"})"), kNow));
  auto d = decide_deactivate_user(ws(), kAdmin);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ((*d)[0].type, "user.deactivated");
  EXPECT_EQ((*d)[0].seq, 2u);
  commit(*d);
  EXPECT_FALSE(may_sign_in(ws(), kAdmin).has_value());
  EXPECT_EQ(ws().active_user(kAdmin), nullptr);
  EXPECT_EQ(decide_deactivate_user(ws(), kAdmin).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_deactivate_user(ws(), "0190a000-0000-7000-8000-000000000000").error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_deactivate_user(ws(), kMia).error().kind, CommandErrorKind::conflict);
}

TEST_F(PeopleTest, APendingInvitationCanBeWithdrawnByDeactivation) {
  invite_mia();
  commit(*decide_deactivate_user(ws(), kMia));
  EXPECT_FALSE(open_invitation(ws(), kMia, kNow).has_value());
  EXPECT_EQ(decide_accept_invitation(ws(), kMia, parse(R"({"password":"0123456789"})"), kNow).error().kind,
            CommandErrorKind::not_found);
}

TEST_F(PeopleTest, SessionEventsCarryIdsAndNeverTokens) {
  const Draft started = session_started(SessionGrant{"contact", kAda, "stakeholder", kAcme}, kSession, kWeek, "invitation");
  EXPECT_EQ(started.type, "session.started");
  EXPECT_EQ(started.stream, "session/" + kSession);
  EXPECT_EQ(started.seq, 1u);
  EXPECT_EQ(to_json(started.data), R"({"expires_at":")" + format_timestamp(kWeek) +
                                       R"(","method":"invitation","principal":{"client_id":")" + kAcme + R"(","id":")" +
                                       kAda + R"(","kind":"contact","role":"stakeholder"},"session_id":")" + kSession +
                                       R"("})");
  commit({started});
  auto ended = decide_end_session(ws(), kSession, Actor{"contact", kAda}, kWeek);
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ((*ended)[0].seq, 2u) << "the session's stream continues after session.started";

  const Draft throttled = signin_throttled("Nobody@X.io", 10, kWeek, kSession);
  EXPECT_EQ(throttled.type, "signin.throttled");
  EXPECT_EQ(to_json(throttled.data), R"({"email":"nobody@x.io","failures":10,"locked_until":")" + format_timestamp(kWeek) + R"("})");
  commit({throttled});
}

TEST_F(PeopleTest, AUserInvitedWithoutAnExpiryIsALogInvariantBroken) {
  Envelope e{"id", "user.invited", 1, kWs, "user/" + kMia, 1, kNow, Actor{"user", kAdmin}, "c", "",
             parse(R"({"user_id":")" + kMia + R"(","email":"m@x.io","name":"M","role":"member"})")};
  EXPECT_FALSE(wm.apply(e, Position{0, offset++}).has_value());
  EXPECT_FALSE(ws().users.contains(kMia));
}

}  // namespace
}  // namespace apexloop
