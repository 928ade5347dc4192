// Recovery password envelope, escrow key wrapping and password formatting.
#include <catch2/catch.hpp>

#include <map>

#include "ledger/crypto.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"

using namespace escrow;
using namespace escrow::ledger;

namespace {

struct Fixture {
  MasterKey master = MasterKey::FromBytes(crypto::SecretString(crypto::RandomBytes(32)));
  EscrowKey escrow = CreateEscrowKey(master).value();
  crypto::SecretString priv = UnwrapEscrowKey(master, escrow.key_id, escrow.wrapped_private).value();
};

}  // namespace

TEST_CASE("envelope round trip") {
  Fixture f;
  std::string digits = "01234567890123456789";
  auto env = SealRecoveryPassword(f.escrow.public_key, "dev-1", 3, digits);
  REQUIRE(env.ok());
  CHECK(env->size() == kEnvelopeSize);
  CHECK(env->at(0) == 1);
  CHECK(env->find(digits) == std::string::npos);
  auto opened = OpenRecoveryPassword(f.priv.view(), "dev-1", 3, *env);
  REQUIRE(opened.ok());
  CHECK(opened->str() == digits);
}

TEST_CASE("envelope fails on wrong key or swapped AAD") {
  Fixture f;
  auto env = SealRecoveryPassword(f.escrow.public_key, "dev-1", 3, "11111222223333344444").value();

  SECTION("another device's escrow key") {
    Fixture other;
    auto r = OpenRecoveryPassword(other.priv.view(), "dev-1", 3, env);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnauthenticated);
  }
  SECTION("other device id") {
    CHECK(OpenRecoveryPassword(f.priv.view(), "dev-2", 3, env).status().code() ==
          Code::kUnauthenticated);
  }
  SECTION("other generation") {
    CHECK(OpenRecoveryPassword(f.priv.view(), "dev-1", 4, env).status().code() ==
          Code::kUnauthenticated);
  }
  SECTION("one ciphertext bit flipped") {
    env[50] ^= 1;
    CHECK_FALSE(OpenRecoveryPassword(f.priv.view(), "dev-1", 3, env).ok());
  }
  SECTION("bad shape") {
    CHECK(CheckEnvelopeShape(env.substr(1)).code() == Code::kInvalidArgument);
    env[0] = 9;
    CHECK(CheckEnvelopeShape(env).message() == "unsupported envelope version 9");
  }
}

TEST_CASE("escrow key unwrap needs the right master key and id") {
  Fixture f;
  MasterKey other = MasterKey::FromBytes(crypto::SecretString(crypto::RandomBytes(32)));
  CHECK_FALSE(UnwrapEscrowKey(other, f.escrow.key_id, f.escrow.wrapped_private).ok());
  CHECK_FALSE(UnwrapEscrowKey(f.master, "x25519:0000000000000000", f.escrow.wrapped_private).ok());
  CHECK(crypto::X25519PublicFromPrivate(f.priv.view()).value() == f.escrow.public_key);
}

TEST_CASE("seal rejects anything but 20 digits") {
  Fixture f;
  CHECK_FALSE(SealRecoveryPassword(f.escrow.public_key, "d", 1, "123").ok());
  CHECK_FALSE(SealRecoveryPassword(f.escrow.public_key, "d", 1, "1234567890123456789a").ok());
}

TEST_CASE("recovery password format and parse") {
  CHECK(FormatRecoveryPassword("12345678901234567890").str() == "12345-67890-12345-67890");
  CHECK(ParseRecoveryPassword("12345-67890-12345-67890").value().str() == "12345678901234567890");
  CHECK(ParseRecoveryPassword("12345 67890 12345 67890").value().str() == "12345678901234567890");
  CHECK(ParseRecoveryPassword("12345678901234567890").value().str() == "12345678901234567890");
  CHECK_FALSE(ParseRecoveryPassword("1234567890123456789").ok());
  CHECK_FALSE(ParseRecoveryPassword("12345-67890-12345-6789x").ok());
}

TEST_CASE("random digits are uniform enough and 20 long") {
  std::map<char, int> counts;
  for (int i = 0; i < 500; i++) {
    auto d = crypto::RandomDigits(20);
    REQUIRE(d.size() == 20);
    for (char c : d.str()) counts[c]++;
  }
  REQUIRE(counts.size() == 10);
  // 10,000 digits: each digit's count is 1,000 on average; 800 is > 6 sigma below.
  for (const auto& [digit, n] : counts) CHECK(n > 800);
}

TEST_CASE("base64 and hex round trips") {
  std::string bytes = crypto::RandomBytes(33);
  CHECK(crypto::Base64Decode(crypto::Base64Encode(bytes)).value() == bytes);
  CHECK(crypto::HexDecode(crypto::HexEncode(bytes)).value() == bytes);
  CHECK(crypto::Base64Decode("YWJj").value() == "abc");
  CHECK(crypto::Base64Decode("YWI=").value() == "ab");
  CHECK_FALSE(crypto::Base64Decode("YW!=").ok());
  CHECK_FALSE(crypto::HexDecode("0g").ok());
}
