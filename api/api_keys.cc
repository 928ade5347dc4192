// POST /v1/ledger/signing-key:rotate: the admin route that rotates the ledger
// signing key (ledger/key_rotation.h).
#include <boost/json.hpp>

#include "api/api.h"
#include "api/route_util.h"
#include "ledger/crypto.h"
#include "ledger/key_rotation.h"
#include "ledger/log.h"

namespace escrow::api {

namespace json = boost::json;

http::Response Api::RotateSigningKey(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {projections::kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  if (sequencer_ == nullptr) {
    return ErrorReply(Unavailable("this server cannot rotate the ledger signing key"));
  }

  auto rotation = ledger::RotateSigningKey(*sequencer_, ledger::ActorKind::kAccount,
                                           call.principal->name);
  if (!rotation.ok()) {
    Logger("api")->error("signing-key rotation requested by {} failed: {}", call.principal->name,
                         rotation.status().message());
    return ErrorReply(rotation.status());
  }
  Logger("api")->info("ledger signing key rotated by {} at seq {}: {} replaced by {}",
                      call.principal->name, rotation->seq, rotation->old_key_id,
                      rotation->new_key_id);

  json::object reply;
  reply["seq"] = rotation->seq;
  reply["old_key_id"] = rotation->old_key_id;
  reply["new_key_id"] = rotation->new_key_id;
  reply["new_public_key"] = crypto::HexEncode(rotation->new_public_key);
  return JsonReply(201, reply);
}

}  // namespace escrow::api
