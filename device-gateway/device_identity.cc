#include "device-gateway/device_identity.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <array>
#include <boost/json.hpp>

#include "device-gateway/json_fields.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"

namespace escrow::device {
namespace {

namespace json = boost::json;

// The JSON tree of a state file contains the private key in hex, so it is built
// in this stack buffer, which is wiped afterwards. A state file is under 2 KiB.
constexpr size_t kJsonArenaBytes = 16 * 1024;
// Deepest nesting a state file has (one flat object).
constexpr size_t kStateJsonDepth = 2;

// A memory arena for JSON values that overwrites its buffer on destruction.
class WipedArena {
 public:
  WipedArena() : resource_(buffer_.data(), buffer_.size()) {}
  ~WipedArena() { OPENSSL_cleanse(buffer_.data(), buffer_.size()); }
  json::storage_ptr storage() { return json::storage_ptr(&resource_); }

 private:
  alignas(16) std::array<unsigned char, kJsonArenaBytes> buffer_{};
  json::monotonic_resource resource_;
};

Status ReadHash(const json::object& object, std::string_view prefix, PasswordHash* out) {
  auto salt = gateway::GetBase64(object, fmt::format("{}_salt", prefix), 0);
  if (!salt.ok()) return salt.status();
  auto hash = gateway::GetBase64(object, fmt::format("{}_hash", prefix), 0);
  if (!hash.ok()) return hash.status();
  out->salt = std::move(salt).value();
  out->hash = std::move(hash).value();
  return Status::Ok();
}

// Reads an optional unsigned field, keeping *out when the field is absent.
Status ReadOptionalUint(const json::object& object, std::string_view name, uint64_t* out) {
  if (!object.contains(name)) return Status::Ok();
  auto value = gateway::GetUint(object, name);
  if (!value.ok()) return value.status();
  *out = *value;
  return Status::Ok();
}

// The virtual clock fields, optional in older state files.
Status ReadClock(const json::object& object, DeviceIdentity* identity) {
  ESCROW_RETURN_IF_ERROR(ReadOptionalUint(object, "clock_ns", &identity->clock_ns));
  ESCROW_RETURN_IF_ERROR(ReadOptionalUint(object, "next_check_in_ns", &identity->next_check_in_ns));
  ESCROW_RETURN_IF_ERROR(
      ReadOptionalUint(object, "check_in_interval_s", &identity->check_in_interval_s));
  if (object.contains("fail_next_session")) {
    auto fail = gateway::GetBool(object, "fail_next_session");
    if (!fail.ok()) return fail.status();
    identity->fail_next_session = *fail;
  }
  return Status::Ok();
}

Status ReadKeys(const json::object& object, DeviceIdentity* identity) {
  auto hex = gateway::GetString(object, "private_key_hex");
  if (!hex.ok()) return hex.status();
  auto key = crypto::HexDecode(*hex);
  crypto::Cleanse(hex.value());
  if (!key.ok() || key->size() != crypto::kEd25519KeySize) {
    return InvalidArgument("field \"private_key_hex\" must be 64 hex digits");
  }
  identity->private_key = crypto::SecretString(std::move(key).value());

  auto public_key = crypto::Ed25519PublicFromPrivate(identity->private_key.view());
  if (!public_key.ok()) return public_key.status();
  identity->public_key = std::move(public_key).value();
  return Status::Ok();
}

Status ReadIdentity(const json::object& object, DeviceIdentity* identity) {
  auto format = gateway::GetUint(object, "format");
  if (!format.ok()) return format.status();
  if (*format != kIdentityFormat) {
    return InvalidArgument(fmt::format("unsupported state file format {}", *format));
  }
  auto device_id = gateway::GetString(object, "device_id");
  if (!device_id.ok()) return device_id.status();
  identity->device_id = std::move(device_id).value();
  ESCROW_RETURN_IF_ERROR(ReadKeys(object, identity));

  auto counter = gateway::GetUint(object, "counter");
  auto enrolled = gateway::GetBool(object, "enrolled");
  auto escrow_key = gateway::GetBase64(object, "escrow_public_key", 0);
  auto escrow_key_id = gateway::GetString(object, "escrow_key_id");
  auto generation = gateway::GetUint(object, "generation");
  auto armed = gateway::GetBool(object, "armed");
  auto pending_generation = gateway::GetUint(object, "pending_generation");
  auto pending_envelope = gateway::GetBase64(object, "pending_envelope", 0);
  auto installed = gateway::GetBool(object, "client_installed");
  auto os_version = gateway::GetString(object, "os_version");
  auto client_version = gateway::GetString(object, "client_version");
  for (const Status* status :
       {&counter.status(), &enrolled.status(), &escrow_key.status(), &escrow_key_id.status(),
        &generation.status(), &armed.status(), &pending_generation.status(),
        &pending_envelope.status(), &installed.status(), &os_version.status(),
        &client_version.status()}) {
    if (!status->ok()) return *status;
  }

  identity->counter = *counter;
  identity->enrolled = *enrolled;
  identity->escrow_public_key = std::move(escrow_key).value();
  identity->escrow_key_id = std::move(escrow_key_id).value();
  identity->generation = *generation;
  identity->armed = *armed;
  identity->pending.generation = *pending_generation;
  identity->pending.envelope = std::move(pending_envelope).value();
  identity->client_installed = *installed;
  identity->os_version = std::move(os_version).value();
  identity->client_version = std::move(client_version).value();
  ESCROW_RETURN_IF_ERROR(ReadClock(object, identity));
  ESCROW_RETURN_IF_ERROR(ReadHash(object, "password", &identity->password));
  return ReadHash(object, "pending", &identity->pending.password);
}

}  // namespace

DeviceIdentity NewDeviceIdentity(std::string device_id) {
  crypto::KeyPair pair = crypto::GenerateEd25519();
  DeviceIdentity identity;
  identity.device_id = std::move(device_id);
  identity.private_key = std::move(pair.private_key);
  identity.public_key = std::move(pair.public_key);
  return identity;
}

Result<DeviceIdentity> LoadDeviceIdentity(const std::string& path) {
  auto text = ledger::ReadFile(path);
  if (!text.ok()) return text.status();
  crypto::SecretString secret_text(std::move(text).value());

  WipedArena arena;
  json::parse_options options;
  options.max_depth = kStateJsonDepth;
  json::error_code ec;
  json::value value = json::parse(secret_text.view(), ec, arena.storage(), options);
  if (ec || !value.is_object()) {
    return InvalidArgument(fmt::format("state file {} is not a JSON object", path));
  }

  DeviceIdentity identity;
  Status status = ReadIdentity(value.as_object(), &identity);
  if (!status.ok()) {
    return InvalidArgument(fmt::format("state file {}: {}", path, status.message()));
  }
  return identity;
}

Status SaveDeviceIdentity(const DeviceIdentity& identity, const std::string& path) {
  WipedArena arena;
  json::object object(arena.storage());
  object["format"] = kIdentityFormat;
  object["device_id"] = identity.device_id;
  crypto::SecretString hex(crypto::HexEncode(identity.private_key.view()));
  object["private_key_hex"] = hex.view();
  object["public_key"] = crypto::Base64Encode(identity.public_key);
  object["counter"] = identity.counter;
  object["enrolled"] = identity.enrolled;
  object["escrow_public_key"] = crypto::Base64Encode(identity.escrow_public_key);
  object["escrow_key_id"] = identity.escrow_key_id;
  object["generation"] = identity.generation;
  object["armed"] = identity.armed;
  object["password_salt"] = crypto::Base64Encode(identity.password.salt);
  object["password_hash"] = crypto::Base64Encode(identity.password.hash);
  object["pending_generation"] = identity.pending.generation;
  object["pending_envelope"] = crypto::Base64Encode(identity.pending.envelope);
  object["pending_salt"] = crypto::Base64Encode(identity.pending.password.salt);
  object["pending_hash"] = crypto::Base64Encode(identity.pending.password.hash);
  object["client_installed"] = identity.client_installed;
  object["os_version"] = identity.os_version;
  object["client_version"] = identity.client_version;
  object["clock_ns"] = identity.clock_ns;
  object["next_check_in_ns"] = identity.next_check_in_ns;
  object["check_in_interval_s"] = identity.check_in_interval_s;
  object["fail_next_session"] = identity.fail_next_session;

  crypto::SecretString text(json::serialize(object));
  text.mutable_str() += '\n';
  return ledger::WriteSecretFile(path, text.view());
}

Result<PasswordHash> HashRecoveryPassword(std::string_view digits) {
  PasswordHash out;
  out.salt = crypto::RandomBytes(kScryptSaltSize);
  auto hash = crypto::Scrypt(digits, out.salt, kScryptN, kScryptR, kScryptP, kScryptHashSize);
  if (!hash.ok()) return hash.status();
  out.hash = hash->str();
  return out;
}

Result<bool> MatchesRecoveryPassword(const PasswordHash& expected, std::string_view input) {
  if (expected.empty()) return FailedPrecondition("this device holds no recovery password");
  auto digits = ledger::ParseRecoveryPassword(input);
  if (!digits.ok()) return digits.status();

  auto hash = crypto::Scrypt(digits->view(), expected.salt, kScryptN, kScryptR, kScryptP,
                             kScryptHashSize);
  if (!hash.ok()) return hash.status();
  return crypto::ConstantTimeEqual(hash->view(), expected.hash);
}

}  // namespace escrow::device
