// `escrow-device fleet`: many simulated devices through their whole
// recovery password lifecycle at once, checked against the server's view.
//
// Thread safety: RunFleet starts its own worker threads and joins them
// before it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "api/http/http.h"
#include "ledger/crypto.h"

namespace escrow::device {

// A server address and how to verify its TLS certificate.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  http::ClientTls tls;
};

struct FleetOptions {
  size_t devices = 0;
  std::string id_prefix;      // devices are id_prefix-1 ... id_prefix-N
  size_t concurrency = 32;    // worker threads
  size_t drop_every = 10;     // every K-th device drops its first g2 upload; 0 = never
  bool json = false;          // summary as JSON on stdout
  Endpoint api;
  Endpoint gateway;
  std::string admin_user;
  crypto::SecretString admin_password;
  std::string os_version = "6.1.4";
  std::string client_version = "1.0";
};

// Runs the fleet, prints progress on stderr and the summary on stdout.
// Returns the process exit code: 0 when every device ended as expected.
int RunFleet(const FleetOptions& options);

}  // namespace escrow::device
