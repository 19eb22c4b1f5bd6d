// The read-model store's memtable: an ordered skip list for RocksDB (rocksdb::MemTableRepFactory).
#pragma once

#include <rocksdb/memtablerep.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace apexloop::projector {

// RocksDB's own skip list, as Debian builds it (with assertions), re-checks its whole height on
// every insert: some 26 key comparisons per key where an insert in key order needs 2 or 3.
// This one is a plain single-writer skip list (readers never lock): an insert first climbs from
// where the last one went in, so a batch written in key order costs a few comparisons a key.
//
// A point read goes to its key through a hash index of the user keys beside the list (one bucket
// a cache line away, rarely a second node), not through ~70 comparisons down the list, most of
// them cache misses: a replay that updates records reads each one back. A key that is not in
// the memtable is answered by its bucket alone. Keys under `unindexed` (if not empty) stay out of
// the index, and a point read of one walks the list: for keys written in bulk and seldom read
// one by one, which would pay a hash and a cache miss each for nothing.
//
// It orders entries as RocksDB's bytewise comparator does (user keys byte by byte, then newest
// first): the store never sets another comparator. It takes one writer at a time, so the DB must
// run with allow_concurrent_memtable_write = false. `write_buffer_bytes`, the DB's
// write_buffer_size, sizes the hash index (a bucket of 8 bytes per 512 bytes of memtable, taken
// from the memtable's own memory).
std::shared_ptr<rocksdb::MemTableRepFactory> ordered_memtable(std::size_t write_buffer_bytes,
                                                            std::string_view unindexed = {});

// The hash the index files a user key under: its low bits pick the bucket (at least 1,024 of
// them), its top 16 bits tag the key in the bucket's chain. (Here for the tests, which need keys
// that share both.)
std::uint64_t memtable_hash(std::string_view user_key);

// The memtable_hash of each key the calling thread is about to write, in the order RocksDB will
// insert them (a WriteBatch's order; range deletions apart): the index fetches their buckets a
// few inserts ahead. Only a hint: once a key comes that is not the next hashed, the rest are
// dropped. `hashes` must outlive the write; clear the hints after it (an empty span).
void memtable_insert_hints(std::span<const std::uint64_t> hashes);

}  // namespace apexloop::projector
