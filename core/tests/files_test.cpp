#include <gtest/gtest.h>

#include "apexloop/core/comments.hpp"
#include "apexloop/core/files.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";
const std::string kAcme = "0190a000-0000-7000-8000-0000000000c1";
const std::string kGlobex = "0190a000-0000-7000-8000-0000000000c2";
const std::string kAda = "0190a000-0000-7000-8000-0000000000e1";
const std::string kBob = "0190a000-0000-7000-8000-0000000000e2";
const std::string kFile = "0190a000-0000-7000-8000-0000000f0001";
const std::string kSha(64, 'a');
const TimestampMs kNow{1'795'000'000'000};

Json parse(std::string_view s) { return *parse_json(s); }

// tickets: owner, title, status, `docs` (file; contacts read and write it), `drafts` (file;
// contacts read it only) and `private` (an internal file column).
class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    commit(*decide_create_workspace(parse(R"({"name":"A","admin":{"email":"a@x.io","name":"A","password":"0123456789"}})"), kWs, kAdmin));
    commit(*decide_define_database(ws(), parse(R"({"key":"tickets","name":"Tickets"})")));
    for (const char* c : {R"({"key":"owner","name":"Owner","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","done"]}})",
                          R"({"key":"docs","name":"Docs","type":"file"})", R"({"key":"drafts","name":"Drafts","type":"file"})",
                          R"({"key":"private","name":"Private","type":"file","internal":true})"}) {
      commit(*decide_add_column(ws(), "tickets", parse(c)));
    }
    commit(*decide_define_client_type(ws(), parse(R"({"key":"retainer","name":"Retainer"})")));
    commit(*decide_define_portal_role(ws(), parse(R"({"key":"stakeholder","name":"Stakeholder"})")));
    commit(*decide_create_client(ws(), parse(R"({"name":"Acme","client_type":"retainer"})"), kAcme));
    commit(*decide_create_client(ws(), parse(R"({"name":"Globex","client_type":"retainer"})"), kGlobex));
    commit(*decide_invite_contact(ws(), kAcme, parse(R"({"email":"ada@acme.io","name":"Ada","role":"stakeholder"})"), kAda, kNow));
    commit(*decide_invite_contact(ws(), kGlobex, parse(R"({"email":"bob@globex.io","name":"Bob","role":"stakeholder"})"), kBob, kNow));
    commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                              parse(R"({"read":{"columns":["title","status","docs","drafts"]},
                                        "write":{"columns":["docs"],"filter":{"field":"status","op":"eq","value":"open"}},
                                        "comment":true})")));
    mine = record_of(kAcme);
    theirs = record_of(kGlobex);
  }
  void commit(const std::vector<Draft>& drafts, const Actor& actor = Actor{"user", kAdmin}) {
    for (const auto& d : drafts) {
      Envelope e{"id", d.type, 1, kWs, d.stream, d.seq, kNow, actor, "c", "", d.data};
      auto r = wm.apply(e, Position{0, offset++});
      ASSERT_TRUE(r.has_value()) << d.type << ": " << r.error();
    }
  }
  const WorkspaceState& ws() const { return *wm.workspace(kWs); }
  Uploader admin() const { return {"user", kAdmin, nullptr}; }
  Uploader ada() const { return {"contact", kAda, ws().active_contact(kAda)}; }
  std::string record_of(const std::string& owner) {
    const std::string id = "0190a000-0000-7000-8000-" + std::to_string(100000000000 + offset);
    auto out = decide_create_record(ws(), "tickets", parse(R"({"fields":{"owner":")" + owner + R"(","title":"t","status":"open"}})"),
                                    id, kAdmin, std::nullopt);
    EXPECT_TRUE(out.has_value());
    commit(out->drafts);
    return id;
  }
  Decision attach(const Uploader& who, const std::string& record, const std::string& column, const std::string& file = kFile) {
    return decide_attach_file(ws(), who, FileTarget{"tickets", record, column, ""}, FileMeta{"a.pdf", "application/pdf"}, file,
                              kSha, 3, kNow);
  }
  Decision attach_to_comment(const Uploader& who, const std::string& record, const std::string& comment,
                             const std::string& file = kFile, const std::string& sha = kSha) {
    return decide_attach_file(ws(), who, FileTarget{"tickets", record, "", comment}, FileMeta{"a.pdf", "application/pdf"}, file,
                              sha, 3, kNow);
  }
  // A comment by `who` on `record`; answers its id.
  std::string comment_by(const Uploader& who, const std::string& record, const std::string& body) {
    const std::string id = "0190a000-0000-7000-8000-" + std::to_string(200000000000 + offset);
    auto drafts = decide_add_comment(ws(), who, "tickets", record, parse(body), id, kNow);
    EXPECT_TRUE(drafts.has_value());
    commit(*drafts, Actor{who.kind, who.id});
    return id;
  }
  // Commits `drafts` as `who` did.
  void commit_as(const Uploader& who, const Decision& drafts) {
    ASSERT_TRUE(drafts.has_value()) << drafts.error().detail;
    commit(*drafts, Actor{who.kind, who.id});
  }
  Uploader bob() const { return {"contact", kBob, ws().active_contact(kBob)}; }
  static std::string file_id(int n) { return "0190a000-0000-7000-8000-0000000f" + std::to_string(1000 + n); }
  WriteModel wm;
  std::int64_t offset = 0;
  std::string mine, theirs;
};

TEST_F(FilesTest, AttachingAppendsTheFileEventThenTheColumnUpdate) {
  auto drafts = attach(admin(), mine, "docs");
  ASSERT_TRUE(drafts.has_value());
  ASSERT_EQ(drafts->size(), 2u);
  const Draft& f = (*drafts)[0];
  EXPECT_EQ(f.type, "file.attached");
  EXPECT_EQ(f.stream, "file/" + kFile);
  for (const char* k : {"file_id", "database", "record_id", "column", "name", "content_type", "sha256"}) {
    EXPECT_NE(f.data.find(k), nullptr) << k;
  }
  EXPECT_EQ(f.data.find("size")->as_int(), 3);
  const Draft& u = (*drafts)[1];
  EXPECT_EQ(u.type, "record.updated");
  EXPECT_EQ(u.seq, 2u);
  EXPECT_EQ(to_json(*u.data.find("changes")), R"({"docs":{"after":[")" + kFile + R"("],"before":null}})");
  commit(*drafts);
  EXPECT_TRUE(ws().file_exists(kFile));
  EXPECT_EQ(to_json(ws().record("tickets", mine)->fields.at("docs")), R"([")" + kFile + R"("])");
  // A second file joins the first.
  const std::string second = "0190a000-0000-7000-8000-0000000f0002";
  auto more = attach(admin(), mine, "docs", second);
  ASSERT_TRUE(more.has_value());
  EXPECT_EQ(to_json(*(*more)[1].data.find("changes")->find("docs")->find("after")), R"([")" + kFile + R"(",")" + second + R"("])");
}

TEST_F(FilesTest, AFileColumnHoldsOnlyFilesUploadedToIt) {
  const Json body = parse(R"({"fields":{"docs":[")" + kFile + R"("]}})");
  EXPECT_EQ(decide_update_record(ws(), "tickets", mine, body, 1).error().kind, CommandErrorKind::invalid);  // unknown
  commit(*attach(admin(), theirs, "docs"));
  // Known, but uploaded to another record: an edit cannot move a file's attachment.
  EXPECT_EQ(decide_update_record(ws(), "tickets", mine, body, 1).error().kind, CommandErrorKind::invalid);
  const std::string id = "0190a000-0000-7000-8000-00000000beef";
  EXPECT_EQ(decide_create_record(ws(), "tickets", parse(R"({"fields":{"owner":")" + kAcme + R"(","docs":[")" + kFile + R"("]}})"), id,
                                 kAdmin, std::nullopt)
                .error()
                .kind,
            CommandErrorKind::invalid);
  // Its own record keeps or drops it freely.
  const auto version = ws().record("tickets", theirs)->version;
  EXPECT_TRUE(decide_update_record(ws(), "tickets", theirs, body, version).has_value());
  EXPECT_TRUE(decide_update_record(ws(), "tickets", theirs, parse(R"({"fields":{"docs":[]}})"), version).has_value());
}

TEST_F(FilesTest, AContactAttachesOnlyWhereItMayWrite) {
  EXPECT_TRUE(check_attach(ws(), ada(), {"tickets", mine, "docs", ""}, kNow).has_value());
  EXPECT_TRUE(attach(ada(), mine, "docs").has_value());
  // Another client's record and a missing one look the same.
  EXPECT_EQ(attach(ada(), theirs, "docs").error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(attach(ada(), "0190a000-0000-7000-8000-000000000999", "docs").error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(check_attach(ws(), ada(), {"tickets", theirs, "docs", ""}, kNow).error().kind, CommandErrorKind::not_found);
  // Readable but not writable, internal, and missing columns answer alike.
  auto read_only = attach(ada(), mine, "drafts");
  auto internal = attach(ada(), mine, "private");
  auto missing = attach(ada(), mine, "nope");
  EXPECT_EQ(read_only.error().kind, CommandErrorKind::forbidden);
  EXPECT_EQ(internal.error().kind, CommandErrorKind::forbidden);
  EXPECT_EQ(missing.error().kind, CommandErrorKind::forbidden);
  EXPECT_EQ(internal.error().detail, missing.error().detail);
  EXPECT_EQ(check_attach(ws(), ada(), {"tickets", mine, "private", ""}, kNow).error().kind, CommandErrorKind::forbidden);
}

TEST_F(FilesTest, AContactsUploadObeysTheWriteFilter) {
  commit(*decide_update_record(ws(), "tickets", mine, parse(R"({"fields":{"status":"done"}})"), 1));
  EXPECT_EQ(check_attach(ws(), ada(), {"tickets", mine, "docs", ""}, kNow).error().kind, CommandErrorKind::forbidden);
  EXPECT_EQ(attach(ada(), mine, "docs").error().kind, CommandErrorKind::forbidden);
}

TEST_F(FilesTest, InternalUsersAttachToAnyFileColumnButOnlyFileColumns) {
  EXPECT_TRUE(attach(admin(), theirs, "private").has_value());
  EXPECT_EQ(attach(admin(), mine, "title").error().kind, CommandErrorKind::invalid);
  EXPECT_EQ(attach(admin(), mine, "nope").error().kind, CommandErrorKind::invalid);
  EXPECT_EQ(attach(admin(), "0190a000-0000-7000-8000-000000000999", "docs").error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_attach_file(ws(), admin(), {"nope", mine, "docs", ""}, {"a", "b/c"}, kFile, kSha, 1, kNow).error().kind,
            CommandErrorKind::not_found);
}

TEST_F(FilesTest, AFileIdIsAttachedOnce) {
  auto drafts = attach(admin(), mine, "docs");
  commit(*drafts);
  Envelope again{"id", "file.attached", 1, kWs, "file/" + kFile, 1, kNow, Actor{"user", kAdmin}, "c", "", (*drafts)[0].data};
  EXPECT_FALSE(wm.apply(again, Position{0, offset++}).has_value());
}

TEST_F(FilesTest, AFileGoesOntoACommentOnlyByItsAuthor) {
  const std::string by_admin = comment_by(admin(), mine, R"({"body":"see attached","visibility":"client"})");
  const std::string note = comment_by(admin(), mine, R"({"body":"internal","visibility":"internal"})");
  const std::string by_ada = comment_by(ada(), mine, R"({"body":"here you go"})");

  auto onto = attach_to_comment(admin(), mine, by_admin);
  ASSERT_TRUE(onto.has_value()) << onto.error().detail;
  ASSERT_EQ(onto->size(), 1u) << "a comment lists its files itself: no record.updated";
  EXPECT_EQ((*onto)[0].type, "file.attached");
  EXPECT_EQ((*onto)[0].data.string_or("comment_id", ""), by_admin);
  EXPECT_EQ((*onto)[0].data.find("column"), nullptr);
  commit_as(admin(), onto);
  EXPECT_EQ(ws().comments.find(by_admin)->second.files, 1u);
  EXPECT_TRUE(attach_to_comment(admin(), mine, note, file_id(1)).has_value()) << "an internal note carries files too";
  EXPECT_TRUE(attach_to_comment(ada(), mine, by_ada, file_id(2)).has_value());
  EXPECT_TRUE(check_attach(ws(), ada(), {"tickets", mine, "", by_ada}, kNow).has_value());

  // Another's comment the caller sees: 403, for a user as for a contact.
  EXPECT_EQ(attach_to_comment(admin(), mine, by_ada, file_id(3)).error().kind, CommandErrorKind::forbidden);
  EXPECT_EQ(attach_to_comment(ada(), mine, by_admin, file_id(3)).error().kind, CommandErrorKind::forbidden);
  // What the caller cannot see is not there: a contact and an internal note, a foreign record,
  // a comment of another record, a deleted or missing comment.
  const auto missing = attach_to_comment(ada(), mine, "0190a000-0000-7000-8000-00000000c999", file_id(3));
  EXPECT_EQ(missing.error().kind, CommandErrorKind::not_found);
  const auto hidden_note = attach_to_comment(ada(), mine, note, file_id(3));
  EXPECT_EQ(hidden_note.error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(hidden_note.error().detail, missing.error().detail);
  EXPECT_EQ(check_attach(ws(), ada(), {"tickets", mine, "", note}, kNow).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(attach_to_comment(bob(), mine, by_ada, file_id(3)).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(attach_to_comment(admin(), theirs, by_admin, file_id(3)).error().kind, CommandErrorKind::not_found);
  commit_as(admin(), decide_delete_comment(ws(), admin(), by_admin, kNow));
  EXPECT_EQ(attach_to_comment(admin(), mine, by_admin, file_id(3)).error().kind, CommandErrorKind::not_found);
  // Exactly one of column and comment.
  EXPECT_EQ(decide_attach_file(ws(), admin(), {"tickets", mine, "docs", note}, {"a", "b/c"}, kFile, kSha, 1, kNow).error().kind,
            CommandErrorKind::invalid);
  EXPECT_EQ(check_attach(ws(), admin(), {"tickets", mine, "", ""}, kNow).error().kind, CommandErrorKind::invalid);
}

TEST_F(FilesTest, AdminsRemoveAnyFileAndAColumnFileLeavesItsColumn) {
  commit_as(admin(), attach(admin(), mine, "docs", file_id(1)));
  commit_as(ada(), attach(ada(), mine, "docs", file_id(2)));
  auto removed = decide_remove_file(ws(), admin(), file_id(1), kNow);
  ASSERT_TRUE(removed.has_value()) << removed.error().detail;
  ASSERT_EQ(removed->size(), 2u);
  EXPECT_EQ((*removed)[0].type, "file.removed");
  EXPECT_EQ((*removed)[0].stream, "file/" + file_id(1));
  EXPECT_EQ((*removed)[0].seq, 2u);
  EXPECT_EQ(to_json((*removed)[0].data), R"({"column":"docs","database":"tickets","file_id":")" + file_id(1) +
                                             R"(","record_id":")" + mine + R"("})");
  EXPECT_EQ((*removed)[1].type, "record.updated");
  EXPECT_EQ(to_json(*(*removed)[1].data.find("changes")->find("docs")->find("after")), R"([")" + file_id(2) + R"("])");
  commit_as(admin(), removed);
  EXPECT_FALSE(ws().file_exists(file_id(1)));
  EXPECT_EQ(decide_remove_file(ws(), admin(), file_id(1), kNow).error().kind, CommandErrorKind::not_found) << "removed once";
  // A removed file is no reference any more: an edit cannot bring it back.
  const auto version = ws().record("tickets", mine)->version;
  const Json back = parse(R"({"fields":{"docs":[")" + file_id(1) + R"(",")" + file_id(2) + R"("]}})");
  EXPECT_EQ(decide_update_record(ws(), "tickets", mine, back, version).error().kind, CommandErrorKind::invalid);
  // A file its column no longer holds (an edit dropped it) goes alone; so does one of a deleted record.
  commit(*decide_update_record(ws(), "tickets", mine, parse(R"({"fields":{"docs":[]}})"), version));
  auto alone = decide_remove_file(ws(), admin(), file_id(2), kNow);
  ASSERT_TRUE(alone.has_value());
  EXPECT_EQ(alone->size(), 1u);
  commit_as(admin(), attach(admin(), theirs, "docs", file_id(3)));
  commit(*decide_delete_record(ws(), "tickets", theirs, std::nullopt));
  auto gone = decide_remove_file(ws(), admin(), file_id(3), kNow);
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->size(), 1u);
}

TEST_F(FilesTest, AContactRemovesOnlyItsOwnFilesItStillSees) {
  commit_as(admin(), attach(admin(), mine, "docs", file_id(1)));
  commit_as(ada(), attach(ada(), mine, "docs", file_id(2)));
  commit_as(admin(), attach(admin(), theirs, "docs", file_id(3)));
  // Seen but not its own: 403. Not seen (another client's record, an unknown id): 404.
  EXPECT_EQ(decide_remove_file(ws(), ada(), file_id(1), kNow).error().kind, CommandErrorKind::forbidden);
  EXPECT_EQ(decide_remove_file(ws(), ada(), file_id(3), kNow).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_remove_file(ws(), bob(), file_id(2), kNow).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_remove_file(ws(), ada(), "0190a000-0000-7000-8000-00000000dead", kNow).error().kind, CommandErrorKind::not_found);
  // Its own column file only as its PATCH could drop it: not while the write filter fails.
  commit(*decide_update_record(ws(), "tickets", mine, parse(R"({"fields":{"status":"done"}})"), ws().record("tickets", mine)->version));
  EXPECT_EQ(decide_remove_file(ws(), ada(), file_id(2), kNow).error().kind, CommandErrorKind::forbidden);
  commit(*decide_update_record(ws(), "tickets", mine, parse(R"({"fields":{"status":"open"}})"), ws().record("tickets", mine)->version));
  auto removed = decide_remove_file(ws(), ada(), file_id(2), kNow);
  ASSERT_TRUE(removed.has_value()) << removed.error().detail;
  ASSERT_EQ(removed->size(), 2u);
  EXPECT_EQ(to_json(*(*removed)[1].data.find("changes")->find("docs")->find("after")), R"([")" + file_id(1) + R"("])");
  commit_as(ada(), removed);
  // Once its column no longer holds its file, the contact does not see it any more.
  commit_as(ada(), attach(ada(), mine, "docs", file_id(4)));
  commit(*decide_update_record(ws(), "tickets", mine, parse(R"({"fields":{"docs":[]}})"), ws().record("tickets", mine)->version));
  EXPECT_EQ(decide_remove_file(ws(), ada(), file_id(4), kNow).error().kind, CommandErrorKind::not_found);
  // Its own comment's file, while it sees the comment; an internal note's file never.
  const std::string own = comment_by(ada(), mine, R"({"body":"mine"})");
  const std::string note = comment_by(admin(), mine, R"({"body":"internal","visibility":"internal"})");
  commit_as(ada(), attach_to_comment(ada(), mine, own, file_id(5)));
  commit_as(admin(), attach_to_comment(admin(), mine, note, file_id(6)));
  EXPECT_EQ(decide_remove_file(ws(), ada(), file_id(6), kNow).error().kind, CommandErrorKind::not_found);
  auto from_comment = decide_remove_file(ws(), ada(), file_id(5), kNow);
  ASSERT_TRUE(from_comment.has_value());
  ASSERT_EQ(from_comment->size(), 1u);
  EXPECT_EQ((*from_comment)[0].data.string_or("comment_id", ""), own);
  commit_as(ada(), from_comment);
  EXPECT_EQ(ws().comments.find(own)->second.files, 0u);
}

TEST_F(FilesTest, ABlobIsReferencedWhileAnyLiveFileHoldsItsBytes) {
  const std::string other(64, 'b');
  commit_as(admin(), attach(admin(), mine, "docs", file_id(1)));
  commit_as(admin(), attach(admin(), theirs, "docs", file_id(2)));
  const std::string note = comment_by(admin(), mine, R"({"body":"n","visibility":"internal"})");
  commit_as(admin(), attach_to_comment(admin(), mine, note, file_id(3), other));
  EXPECT_TRUE(wm.references_blob(kSha));
  EXPECT_TRUE(wm.references_blob(other));
  EXPECT_FALSE(wm.references_blob(std::string(64, 'c')));
  commit_as(admin(), decide_remove_file(ws(), admin(), file_id(1), kNow));
  EXPECT_TRUE(wm.references_blob(kSha)) << "the other file with equal bytes still holds them";
  commit_as(admin(), decide_remove_file(ws(), admin(), file_id(2), kNow));
  EXPECT_FALSE(wm.references_blob(kSha));
  // A deleted comment's file is still a file (internal users download it) until it is removed.
  commit_as(admin(), decide_delete_comment(ws(), admin(), note, kNow));
  EXPECT_TRUE(wm.references_blob(other));
  commit_as(admin(), decide_remove_file(ws(), admin(), file_id(3), kNow));
  EXPECT_FALSE(wm.references_blob(other));
}

TEST(FileHeaders, NamesAreDecodedUtf8AndBounded) {
  EXPECT_EQ(*parse_file_name("report.pdf"), "report.pdf");
  EXPECT_EQ(*parse_file_name("caf%C3%A9%20menu.pdf"), "caf\xC3\xA9 menu.pdf");
  // Hostile names are kept as metadata: they never become a path, and are made safe when shown.
  EXPECT_EQ(*parse_file_name("..%2F..%2Fetc%2Fpasswd"), "../../etc/passwd");
  EXPECT_EQ(*parse_file_name("a%22b%0D%0A.html"), "a\"b\r\n.html");
  EXPECT_FALSE(parse_file_name("").has_value());
  EXPECT_FALSE(parse_file_name("a%00b").has_value());
  EXPECT_FALSE(parse_file_name("a%zz").has_value());
  EXPECT_FALSE(parse_file_name("a%C3").has_value());
  EXPECT_FALSE(parse_file_name("%C0%AF").has_value()) << "an overlong '/'";
  EXPECT_FALSE(parse_file_name(std::string(256, 'a')).has_value());
  EXPECT_TRUE(parse_file_name(std::string(255, 'a')).has_value());
}

TEST(FileHeaders, ContentTypesAreMediaTypes) {
  EXPECT_EQ(*parse_content_type("Application/PDF; charset=binary"), "application/pdf");
  EXPECT_EQ(*parse_content_type(""), "application/octet-stream");
  EXPECT_EQ(*parse_content_type("image/svg+xml"), "image/svg+xml");
  EXPECT_FALSE(parse_content_type("pdf").has_value());
  EXPECT_FALSE(parse_content_type("a/b/c").has_value());
  EXPECT_FALSE(parse_content_type("text/html\r\nX: y").has_value());
  EXPECT_FALSE(parse_content_type("/x").has_value());
}

TEST(FileDownloads, ContentDispositionIsAnAttachmentWithASafeName) {
  EXPECT_EQ(content_disposition("report.pdf"), "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  const std::string hostile = content_disposition("../../etc/passwd\"\r\nSet-Cookie: x=1;.html");
  EXPECT_EQ(hostile.find('\r'), std::string::npos);
  EXPECT_EQ(hostile.find('\n'), std::string::npos);
  EXPECT_EQ(hostile.find('/'), std::string::npos);
  EXPECT_EQ(hostile, "attachment; filename=\".._.._etc_passwd'Set-Cookie: x=1;.html\"; "
                     "filename*=UTF-8''.._.._etc_passwd%22Set-Cookie%3A%20x%3D1%3B.html");
  // Non-ASCII only in filename*, percent-encoded UTF-8 (RFC 8187).
  EXPECT_EQ(content_disposition("caf\xC3\xA9.txt"), "attachment; filename=\"caf.txt\"; filename*=UTF-8''caf%C3%A9.txt");
  EXPECT_EQ(content_disposition("\r\n"), "attachment; filename=\"download\"; filename*=UTF-8''download");
  EXPECT_EQ(content_disposition(".."), "attachment; filename=\"download\"; filename*=UTF-8''..");
}

TEST(FileDownloads, RiskyTypesAreServedAsOctetStream) {
  EXPECT_EQ(served_content_type("application/pdf"), "application/pdf");
  EXPECT_EQ(served_content_type("image/png"), "image/png");
  for (const char* risky : {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/javascript",
                            "text/javascript", "application/x-shockwave-flash", "multipart/x-mixed-replace"}) {
    EXPECT_EQ(served_content_type(risky), "application/octet-stream") << risky;
  }
}

}  // namespace
}  // namespace apexloop
