#pragma once
// POST /api/v1/databases/{db}/records/{id}/files?column=<key> (or ?comment=<comment id>): a file
// upload, streamed. The body never sits in memory: each piece goes to a temporary blob while it
// is hashed, and only once it is whole, stored under its SHA-256, does the decision run again and
// append file.attached (and, for a column, the record.updated that puts the file's id into it).
//
// Before a byte is read, the caller, the headers and the target are checked (401/403/404/415/
// 400/422 without reading the body). `X-Filename` (percent-encoded UTF-8) and `Content-Type`
// are metadata only: no input ever names a path. The route's body limit answers 413 and
// nothing stays behind. A refused upload appends nothing.

#include <functional>
#include <memory>
#include <string>

#include "apexloop/core/files.hpp"
#include "apexloop/runtime/auth.hpp"
#include "apexloop/runtime/blob_store.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::command {

// What an upload needs from the command service; app.cpp binds these to its own members.
struct UploadDeps {
  using Commit = std::function<std::expected<Position, http::Response>(const std::vector<Draft>&)>;
  using Decide = std::function<http::Response(const WorkspaceState&, const Commit&)>;
  // The caller's principal, if it may write records at all; else the 401/403 to answer.
  std::function<std::expected<Principal, http::Response>(const http::Request&)> caller;
  // Runs `look` against the caller's workspace, appending nothing (503 while not ready).
  std::function<http::Response(const http::Request&, const Principal&,
                               const std::function<http::Response(const WorkspaceState&)>& look)>
      read;
  // Runs `decide` under the caller's workspace lock; its `commit` appends.
  std::function<http::Response(const http::Request&, const Principal&, const Decide&)> write;
  std::function<http::Response(const http::Request&, const CommandError&)> error;
  std::function<std::string()> new_id;
  std::function<TimestampMs()> now;
};

[[nodiscard]] http::StreamedRoute upload_route(UploadDeps deps, std::shared_ptr<BlobStore> blobs, std::size_t max_bytes);

}  // namespace apexloop::command
