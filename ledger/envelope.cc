#include "ledger/envelope.h"

namespace escrow::ledger {
namespace {

constexpr std::string_view kHkdfInfoPrefix = "recovery-password v1";
constexpr std::string_view kEscrowKeyAadPrefix = "escrow-key v1";

std::string GenerationBytes(uint64_t generation) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(generation >> shift));
  return out;
}

std::string Aad(std::string_view device_id, uint64_t generation) {
  return std::string(device_id) + GenerationBytes(generation);
}

Result<crypto::SecretString> DeriveKey(std::string_view shared, std::string_view eph_pub,
                                       std::string_view escrow_pub, std::string_view device_id,
                                       uint64_t generation) {
  std::string salt = std::string(eph_pub) + std::string(escrow_pub);
  std::string info = std::string(kHkdfInfoPrefix) + Aad(device_id, generation);
  return crypto::HkdfSha256(shared, salt, info, crypto::kAesKeySize);
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

Result<std::string> SealRecoveryPassword(std::string_view escrow_public_key,
                                         std::string_view device_id, uint64_t generation,
                                         std::string_view digits) {
  if (digits.size() != kRecoveryPasswordDigits || !AllDigits(digits)) {
    return InvalidArgument("a recovery password is exactly 20 decimal digits");
  }
  crypto::KeyPair eph = crypto::GenerateX25519();
  auto shared = crypto::X25519(eph.private_key.view(), escrow_public_key);
  if (!shared.ok()) return shared.status();
  auto key = DeriveKey(shared->view(), eph.public_key, escrow_public_key, device_id, generation);
  if (!key.ok()) return key.status();
  std::string nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
  auto sealed = crypto::Aes256GcmSeal(key->view(), nonce, Aad(device_id, generation), digits);
  if (!sealed.ok()) return sealed.status();

  std::string envelope;
  envelope.reserve(kEnvelopeSize);
  envelope.push_back(static_cast<char>(kEnvelopeVersion));
  envelope.append(eph.public_key);
  envelope.append(nonce);
  envelope.append(*sealed);
  return envelope;
}

Status CheckEnvelopeShape(std::string_view envelope) {
  if (envelope.size() != kEnvelopeSize) {
    return InvalidArgument("envelope must be " + std::to_string(kEnvelopeSize) + " bytes, got " +
                           std::to_string(envelope.size()));
  }
  if (static_cast<uint8_t>(envelope[0]) != kEnvelopeVersion) {
    return InvalidArgument("unsupported envelope version " +
                           std::to_string(static_cast<uint8_t>(envelope[0])));
  }
  return Status::Ok();
}

Result<crypto::SecretString> OpenRecoveryPassword(std::string_view escrow_private_key,
                                                  std::string_view device_id,
                                                  uint64_t generation,
                                                  std::string_view envelope) {
  ESCROW_RETURN_IF_ERROR(CheckEnvelopeShape(envelope));
  std::string_view eph_pub = envelope.substr(1, crypto::kX25519KeySize);
  std::string_view nonce = envelope.substr(1 + crypto::kX25519KeySize, crypto::kGcmNonceSize);
  std::string_view sealed = envelope.substr(1 + crypto::kX25519KeySize + crypto::kGcmNonceSize);

  auto escrow_pub = crypto::X25519PublicFromPrivate(escrow_private_key);
  if (!escrow_pub.ok()) return escrow_pub.status();
  auto shared = crypto::X25519(escrow_private_key, eph_pub);
  if (!shared.ok()) return shared.status();
  auto key = DeriveKey(shared->view(), eph_pub, *escrow_pub, device_id, generation);
  if (!key.ok()) return key.status();
  auto digits = crypto::Aes256GcmOpen(key->view(), nonce, Aad(device_id, generation), sealed);
  if (!digits.ok()) {
    return Unauthenticated("envelope does not open with this device's escrow key");
  }
  if (digits->size() != kRecoveryPasswordDigits || !AllDigits(digits->view())) {
    return InvalidArgument("envelope does not contain a 20-digit recovery password");
  }
  return std::move(*digits);
}

crypto::SecretString FormatRecoveryPassword(std::string_view digits) {
  crypto::SecretString out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && i % 5 == 0) out.mutable_str().push_back('-');
    out.mutable_str().push_back(digits[i]);
  }
  return out;
}

Result<crypto::SecretString> ParseRecoveryPassword(std::string_view input) {
  crypto::SecretString digits;
  for (char c : input) {
    if (c == '-' || c == ' ') continue;
    if (c < '0' || c > '9') {
      return InvalidArgument("a recovery password contains only digits, '-' and spaces");
    }
    digits.mutable_str().push_back(c);
  }
  if (digits.size() != kRecoveryPasswordDigits) {
    return InvalidArgument("a recovery password has exactly 20 digits");
  }
  return digits;
}

Result<EscrowKey> CreateEscrowKey(const MasterKey& master) {
  crypto::KeyPair pair = crypto::GenerateX25519();
  EscrowKey key;
  key.public_key = pair.public_key;
  key.key_id = "x25519:" + crypto::HexEncode(crypto::Sha256(pair.public_key).substr(0, 8));
  auto wrapped =
      master.Wrap(std::string(kEscrowKeyAadPrefix) + key.key_id, pair.private_key.view());
  if (!wrapped.ok()) return wrapped.status();
  key.wrapped_private = std::move(*wrapped);
  return key;
}

Result<crypto::SecretString> UnwrapEscrowKey(const MasterKey& master, std::string_view key_id,
                                             std::string_view wrapped_private) {
  return master.Unwrap(std::string(kEscrowKeyAadPrefix) + std::string(key_id), wrapped_private);
}

}  // namespace escrow::ledger
