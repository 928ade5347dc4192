#include "ledger/merkle.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <utility>

#include "ledger/crypto.h"
#include "ledger/entry.h"

namespace escrow::ledger {
namespace {

constexpr char kNodeHashPrefix = '\x01';

// Returns k, the largest power of 2 strictly below n. Requires n >= 2.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

bool IsPowerOfTwo(uint64_t n) { return std::has_single_bit(n); }

// Shifts both values right until the lowest bit of fn is set or fn is 0.
void ShiftUntilOddOrZero(uint64_t& fn, uint64_t& sn) {
  while ((fn & 1) == 0 && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

Status CheckHashSize(std::string_view hash, std::string_view what) {
  if (hash.size() == kMerkleHashSize) return Status::Ok();
  return InvalidArgument(
      fmt::format("{} has {} bytes, expected {}", what, hash.size(), kMerkleHashSize));
}

Status CheckProofHashes(const std::vector<std::string>& proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    ESCROW_RETURN_IF_ERROR(CheckHashSize(proof[i], fmt::format("proof hash {}", i)));
  }
  return Status::Ok();
}

Status CheckProofSize(const std::vector<std::string>& proof, size_t expected) {
  if (proof.size() == expected) return Status::Ok();
  return InvalidArgument(fmt::format("proof has {} {}, expected {}", proof.size(),
                                     proof.size() == 1 ? "hash" : "hashes", expected));
}

// Calls subtree_root_at and checks that the storage returned a 32-byte hash.
Result<std::string> FetchSubtreeRoot(const SubtreeRootAt& subtree_root_at, uint64_t start,
                                     uint64_t size) {
  Result<std::string> root = subtree_root_at(start, size);
  if (!root.ok()) return root;
  if (root->size() != kMerkleHashSize) {
    return Internal(fmt::format("root of leaves [{}, {}) has {} bytes, expected {}", start,
                                start + size, root->size(), kMerkleHashSize));
  }
  return root;
}

// Computes MTH(D[start:start+size]) from leaf hashes. Requires size >= 1.
Result<std::string> RecomputeRoot(const LeafHashAt& leaf_hash_at, uint64_t start,
                                  uint64_t size) {
  if (size == 1) {
    Result<std::string> leaf = leaf_hash_at(start);
    if (leaf.ok() && leaf->size() != kMerkleHashSize) {
      return Internal(fmt::format("leaf hash at index {} has {} bytes, expected {}", start,
                                  leaf->size(), kMerkleHashSize));
    }
    return leaf;
  }

  uint64_t k = SplitPoint(size);
  Result<std::string> left = RecomputeRoot(leaf_hash_at, start, k);
  if (!left.ok()) return left;
  Result<std::string> right = RecomputeRoot(leaf_hash_at, start + k, size - k);
  if (!right.ok()) return right;
  return MerkleNodeHash(*left, *right);
}

// Appends PATH(index, D[start:start+size]) to proof, where index is relative
// to start (RFC 9162 section 2.1.3.1).
Status AppendPath(uint64_t index, uint64_t start, uint64_t size,
                  const SubtreeRootAt& subtree_root_at, std::vector<std::string>& proof) {
  if (size == 1) return Status::Ok();

  // Recurse into the half that contains the leaf, then add the other half's root.
  uint64_t k = SplitPoint(size);
  Result<std::string> sibling = std::string();
  if (index < k) {
    ESCROW_RETURN_IF_ERROR(AppendPath(index, start, k, subtree_root_at, proof));
    sibling = FetchSubtreeRoot(subtree_root_at, start + k, size - k);
  } else {
    ESCROW_RETURN_IF_ERROR(AppendPath(index - k, start + k, size - k, subtree_root_at, proof));
    sibling = FetchSubtreeRoot(subtree_root_at, start, k);
  }
  if (!sibling.ok()) return sibling.status();
  proof.push_back(std::move(sibling).value());
  return Status::Ok();
}

// Appends SUBPROOF(m, D[start:start+size], whole_old_tree) to proof (RFC 9162
// section 2.1.4.1). whole_old_tree is true while the subtree starts at leaf 0
// and ends where the old tree ends, because the verifier already has its root.
Status AppendSubproof(uint64_t m, uint64_t start, uint64_t size, bool whole_old_tree,
                      const SubtreeRootAt& subtree_root_at, std::vector<std::string>& proof) {
  if (m == size) {
    if (whole_old_tree) return Status::Ok();
    Result<std::string> root = FetchSubtreeRoot(subtree_root_at, start, size);
    if (!root.ok()) return root.status();
    proof.push_back(std::move(root).value());
    return Status::Ok();
  }

  // m < size here, so size >= 2 and the tree splits.
  uint64_t k = SplitPoint(size);
  Result<std::string> sibling = std::string();
  if (m <= k) {
    ESCROW_RETURN_IF_ERROR(
        AppendSubproof(m, start, k, whole_old_tree, subtree_root_at, proof));
    sibling = FetchSubtreeRoot(subtree_root_at, start + k, size - k);
  } else {
    ESCROW_RETURN_IF_ERROR(
        AppendSubproof(m - k, start + k, size - k, false, subtree_root_at, proof));
    sibling = FetchSubtreeRoot(subtree_root_at, start, k);
  }
  if (!sibling.ok()) return sibling.status();
  proof.push_back(std::move(sibling).value());
  return Status::Ok();
}

}  // namespace

std::string MerkleLeafHash(std::string_view data) { return LeafHash(data); }

std::string MerkleNodeHash(std::string_view left, std::string_view right) {
  const char prefix = kNodeHashPrefix;
  return crypto::Sha256Concat({std::string_view(&prefix, 1), left, right});
}

crypto::Sha256Digest MerkleNodeHashDigest(std::string_view left, std::string_view right) {
  return crypto::Sha256ConcatDigest({std::string_view(&kNodeHashPrefix, 1), left, right});
}

std::string MerkleEmptyRoot() { return crypto::Sha256(""); }

SubtreeRootAt RecomputeSubtreeRoot(LeafHashAt leaf_hash_at) {
  return [leaf_hash_at = std::move(leaf_hash_at)](uint64_t start, uint64_t size) {
    if (size == 0) return Result<std::string>(Internal("a subtree needs at least one leaf"));
    return RecomputeRoot(leaf_hash_at, start, size);
  };
}

// ---------------------------------------------------------------------------
// Roots and proof generation

Result<std::string> MerkleRoot(uint64_t size, const LeafHashAt& leaf_hash_at) {
  return MerkleRootFromSubtrees(size, RecomputeSubtreeRoot(leaf_hash_at));
}

Result<std::string> MerkleRootFromSubtrees(uint64_t size, const SubtreeRootAt& subtree_root_at) {
  if (size == 0) return MerkleEmptyRoot();
  return FetchSubtreeRoot(subtree_root_at, 0, size);
}

Result<std::vector<std::string>> InclusionProof(uint64_t index, uint64_t size,
                                                const LeafHashAt& leaf_hash_at) {
  return InclusionProofFromSubtrees(index, size, RecomputeSubtreeRoot(leaf_hash_at));
}

Result<std::vector<std::string>> InclusionProofFromSubtrees(uint64_t index, uint64_t size,
                                                            const SubtreeRootAt& subtree_root_at) {
  if (index >= size) {
    return InvalidArgument(fmt::format("index {} is not below tree size {}", index, size));
  }
  std::vector<std::string> proof;
  proof.reserve(InclusionProofSize(index, size));
  ESCROW_RETURN_IF_ERROR(AppendPath(index, 0, size, subtree_root_at, proof));
  return proof;
}

Result<std::vector<std::string>> ConsistencyProof(uint64_t size1, uint64_t size2,
                                                  const LeafHashAt& leaf_hash_at) {
  return ConsistencyProofFromSubtrees(size1, size2, RecomputeSubtreeRoot(leaf_hash_at));
}

Result<std::vector<std::string>> ConsistencyProofFromSubtrees(
    uint64_t size1, uint64_t size2, const SubtreeRootAt& subtree_root_at) {
  if (size1 == 0) {
    return InvalidArgument("old tree size must be at least 1: RFC 9162 defines no consistency "
                           "proof from the empty tree");
  }
  if (size1 > size2) {
    return InvalidArgument(
        fmt::format("old tree size {} is above new tree size {}", size1, size2));
  }
  std::vector<std::string> proof;
  proof.reserve(ConsistencyProofSize(size1, size2));
  ESCROW_RETURN_IF_ERROR(AppendSubproof(size1, 0, size2, true, subtree_root_at, proof));
  return proof;
}

// ---------------------------------------------------------------------------
// Proof sizes: the proof for index in a tree of size has one hash per level
// where the paths to index and to the last leaf differ ("inner"), then one
// per set bit of index above those levels ("border").

size_t InclusionProofSize(uint64_t index, uint64_t size) {
  if (index >= size) return 0;
  int inner = std::bit_width(index ^ (size - 1));
  int border = inner >= 64 ? 0 : std::popcount(index >> inner);
  return static_cast<size_t>(inner + border);
}

size_t ConsistencyProofSize(uint64_t size1, uint64_t size2) {
  if (size1 == 0 || size1 >= size2) return 0;

  // The proof is the inclusion proof of leaf size1 - 1 in the new tree, minus
  // the levels below the largest perfect subtree that ends at size1, plus
  // that subtree's root unless it is the whole old tree.
  size_t inclusion = InclusionProofSize(size1 - 1, size2);
  int skipped_levels = std::countr_zero(size1);
  size_t seed = IsPowerOfTwo(size1) ? 0 : 1;
  return inclusion - static_cast<size_t>(skipped_levels) + seed;
}

// ---------------------------------------------------------------------------
// Verification

Status VerifyInclusion(uint64_t index, uint64_t size, std::string_view leaf_hash,
                       const std::vector<std::string>& proof, std::string_view root) {
  // Step 1 and input checks: bounds, hash sizes, proof length.
  if (index >= size) {
    return InvalidArgument(fmt::format("index {} is not below tree size {}", index, size));
  }
  ESCROW_RETURN_IF_ERROR(CheckHashSize(leaf_hash, "leaf hash"));
  ESCROW_RETURN_IF_ERROR(CheckHashSize(root, "root"));
  ESCROW_RETURN_IF_ERROR(CheckProofHashes(proof));
  ESCROW_RETURN_IF_ERROR(CheckProofSize(proof, InclusionProofSize(index, size)));

  // Steps 2 to 4: hash up from the leaf. fn is the node's position on its
  // level, and sn is the position of the last node on that level.
  uint64_t fn = index;
  uint64_t sn = size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) return InvalidArgument("proof is longer than the path to the root");
    if ((fn & 1) != 0 || fn == sn) {
      r = MerkleNodeHash(p, r);
      if ((fn & 1) == 0) ShiftUntilOddOrZero(fn, sn);
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }

  // Step 5: the walk must end at the root, with the expected hash.
  if (sn != 0) return InvalidArgument("proof is shorter than the path to the root");
  if (r != root) return Unauthenticated("computed root does not match the expected root");
  return Status::Ok();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, std::string_view root1,
                         std::string_view root2, const std::vector<std::string>& proof) {
  // Input checks: sizes, hash sizes, proof length.
  if (size1 == 0) {
    return InvalidArgument("old tree size must be at least 1: RFC 9162 defines no consistency "
                           "proof from the empty tree");
  }
  if (size1 > size2) {
    return InvalidArgument(
        fmt::format("old tree size {} is above new tree size {}", size1, size2));
  }
  ESCROW_RETURN_IF_ERROR(CheckHashSize(root1, "old root"));
  ESCROW_RETURN_IF_ERROR(CheckHashSize(root2, "new root"));
  ESCROW_RETURN_IF_ERROR(CheckProofHashes(proof));

  // Equal sizes: only the empty proof, and the roots must be equal.
  if (size1 == size2) {
    ESCROW_RETURN_IF_ERROR(CheckProofSize(proof, 0));
    if (root1 != root2) return Unauthenticated("roots differ for equal tree sizes");
    return Status::Ok();
  }

  // Step 1 rejects an empty proof. The size check covers it, because the
  // expected size is at least 1 when size1 < size2.
  ESCROW_RETURN_IF_ERROR(CheckProofSize(proof, ConsistencyProofSize(size1, size2)));

  // Step 2: when the old tree is perfect, its root is the first node.
  std::vector<std::string_view> path;
  path.reserve(proof.size() + 1);
  if (IsPowerOfTwo(size1)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());

  // Steps 3 to 5: start at the largest perfect subtree that ends at size1.
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr(path[0]);
  std::string sr(path[0]);

  // Step 6: left siblings feed both roots, right siblings only the new root.
  for (size_t i = 1; i < path.size(); ++i) {
    std::string_view c = path[i];
    if (sn == 0) return InvalidArgument("proof is longer than the path to the new root");
    if ((fn & 1) != 0 || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      if ((fn & 1) == 0) ShiftUntilOddOrZero(fn, sn);
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }

  // Step 7: both computed roots must match and the walk must end at the root.
  if (sn != 0) return InvalidArgument("proof is shorter than the path to the new root");
  if (fr != root1) return Unauthenticated("computed old root does not match the old root");
  if (sr != root2) return Unauthenticated("computed new root does not match the new root");
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// MerkleTreeBuilder

Status MerkleTreeBuilder::Append(std::string_view leaf_hash) {
  ESCROW_RETURN_IF_ERROR(CheckHashSize(leaf_hash, "leaf hash"));
  crypto::Sha256Digest node;
  std::copy(leaf_hash.begin(), leaf_hash.end(), node.begin());
  Push(node, 0);
  return Status::Ok();
}

Status MerkleTreeBuilder::AppendTree(const MerkleTreeBuilder& other) {
  if (other.size_ == 0) return Status::Ok();
  const int top = std::bit_width(other.size_) - 1;
  if (size_ % (uint64_t{1} << top) != 0 || size_ > UINT64_MAX - other.size_) {
    return InvalidArgument(fmt::format(
        "cannot append a tree of {} leaves at size {}: the size is not a multiple of {}",
        other.size_, size_, uint64_t{1} << top));
  }
  // other's roots, largest first, have the heights of its set bits.
  size_t i = 0;
  for (int height = top; height >= 0; --height) {
    if ((other.size_ >> height & 1) != 0) Push(other.roots_[i++], height);
  }
  return Status::Ok();
}

void MerkleTreeBuilder::Push(crypto::Sha256Digest node, int height) {
  // Each set bit of size_ from `height` up is a perfect subtree of the new
  // node's size that now has a right neighbor of equal size: merge them.
  size_t count = static_cast<size_t>(std::popcount(size_));
  for (uint64_t s = size_ >> height; (s & 1) != 0; s >>= 1) {
    node = MerkleNodeHashDigest(crypto::View(roots_[--count]), crypto::View(node));
  }
  roots_[count] = node;
  size_ += uint64_t{1} << height;
}

std::string MerkleTreeBuilder::root() const {
  size_t count = static_cast<size_t>(std::popcount(size_));
  if (count == 0) return MerkleEmptyRoot();

  // The RFC 9162 split puts the largest perfect subtree on the left, so fold
  // from the smallest (rightmost) subtree towards the largest.
  crypto::Sha256Digest r = roots_[count - 1];
  for (size_t i = count - 1; i > 0; --i) {
    r = MerkleNodeHashDigest(crypto::View(roots_[i - 1]), crypto::View(r));
  }
  return std::string(crypto::View(r));
}

}  // namespace escrow::ledger
