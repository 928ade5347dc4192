#include "ledger/merkle_store.h"

namespace escrow::ledger {
namespace {

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

uint8_t Log2(uint64_t n) {
  uint8_t level = 0;
  while (n > 1) {
    n >>= 1;
    level++;
  }
  return level;
}

// Largest power of two strictly below n (n >= 2), the RFC 9162 split point.
uint64_t SplitPoint(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Result<std::string> ReadNode(const Store& store, uint8_t level, uint64_t index) {
  auto value = store.Get(Cf::kMerkle, MerkleNodeKey(level, index));
  if (!value.ok()) return value.status();
  if (!value->has_value() || (*value)->size() != kMerkleHashSize) {
    return Internal("Merkle node at level " + std::to_string(level) + " index " +
                    std::to_string(index) + " is missing or damaged");
  }
  return std::move(**value);
}

Result<std::string> SubtreeRoot(const Store& store, uint64_t start, uint64_t size) {
  if (size == 0) return MerkleEmptyRoot();
  if (IsPowerOfTwo(size) && start % size == 0) return ReadNode(store, Log2(size), start / size);
  uint64_t k = SplitPoint(size);
  auto left = SubtreeRoot(store, start, k);
  if (!left.ok()) return left.status();
  auto right = SubtreeRoot(store, start + k, size - k);
  if (!right.ok()) return right.status();
  return MerkleNodeHash(*left, *right);
}

}  // namespace

std::string MerkleNodeKey(uint8_t level, uint64_t index) {
  std::string key(1, static_cast<char>(level));
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(index >> shift));
  return key;
}

Status StoreMerkleLeaf(Transaction& tx, uint64_t index, std::string_view leaf_hash) {
  tx.Put(Cf::kMerkle, MerkleNodeKey(0, index), leaf_hash);
  std::string node(leaf_hash);
  // Leaf `index` completes the subtree at level L when index + 1 is a
  // multiple of 2^L; its left sibling at level L-1 is already stored.
  for (uint8_t level = 1; level < 64 && (index + 1) % (uint64_t{1} << level) == 0; level++) {
    uint64_t parent = index >> level;
    auto left = tx.Get(Cf::kMerkle, MerkleNodeKey(level - 1, parent * 2));
    if (!left.ok()) return left.status();
    if (!left->has_value()) {
      return Internal("Merkle node at level " + std::to_string(level - 1) + " index " +
                      std::to_string(parent * 2) + " is missing");
    }
    node = MerkleNodeHash(**left, node);
    tx.Put(Cf::kMerkle, MerkleNodeKey(level, parent), node);
  }
  return Status::Ok();
}

SubtreeRootAt StoredSubtreeRoot(const Store& store) {
  return [&store](uint64_t start, uint64_t size) { return SubtreeRoot(store, start, size); };
}

Result<std::string> StoredMerkleRoot(const Store& store, uint64_t tree_size) {
  return SubtreeRoot(store, 0, tree_size);
}

}  // namespace escrow::ledger
