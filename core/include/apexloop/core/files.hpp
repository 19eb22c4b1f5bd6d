#pragma once
// Files attached to records (ACCESS.md "Collaboration objects"): the decisions for an upload
// into a record's file column or onto a comment, and for removing a file. The bytes never enter
// the log: file.attached carries metadata (id, database, record, column or comment, name, size,
// content type, SHA-256). For a column, a record.updated adds the file's id to the column, so the
// record shows it to exactly those who may read that column; a comment lists its files itself,
// so they are shown exactly where the comment is.
//
// Who may attach to a column: an internal admin or member to any record; a contact only to a
// record it can read, into a column its policy lets it write, under the same write rule as an
// edit (write filter, stays visible). A record the caller cannot see is 404 like a missing one; a
// column a contact may not write is 403 whether it exists or not, so no hidden column is named.
//
// Who may attach to a comment: its author only, whoever that is (a user to its own comment or
// internal note, a contact to its own comment on a record it still reads). Files on a comment
// are part of what its author says, as its body is, and only the author edits that. A comment
// the caller cannot see (a contact and an internal note, another record's comment) is 404.
//
// Who may remove a file (file.removed, plus the record.updated that drops a column file's id):
// an internal admin or member any file; a contact only a file it uploaded and still sees (else
// 404 if it cannot see it, 403 if it can), and a column file only under its write rule for that
// column, exactly like the PATCH that would drop the id. The log keeps the file's history; its
// bytes stay until the blob sweep finds no live file with them.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "apexloop/core/comments.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop {

inline constexpr std::size_t kMaxFileNameBytes = 255;
inline constexpr std::size_t kMaxContentTypeBytes = 127;

// Who is uploading: the same shape as a commenter (an internal user, or a contact and its state).
using Uploader = Commenter;

// Where the file goes: exactly one of a file column and a comment on that record.
struct FileTarget {
  std::string database;
  std::string record_id;
  std::string column;
  std::string comment_id;
};

// What the upload says about itself (its headers). Metadata only: never part of a path.
struct FileMeta {
  std::string name;
  std::string content_type;
};

// `X-Filename`, percent-decoded (so any UTF-8 name fits in a header): 1-255 bytes of valid
// UTF-8 without NUL. Other control characters, quotes and slashes are kept as the caller's
// metadata; whoever shows the name (Content-Disposition) makes it safe for its context.
[[nodiscard]] std::expected<std::string, std::string> parse_file_name(std::string_view header);
// `Content-Type`: `type/subtype` (parameters dropped, lowercased); none is
// application/octet-stream.
[[nodiscard]] std::expected<std::string, std::string> parse_content_type(std::string_view header);

// Before any byte is stored: may `who` attach a file there now?
[[nodiscard]] std::expected<void, CommandError> check_attach(const WorkspaceState& ws, const Uploader& who,
                                                            const FileTarget& target, TimestampMs now);

// Once the bytes are stored: file.attached and, for a column, the record.updated that appends
// `file_id` to it (checked again: the model may have moved while the bytes streamed in).
[[nodiscard]] Decision decide_attach_file(const WorkspaceState& ws, const Uploader& who, const FileTarget& target,
                                          const FileMeta& meta, const std::string& file_id, const std::string& sha256,
                                          std::uint64_t size, TimestampMs now);

// The Content-Disposition a download is sent with: always `attachment`, an ASCII `filename`
// without quotes, backslashes, slashes, control or non-ASCII bytes (a browser saves it as given,
// so no path and no header injection), and the full UTF-8 name in RFC 8187 `filename*`.
[[nodiscard]] std::string content_disposition(std::string_view name);
// The Content-Type a download is sent with: the stored type when it is on a short list of
// types browsers do not run, else application/octet-stream (HTML, SVG, XML, scripts ...).
[[nodiscard]] std::string_view served_content_type(std::string_view stored);

// DELETE /api/v1/files/{id}: file.removed and, for a column file the column still holds, the
// record.updated that drops its id.
[[nodiscard]] Decision decide_remove_file(const WorkspaceState& ws, const Uploader& who, std::string_view file_id,
                                          TimestampMs now);

// Fold file.attached and file.removed into the write model.
[[nodiscard]] std::expected<void, std::string> apply_file_attached(WorkspaceState& ws, const Envelope& e);
[[nodiscard]] std::expected<void, std::string> apply_file_removed(WorkspaceState& ws, const Envelope& e);

}  // namespace apexloop
