#pragma once
// GET /api/v1/files/{file_id}: a file's bytes, streamed from the blob store.
//
// Served here, by the query service, because who may download is a read-model question: an
// internal user may download any live file of its workspace; a contact only a file its own
// projection carries: the file's id in that column of the record, or the file in the `files` of
// the comment it is attached to (the bytes its set is sent; never an internal note's), so a file
// is readable exactly where its record and column, or its comment, are, with no permission logic
// of its own. Anything else, a removed file included, is 404, the same as a missing file. Never
// cached (ResponseCache skips streams).

#include <rocksdb/db.h>

#include "apexloop/runtime/auth.hpp"
#include "apexloop/runtime/blob_store.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::query {

[[nodiscard]] http::Response download_file(const http::Request& req, http::RequestContext& ctx, const Principal& p,
                                           rocksdb::DB& db, const BlobStore& blobs);

}  // namespace apexloop::query
