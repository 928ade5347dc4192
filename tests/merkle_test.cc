// RFC 9162 Merkle hashes, proofs and verification, checked against the
// published test vectors in tests/data/rfc9162-vectors.txt and against
// corrupted copies of every listed proof.
#include "ledger/merkle.h"

#include <catch2/catch.hpp>

#include <bit>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::ledger;

namespace {

using Hashes = std::vector<std::string>;

// ---------------------------------------------------------------------------
// Vector file parsing

struct HasherVector {
  std::string kind;  // "empty", "leaf" or "node"
  std::vector<std::string> inputs;
  std::string expected;
  std::string line;
};

struct InclusionVector {
  uint64_t index = 0;
  uint64_t size = 0;
  std::string root;
  std::string leaf_hash;
  Hashes proof;
  std::string line;
};

struct ConsistencyVector {
  uint64_t size1 = 0;
  uint64_t size2 = 0;
  std::string root1;
  std::string root2;
  Hashes proof;
  std::string line;
};

struct Vectors {
  std::map<uint64_t, std::string> inputs;  // leaf index -> leaf data
  std::vector<HasherVector> hashers;
  std::map<uint64_t, std::string> leaf_hashes;
  std::map<uint64_t, std::string> roots;  // tree size -> root
  std::vector<InclusionVector> inclusions;
  std::vector<ConsistencyVector> consistencies;
  size_t ignored_notes = 0;
};

std::string Unhex(std::string_view hex, const std::string& line) {
  Result<std::string> bytes = crypto::HexDecode(hex);
  if (!bytes.ok()) throw std::runtime_error("invalid hex in vector line: " + line);
  return std::move(bytes).value();
}

// Parses "-" (empty), "ascii:TEXT" or hex.
std::string ParseData(std::string_view field, const std::string& line) {
  if (field == "-") return "";
  if (field.starts_with("ascii:")) return std::string(field.substr(6));
  return Unhex(field, line);
}

// Parses a ':'-separated hex hash list, or "-" for the empty list.
Hashes ParseProof(const std::string& field, const std::string& line) {
  Hashes proof;
  if (field == "-") return proof;
  std::stringstream parts(field);
  std::string hex;
  while (std::getline(parts, hex, ':')) proof.push_back(Unhex(hex, line));
  return proof;
}

std::vector<std::string> SplitOn(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  return parts;
}

void ParseLine(const std::string& line, Vectors& v) {
  std::istringstream in(line);
  std::string kind;
  in >> kind;
  if (kind.empty() || kind[0] == '#') return;

  if (kind == "INPUT") {
    uint64_t index;
    std::string data;
    in >> index >> data;
    v.inputs[index] = ParseData(data, line);
  } else if (kind == "HASHER") {
    HasherVector h;
    std::string input;
    std::string expected;
    in >> h.kind >> input >> expected;
    for (const std::string& part : SplitOn(input, '|')) h.inputs.push_back(ParseData(part, line));
    h.expected = Unhex(expected, line);
    h.line = line;
    v.hashers.push_back(std::move(h));
  } else if (kind == "LEAFHASH") {
    uint64_t index;
    std::string hex;
    in >> index >> hex;
    v.leaf_hashes[index] = Unhex(hex, line);
  } else if (kind == "ROOT") {
    uint64_t size;
    std::string hex;
    in >> size >> hex;
    v.roots[size] = Unhex(hex, line);
  } else if (kind == "INCL") {
    InclusionVector c;
    std::string root, leaf, proof;
    in >> c.index >> c.size >> root >> leaf >> proof;
    c.root = Unhex(root, line);
    c.leaf_hash = Unhex(leaf, line);
    c.proof = ParseProof(proof, line);
    c.line = line;
    v.inclusions.push_back(std::move(c));
  } else if (kind == "CONS") {
    ConsistencyVector c;
    std::string root1, root2, proof;
    in >> c.size1 >> c.size2 >> root1 >> root2 >> proof;
    c.root1 = Unhex(root1, line);
    c.root2 = Unhex(root2, line);
    c.proof = ParseProof(proof, line);
    c.line = line;
    v.consistencies.push_back(std::move(c));
  } else if (kind == "NOTE") {
    // TODO: check the signed-note vectors once checkpoints use signed notes.
    ++v.ignored_notes;
  } else {
    throw std::runtime_error("unknown line kind in vector file: " + line);
  }
  if (in.fail()) throw std::runtime_error("truncated vector line: " + line);
}

const Vectors& LoadVectors() {
  static const Vectors vectors = [] {
    std::string path = testing::SourcePath("tests/data/rfc9162-vectors.txt");
    std::ifstream file(path);
    if (!file) throw std::runtime_error("cannot open " + path);
    Vectors v;
    std::string line;
    while (std::getline(file, line)) ParseLine(line, v);
    return v;
  }();
  return vectors;
}

// Leaf hashes of the vector file's INPUT leaves.
LeafHashAt VectorLeaves() {
  return [](uint64_t index) -> Result<std::string> {
    const Vectors& v = LoadVectors();
    auto it = v.inputs.find(index);
    if (it == v.inputs.end()) return NotFound("no INPUT line for leaf " + std::to_string(index));
    return MerkleLeafHash(it->second);
  };
}

LeafHashAt LeavesOf(const Hashes& leaf_hashes) {
  return [&leaf_hashes](uint64_t index) -> Result<std::string> {
    if (index >= leaf_hashes.size()) return NotFound("no leaf " + std::to_string(index));
    return leaf_hashes[index];
  };
}

Hashes RandomLeafHashes(size_t count, uint64_t seed) {
  std::mt19937_64 random(seed);
  Hashes leaves;
  for (size_t i = 0; i < count; ++i) {
    std::string data(1 + random() % 40, '\0');
    for (char& byte : data) byte = static_cast<char>(random());
    leaves.push_back(MerkleLeafHash(data));
  }
  return leaves;
}

std::string FlipBit(std::string hash, size_t bit) {
  hash[bit / 8] = static_cast<char>(hash[bit / 8] ^ (1 << (bit % 8)));
  return hash;
}

// ---------------------------------------------------------------------------
// Proof shapes, from the recursive RFC 9162 definitions. Two claims with the
// same shape make the verifier compute the same hashes from the same proof,
// so RFC 9162 verification cannot tell them apart. For example, a proof for
// index 0 in a tree of 3 also verifies as index 0 in a tree of 4.

// Returns, leaf first, 'L' or 'R' for each proof hash: the side of the sibling.
std::string InclusionShape(uint64_t index, uint64_t size) {
  if (size <= 1) return "";
  uint64_t k = std::bit_floor(size - 1);
  if (index < k) return InclusionShape(index, k) + "R";
  return InclusionShape(index - k, size - k) + "L";
}

// Returns the shape of SUBPROOF(m, D[n], whole): 'S' for an old subtree root
// that seeds both computed roots, 'L' for a left sibling (feeds both roots)
// and 'R' for a right sibling (feeds only the new root).
std::string ConsistencyShape(uint64_t m, uint64_t n, bool whole) {
  if (m == n) return whole ? "" : "S";
  uint64_t k = std::bit_floor(n - 1);
  if (m <= k) return ConsistencyShape(m, k, whole) + "R";
  return ConsistencyShape(m - k, n - k, false) + "L";
}

bool InclusionClaimIsEquivalent(uint64_t index, uint64_t size, const InclusionVector& c) {
  return index < size && InclusionShape(index, size) == InclusionShape(c.index, c.size);
}

bool ConsistencyClaimIsEquivalent(uint64_t size1, uint64_t size2, const ConsistencyVector& c) {
  if (size1 == 0 || size1 > size2) return false;
  return ConsistencyShape(size1, size2, true) == ConsistencyShape(c.size1, c.size2, true);
}

Status VerifyVector(const InclusionVector& c, const Hashes& proof) {
  return VerifyInclusion(c.index, c.size, c.leaf_hash, proof, c.root);
}

Status VerifyVector(const ConsistencyVector& c, const Hashes& proof) {
  return VerifyConsistency(c.size1, c.size2, c.root1, c.root2, proof);
}

// Checks that the verifier rejects proof with one hash added at the end and
// with the first or last hash removed.
template <typename Vector>
void CheckWrongProofLengthsRejected(const Vector& c) {
  Hashes longer = c.proof;
  longer.push_back(c.proof.empty() ? std::string(kMerkleHashSize, '\0') : c.proof.back());
  CHECK(VerifyVector(c, longer).code() == Code::kInvalidArgument);

  if (c.proof.empty()) return;
  Hashes without_last(c.proof.begin(), c.proof.end() - 1);
  Hashes without_first(c.proof.begin() + 1, c.proof.end());
  CHECK(VerifyVector(c, without_last).code() == Code::kInvalidArgument);
  CHECK(VerifyVector(c, without_first).code() == Code::kInvalidArgument);
}

// Checks that flipping any single bit of any proof hash is rejected.
template <typename Vector>
void CheckFlippedProofBitsRejected(const Vector& c) {
  for (size_t h = 0; h < c.proof.size(); ++h) {
    for (size_t bit = 0; bit < kMerkleHashSize * 8; ++bit) {
      Hashes corrupted = c.proof;
      corrupted[h] = FlipBit(corrupted[h], bit);
      Status status = VerifyVector(c, corrupted);
      if (status.code() != Code::kUnauthenticated) {
        CAPTURE(h, bit);
        FAIL("flipped proof bit not rejected: " << status.ToString());
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Vector file

TEST_CASE("vector file has every line kind") {
  const Vectors& v = LoadVectors();
  CHECK(v.inputs.size() == 8);
  CHECK(v.hashers.size() == 4);
  CHECK(v.leaf_hashes.size() == 8);
  CHECK(v.roots.size() == 9);
  CHECK(v.inclusions.size() == 46);
  CHECK(v.consistencies.size() == 46);
  CHECK(v.ignored_notes > 0);
}

TEST_CASE("hashers match vectors") {
  for (const HasherVector& h : LoadVectors().hashers) {
    CAPTURE(h.line);
    if (h.kind == "empty") {
      CHECK(MerkleEmptyRoot() == h.expected);
    } else if (h.kind == "leaf") {
      REQUIRE(h.inputs.size() == 1);
      CHECK(MerkleLeafHash(h.inputs[0]) == h.expected);
      CHECK(LeafHash(h.inputs[0]) == h.expected);
    } else if (h.kind == "node") {
      REQUIRE(h.inputs.size() == 2);
      CHECK(MerkleNodeHash(h.inputs[0], h.inputs[1]) == h.expected);
    } else {
      FAIL("unknown hasher kind " << h.kind);
    }
  }
}

TEST_CASE("leaf hashes match vectors") {
  const Vectors& v = LoadVectors();
  for (const auto& [index, expected] : v.leaf_hashes) {
    CAPTURE(index);
    REQUIRE(v.inputs.count(index) == 1);
    CHECK(MerkleLeafHash(v.inputs.at(index)) == expected);
  }
}

TEST_CASE("roots match vectors") {
  for (const auto& [size, expected] : LoadVectors().roots) {
    CAPTURE(size);
    Result<std::string> root = MerkleRoot(size, VectorLeaves());
    REQUIRE(root.ok());
    CHECK(*root == expected);

    MerkleTreeBuilder builder;
    for (uint64_t i = 0; i < size; ++i) REQUIRE(builder.Append(*VectorLeaves()(i)).ok());
    CHECK(builder.root() == expected);
  }
}

// ---------------------------------------------------------------------------
// Inclusion proofs

TEST_CASE("inclusion proofs match vectors") {
  for (const InclusionVector& c : LoadVectors().inclusions) {
    CAPTURE(c.line);
    CHECK(*VectorLeaves()(c.index) == c.leaf_hash);
    CHECK(*MerkleRoot(c.size, VectorLeaves()) == c.root);

    Result<Hashes> proof = InclusionProof(c.index, c.size, VectorLeaves());
    REQUIRE(proof.ok());
    CHECK(*proof == c.proof);
    CHECK(InclusionProofSize(c.index, c.size) == c.proof.size());

    Status verified = VerifyVector(c, c.proof);
    CHECK(verified.ok());
    CHECK(verified.message() == "");
  }
}

TEST_CASE("inclusion verify rejects corrupted vectors") {
  const std::vector<InclusionVector>& vectors = LoadVectors().inclusions;

  SECTION("one bit flipped in each proof hash") {
    for (const InclusionVector& c : vectors) {
      CAPTURE(c.line);
      CheckFlippedProofBitsRejected(c);
    }
  }

  SECTION("one hash too many or too few") {
    for (const InclusionVector& c : vectors) {
      CAPTURE(c.line);
      CheckWrongProofLengthsRejected(c);
    }
  }

  SECTION("index off by one") {
    for (const InclusionVector& c : vectors) {
      for (uint64_t index : {c.index - 1, c.index + 1}) {
        if (index == UINT64_MAX) continue;  // c.index - 1 wrapped around
        CAPTURE(c.line, index);
        CHECK_FALSE(VerifyInclusion(index, c.size, c.leaf_hash, c.proof, c.root).ok());
        CHECK_FALSE(InclusionClaimIsEquivalent(index, c.size, c));
      }
    }
  }

  SECTION("size off by one") {
    int rejected = 0;
    for (const InclusionVector& c : vectors) {
      for (uint64_t size : {c.size - 1, c.size + 1}) {
        CAPTURE(c.line, size);
        Status status = VerifyInclusion(c.index, size, c.leaf_hash, c.proof, c.root);
        CHECK(status.ok() == InclusionClaimIsEquivalent(c.index, size, c));
        if (!status.ok()) ++rejected;
      }
    }
    CHECK(rejected > static_cast<int>(vectors.size()));
  }

  SECTION("leaf hash and root swapped") {
    for (const InclusionVector& c : vectors) {
      if (c.leaf_hash == c.root) continue;  // a one-leaf tree: the swap changes nothing
      CAPTURE(c.line);
      Status status = VerifyInclusion(c.index, c.size, c.root, c.proof, c.leaf_hash);
      CHECK(status.code() == Code::kUnauthenticated);
    }
  }

  SECTION("one bit flipped in leaf hash or root") {
    for (const InclusionVector& c : vectors) {
      CAPTURE(c.line);
      std::string wrong_leaf = FlipBit(c.leaf_hash, 7);
      std::string wrong_root = FlipBit(c.root, 0);
      CHECK(VerifyInclusion(c.index, c.size, wrong_leaf, c.proof, c.root).code() ==
            Code::kUnauthenticated);
      CHECK(VerifyInclusion(c.index, c.size, c.leaf_hash, c.proof, wrong_root).code() ==
            Code::kUnauthenticated);
    }
  }
}

// ---------------------------------------------------------------------------
// Consistency proofs

TEST_CASE("consistency proofs match vectors") {
  for (const ConsistencyVector& c : LoadVectors().consistencies) {
    CAPTURE(c.line);
    CHECK(*MerkleRoot(c.size1, VectorLeaves()) == c.root1);
    CHECK(*MerkleRoot(c.size2, VectorLeaves()) == c.root2);

    Result<Hashes> proof = ConsistencyProof(c.size1, c.size2, VectorLeaves());
    REQUIRE(proof.ok());
    CHECK(*proof == c.proof);
    CHECK(ConsistencyProofSize(c.size1, c.size2) == c.proof.size());

    CHECK(VerifyVector(c, c.proof).ok());
  }
}

TEST_CASE("consistency verify rejects corrupted vectors") {
  const std::vector<ConsistencyVector>& vectors = LoadVectors().consistencies;

  SECTION("one bit flipped in each proof hash") {
    for (const ConsistencyVector& c : vectors) {
      CAPTURE(c.line);
      CheckFlippedProofBitsRejected(c);
    }
  }

  SECTION("one hash too many or too few") {
    for (const ConsistencyVector& c : vectors) {
      CAPTURE(c.line);
      CheckWrongProofLengthsRejected(c);
    }
  }

  SECTION("old or new size off by one") {
    int rejected = 0;
    for (const ConsistencyVector& c : vectors) {
      std::pair<uint64_t, uint64_t> claims[] = {{c.size1 - 1, c.size2},
                                                {c.size1 + 1, c.size2},
                                                {c.size1, c.size2 - 1},
                                                {c.size1, c.size2 + 1}};
      for (const auto& [size1, size2] : claims) {
        CAPTURE(c.line, size1, size2);
        Status status = VerifyConsistency(size1, size2, c.root1, c.root2, c.proof);
        CHECK(status.ok() == ConsistencyClaimIsEquivalent(size1, size2, c));
        if (!status.ok()) ++rejected;
      }
    }
    CHECK(rejected > static_cast<int>(2 * vectors.size()));
  }

  SECTION("roots swapped") {
    for (const ConsistencyVector& c : vectors) {
      if (c.root1 == c.root2) continue;  // equal sizes: the swap changes nothing
      CAPTURE(c.line);
      Status status = VerifyConsistency(c.size1, c.size2, c.root2, c.root1, c.proof);
      CHECK(status.code() == Code::kUnauthenticated);
    }
  }

  SECTION("one bit flipped in either root") {
    for (const ConsistencyVector& c : vectors) {
      CAPTURE(c.line);
      std::string wrong_old = FlipBit(c.root1, 3);
      std::string wrong_new = FlipBit(c.root2, 200);
      CHECK(VerifyConsistency(c.size1, c.size2, wrong_old, c.root2, c.proof).code() ==
            Code::kUnauthenticated);
      CHECK(VerifyConsistency(c.size1, c.size2, c.root1, wrong_new, c.proof).code() ==
            Code::kUnauthenticated);
    }
  }
}

// The shapes above predict that some off-by-one claims verify. This test pins
// one such case, so that the prediction itself is checked.
TEST_CASE("same-shape claims verify as RFC 9162 allows") {
  Hashes leaves = RandomLeafHashes(4, 7);
  Hashes proof = InclusionProof(0, 3, LeavesOf(leaves)).value();
  std::string root3 = MerkleRoot(3, LeavesOf(leaves)).value();
  CHECK(InclusionShape(0, 3) == "RR");
  CHECK(InclusionShape(0, 4) == "RR");
  CHECK(VerifyInclusion(0, 4, leaves[0], proof, root3).ok());
  CHECK(VerifyInclusion(0, 5, leaves[0], proof, root3).code() == Code::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Larger trees, edge cases and messages

TEST_CASE("builder root equals MerkleRoot for sizes 0 to 64") {
  Hashes leaves = RandomLeafHashes(64, 20240601);
  MerkleTreeBuilder builder;
  CHECK(builder.root() == MerkleEmptyRoot());
  CHECK(MerkleRoot(0, LeavesOf(leaves)).value() == MerkleEmptyRoot());

  for (uint64_t size = 1; size <= 64; ++size) {
    CAPTURE(size);
    REQUIRE(builder.Append(leaves[size - 1]).ok());
    CHECK(builder.size() == size);
    CHECK(builder.root() == MerkleRoot(size, LeavesOf(leaves)).value());
  }
}

TEST_CASE("builder appends an aligned tree as if leaf by leaf") {
  Hashes leaves = RandomLeafHashes(96, 7);
  // Every split of 0..96 leaves into a prefix and a tail whose largest
  // perfect subtree fits the prefix's alignment.
  for (uint64_t prefix = 0; prefix <= 64; ++prefix) {
    for (uint64_t tail = 0; prefix + tail <= 96; ++tail) {
      CAPTURE(prefix, tail);
      MerkleTreeBuilder head, rest, whole;
      for (uint64_t i = 0; i < prefix; ++i) REQUIRE(head.Append(leaves[i]).ok());
      for (uint64_t i = prefix; i < prefix + tail; ++i) REQUIRE(rest.Append(leaves[i]).ok());
      for (uint64_t i = 0; i < prefix + tail; ++i) REQUIRE(whole.Append(leaves[i]).ok());

      const bool aligned = tail == 0 || prefix % std::bit_floor(tail) == 0;
      Status appended = head.AppendTree(rest);
      CHECK(appended.ok() == aligned);
      if (aligned) {
        CHECK(head.size() == prefix + tail);
        CHECK(head.root() == whole.root());
      } else {
        // Nothing was appended.
        CHECK(head.size() == prefix);
        CHECK(head.root() == MerkleRoot(prefix, LeavesOf(leaves)).value());
      }
    }
  }
}

TEST_CASE("builder refuses a misaligned tree with the reason") {
  Hashes leaves = RandomLeafHashes(8, 3);
  MerkleTreeBuilder three, four;
  for (int i = 0; i < 3; ++i) REQUIRE(three.Append(leaves[i]).ok());
  for (int i = 0; i < 4; ++i) REQUIRE(four.Append(leaves[i]).ok());
  Status s = three.AppendTree(four);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message() ==
        "cannot append a tree of 4 leaves at size 3: the size is not a multiple of 4");
}

TEST_CASE("generated proofs verify for every size up to 70") {
  constexpr uint64_t kMaxSize = 70;
  Hashes leaves = RandomLeafHashes(kMaxSize, 99);
  std::vector<std::string> roots;
  for (uint64_t size = 0; size <= kMaxSize; ++size) {
    roots.push_back(MerkleRoot(size, LeavesOf(leaves)).value());
  }

  for (uint64_t size = 1; size <= kMaxSize; ++size) {
    for (uint64_t index = 0; index < size; ++index) {
      CAPTURE(size, index);
      Hashes proof = InclusionProof(index, size, LeavesOf(leaves)).value();
      CHECK(proof.size() == InclusionShape(index, size).size());
      CHECK(VerifyInclusion(index, size, leaves[index], proof, roots[size]).ok());
    }
    for (uint64_t size1 = 1; size1 <= size; ++size1) {
      CAPTURE(size, size1);
      Hashes proof = ConsistencyProof(size1, size, LeavesOf(leaves)).value();
      CHECK(proof.size() == ConsistencyShape(size1, size, true).size());
      CHECK(VerifyConsistency(size1, size, roots[size1], roots[size], proof).ok());
    }
  }
}

TEST_CASE("subtree hook is called once per proof hash") {
  Hashes leaves = RandomLeafHashes(1000, 5);
  int calls = 0;
  SubtreeRootAt recompute = RecomputeSubtreeRoot(LeavesOf(leaves));
  SubtreeRootAt counting = [&](uint64_t start, uint64_t size) {
    ++calls;
    return recompute(start, size);
  };

  Hashes inclusion = InclusionProofFromSubtrees(617, 1000, counting).value();
  CHECK(inclusion == InclusionProof(617, 1000, LeavesOf(leaves)).value());
  CHECK(calls == static_cast<int>(inclusion.size()));

  calls = 0;
  Hashes consistency = ConsistencyProofFromSubtrees(300, 1000, counting).value();
  CHECK(consistency == ConsistencyProof(300, 1000, LeavesOf(leaves)).value());
  CHECK(calls == static_cast<int>(consistency.size()));

  calls = 0;
  CHECK(MerkleRootFromSubtrees(1000, counting).value() == MerkleRoot(1000, LeavesOf(leaves)).value());
  CHECK(calls == 1);
}

TEST_CASE("proof generation rejects bad sizes") {
  Hashes leaves = RandomLeafHashes(8, 1);

  Result<Hashes> past_end = InclusionProof(8, 8, LeavesOf(leaves));
  CHECK(past_end.status().code() == Code::kInvalidArgument);
  CHECK(past_end.status().message() == "index 8 is not below tree size 8");

  Result<Hashes> from_empty = ConsistencyProof(0, 8, LeavesOf(leaves));
  CHECK(from_empty.status().code() == Code::kInvalidArgument);
  CHECK(from_empty.status().message().starts_with("old tree size must be at least 1"));

  Result<Hashes> shrinking = ConsistencyProof(5, 4, LeavesOf(leaves));
  CHECK(shrinking.status().code() == Code::kInvalidArgument);
  CHECK(shrinking.status().message() == "old tree size 5 is above new tree size 4");

  CHECK(ConsistencyProof(8, 8, LeavesOf(leaves)).value().empty());
}

TEST_CASE("proof generation returns storage errors") {
  Hashes leaves = RandomLeafHashes(8, 2);

  SECTION("missing leaf") {
    Result<Hashes> proof = InclusionProof(0, 9, LeavesOf(leaves));
    CHECK(proof.status().code() == Code::kNotFound);
    CHECK(proof.status().message() == "no leaf 8");
  }

  SECTION("leaf hash of the wrong size") {
    leaves[3].pop_back();
    Result<std::string> root = MerkleRoot(8, LeavesOf(leaves));
    CHECK(root.status().code() == Code::kInternal);
    CHECK(root.status().message() == "leaf hash at index 3 has 31 bytes, expected 32");
  }

  SECTION("subtree root of the wrong size") {
    SubtreeRootAt short_roots = [](uint64_t, uint64_t) -> Result<std::string> {
      return std::string(31, 'x');
    };
    Result<Hashes> proof = ConsistencyProofFromSubtrees(3, 8, short_roots);
    CHECK(proof.status().code() == Code::kInternal);
    CHECK(proof.status().message() == "root of leaves [2, 3) has 31 bytes, expected 32");
  }
}

TEST_CASE("inclusion verify messages name the reason") {
  Hashes leaves = RandomLeafHashes(6, 3);
  std::string root = MerkleRoot(6, LeavesOf(leaves)).value();
  Hashes proof = InclusionProof(4, 6, LeavesOf(leaves)).value();
  REQUIRE(proof.size() == 2);

  Status past_end = VerifyInclusion(6, 6, leaves[4], proof, root);
  CHECK(past_end.code() == Code::kInvalidArgument);
  CHECK(past_end.message() == "index 6 is not below tree size 6");

  Hashes longer = proof;
  longer.push_back(proof[0]);
  Status too_long = VerifyInclusion(4, 6, leaves[4], longer, root);
  CHECK(too_long.code() == Code::kInvalidArgument);
  CHECK(too_long.message() == "proof has 3 hashes, expected 2");

  Hashes short_hash = proof;
  short_hash[1].pop_back();
  Status bad_hash = VerifyInclusion(4, 6, leaves[4], short_hash, root);
  CHECK(bad_hash.code() == Code::kInvalidArgument);
  CHECK(bad_hash.message() == "proof hash 1 has 31 bytes, expected 32");

  Status bad_root = VerifyInclusion(4, 6, leaves[4], proof, root.substr(1));
  CHECK(bad_root.code() == Code::kInvalidArgument);
  CHECK(bad_root.message() == "root has 31 bytes, expected 32");

  Status wrong_leaf = VerifyInclusion(4, 6, leaves[5], proof, root);
  CHECK(wrong_leaf.code() == Code::kUnauthenticated);
  CHECK(wrong_leaf.message() == "computed root does not match the expected root");
}

TEST_CASE("consistency verify messages name the reason") {
  Hashes leaves = RandomLeafHashes(7, 4);
  std::string root3 = MerkleRoot(3, LeavesOf(leaves)).value();
  std::string root7 = MerkleRoot(7, LeavesOf(leaves)).value();
  Hashes proof = ConsistencyProof(3, 7, LeavesOf(leaves)).value();

  Status from_empty = VerifyConsistency(0, 7, MerkleEmptyRoot(), root7, {});
  CHECK(from_empty.code() == Code::kInvalidArgument);
  CHECK(from_empty.message().starts_with("old tree size must be at least 1"));

  Status shrinking = VerifyConsistency(7, 3, root7, root3, proof);
  CHECK(shrinking.code() == Code::kInvalidArgument);
  CHECK(shrinking.message() == "old tree size 7 is above new tree size 3");

  Status empty_proof = VerifyConsistency(3, 7, root3, root7, {});
  CHECK(empty_proof.code() == Code::kInvalidArgument);
  CHECK(empty_proof.message() == "proof has 0 hashes, expected " + std::to_string(proof.size()));

  Status equal_sizes = VerifyConsistency(7, 7, root7, root3, {});
  CHECK(equal_sizes.code() == Code::kUnauthenticated);
  CHECK(equal_sizes.message() == "roots differ for equal tree sizes");

  Status equal_with_proof = VerifyConsistency(7, 7, root7, root7, {root7});
  CHECK(equal_with_proof.code() == Code::kInvalidArgument);
  CHECK(equal_with_proof.message() == "proof has 1 hash, expected 0");

  Status wrong_old = VerifyConsistency(3, 7, FlipBit(root3, 1), root7, proof);
  CHECK(wrong_old.code() == Code::kUnauthenticated);
  CHECK(wrong_old.message() == "computed old root does not match the old root");

  Status wrong_new = VerifyConsistency(3, 7, root3, FlipBit(root7, 1), proof);
  CHECK(wrong_new.code() == Code::kUnauthenticated);
  CHECK(wrong_new.message() == "computed new root does not match the new root");
}

TEST_CASE("builder rejects a leaf hash of the wrong size") {
  MerkleTreeBuilder builder;
  Status status = builder.Append(std::string(33, 'a'));
  CHECK(status.code() == Code::kInvalidArgument);
  CHECK(status.message() == "leaf hash has 33 bytes, expected 32");
  CHECK(builder.size() == 0);
  CHECK(builder.root() == MerkleEmptyRoot());
}
