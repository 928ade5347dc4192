#include "ledger/entry.h"

#include "ledger/crypto.h"

namespace escrow::ledger {
namespace {

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutBytes(std::string& out, std::string_view bytes) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(bytes);
}

// Reads big-endian integers and length-prefixed fields, failing on truncation.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool U8(uint8_t& v) {
    if (in_.size() - pos_ < 1) return false;
    v = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool U16(uint16_t& v) {
    uint64_t x;
    if (!Uint(2, x)) return false;
    v = static_cast<uint16_t>(x);
    return true;
  }
  bool U64(uint64_t& v) { return Uint(8, v); }
  bool Fixed(size_t n, std::string_view& v) {
    if (in_.size() - pos_ < n) return false;
    v = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Bytes(std::string_view& v) {
    uint64_t n;
    if (!Uint(4, n) || n > kMaxEntryFieldSize) return false;
    return Fixed(static_cast<size_t>(n), v);
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  bool Uint(size_t n, uint64_t& v) {
    if (in_.size() - pos_ < n) return false;
    v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | static_cast<uint8_t>(in_[pos_++]);
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

const char* ActorKindName(ActorKind kind) {
  switch (kind) {
    case ActorKind::kSystem: return "system";
    case ActorKind::kDevice: return "device";
    case ActorKind::kAccount: return "account";
  }
  return "unknown";
}

std::string EncodeBody(const Entry& e) {
  std::string out;
  out.reserve(128 + e.actor_id.size() + e.subject.size() + e.payload.size() +
              e.origin_request.size() + e.origin_signature.size() + e.key_id.size());
  PutU16(out, e.format_version);
  PutU64(out, e.seq);
  std::string prev = e.prev_hash;
  prev.resize(crypto::kSha256Size, '\0');
  out.append(prev);
  PutU64(out, static_cast<uint64_t>(e.time_ns));
  PutU16(out, e.type);
  PutU16(out, e.schema_version);
  out.push_back(static_cast<char>(e.actor_kind));
  PutBytes(out, e.actor_id);
  PutBytes(out, e.subject);
  PutBytes(out, e.payload);
  PutBytes(out, e.origin_request);
  PutBytes(out, e.origin_signature);
  PutBytes(out, e.key_id);
  return out;
}

std::string EncodeEntry(const Entry& e) {
  std::string out = EncodeBody(e);
  std::string sig = e.signature;
  sig.resize(crypto::kEd25519SignatureSize, '\0');
  out.append(sig);
  return out;
}

Result<EntryView> ParseEntry(std::string_view bytes) {
  if (bytes.size() > kMaxEntrySize) return InvalidArgument("entry exceeds 4 MiB");
  EntryView e;
  Reader r(bytes);
  uint64_t time = 0;
  uint8_t kind = 0;
  if (!r.U16(e.format_version)) return InvalidArgument("entry truncated in format_version");
  if (e.format_version != kEntryFormatVersion) {
    return InvalidArgument("unknown entry format version " + std::to_string(e.format_version));
  }
  if (!r.U64(e.seq) || !r.Fixed(crypto::kSha256Size, e.prev_hash) || !r.U64(time) ||
      !r.U16(e.type) || !r.U16(e.schema_version) || !r.U8(kind) || !r.Bytes(e.actor_id) ||
      !r.Bytes(e.subject) || !r.Bytes(e.payload) || !r.Bytes(e.origin_request) ||
      !r.Bytes(e.origin_signature) || !r.Bytes(e.key_id)) {
    return InvalidArgument("entry truncated or has an oversized field");
  }
  if (kind > static_cast<uint8_t>(ActorKind::kAccount)) {
    return InvalidArgument("unknown actor kind " + std::to_string(kind));
  }
  e.time_ns = static_cast<int64_t>(time);
  e.actor_kind = static_cast<ActorKind>(kind);
  e.body = bytes.substr(0, r.pos());
  if (r.remaining() != crypto::kEd25519SignatureSize) {
    return InvalidArgument("entry signature must be exactly 64 bytes after the body");
  }
  e.signature = bytes.substr(r.pos());
  return e;
}

Result<DecodedEntry> DecodeEntry(std::string_view bytes) {
  auto view = ParseEntry(bytes);
  if (!view.ok()) return view.status();
  DecodedEntry out;
  Entry& e = out.entry;
  e.format_version = view->format_version;
  e.seq = view->seq;
  e.prev_hash = view->prev_hash;
  e.time_ns = view->time_ns;
  e.type = view->type;
  e.schema_version = view->schema_version;
  e.actor_kind = view->actor_kind;
  e.actor_id = view->actor_id;
  e.subject = view->subject;
  e.payload = view->payload;
  e.origin_request = view->origin_request;
  e.origin_signature = view->origin_signature;
  e.key_id = view->key_id;
  e.signature = view->signature;
  out.body = view->body;
  return out;
}

std::string LeafHash(std::string_view body) {
  return crypto::Sha256Concat({std::string_view("\0", 1), body});
}

crypto::Sha256Digest LeafHashDigest(std::string_view body) {
  return crypto::Sha256ConcatDigest({std::string_view("\0", 1), body});
}

std::string SignatureMessage(std::string_view leaf_hash) {
  std::string msg(kEntrySignaturePrefix);
  msg.append(leaf_hash);
  return msg;
}

std::string SeqKey(uint64_t seq) {
  std::string key;
  PutU64(key, seq);
  return key;
}

uint64_t SeqFromKey(std::string_view key) {
  uint64_t v = 0;
  for (size_t i = 0; i < key.size() && i < 8; i++) v = v << 8 | static_cast<uint8_t>(key[i]);
  return v;
}

}  // namespace escrow::ledger
