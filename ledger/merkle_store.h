// Stored Merkle tree: the RFC 9162 tree over the ledger's leaf hashes, kept
// in the `merkle` column family so that a root or proof for any tree size
// costs O(log n) reads, whatever the ledger size.
//
// Key: level (1 byte) ‖ index (8 bytes, big-endian). Value: the 32-byte root
// of the perfect subtree covering leaves [index·2^level, (index+1)·2^level).
// Level 0 contains the leaf hashes themselves (leaf index = seq - 1). A node is
// written in the same WriteBatch as the entry that completes it.
//
// Thread safety: functions only read the Store, or write through a
// Transaction owned by the sequencer thread.
#pragma once

#include <cstdint>
#include <string>

#include "ledger/merkle.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"

namespace escrow::ledger {

std::string MerkleNodeKey(uint8_t level, uint64_t index);

// Writes leaf `index` and every perfect subtree it completes.
// REQUIRES: leaves 0 .. index-1 were stored before (in this batch or earlier).
Status StoreMerkleLeaf(Transaction& tx, uint64_t index, std::string_view leaf_hash);

// Returns a SubtreeRootAt that reads stored nodes: O(log size) reads for any
// [start, start + size) that lies inside the stored tree.
SubtreeRootAt StoredSubtreeRoot(const Store& store);

// Root of the first tree_size leaves, from stored nodes.
Result<std::string> StoredMerkleRoot(const Store& store, uint64_t tree_size);

}  // namespace escrow::ledger
