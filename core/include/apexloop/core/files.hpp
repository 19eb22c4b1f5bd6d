#pragma once
// Files attached to records (ACCESS.md "Collaboration objects"): the decisions for an upload
// into a record's file column. The bytes never enter the log: file.attached carries metadata
// (id, database, record, column, name, size, content type, SHA-256), and a record.updated adds
// the file's id to the column, so the record shows it to exactly those who may read that column.
//
// Who may attach: an internal admin or member to any record; a contact only to a record it can
// read, into a column its policy lets it write, under the same write rule as an edit (write
// filter, stays visible). A record the caller cannot see is 404 like a missing one; a column a
// contact may not write is 403 whether it exists or not, so no hidden column is named.

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

// Where the file goes.
struct FileTarget {
  std::string database;
  std::string record_id;
  std::string column;
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

// Before any byte is stored: may `who` attach a file to that column of that record now?
[[nodiscard]] std::expected<void, CommandError> check_attach(const WorkspaceState& ws, const Uploader& who,
                                                            const FileTarget& target, TimestampMs now);

// Once the bytes are stored: file.attached, then the record.updated that appends `file_id` to
// the column (checked again: the model may have moved while the bytes streamed in).
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

// Folds file.attached into the write model.
[[nodiscard]] std::expected<void, std::string> apply_file_attached(WorkspaceState& ws, const Envelope& e);

}  // namespace apexloop
