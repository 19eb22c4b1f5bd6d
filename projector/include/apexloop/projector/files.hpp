#pragma once
// File metadata as a read model (keys::file): file.attached says where a file is attached (a
// record's file column, or a comment on the record) and which blob holds its bytes;
// file.removed takes it away. The query service decides a download from it and from the
// caller's own projection: whether its set is sent the file's id in that column, or is sent that
// comment, so a file is readable exactly where its record's column or its comment is.

#include <expected>
#include <string>

#include "apexloop/core/event.hpp"
#include "apexloop/core/ids.hpp"
#include "apexloop/projector/projection.hpp"

namespace apexloop::projector {

// Writes file.attached's metadata; a second event for the same file id is refused (and writes
// nothing), like every other contradiction of the read models.
[[nodiscard]] std::expected<void, std::string> apply_file_attached(const Envelope& e, KvView& kv);
// Deletes the metadata of a removed file: from then on no one downloads it. Removing a file the
// read model does not hold is refused.
[[nodiscard]] std::expected<void, std::string> apply_file_removed(const Envelope& e, KvView& kv);

}  // namespace apexloop::projector
