// A streamed route (StreamedRoute) gets its body piece by piece, never whole: the pieces are
// bounded, its own limit answers 413 mid-body for a chunked upload, an early answer from
// open() is sent without the body being read, and a cut-off body drops the sink unfinished.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <atomic>

#include "apexloop/runtime/http.hpp"
#include "apexloop/runtime/metrics.hpp"

namespace apexloop::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Seen {
  std::atomic<std::size_t> bytes{0};
  std::atomic<std::size_t> largest_piece{0};
  std::atomic<int> finished{0};
  std::atomic<int> dropped{0};
};

class CountingSink final : public BodySink {
 public:
  explicit CountingSink(Seen& seen) : seen_(seen) {}
  ~CountingSink() override {
    if (!finished_) ++seen_.dropped;
  }
  std::optional<Response> write(std::string_view piece) override {
    seen_.bytes += piece.size();
    if (piece.size() > seen_.largest_piece) seen_.largest_piece = piece.size();
    return std::nullopt;
  }
  Response finish(const Request& head, RequestContext& ctx) override {
    finished_ = true;
    ++seen_.finished;
    return json_response(head, bhttp::status::created,
                         "{\"bytes\":" + std::to_string(seen_.bytes.load()) + ",\"id\":\"" + ctx.params.at("id") + "\"}");
  }

 private:
  Seen& seen_;
  bool finished_ = false;
};

struct Fixture {
  Seen seen;
  Router router;
  HttpMetrics metrics{"test"};
  std::unique_ptr<Server> server;
  std::uint16_t port = 0;

  explicit Fixture(std::size_t limit) {
    router.add(bhttp::verb::post, "/up/{id}", StreamedRoute{limit, [this](const Request& head, RequestContext&)
                                                                -> std::expected<std::unique_ptr<BodySink>, Response> {
      if (head[bhttp::field::authorization] != "yes") return std::unexpected(problem_for(head, bhttp::status::unauthorized, "no"));
      return std::make_unique<CountingSink>(seen);
    }});
    router.add(bhttp::verb::post, "/small", [](const Request& req, RequestContext&) {
      return json_response(req, bhttp::status::ok, std::to_string(req.body().size()));
    });
    ServerOptions opts;
    opts.threads = 1;
    opts.body_limit = 1024;
    server = std::make_unique<Server>(opts, [this](const Request& req, RequestContext& ctx) { return router.dispatch(req, ctx); },
                                      metrics);
    server->stream_bodies([this](const Request& head, RequestContext& ctx) { return router.match_streamed(head, ctx); });
    port = server->start();
  }
  ~Fixture() {
    server->stop();
    server->wait();
  }
};

// Sends `total` bytes chunked (in 1 MiB chunks, never all in memory), answers the status.
unsigned post_chunked(std::uint16_t port, const std::string& target, std::size_t total, bool authorized) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  std::string head = "POST " + target + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n";
  if (authorized) head += "Authorization: yes\r\n";
  head += "\r\n";
  net::write(socket, net::buffer(head));
  const std::string chunk(1 << 20, 'z');
  boost::system::error_code ec;
  for (std::size_t sent = 0; sent < total && !ec;) {
    const std::size_t n = std::min(chunk.size(), total - sent);
    char size[32];
    const int len = std::snprintf(size, sizeof size, "%zx\r\n", n);
    net::write(socket, net::buffer(size, static_cast<std::size_t>(len)), ec);
    if (!ec) net::write(socket, net::buffer(chunk.data(), n), ec);
    if (!ec) net::write(socket, net::buffer("\r\n", 2), ec);
    sent += n;
  }
  if (!ec) net::write(socket, net::buffer("0\r\n\r\n", 5), ec);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res, ec);
  return ec && res.result_int() == 0 ? 0 : res.result_int();
}

TEST(StreamedBody, ArrivesInBoundedPiecesAndFinishes) {
  Fixture f(8 << 20);
  EXPECT_EQ(post_chunked(f.port, "/up/a1", 5 << 20, true), 201u);
  EXPECT_EQ(f.seen.bytes.load(), 5u << 20);
  EXPECT_LE(f.seen.largest_piece.load(), 64u * 1024);
  EXPECT_EQ(f.seen.finished.load(), 1);
  EXPECT_EQ(f.seen.dropped.load(), 0);
}

TEST(StreamedBody, OverItsOwnLimitIs413AndTheSinkIsDropped) {
  Fixture f(2 << 20);
  EXPECT_EQ(post_chunked(f.port, "/up/a1", 3 << 20, true), 413u);
  EXPECT_EQ(f.seen.finished.load(), 0);
  EXPECT_EQ(f.seen.dropped.load(), 1);
  EXPECT_LE(f.seen.bytes.load(), 2u << 20);
}

TEST(StreamedBody, ADeclaredLengthOverTheLimitIsRefusedBeforeOpening) {
  Fixture f(1 << 20);
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), f.port));
  net::write(socket, net::buffer(std::string("POST /up/a1 HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\nContent-Length: 2097152\r\n\r\n")));
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_EQ(f.seen.dropped.load() + f.seen.finished.load(), 0);
}

TEST(StreamedBody, AnEarlyAnswerFromOpenReadsNoBody) {
  Fixture f(8 << 20);
  EXPECT_EQ(post_chunked(f.port, "/up/a1", 1 << 20, false), 401u);
  EXPECT_EQ(f.seen.bytes.load(), 0u);
}

TEST(StreamedBody, OtherRoutesKeepTheServerLimit) {
  Fixture f(8 << 20);
  EXPECT_EQ(post_chunked(f.port, "/small", 4096, true), 413u);
}

}  // namespace
}  // namespace apexloop::http
