// A handler that waits (RequestContext::wait) is parked on a timer, not on a thread: with one
// server thread, other requests are answered while it waits, and it answers once ready or due.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "apexloop/runtime/http.hpp"
#include "apexloop/runtime/metrics.hpp"

namespace apexloop::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

std::pair<unsigned, std::string> get(std::uint16_t port, const std::string& target) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return {res.result_int(), res.body()};
}

TEST(Wait, AWaitingAnswerHoldsNoThreadAndAnswersWhenReadyOrDue) {
  std::atomic<bool> released{false};
  std::atomic<int> calls{0};
  Router router;
  router.add(bhttp::verb::get, "/slow", [&](const Request& req, RequestContext& ctx) {
    ++calls;
    if (!released.load()) {
      ctx.wait([&] { return released.load(); }, std::chrono::seconds(10));
      return Response{};
    }
    return json_response(req, bhttp::status::ok, R"("done")");
  });
  router.add(bhttp::verb::get, "/never", [&](const Request& req, RequestContext& ctx) {
    if (ctx.wait_expired) return problem_for(req, bhttp::status::service_unavailable, "too late");
    ctx.wait([] { return false; }, std::chrono::milliseconds(100));
    return Response{};
  });
  router.add(bhttp::verb::get, "/fast", [](const Request& req, RequestContext&) {
    return json_response(req, bhttp::status::ok, R"("fast")");
  });
  HttpMetrics metrics("test");
  ServerOptions opts;
  opts.threads = 1;
  Server server(opts, [&](const Request& req, RequestContext& ctx) { return router.dispatch(req, ctx); }, metrics);
  const auto port = server.start();

  auto slow = std::async(std::launch::async, [&] { return get(port, "/slow"); });
  while (calls.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The one server thread is free while /slow waits.
  EXPECT_EQ(get(port, "/fast"), (std::pair<unsigned, std::string>{200, R"("fast")"}));
  EXPECT_EQ(slow.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  released = true;
  EXPECT_EQ(slow.get(), (std::pair<unsigned, std::string>{200, R"("done")"}));

  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(get(port, "/never").first, 503u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  server.stop();
  server.wait();
}

}  // namespace
}  // namespace apexloop::http
