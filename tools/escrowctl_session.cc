// escrowctl: the API session, password prompt and output helpers.
#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>

#include "tools/escrowctl_common.h"

#include <fmt/format.h>

namespace escrow::ctl {

namespace json = boost::json;

namespace {

Status StatusFromReply(const http::Response& response) {
  std::string message;
  boost::system::error_code ec;
  json::value parsed = json::parse(response.body, ec);
  if (!ec && parsed.is_object() && parsed.as_object().contains("message")) {
    message = Text(parsed.as_object(), "message");
  } else {
    message = "the server returned HTTP " + std::to_string(response.status);
  }
  Code code = Code::kInternal;
  switch (response.status) {
    case 400: code = Code::kInvalidArgument; break;
    case 401: code = Code::kUnauthenticated; break;
    case 403: code = Code::kPermissionDenied; break;
    case 404: code = Code::kNotFound; break;
    case 409: code = Code::kConflict; break;
    case 410: code = Code::kGone; break;
    case 503: code = Code::kUnavailable; break;
    default: break;
  }
  return Status(code, message);
}

Result<json::object> ParseReply(const http::Response& response) {
  if (response.status < 200 || response.status > 299) return StatusFromReply(response);
  boost::system::error_code ec;
  json::value parsed = json::parse(response.body, ec);
  if (ec || !parsed.is_object()) return Internal("the server's reply is not a JSON object");
  return std::move(parsed.as_object());
}

}  // namespace

Result<std::unique_ptr<ApiSession>> ApiSession::Open(const Settings& settings) {
  // Step 1: connect.
  auto address = http::ParseHostPort(settings.server);
  if (!address.ok()) return address.status();
  http::Client client(address->first, address->second,
                      std::chrono::milliseconds(kRequestTimeoutMs),
                      http::ClientTls::WithCaFile(settings.ca_file));

  // Step 2: log in. The body contains the password, so it is wiped after sending.
  json::object credentials;
  credentials["username"] = settings.user;
  credentials["password"] = settings.password.value_or("");
  crypto::SecretString body(json::serialize(credentials));
  json::string& in_object = credentials["password"].as_string();
  OPENSSL_cleanse(in_object.data(), in_object.size());
  auto response = client.Send("POST", "/v1/sessions", body.str());
  if (!response.ok()) return response.status();
  auto reply = ParseReply(*response);
  crypto::Cleanse(response->body);
  if (!reply.ok()) return reply.status();

  auto token = reply->find("token");
  if (token == reply->end() || !token->value().is_string()) {
    return Internal("the login reply has no token");
  }
  crypto::SecretString token_text(std::string(token->value().as_string()));
  json::string& token_in_object = token->value().as_string();
  OPENSSL_cleanse(token_in_object.data(), token_in_object.size());
  return std::unique_ptr<ApiSession>(new ApiSession(std::move(client), std::move(token_text)));
}

ApiSession::~ApiSession() {
  // Best effort: an expired or revoked session needs no logout.
  (void)Call("DELETE", "/v1/sessions");
}

Result<json::object> ApiSession::Call(const std::string& method, const std::string& target,
                                      const std::string& body) {
  std::map<std::string, std::string> headers;
  headers["Authorization"] = "Bearer " + token_.str();
  auto response = client_.Send(method, target, body, headers);
  crypto::Cleanse(headers["Authorization"]);
  if (!response.ok()) return response.status();
  auto reply = ParseReply(*response);
  crypto::Cleanse(response->body);
  return reply;
}

Result<http::Response> ApiSession::CallRaw(const std::string& method,
                                           const std::string& target) {
  std::map<std::string, std::string> headers;
  headers["Authorization"] = "Bearer " + token_.str();
  auto response = client_.Send(method, target, "", headers);
  crypto::Cleanse(headers["Authorization"]);
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status > 299) return StatusFromReply(*response);
  return response;
}

Result<crypto::SecretString> PromptPassword(const std::string& prompt) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return InvalidArgument("no terminal to ask for the password");
  int fd = fileno(tty);
  termios saved{};
  bool restore = tcgetattr(fd, &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::fputs(prompt.c_str(), tty);
  std::fflush(tty);

  crypto::SecretString password;
  for (int c = std::fgetc(tty); c != EOF && c != '\n'; c = std::fgetc(tty)) {
    password.mutable_str().push_back(static_cast<char>(c));
  }
  if (restore) tcsetattr(fd, TCSAFLUSH, &saved);
  std::fputs("\n", tty);
  std::fclose(tty);
  return password;
}

std::string UrlEncode(const std::string& value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

namespace {

// Replaces control characters with \xNN, so no cell can start a new row.
std::string EscapeCell(const std::string& cell) {
  std::string out;
  for (unsigned char c : cell) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& raw_rows) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& raw : raw_rows) {
    std::vector<std::string> row;
    for (const auto& cell : raw) row.push_back(EscapeCell(cell));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

namespace {

void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

std::string WithFlagNames(std::string message, const FlagNames& names) {
  // Quoted names first, so that the bare-name pass finds no quoted ones.
  for (const auto& [api_name, flag] : names) {
    ReplaceAll(message, "field \"" + api_name + "\"", flag);
    ReplaceAll(message, "query parameter \"" + api_name + "\"", flag);
  }
  for (const auto& [api_name, flag] : names) {
    if (api_name.find('_') != std::string::npos) ReplaceAll(message, api_name, flag);
  }
  return message;
}

std::string Text(const json::object& object, const std::string& key) {
  auto it = object.find(key);
  if (it == object.end()) return "";
  const json::value& v = it->value();
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_bool()) return v.as_bool() ? "yes" : "no";
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_null()) return "";
  return json::serialize(v);
}

}  // namespace escrow::ctl
