// Merkle tree hashes, proofs and proof verification as RFC 9162 (Certificate
// Transparency v2) section 2.1 defines them, with SHA-256.
//
//   leaf hash       SHA-256(0x00 ‖ leaf data)
//   interior node   SHA-256(0x01 ‖ left ‖ right)
//   empty tree      SHA-256("")
//   tree of n > 1   node(root of leaves [0, k), root of leaves [k, n)), where
//                   k is the largest power of 2 strictly below n
//
// Leaf indices are 0-based. A proof is a list of 32-byte hashes in RFC 9162
// order: the hash nearest the leaf (or the old tree) comes first.
//
// Proof generation reads the tree through callbacks, so that any storage can
// serve it: LeafHashAt returns one leaf hash, and SubtreeRootAt returns the
// root of a run of leaves. The LeafHashAt overloads recompute every subtree
// root from leaf hashes, which costs O(n) hashes per proof.
//
// Thread safety: the free functions keep no state and are safe from any
// thread if the callbacks are. A MerkleTreeBuilder is not synchronized; one
// thread owns it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::ledger {

// Size in bytes of every hash in the tree.
constexpr size_t kMerkleHashSize = 32;

// Returns SHA-256(0x00 ‖ data), the same as LeafHash in ledger/entry.h.
std::string MerkleLeafHash(std::string_view data);

// Returns SHA-256(0x01 ‖ left ‖ right).
std::string MerkleNodeHash(std::string_view left, std::string_view right);
// Same, returned by value without allocating.
crypto::Sha256Digest MerkleNodeHashDigest(std::string_view left, std::string_view right);

// Returns SHA-256(""), the root of the tree with no leaves.
std::string MerkleEmptyRoot();

// Returns the leaf hash at a 0-based index, or the storage error.
using LeafHashAt = std::function<Result<std::string>(uint64_t index)>;

// Returns the root of the subtree over leaves [start, start + size), with
// size >= 1, as the RFC 9162 recursion defines it. The subtree need not be perfect.
using SubtreeRootAt = std::function<Result<std::string>(uint64_t start, uint64_t size)>;

// Returns a SubtreeRootAt that recomputes each subtree root from leaf hashes.
// It fails with kInternal when a leaf hash is not 32 bytes.
// NOTE: it costs O(size) hashes per call. Storage that keeps interior nodes
// can pass its own SubtreeRootAt to the *FromSubtrees functions instead.
SubtreeRootAt RecomputeSubtreeRoot(LeafHashAt leaf_hash_at);

// Returns MTH(D[0:size]), or SHA-256("") for size 0.
Result<std::string> MerkleRoot(uint64_t size, const LeafHashAt& leaf_hash_at);
Result<std::string> MerkleRootFromSubtrees(uint64_t size, const SubtreeRootAt& subtree_root_at);

// Returns PATH(index, D[0:size]) (RFC 9162 section 2.1.3.1). Fails with
// kInvalidArgument unless index < size.
Result<std::vector<std::string>> InclusionProof(uint64_t index, uint64_t size,
                                                const LeafHashAt& leaf_hash_at);
Result<std::vector<std::string>> InclusionProofFromSubtrees(uint64_t index, uint64_t size,
                                                            const SubtreeRootAt& subtree_root_at);

// Returns PROOF(size1, D[0:size2]) (RFC 9162 section 2.1.4.1): empty when the
// sizes are equal. Fails with kInvalidArgument unless 0 < size1 <= size2,
// because RFC 9162 defines no consistency proof from the empty tree.
Result<std::vector<std::string>> ConsistencyProof(uint64_t size1, uint64_t size2,
                                                  const LeafHashAt& leaf_hash_at);
Result<std::vector<std::string>> ConsistencyProofFromSubtrees(
    uint64_t size1, uint64_t size2, const SubtreeRootAt& subtree_root_at);

// Returns the number of hashes in an inclusion proof for index in a tree of
// size, or 0 when index >= size.
size_t InclusionProofSize(uint64_t index, uint64_t size);

// Returns the number of hashes in a consistency proof from size1 to size2,
// or 0 unless 0 < size1 < size2.
size_t ConsistencyProofSize(uint64_t size1, uint64_t size2);

// Checks that leaf_hash is the leaf at index in the tree of size with the
// given root, using the iterative algorithm of RFC 9162 section 2.1.3.2.
// Fails with kInvalidArgument when index >= size, a hash is not 32 bytes or
// the proof has the wrong number of hashes, and with kUnauthenticated when
// the computed root does not match root.
Status VerifyInclusion(uint64_t index, uint64_t size, std::string_view leaf_hash,
                       const std::vector<std::string>& proof, std::string_view root);

// Checks that the tree of size1 with root1 is a prefix of the tree of size2
// with root2, using the algorithm of RFC 9162 section 2.1.4.2. Equal sizes
// need an empty proof and equal roots. Fails with kInvalidArgument when
// size1 is 0 or above size2, a hash is not 32 bytes or the proof has the
// wrong number of hashes, and with kUnauthenticated when a computed root
// does not match.
Status VerifyConsistency(uint64_t size1, uint64_t size2, std::string_view root1,
                         std::string_view root2, const std::vector<std::string>& proof);

// Computes the root of a growing tree in O(log n) memory: it keeps the roots
// of the perfect subtrees that make up the tree, largest first, as in the
// binary representation of size(). They are stored in a fixed array, so
// appending never allocates and a copy costs about 2 KiB.
class MerkleTreeBuilder {
 public:
  // Appends one leaf hash. Fails with kInvalidArgument unless it is 32 bytes.
  Status Append(std::string_view leaf_hash);

  // Appends the leaves of other, as if each were appended in turn, at the
  // cost of one hash per perfect subtree of other. Requires size() to be a
  // multiple of other's largest perfect subtree (the highest set bit of
  // other.size()), because only then is each of other's subtrees also a
  // subtree here. Otherwise fails with kInvalidArgument and appends nothing.
  // This lets threads build the trees of aligned leaf ranges independently.
  Status AppendTree(const MerkleTreeBuilder& other);

  uint64_t size() const { return size_; }

  // Returns the root of the leaves appended so far, or SHA-256("") when none.
  // Costs O(log n) hashes.
  std::string root() const;

 private:
  // Merges node, the root of a perfect subtree of 2^height leaves, into the
  // roots. Requires size_ to be a multiple of 2^height.
  void Push(crypto::Sha256Digest node, int height);

  // One root per set bit of a 64-bit size.
  static constexpr size_t kMaxRoots = 64;

  uint64_t size_ = 0;
  // Roots of perfect subtrees, left to right, with strictly falling sizes
  // that are the set bits of size_: roots_[0 .. popcount(size_)).
  std::array<crypto::Sha256Digest, kMaxRoots> roots_;
};

}  // namespace escrow::ledger
