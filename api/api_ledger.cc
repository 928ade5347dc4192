// Api routes for auditors: signed checkpoints, inclusion and consistency
// proofs, ledger entries by range, the ledger export, and retrieval receipts.
//
// Every proof is computed from the stored Merkle tree (ledger/merkle_store.h)
// and every tree size must be at most the committed seq. Hashes are hex.
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "api/api.h"
#include "api/route_util.h"
#include "api/views.h"
#include "ledger/checkpoint.h"
#include "ledger/checkpointer.h"
#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/export.h"
#include "ledger/keys.h"
#include "ledger/log.h"
#include "ledger/merkle.h"
#include "ledger/merkle_store.h"

namespace escrow::api {

namespace json = boost::json;
using projections::kRoleAdmin;
using projections::kRoleAuditor;

namespace {

// Maximum digits of a decimal seq or tree size, so that every value fits in uint64.
constexpr size_t kMaxDecimalDigits = 19;

// Returns the query parameter as a number >= 1, or nullopt when it is absent.
Result<std::optional<uint64_t>> PositiveParam(const http::Request& request,
                                              const std::string& name) {
  auto it = request.query.find(name);
  if (it == request.query.end() || it->second.empty()) return std::optional<uint64_t>();
  const std::string& text = it->second;
  if (text.size() > kMaxDecimalDigits || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoull(text) == 0) {
    return InvalidArgument("query parameter \"" + name + "\" must be a whole number of at least 1");
  }
  return std::optional<uint64_t>(std::stoull(text));
}

Result<uint64_t> RequiredParam(const http::Request& request, const std::string& name) {
  auto value = PositiveParam(request, name);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return InvalidArgument("query parameter \"" + name + "\" is required");
  return **value;
}

// Parses a path segment such as the {id} of /v1/checkpoints/{id}.
Result<uint64_t> PositivePathNumber(const std::string& text, std::string_view what) {
  if (text.empty() || text.size() > kMaxDecimalDigits ||
      text.find_first_not_of("0123456789") != std::string::npos || std::stoull(text) == 0) {
    return InvalidArgument(std::string(what) + " must be a whole number of at least 1");
  }
  return std::stoull(text);
}

json::array HexList(const std::vector<std::string>& hashes) {
  json::array out;
  for (const auto& hash : hashes) out.emplace_back(crypto::HexEncode(hash));
  return out;
}

// Returns a checkpoint note as JSON: the note itself plus its parsed fields.
Result<json::object> CheckpointJson(const std::string& note) {
  size_t end = note.find("\n\n");
  if (end == std::string::npos) return Internal("stored checkpoint note has no signature block");
  auto checkpoint = ledger::ParseCheckpointText(std::string_view(note).substr(0, end + 1));
  if (!checkpoint.ok()) return checkpoint.status();
  json::object out;
  out["note"] = note;
  out["origin"] = checkpoint->origin;
  out["tree_size"] = checkpoint->tree_size;
  out["root"] = crypto::HexEncode(checkpoint->root_hash);
  out["state_digest"] = crypto::HexEncode(checkpoint->projection_digest);
  PutTime(out, "time", checkpoint->time_ns);
  return out;
}

// Reads entry seq and returns it with the leaf hash recomputed from its stored bytes.
Result<std::pair<ledger::Entry, std::string>> ReadEntryAndLeaf(const ledger::Store& store,
                                                               uint64_t seq) {
  auto bytes = store.ReadEntry(seq);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return NotFound("no ledger entry at seq " + std::to_string(seq));
  auto decoded = ledger::DecodeEntry(**bytes);
  if (!decoded.ok()) return decoded.status();
  return std::make_pair(decoded->entry, ledger::LeafHash(decoded->body));
}

bool IsRetrieval(uint16_t type) {
  return type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordRetrieved) ||
         type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordRetrievalDenied);
}

}  // namespace

Result<json::object> LedgerReceipt(const ledger::Store& store, uint64_t seq) {
  // Step 1: the leaf, recomputed from the stored entry.
  auto entry = ReadEntryAndLeaf(store, seq);
  if (!entry.ok()) return entry.status();
  json::object receipt;
  receipt["seq"] = seq;
  receipt["leaf_hash"] = crypto::HexEncode(entry->second);
  receipt["checkpoint"] = nullptr;
  receipt["tree_size"] = nullptr;
  receipt["proof"] = nullptr;
  receipt["root"] = nullptr;

  // Step 2: the first checkpoint that covers seq, if one was written yet.
  auto note = ledger::FirstCheckpointCovering(store, seq);
  if (!note.ok()) return note.status();
  if (!note->has_value()) return receipt;
  auto checkpoint = CheckpointJson(**note);
  if (!checkpoint.ok()) return checkpoint.status();
  uint64_t tree_size = checkpoint->at("tree_size").as_uint64();

  // Step 3: the inclusion proof against that checkpoint's tree.
  auto proof = ledger::InclusionProofFromSubtrees(seq - 1, tree_size,
                                                  ledger::StoredSubtreeRoot(store));
  if (!proof.ok()) return proof.status();
  receipt["checkpoint"] = **note;
  receipt["tree_size"] = tree_size;
  receipt["proof"] = HexList(*proof);
  receipt["root"] = checkpoint->at("root");
  return receipt;
}

Result<uint64_t> Api::CommittedSeq() const {
  if (sequencer_ != nullptr) return sequencer_->committed_seq();
  return store_->LastSeq();
}

Status Api::CheckTreeSize(uint64_t size, std::string_view param) const {
  auto committed = CommittedSeq();
  if (!committed.ok()) return committed.status();
  if (size > *committed) {
    return InvalidArgument("query parameter \"" + std::string(param) + "\" is " +
                           std::to_string(size) + ", above the committed seq " +
                           std::to_string(*committed));
  }
  return Status::Ok();
}

http::Response Api::LatestCheckpoint(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto note = ledger::LatestCheckpoint(*store_);
  if (!note.ok()) return ErrorReply(note.status());
  if (!note->has_value()) return ErrorReply(NotFound("no checkpoint has been written yet"));
  auto reply = CheckpointJson(**note);
  if (!reply.ok()) return ErrorReply(reply.status());
  return JsonReply(200, *reply);
}

http::Response Api::WriteCheckpoint(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  if (!write_checkpoint_) {
    return ErrorReply(Unavailable("this server does not write checkpoints on request"));
  }
  auto note = write_checkpoint_();
  if (!note.ok()) return ErrorReply(note.status());
  Logger("api")->info("checkpoint written on request of {}", call.principal->name);
  auto reply = CheckpointJson(*note);
  if (!reply.ok()) return ErrorReply(reply.status());
  return JsonReply(201, *reply);
}

http::Response Api::GetCheckpoint(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto size = PositivePathNumber(call.id, "the tree size in /v1/checkpoints/{size}");
  if (!size.ok()) return ErrorReply(size.status());
  auto note = ledger::ReadCheckpoint(*store_, *size);
  if (!note.ok()) return ErrorReply(note.status());
  if (!note->has_value()) {
    return ErrorReply(NotFound("no checkpoint at tree size " + std::to_string(*size)));
  }
  auto reply = CheckpointJson(**note);
  if (!reply.ok()) return ErrorReply(reply.status());
  return JsonReply(200, *reply);
}

http::Response Api::GetInclusionProof(const Call& call) {
  // Step 1: check the caller and the parameters.
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto seq = RequiredParam(call.request, "seq");
  if (!seq.ok()) return ErrorReply(seq.status());
  auto tree_size = RequiredParam(call.request, "tree_size");
  if (!tree_size.ok()) return ErrorReply(tree_size.status());
  if (*seq > *tree_size) {
    return ErrorReply(InvalidArgument("query parameter \"seq\" must be at most \"tree_size\""));
  }
  Status size_ok = CheckTreeSize(*tree_size, "tree_size");
  if (!size_ok.ok()) return ErrorReply(size_ok);

  // Step 2: the proof, the leaf and the root from the stored tree.
  ledger::SubtreeRootAt stored = ledger::StoredSubtreeRoot(*store_);
  auto leaf = stored(*seq - 1, 1);
  if (!leaf.ok()) return ErrorReply(leaf.status());
  auto proof = ledger::InclusionProofFromSubtrees(*seq - 1, *tree_size, stored);
  if (!proof.ok()) return ErrorReply(proof.status());
  auto root = ledger::StoredMerkleRoot(*store_, *tree_size);
  if (!root.ok()) return ErrorReply(root.status());

  json::object reply;
  reply["seq"] = *seq;
  reply["leaf_index"] = *seq - 1;
  reply["tree_size"] = *tree_size;
  reply["leaf_hash"] = crypto::HexEncode(*leaf);
  reply["proof"] = HexList(*proof);
  reply["root"] = crypto::HexEncode(*root);
  return JsonReply(200, reply);
}

http::Response Api::GetConsistencyProof(const Call& call) {
  // Step 1: check the caller and the parameters.
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto size1 = RequiredParam(call.request, "size1");
  if (!size1.ok()) return ErrorReply(size1.status());
  auto size2 = RequiredParam(call.request, "size2");
  if (!size2.ok()) return ErrorReply(size2.status());
  if (*size1 > *size2) {
    return ErrorReply(InvalidArgument("query parameter \"size1\" must be at most \"size2\""));
  }
  Status size_ok = CheckTreeSize(*size2, "size2");
  if (!size_ok.ok()) return ErrorReply(size_ok);

  // Step 2: the proof and both roots from the stored tree.
  auto proof = ledger::ConsistencyProofFromSubtrees(*size1, *size2,
                                                    ledger::StoredSubtreeRoot(*store_));
  if (!proof.ok()) return ErrorReply(proof.status());
  auto root1 = ledger::StoredMerkleRoot(*store_, *size1);
  if (!root1.ok()) return ErrorReply(root1.status());
  auto root2 = ledger::StoredMerkleRoot(*store_, *size2);
  if (!root2.ok()) return ErrorReply(root2.status());

  json::object reply;
  reply["size1"] = *size1;
  reply["size2"] = *size2;
  reply["root1"] = crypto::HexEncode(*root1);
  reply["root2"] = crypto::HexEncode(*root2);
  reply["proof"] = HexList(*proof);
  return JsonReply(200, reply);
}

http::Response Api::GetLedgerEntries(const Call& call) {
  // Step 1: check the caller and the range; "to" is inclusive and clipped to
  // the committed seq.
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto from = RequiredParam(call.request, "from");
  if (!from.ok()) return ErrorReply(from.status());
  auto to_param = PositiveParam(call.request, "to");
  if (!to_param.ok()) return ErrorReply(to_param.status());
  uint64_t to = to_param->value_or(*from + kMaxLedgerEntriesPerCall - 1);
  if (to < *from) {
    return ErrorReply(InvalidArgument("query parameter \"to\" must be at least \"from\""));
  }
  if (to - *from >= kMaxLedgerEntriesPerCall) {
    return ErrorReply(InvalidArgument("query parameter \"to\" may be at most " +
                                      std::to_string(kMaxLedgerEntriesPerCall - 1) +
                                      " above \"from\""));
  }
  auto committed = CommittedSeq();
  if (!committed.ok()) return ErrorReply(committed.status());
  to = std::min(to, *committed);

  // Step 2: each entry as its stored bytes and decoded.
  json::array entries;
  for (uint64_t seq = *from; seq <= to; ++seq) {
    auto bytes = store_->ReadEntry(seq);
    if (!bytes.ok()) return ErrorReply(bytes.status());
    if (!bytes->has_value()) {
      return ErrorReply(Internal("ledger entry " + std::to_string(seq) + " is missing"));
    }
    auto decoded = ledger::DecodeEntry(**bytes);
    if (!decoded.ok()) return ErrorReply(decoded.status());
    json::object item;
    item["seq"] = seq;
    item["bytes"] = crypto::Base64Encode(**bytes);
    item["leaf_hash"] = crypto::HexEncode(ledger::LeafHash(decoded->body));
    item["entry"] = ledger::EntryToJson(decoded->entry);
    entries.emplace_back(std::move(item));
  }
  json::object reply;
  reply["from"] = *from;
  reply["to"] = to;
  reply["committed_seq"] = *committed;
  reply["entries"] = std::move(entries);
  return JsonReply(200, reply);
}

http::Response Api::GetLedgerExport(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto public_key = ledger::LoadLedgerPublicKey(store_->keys_dir());
  if (!public_key.ok()) return ErrorReply(public_key.status());

  // Write the export next to the database, read it back, and remove it.
  std::string path = store_->data_dir() + "/export-" +
                     crypto::HexEncode(crypto::RandomBytes(8)) + ".escledg";
  auto summary = ledger::WriteExport(*store_, *public_key, path);
  if (!summary.ok()) return ErrorReply(summary.status());
  http::Response response;
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    response.body = bytes.str();
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) Logger("api")->warn("could not remove the export file {}: {}", path, ec.message());
  Logger("api")->info("ledger export for {}: {} entries, {} checkpoints", call.principal->name,
                      summary->entries, summary->checkpoints);
  response.content_type = "application/octet-stream";
  response.headers["Cache-Control"] = "no-store";
  response.headers["Content-Disposition"] = "attachment; filename=\"ledger.escledg\"";
  return response;
}

http::Response Api::GetReceipt(const Call& call) {
  // Step 1: the seq must name a committed entry.
  auto seq = PositivePathNumber(call.id, "the seq in /v1/receipts/{seq}");
  if (!seq.ok()) return ErrorReply(seq.status());
  auto committed = CommittedSeq();
  if (!committed.ok()) return ErrorReply(committed.status());
  if (*seq > *committed) {
    return ErrorReply(NotFound("no ledger entry at seq " + std::to_string(*seq)));
  }

  // Step 2: auditors and admins read any receipt; others only the receipt of
  // a retrieval they made themselves.
  if (!HasAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin})) {
    auto entry = ReadEntryAndLeaf(*store_, *seq);
    if (!entry.ok()) return ErrorReply(entry.status());
    const ledger::Entry& e = entry->first;
    bool own = IsRetrieval(e.type) && e.actor_kind == ledger::ActorKind::kAccount &&
               e.actor_id == call.principal->name;
    if (!own) {
      return ErrorReply(PermissionDenied(
          "only the account that made a retrieval, an auditor or an admin may read its receipt"));
    }
  }

  auto receipt = LedgerReceipt(*store_, *seq);
  if (!receipt.ok()) return ErrorReply(receipt.status());
  json::object reply;
  reply["receipt"] = std::move(*receipt);
  return JsonReply(200, reply);
}

}  // namespace escrow::api
