// Status and Result: the error model shared by every module.
//
// Errors travel as values. Code maps one-to-one to an HTTP status at the API
// and gateway boundary (HttpStatusOf), and message is a sentence safe to show
// to the caller: it never contains a secret.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace escrow {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // 400: malformed or out-of-range input
  kUnauthenticated,    // 401: missing or bad credentials or signature
  kPermissionDenied,   // 403: authenticated, but the role or condition is missing
  kNotFound,           // 404
  kConflict,           // 409: replayed counter, conflicting generation
  kGone,               // 410: retired device
  kFailedPrecondition, // 409: state does not allow the operation
  kTooLarge,           // 413
  kTooManyRequests,    // 429
  kUnavailable,        // 503: the ledger cannot commit
  kInternal,           // 500
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Marks a status whose failure the caller has ruled out.
  void PermitUnchecked() const {}

  // Returns the name of the code, e.g. "conflict", used as the JSON "error" field.
  const char* CodeName() const;
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

int HttpStatusOf(Code code);

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status Gone(std::string m) { return {Code::kGone, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// Result<T> contains either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace escrow

#define ESCROW_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::escrow::Status _st = (expr);            \
    if (!_st.ok()) return _st;                \
  } while (0)
