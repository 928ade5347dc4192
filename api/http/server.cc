// Server: the acceptor, the I/O threads and the shared ServerContext.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/ssl.hpp>

#include <mutex>
#include <thread>
#include <vector>

#include "api/http/http.h"
#include "api/http/server_context.h"
#include "api/http/session.h"
#include "api/http/tls.h"
#include "ledger/log.h"

namespace escrow::http {
namespace net = boost::asio;
using tcp = net::ip::tcp;
using internal::ServerContext;

namespace {

// Delay before accepting again after accept failed (for example with EMFILE),
// so that a persistent failure does not spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

using PlainSession = internal::Session<boost::beast::tcp_stream>;
using TlsSession = internal::Session<boost::beast::ssl_stream<boost::beast::tcp_stream>>;

}  // namespace

// --- ServerContext ---

namespace internal {

ServerContext::ServerContext(std::string name, Handler handler, ServerLimits limits)
    : name_(std::move(name)),
      handler_(std::move(handler)),
      limits_(limits),
      log_(Logger(name_)),
      workers_(static_cast<size_t>(std::max(1, limits.worker_threads))) {}

std::optional<uint64_t> ServerContext::Register(std::weak_ptr<SessionBase> session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return std::nullopt;
  uint64_t id = next_id_++;
  sessions_.emplace(id, std::move(session));
  return id;
}

void ServerContext::Unregister(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  sessions_.erase(id);
}

void ServerContext::CloseAll() {
  // Collect first: Close must not run under mutex_, because a session's
  // destructor calls Unregister.
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (auto& [id, weak] : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (auto& session : open) session->Close();
}

bool ServerContext::TryAdmit() {
  size_t open = admitted_.load();
  while (open < limits_.max_connections) {
    if (admitted_.compare_exchange_weak(open, open + 1)) return true;
  }
  return false;
}

void ServerContext::Release() { admitted_.fetch_sub(1); }

Response RunHandler(const Handler& handler, const Request& request,
                    const std::string& server_name) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    Logger("http")->error("{}: handler for {} {} threw: {}", server_name, request.method,
                          request.path, e.what());
  } catch (...) {
    Logger("http")->error("{}: handler for {} {} threw a non-standard exception", server_name,
                          request.method, request.path);
  }
  return ErrorResponse(500, "internal", "internal error");
}

}  // namespace internal

// --- Server ---

// Thread safety: acceptor and retry_timer belong to the acceptor strand.
// threads, listening and stopped are guarded by lifecycle_mutex, which Listen
// and Stop hold throughout.
struct Server::Impl {
  Impl(std::string name, Handler handler, ServerLimits limits)
      : context(std::make_shared<ServerContext>(std::move(name), std::move(handler), limits)),
        acceptor_strand(net::make_strand(io)),
        acceptor(acceptor_strand),
        retry_timer(acceptor_strand) {}

  Status Bind(const std::string& host, uint16_t port);
  void DoAccept();
  void OnAccept(boost::beast::error_code ec, tcp::socket socket);

  net::io_context io;
  std::shared_ptr<ServerContext> context;
  net::strand<net::io_context::executor_type> acceptor_strand;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::atomic<uint16_t> bound_port{0};
  // Set by UseTls before Listen, then read-only.
  std::shared_ptr<net::ssl::context> tls;
  std::mutex lifecycle_mutex;
  std::vector<std::thread> threads;  // GUARDED_BY(lifecycle_mutex)
  bool listening = false;            // GUARDED_BY(lifecycle_mutex)
  bool stopped = false;              // GUARDED_BY(lifecycle_mutex)
};

Status Server::Impl::Bind(const std::string& host, uint16_t port) {
  // Resolve: numeric addresses and names such as "localhost".
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, std::to_string(port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return InvalidArgument("cannot resolve listen host \"" + host + "\": " + ec.message());
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();

  // Open, bind and listen.
  const std::string where = host + ":" + std::to_string(port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string reason = ec.message();  // close() below overwrites ec
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return Unavailable("cannot listen on " + where + ": " + reason);
  }
  bound_port = acceptor.local_endpoint().port();
  return Status::Ok();
}

void Server::Impl::DoAccept() {
  acceptor.async_accept(net::make_strand(io), [this](boost::beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void Server::Impl::OnAccept(boost::beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    context->log().warn("accept failed: {}; retrying", ec.message());
    retry_timer.expires_after(kAcceptRetryDelay);
    retry_timer.async_wait([this](boost::beast::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open()) DoAccept();
    });
    return;
  }

  // Start a session; beyond max_connections it only sends 503.
  context->CountConnection();
  boost::system::error_code peer_ec;
  auto peer = socket.remote_endpoint(peer_ec);
  std::string remote = peer_ec ? std::string("unknown") : peer.address().to_string();
  bool admitted = context->TryAdmit();
  if (tls) {
    auto session = std::make_shared<TlsSession>(
        boost::beast::ssl_stream<boost::beast::tcp_stream>(std::move(socket), *tls), context,
        admitted, std::move(remote));
    session->Start();
  } else {
    auto session = std::make_shared<PlainSession>(boost::beast::tcp_stream(std::move(socket)),
                                                  context, admitted, std::move(remote));
    session->Start();
  }
  DoAccept();
}

Server::Server(std::string name, Handler handler, ServerLimits limits)
    : impl_(std::make_unique<Impl>(std::move(name), std::move(handler), limits)) {}

Server::~Server() { Stop(); }

Status Server::UseTls(const ServerTls& tls) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mutex);
  if (impl_->listening || impl_->stopped) {
    return FailedPrecondition("server \"" + impl_->context->name() +
                              "\" cannot switch to TLS after it started");
  }
  auto context = MakeServerContext(tls);
  if (!context.ok()) return context.status();
  impl_->tls = std::move(context).value();
  return Status::Ok();
}

Status Server::Listen(const std::string& host, uint16_t port) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mutex);
  if (impl_->listening || impl_->stopped) {
    return FailedPrecondition("server \"" + impl_->context->name() + "\" was already started");
  }
  ESCROW_RETURN_IF_ERROR(impl_->Bind(host, port));
  impl_->listening = true;

  // Accept on the acceptor strand, then start the I/O threads. They return
  // when the io_context has no more work, which Stop arranges.
  net::dispatch(impl_->acceptor_strand, [impl = impl_.get()] { impl->DoAccept(); });
  int io_threads = std::max(1, impl_->context->limits().io_threads);
  for (int i = 0; i < io_threads; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->io.run(); });
  }
  impl_->context->log().info("listening on {}:{} with {} ({} I/O threads, {} worker threads)",
                             host, this->port(), impl_->tls ? "TLS" : "plain HTTP", io_threads,
                             impl_->context->limits().worker_threads);
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->bound_port.load(); }

void Server::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->listening) {
    impl_->context->workers().join();
    return;
  }

  // Stop accepting and close every session on its own strand.
  net::post(impl_->acceptor_strand, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry_timer.cancel();
  });
  impl_->context->CloseAll();

  // Wait for running handlers, then for the I/O threads to run out of work.
  impl_->context->workers().join();
  for (auto& thread : impl_->threads) thread.join();
  impl_->threads.clear();
  impl_->context->log().info("stopped after {} responses", requests_served());
}

uint64_t Server::requests_served() const { return impl_->context->requests_served(); }

uint64_t Server::connections_accepted() const { return impl_->context->connections_accepted(); }

}  // namespace escrow::http
