// The bootstrap admin account and base64url helpers; SessionManager is in
// api/session_manager.cc.
#include "api/auth.h"

#include <cstdlib>

#include "ledger/log.h"
#include "projections/queries.h"

namespace escrow::api {
namespace {

constexpr std::string_view kPasswordAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

crypto::SecretString GeneratePassword() {
  // 248 = 4 * 62: bytes at or above it are rejected, so every character is equally likely.
  constexpr unsigned kRejectFrom = 248;
  crypto::SecretString out;
  while (out.size() < kGeneratedPasswordLength) {
    crypto::SecretString random(crypto::RandomBytes(kGeneratedPasswordLength));
    for (unsigned char c : random.str()) {
      if (c >= kRejectFrom || out.size() == kGeneratedPasswordLength) continue;
      out.mutable_str().push_back(kPasswordAlphabet[c % kPasswordAlphabet.size()]);
    }
  }
  return out;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string text = crypto::Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  crypto::SecretString standard_secret;  // wiped on every return
  std::string& standard = standard_secret.mutable_str();
  standard.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '+' || c == '/' || c == '=') return InvalidArgument("invalid base64url character");
    if (c == '-') c = '+';
    if (c == '_') c = '/';
    standard.push_back(c);
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  return crypto::Base64Decode(standard);
}

Principal SystemPrincipal() {
  return Principal{"system",
                   {std::string(projections::kRoleAdmin), std::string(projections::kRoleAuditor),
                    std::string(projections::kRoleHelpdesk), std::string(projections::kRoleUser)}};
}

Result<std::optional<std::string>> EnsureBootstrapAdmin(ledger::Store* store,
                                                        projections::EscrowService* service,
                                                        uint64_t password_log_n) {
  // Step 1: nothing to do when the account exists.
  auto existing = projections::GetAccount(*store, kBootstrapAdminName);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return std::optional<std::string>();

  // Step 2: take the password from the environment, or generate one.
  const char* from_env = std::getenv(std::string(kAdminPasswordEnv).c_str());
  bool generated = from_env == nullptr || *from_env == '\0';
  crypto::SecretString password = generated ? GeneratePassword() : crypto::SecretString(from_env);
  if (password.size() < kMinPasswordLength || password.size() > kMaxPasswordLength) {
    return InvalidArgument(std::string(kAdminPasswordEnv) + " must be " +
                           std::to_string(kMinPasswordLength) + " to " +
                           std::to_string(kMaxPasswordLength) + " bytes long");
  }

  // Step 3: create the account through the ledger.
  std::vector<std::string> roles = {std::string(projections::kRoleAdmin),
                                    std::string(projections::kRoleAuditor),
                                    std::string(projections::kRoleHelpdesk)};
  ESCROW_RETURN_IF_ERROR(service->CreateAccount(SystemPrincipal(),
                                                std::string(kBootstrapAdminName), roles,
                                                "Administrator",
                                                HashPassword(password.view(), password_log_n)));
  Logger("api")->info("created bootstrap account {} (password from {})", kBootstrapAdminName,
                      generated ? "generator" : kAdminPasswordEnv);
  if (!generated) return std::optional<std::string>();
  return std::optional<std::string>(password.str());
}

}  // namespace escrow::api
