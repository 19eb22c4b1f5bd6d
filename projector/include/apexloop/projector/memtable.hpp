// The read-model store's memtable: an ordered skip list for RocksDB (rocksdb::MemTableRepFactory).
#pragma once

#include <rocksdb/memtablerep.h>

#include <memory>

namespace apexloop::projector {

// RocksDB's own skip list, as Debian builds it (with assertions), re-checks its whole height on
// every insert: some 26 key comparisons per key where an insert in key order needs 2 or 3.
// This one is a plain single-writer skip list (readers never lock): an insert first climbs from
// where the last one went in, so a batch written in key order costs a few comparisons a key.
//
// It orders entries as RocksDB's bytewise comparator does (user keys byte by byte, then newest
// first): the store never sets another comparator. It takes one writer at a time, so the DB must
// run with allow_concurrent_memtable_write = false.
std::shared_ptr<rocksdb::MemTableRepFactory> ordered_memtable();

}  // namespace apexloop::projector
