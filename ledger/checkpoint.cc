#include "ledger/checkpoint.h"

#include <charconv>
#include <vector>

#include "ledger/crypto.h"

namespace escrow::ledger {
namespace {

constexpr std::string_view kSignaturePrefix = "\xe2\x80\x94 ";  // em dash and a space
constexpr char kEd25519Algorithm = 0x01;

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

template <class Int>
bool ParseInt(std::string_view s, Int& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::string CheckpointText(const Checkpoint& c) {
  std::string text = c.origin + "\n" + std::to_string(c.tree_size) + "\n" +
                     crypto::Base64Encode(c.root_hash) + "\n";
  text += "time " + std::to_string(c.time_ns) + "\n";
  if (!c.projection_digest.empty()) {
    text += "state " + crypto::Base64Encode(c.projection_digest) + "\n";
  }
  return text;
}

std::string NoteKeyHash(std::string_view key_name, std::string_view public_key) {
  std::string input(key_name);
  input.push_back('\n');
  input.push_back(kEd25519Algorithm);
  input.append(public_key);
  return crypto::Sha256(input).substr(0, 4);
}

std::string NoteVerifierKey(std::string_view key_name, std::string_view public_key) {
  std::string encoded(1, kEd25519Algorithm);
  encoded.append(public_key);
  return std::string(key_name) + "+" + crypto::HexEncode(NoteKeyHash(key_name, public_key)) + "+" +
         crypto::Base64Encode(encoded);
}

Result<std::string> SignNote(std::string_view text, std::string_view key_name,
                             const SigningKey& key) {
  if (text.empty() || text.back() != '\n') {
    return InvalidArgument("note text must end with a newline");
  }
  auto signature = key.Sign(text);
  if (!signature.ok()) return signature.status();
  std::string blob = NoteKeyHash(key_name, key.public_key()) + *signature;
  return std::string(text) + "\n" + std::string(kSignaturePrefix) + std::string(key_name) + " " +
         crypto::Base64Encode(blob) + "\n";
}

Result<std::string> OpenNote(std::string_view note, std::string_view key_name,
                             std::string_view public_key) {
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return InvalidArgument("note has no signature block");
  std::string_view text = note.substr(0, split + 1);
  std::string_view signatures = note.substr(split + 2);
  std::string expected_hash = NoteKeyHash(key_name, public_key);
  for (std::string_view line : SplitLines(signatures)) {
    if (line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) {
      return InvalidArgument("malformed signature line in note");
    }
    line.remove_prefix(kSignaturePrefix.size());
    size_t space = line.find(' ');
    if (space == std::string_view::npos) return InvalidArgument("malformed signature line in note");
    if (line.substr(0, space) != key_name) continue;
    auto blob = crypto::Base64Decode(line.substr(space + 1));
    if (!blob.ok() || blob->size() != 4 + crypto::kEd25519SignatureSize) {
      return InvalidArgument("malformed signature in note");
    }
    if (blob->substr(0, 4) != expected_hash) continue;
    if (!crypto::Ed25519Verify(public_key, text, blob->substr(4))) {
      return Unauthenticated("note signature by " + std::string(key_name) + " does not verify");
    }
    return std::string(text);
  }
  return Unauthenticated("note has no signature by " + std::string(key_name));
}

Result<Checkpoint> ParseCheckpointText(std::string_view text) {
  std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 3) return InvalidArgument("checkpoint has fewer than 3 lines");
  Checkpoint c;
  c.origin = std::string(lines[0]);
  if (!ParseInt(lines[1], c.tree_size)) return InvalidArgument("checkpoint tree size is invalid");
  auto root = crypto::Base64Decode(lines[2]);
  if (!root.ok() || root->size() != 32) return InvalidArgument("checkpoint root hash is invalid");
  c.root_hash = std::move(*root);
  for (size_t i = 3; i < lines.size(); i++) {
    std::string_view line = lines[i];
    if (line.substr(0, 5) == "time ") {
      if (!ParseInt(line.substr(5), c.time_ns)) return InvalidArgument("checkpoint time is invalid");
    } else if (line.substr(0, 6) == "state ") {
      auto digest = crypto::Base64Decode(line.substr(6));
      if (!digest.ok() || digest->size() != 32) {
        return InvalidArgument("checkpoint state digest is invalid");
      }
      c.projection_digest = std::move(*digest);
    }
  }
  return c;
}

std::string CheckpointOrigin(std::string_view public_key) {
  return "escrow-ledger/" + KeyIdOf(public_key);
}

std::string CheckpointOrigin(const SigningKey& key) { return CheckpointOrigin(key.public_key()); }

}  // namespace escrow::ledger
