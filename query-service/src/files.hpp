#pragma once
// GET /api/v1/files/{file_id}: a file's bytes, streamed from the blob store.
//
// Served here, by the query service, because who may download is a read-model question: an
// internal user may download any file of its workspace; a contact only a file whose id its own
// projection of that record carries in that column (the bytes its set is sent), so a file is
// readable exactly where the record and column are, with no permission logic of its own.
// Anything else is 404, the same as a missing file. Never cached (ResponseCache skips streams).

#include <rocksdb/db.h>

#include "apexloop/runtime/auth.hpp"
#include "apexloop/runtime/blob_store.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::query {

[[nodiscard]] http::Response download_file(const http::Request& req, http::RequestContext& ctx, const Principal& p,
                                           rocksdb::DB& db, const BlobStore& blobs);

}  // namespace apexloop::query
