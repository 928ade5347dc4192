// escrowctl commands for the device lifecycle and the owner's side of the
// audit view: request-rotation, retire, valid-at and receipts.
#include <iostream>

#include "tools/escrowctl_common.h"

namespace escrow::ctl {

namespace json = boost::json;

namespace {

// Prints the server's error with the API names of the command's options
// replaced by the options themselves.
int Fail(const Status& status, const FlagNames& names = {}) {
  std::cerr << "escrowctl: " << WithFlagNames(status.message(), names) << "\n";
  return kExitFailure;
}

std::string Require(const Settings& settings, const std::string& option) {
  std::string value = settings.Value(option);
  if (value.empty()) throw UsageError{settings.command + " needs --" + option};
  return value;
}

std::string DevicePath(const std::string& device_id) {
  return "/v1/devices/" + UrlEncode(device_id);
}

}  // namespace

// request-rotation --device ID
int RequestRotation(ApiSession& session, const Settings& settings) {
  std::string device = Require(settings, "device");
  auto reply = session.Call("POST", DevicePath(device) + "/rotation");
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    std::cout << json::serialize(*reply) << "\n";
  } else {
    std::cout << "Rotation requested for " << device << " (ledger seq " << Text(*reply, "seq")
              << "); the device escrows a new recovery password at its next check-in.\n";
  }
  return kExitOk;
}

// checkpoint: requests that the server sign a checkpoint of its committed ledger now.
int WriteCheckpoint(ApiSession& session, const Settings& settings) {
  auto reply = session.Call("POST", "/v1/checkpoints");
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    std::cout << json::serialize(*reply) << "\n";
  } else {
    std::cout << "Checkpoint at tree size " << Text(*reply, "tree_size") << ":\n"
              << Text(*reply, "note");
  }
  return kExitOk;
}

// retire --device ID --yes
int RetireDevice(ApiSession& session, const Settings& settings) {
  std::string device = Require(settings, "device");
  if (!settings.HasValue("yes")) {
    throw UsageError{"retire cannot be undone, because it invalidates every recovery password of " +
                     device + " and destroys its escrow key. Add --yes to confirm"};
  }
  auto reply = session.Call("POST", DevicePath(device) + "/retire");
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    std::cout << json::serialize(*reply) << "\n";
  } else {
    std::cout << "Retired " << device << " (ledger seq " << Text(*reply, "seq")
              << "). Its recovery passwords can no longer be retrieved.\n";
  }
  return kExitOk;
}

// valid-at --device ID --time T
int ShowValidAt(ApiSession& session, const Settings& settings) {
  std::string device = Require(settings, "device");
  std::string time = Require(settings, "time");
  auto reply = session.Call("GET", DevicePath(device) + "/valid-at?time=" + UrlEncode(time));
  if (!reply.ok()) return Fail(reply.status(), {{"time", "--time"}});
  if (settings.json) {
    std::cout << json::serialize(*reply) << "\n";
    return kExitOk;
  }

  std::cout << "device:      " << device << "\n"
            << "time:        " << Text(*reply, "time") << " (ledger up to seq "
            << Text(*reply, "as_of_seq") << ")\n";
  if (!reply->at("valid").as_bool()) {
    std::cout << "generation:  none (" << Text(*reply, "message") << ")\n";
    return kExitOk;
  }
  std::string until = Text(*reply, "valid_until_seq");
  std::cout << "generation:  " << Text(*reply, "generation") << "\n"
            << "status:      " << Text(*reply, "status") << "\n"
            << "valid from:  seq " << Text(*reply, "valid_from_seq") << " ("
            << Text(*reply, "valid_from") << ")\n"
            << "valid until: " << (until == "0" ? "still valid" : "seq " + until) << "\n";
  return kExitOk;
}

// receipts [--limit N]: the newest N retrievals of the signed-in owner's
// devices, printed oldest first, as GET /v1/me/retrievals returns them.
int ShowReceipts(ApiSession& session, const Settings& settings) {
  std::string query = settings.HasValue("limit") ? "?limit=" + UrlEncode(settings.Value("limit")) : "";
  auto reply = session.Call("GET", "/v1/me/retrievals" + query);
  if (!reply.ok()) return Fail(reply.status(), {{"limit", "--limit"}});
  if (settings.json) {
    std::cout << json::serialize(*reply) << "\n";
    return kExitOk;
  }

  const json::array& receipts = reply->at("retrievals").as_array();
  if (receipts.empty()) {
    std::cout << "Nobody has retrieved a recovery password of your devices.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : receipts) {
    const json::object& r = item.as_object();
    bool denied = Text(r, "outcome") == "denied";
    rows.push_back({Text(r, "time"), Text(r, "device_id"), Text(r, "actor"), Text(r, "channel"),
                    Text(r, "outcome"), denied ? "-" : Text(r, "generation")});
  }
  PrintTable({"TIME", "DEVICE", "WHO", "CHANNEL", "OUTCOME", "GENERATION"}, rows);
  return kExitOk;
}

}  // namespace escrow::ctl
