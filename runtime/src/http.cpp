#include "apexloop/runtime/http.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <spdlog/spdlog.h>

#include "apexloop/runtime/rate_limit.hpp"

#include <array>
#include <cstdio>
#include <limits>
#include <thread>

namespace apexloop::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

// One connection: read a header, vet it, read the body, answer, repeat while keep-alive holds.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const ServerOptions& opts, const Handler& handler, const StreamMatcher& streamed,
          HttpMetrics& metrics, RateLimiter& limiter, net::thread_pool& blocking)
      : stream_(std::move(socket)), opts_(opts), handler_(handler), streamed_(streamed), metrics_(metrics),
        limiter_(limiter), blocking_(blocking) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ip_ = ep.address().to_string();
  }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts_.header_limit));
    // Which limit applies is known only once the route is (a streamed route has its own), so
    // the declared length is checked in on_header and the parser's limit set there.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(first_ ? opts_.header_timeout : opts_.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    first_ = false;
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return close();
    }
    if (ec == bhttp::error::header_limit) {
      return reply_error(bhttp::status::request_header_fields_too_large, "the request headers are too large");
    }
    // A declared Content-Length over the limit is caught with the header, before any body is read.
    if (ec == bhttp::error::body_limit) {
      return reply_error(bhttp::status::payload_too_large, "the request body is too large");
    }
    if (ec) return reply_error(bhttp::status::bad_request, "the request could not be parsed");
    const auto& h = parser_->get();
    // Boost 1.74's parser accepts both framing headers at once; a proxy in front may pick the
    // other one, which is how request smuggling works. Refuse the ambiguity outright.
    if (h.count(bhttp::field::content_length) > 0 && h.count(bhttp::field::transfer_encoding) > 0) {
      return reply_error(bhttp::status::bad_request,
                         "a request may not carry both Content-Length and Transfer-Encoding");
    }
    if (h.count(bhttp::field::content_length) > 1) {
      return reply_error(bhttp::status::bad_request, "more than one Content-Length");
    }
    ctx_ = RequestContext{};
    ctx_.remote_ip = remote_ip_;
    const StreamedRoute* streamed = streamed_ ? streamed_(h, ctx_) : nullptr;
    const std::size_t limit = streamed != nullptr ? streamed->body_limit : opts_.body_limit;
    if (parser_->content_length() && *parser_->content_length() > limit) {
      return reply_error(bhttp::status::payload_too_large, "the request body is too large");
    }
    parser_->body_limit(limit);
    // Before any body is read or any handler (an Argon2id hash, a Kafka append) runs.
    if (limiter_.enabled()) {
      const auto xff = h["X-Forwarded-For"];
      const std::string client =
          client_address(remote_ip_, std::string_view(xff.data(), xff.size()), opts_.trusted_proxies);
      if (auto wait = limiter_.admit(client, std::chrono::steady_clock::now())) {
        return reply_error(bhttp::status::too_many_requests, "too many requests from your address; slow down", *wait);
      }
    }
    if (streamed != nullptr) return open_stream(*streamed);
    if (parser_->is_done()) return handle();
    // A client that asked to be told before sending its body (curl does above 1 KiB) would
    // otherwise wait a second for the 100 that never comes.
    continue_then(&Session::read_body);
  }

  // Sends `100 Continue` first when the client waits for it, then reads the body with `next`.
  void continue_then(void (Session::*next)()) {
    if (beast::iequals(request_expect(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(opts_.write_timeout);
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this(), next](beast::error_code ec, std::size_t) {
                         if (ec) return self->close();
                         ((*self).*next)();
                       });
      return;
    }
    (this->*next)();
  }

  std::string_view request_expect() const {
    const auto v = parser_ ? parser_->get()[bhttp::field::expect] : request_[bhttp::field::expect];
    return std::string_view(v.data(), v.size());
  }

  // ---- a streamed body (StreamedRoute): piece by piece into the route's sink ----

  void open_stream(const StreamedRoute& route) {
    request_ = parser_->get();  // the head; its body is not read yet
    started_ = std::chrono::steady_clock::now();
    std::expected<std::unique_ptr<BodySink>, Response> sink = std::unexpected(Response{});
    try {
      sink = route.open(request_, ctx_);
    } catch (const std::exception& e) {
      spdlog::error("event=handler_exception route={} what=\"{}\"", ctx_.route, e.what());
      sink = std::unexpected(problem_for(request_, bhttp::status::internal_server_error, "the server failed to answer"));
    }
    if (!sink) return answer_early(std::move(sink.error()));
    sink_ = std::move(*sink);
    if (parser_->is_done()) return finish_stream();  // an empty body
    body_parser_.emplace(std::move(*parser_));
    parser_.reset();
    stream_deadline_ = std::chrono::steady_clock::now() + opts_.stream_body_timeout;
    piece_.resize(kPieceBytes);
    // The sink is dropped with the session if the connection ends first.
    continue_then(&Session::read_piece);
  }

  void read_piece() {
    auto& body = body_parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    body.more = true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= stream_deadline_) return abort_stream();
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(opts_.body_timeout, stream_deadline_ - now));
    bhttp::async_read(stream_, buffer_, *body_parser_, beast::bind_front_handler(&Session::on_piece, shared_from_this()));
  }

  void on_piece(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::need_buffer) ec = {};  // the piece is full: hand it on, read the next
    const std::size_t got = piece_.size() - body_parser_->get().body().size;
    if (got > 0 && !ec) {
      std::optional<Response> stop;
      try {
        stop = sink_->write(std::string_view(piece_.data(), got));
      } catch (const std::exception& e) {
        spdlog::error("event=handler_exception route={} what=\"{}\"", ctx_.route, e.what());
        stop = problem_for(request_, bhttp::status::internal_server_error, "the server failed to answer");
      }
      if (stop) {
        end_stream();
        return answer_early(std::move(*stop));
      }
    }
    if (ec == bhttp::error::body_limit) {
      end_stream();
      return reply_error(bhttp::status::payload_too_large, "the request body is too large");
    }
    if (ec == beast::error::timeout || ec == net::error::eof || ec == net::error::connection_reset) return abort_stream();
    if (ec) {
      end_stream();
      return reply_error(bhttp::status::bad_request, "the request body could not be read");
    }
    if (body_parser_->is_done()) return finish_stream();
    read_piece();
  }

  void finish_stream() {
    auto sink = std::move(sink_);
    body_parser_.reset();
    piece_ = {};
    Response res;
    try {
      res = sink->finish(request_, ctx_);
    } catch (const std::exception& e) {
      spdlog::error("event=handler_exception route={} what=\"{}\"", ctx_.route, e.what());
      res = problem_for(request_, bhttp::status::internal_server_error, "the server failed to answer");
    }
    sink.reset();
    send(std::move(res));
  }

  // Drops the sink (which undoes what it kept) and the streaming state.
  void end_stream() {
    sink_.reset();
    body_parser_.reset();
    piece_ = {};
  }

  void abort_stream() {
    end_stream();
    close();
  }

  // An answer before the whole body was read: sent, then the rest of the body is drained.
  void answer_early(Response res) {
    res.set(bhttp::field::server, "apexloop");
    res.keep_alive(false);
    res.prepare_payload();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    metrics_.observe(std::string(request_.method_string()), ctx_.route, res.result_int(), secs);
    request_ = {};
    write(std::move(res), true, true);
  }

  void read_body() {
    stream_.expires_after(opts_.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) {
      return reply_error(bhttp::status::payload_too_large, "the request body is too large");
    }
    if (ec == beast::error::timeout || ec == net::error::eof || ec == net::error::connection_reset) {
      return close();
    }
    if (ec) return reply_error(bhttp::status::bad_request, "the request body could not be read");
    handle();
  }

  void handle() {
    request_ = parser_->release();
    ctx_ = RequestContext{};
    ctx_.remote_ip = remote_ip_;
    started_ = std::chrono::steady_clock::now();
    answer();
  }

  // Calls the handler; an answer that must wait (RequestContext::wait) is polled on a timer.
  void answer() {
    Response res;
    ctx_.waiting = false;
    try {
      res = handler_(request_, ctx_);
    } catch (const std::exception& e) {
      // A handler bug must not take the service down with it; answer 500 and log it.
      spdlog::error("event=handler_exception route={} what=\"{}\"", ctx_.route, e.what());
      res = problem_for(request_, bhttp::status::internal_server_error, "the server failed to answer");
      ctx_.waiting = false;
    }
    if (ctx_.waiting && !ctx_.wait_expired) return wait_then_answer();
    if (ctx_.waiting) {  // a handler that waits again after its wait expired: stop here
      res = problem_for(request_, bhttp::status::service_unavailable, "not ready; retry");
    }
    res.set(bhttp::field::server, "apexloop");
    if (ctx_.stream && res.result() == bhttp::status::ok) {
      // Measured to the first byte: a stream lasts as long as the client reads.
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      metrics_.observe(std::string(request_.method_string()), ctx_.route, res.result_int(), secs);
      request_ = {};
      return write_stream(std::move(res), std::move(ctx_.stream));
    }
    send(std::move(res));
  }

  // A whole answer, measured, then the next request on this connection (unless it closes).
  void send(Response res) {
    res.set(bhttp::field::server, "apexloop");
    res.prepare_payload();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    metrics_.observe(std::string(request_.method_string()), ctx_.route, res.result_int(), secs);
    const bool close_after = !res.keep_alive();
    request_ = {};
    write(std::move(res), close_after);
  }

  void wait_then_answer() {
    const auto now = std::chrono::steady_clock::now();
    if (ctx_.wait_ready && ctx_.wait_ready()) return answer();
    if (now >= ctx_.wait_deadline) {
      ctx_.wait_expired = true;
      return answer();
    }
    if (!timer_) timer_.emplace(stream_.get_executor());
    timer_->expires_after(std::min<std::chrono::steady_clock::duration>(kWaitPoll, ctx_.wait_deadline - now));
    timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close();
      self->wait_then_answer();
    });
  }

  // A streamed answer (RequestContext::stream): the head with chunked framing, then one chunk per
  // piece, then the last chunk; the connection closes after it.
  struct Streaming {
    bhttp::response<bhttp::empty_body> head;
    std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer;
    std::function<bool(std::string&)> next;
    std::string piece;
  };

  void write_stream(Response&& res, std::function<bool(std::string&)> next) {
    auto st = std::make_shared<Streaming>();
    st->head = bhttp::response<bhttp::empty_body>(res.result(), res.version());
    for (const auto& field : res) st->head.set(field.name_string(), field.value());
    st->head.keep_alive(false);
    st->head.chunked(true);
    st->next = std::move(next);
    st->serializer.emplace(st->head);
    stream_.expires_after(opts_.write_timeout);
    bhttp::async_write_header(stream_, *st->serializer, [self = shared_from_this(), st](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->next_chunk(st);
    });
  }

  void next_chunk(const std::shared_ptr<Streaming>& st) {
    net::post(blocking_, [self = shared_from_this(), st] {
      st->piece.clear();
      bool more = false;
      bool failed = false;
      try {
        more = st->next(st->piece);
      } catch (const std::exception& e) {
        spdlog::error("event=stream_failed what=\"{}\"", e.what());
        failed = true;
      }
      net::post(self->stream_.get_executor(), [self, st, more, failed] {
        if (failed) return self->close();  // no last chunk: the client sees the stream was cut
        self->send_chunk(st, more);
      });
    });
  }

  void send_chunk(const std::shared_ptr<Streaming>& st, bool more) {
    auto after = [self = shared_from_this(), st, more](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (more) return self->next_chunk(st);
      self->close();
    };
    stream_.expires_after(opts_.write_timeout);
    if (!st->piece.empty()) {
      if (more) return net::async_write(stream_, bhttp::make_chunk(net::buffer(st->piece)), std::move(after));
      // The last piece and the last chunk together.
      st->piece = chunk_bytes(st->piece) + "0\r\n\r\n";
      return net::async_write(stream_, net::buffer(st->piece), std::move(after));
    }
    if (more) {
      // Nothing this time (a filter matched nothing yet): go round again.
      return next_chunk(st);
    }
    net::async_write(stream_, bhttp::make_chunk_last(), std::move(after));
  }

  // One chunk in HTTP/1.1 framing: size in hex, CRLF, the bytes, CRLF.
  static std::string chunk_bytes(const std::string& piece) {
    char size[32];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    return std::string(size, static_cast<std::size_t>(n)) + piece + "\r\n";
  }

  void reply_error(bhttp::status status, std::string_view detail,
                   std::optional<std::chrono::seconds> retry_after = std::nullopt) {
    auto res = problem(11, false, status, "", detail);
    res.set(bhttp::field::server, "apexloop");
    if (retry_after) res.set(bhttp::field::retry_after, std::to_string(retry_after->count()));
    res.prepare_payload();
    metrics_.observe("-", retry_after ? "rate_limited" : "rejected", res.result_int(), 0);
    write(std::move(res), true, true);
  }

  // `unread_body`: the answer came before the request's body was read (see linger()).
  void write(Response&& res, bool close_after, bool unread_body = false) {
    auto sp = std::make_shared<Response>(std::move(res));
    stream_.expires_after(opts_.write_timeout);
    bhttp::async_write(stream_, *sp,
                       [self = shared_from_this(), sp, close_after, unread_body](beast::error_code ec, std::size_t) {
                         if (ec) return self->close();
                         if (unread_body) return self->linger();
                         if (close_after) return self->close();
                         self->read_header();
                       });
  }

  // After an early answer (413, 400) the peer may still be sending its body. Closing at once
  // would make the kernel reset the connection and the peer (or a proxy) lose our answer, so
  // read and discard what still comes, bounded in bytes and time, then close.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    lingered_ = 0;
    stream_.expires_after(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ > kLingerBytes) return self->close();
      self->drain();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  static constexpr std::chrono::seconds kLingerTime{5};
  static constexpr std::chrono::milliseconds kWaitPoll{2};
  static constexpr std::size_t kLingerBytes = 256u * 1024 * 1024;
  static constexpr std::size_t kPieceBytes = 64 * 1024;
  std::array<char, 16 * 1024> discard_{};
  std::size_t lingered_ = 0;

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // A streamed body: its parser, the piece being filled, the sink it goes to and the deadline
  // for all of it.
  std::optional<bhttp::request_parser<bhttp::buffer_body>> body_parser_;
  std::vector<char> piece_;
  std::unique_ptr<BodySink> sink_;
  std::chrono::steady_clock::time_point stream_deadline_;
  const ServerOptions& opts_;
  const Handler& handler_;
  const StreamMatcher& streamed_;
  HttpMetrics& metrics_;
  RateLimiter& limiter_;
  net::thread_pool& blocking_;  // where stream pieces are made: they may block (Kafka polls)
  std::string remote_ip_;
  bool first_ = true;
  Request request_;                 // the request being answered
  RequestContext ctx_;              // its context, kept across deferred calls
  std::chrono::steady_clock::time_point started_;
  std::optional<net::steady_timer> timer_;
};

}  // namespace

struct Server::Impl {
  ServerOptions opts;
  Handler handler;
  StreamMatcher streamed;
  HttpMetrics& metrics;
  RateLimiter limiter{opts.rate_limit_per_second, opts.rate_limit_burst};
  // Streamed answers make their pieces here, never on the threads that serve requests: a
  // stream waiting on Kafka must not stall the reads beside it. Two streams make progress at a
  // time; more wait their turn.
  net::thread_pool blocking{2};
  // One io_context per serving thread, each run by that thread alone: a connection lives on
  // one of them from accept to close, so its handlers never need a strand (no lock, no shared
  // executor state per operation). Connections are dealt out in turn.
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep;
  std::size_t next = 0;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;

  static std::vector<std::unique_ptr<net::io_context>> make_iocs(int n) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < std::max(1, n); ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }

  Impl(ServerOptions o, Handler h, HttpMetrics& m)
      : opts(std::move(o)), handler(std::move(h)), metrics(m), iocs(make_iocs(opts.threads)), acceptor(*iocs[0]) {
    for (auto& ioc : iocs) keep.push_back(net::make_work_guard(*ioc));
  }

  void accept() {
    net::io_context& home = *iocs[next++ % iocs.size()];
    acceptor.async_accept(home, [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        std::make_shared<Session>(std::move(socket), opts, handler, streamed, metrics, limiter, blocking)->run();
      }
      accept();
    });
  }
};

Server::Server(ServerOptions opts, Handler handler, HttpMetrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(opts), std::move(handler), metrics)) {}

Server::~Server() {
  stop();
  wait();
}

void Server::stream_bodies(StreamMatcher match) { impl_->streamed = std::move(match); }

std::uint16_t Server::start() {
  tcp::endpoint ep(net::ip::make_address(impl_->opts.host), impl_->opts.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(net::socket_base::max_listen_connections);
  impl_->accept();
  for (auto& ioc : impl_->iocs) {
    impl_->threads.emplace_back([&ioc = *ioc] { ioc.run(); });
  }
  return impl_->acceptor.local_endpoint().port();
}

void Server::stop() {
  for (auto& ioc : impl_->iocs) ioc->stop();
}

void Server::wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
  // A piece being made finishes (its hand-back goes to the stopped io_context, never to run).
  impl_->blocking.stop();
  impl_->blocking.join();
}

Response problem(unsigned version, bool keep_alive, bhttp::status status, std::string_view title,
                 std::string_view detail, Json::Object extra) {
  Json::Object body = std::move(extra);
  const auto code = static_cast<unsigned>(status);
  body["type"] = "about:blank";
  body["title"] = title.empty() ? std::string(bhttp::obsolete_reason(status)) : std::string(title);
  body["status"] = static_cast<std::int64_t>(code);
  body["detail"] = std::string(detail);
  Response res{status, version};
  res.set(bhttp::field::content_type, "application/problem+json");
  res.keep_alive(keep_alive);
  res.body() = to_json(Json(std::move(body)));
  return res;
}

Response problem_for(const Request& req, bhttp::status status, std::string_view detail, Json::Object extra) {
  return problem(req.version(), req.keep_alive(), status, "", detail, std::move(extra));
}

Response json_response(const Request& req, bhttp::status status, std::string body) {
  Response res{status, req.version()};
  res.set(bhttp::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  return res;
}

bool is_json_content_type(const Request& req) {
  auto it = req.find(bhttp::field::content_type);
  if (it == req.end()) return false;
  std::string_view v(it->value().data(), it->value().size());
  const auto semi = v.find(';');
  std::string_view media = v.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return beast::iequals(media, "application/json");
}

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto end = path.find('/', start);
    out.emplace_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<Target> parse_target(std::string_view target) {
  if (target.empty() || target[0] != '/') return std::nullopt;
  Target t;
  const auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q), false);
  if (!path) return std::nullopt;
  t.path = std::move(*path);
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto k = percent_decode(pair.substr(0, eq), true);
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!k || !v) return std::nullopt;
    t.query.insert_or_assign(std::move(*k), std::move(*v));
  }
  return t;
}

void add_operational_routes(Router& router, std::function<bool()> ready, const HttpMetrics& http_metrics,
                            std::function<void(std::string&)> samples) {
  router.add(bhttp::verb::get, "/healthz", [](const Request& req, RequestContext&) {
    return json_response(req, bhttp::status::ok, R"({"status":"ok"})");
  });
  router.add(bhttp::verb::get, "/readyz", [ready = std::move(ready)](const Request& req, RequestContext&) {
    if (ready()) return json_response(req, bhttp::status::ok, R"({"status":"ready"})");
    auto res = problem_for(req, bhttp::status::service_unavailable, "not ready: starting or catching up");
    res.set(bhttp::field::retry_after, "1");
    return res;
  });
  router.add(bhttp::verb::get, "/metrics",
             [&http_metrics, samples = std::move(samples)](const Request& req, RequestContext&) {
               std::string out;
               http_metrics.render(out);
               samples(out);
               auto res = json_response(req, bhttp::status::ok, std::move(out));
               res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
               return res;
             });
}

void Router::add(bhttp::verb method, std::string pattern, Route route) {
  auto segments = split_path(pattern);
  entries_.push_back({method, std::move(pattern), std::move(segments), std::move(route), std::nullopt});
}

void Router::add(bhttp::verb method, std::string pattern, StreamedRoute route) {
  auto segments = split_path(pattern);
  // Reached through dispatch only if the server was not told of streamed routes: a bug.
  auto unwired = [](const Request& req, RequestContext&) {
    return problem_for(req, bhttp::status::internal_server_error, "this route takes a streamed body");
  };
  entries_.push_back({method, std::move(pattern), std::move(segments), unwired, std::move(route)});
}

std::optional<std::map<std::string, std::string, std::less<>>> Router::capture(const Entry& e,
                                                                              const std::vector<std::string>& segments) {
  if (e.segments.size() != segments.size()) return std::nullopt;
  std::map<std::string, std::string, std::less<>> params;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& pat = e.segments[i];
    if (pat.size() > 2 && pat.front() == '{' && pat.back() == '}') {
      if (segments[i].empty()) return std::nullopt;
      params[pat.substr(1, pat.size() - 2)] = segments[i];
    } else if (pat != segments[i]) {
      return std::nullopt;
    }
  }
  return params;
}

const StreamedRoute* Router::match_streamed(const Request& head, RequestContext& ctx) const {
  auto target = parse_target(std::string_view(head.target().data(), head.target().size()));
  if (!target) return nullptr;  // dispatch answers the malformed target
  const auto segments = split_path(target->path);
  for (const auto& e : entries_) {
    if (!e.streamed || e.method != head.method()) continue;
    auto params = capture(e, segments);
    if (!params) continue;
    ctx.route = e.pattern;
    ctx.params = std::move(*params);
    for (auto& [k, v] : target->query) ctx.params.emplace("?" + k, v);
    return &*e.streamed;
  }
  return nullptr;
}

Response Router::dispatch(const Request& req, RequestContext& ctx) const {
  auto target = parse_target(std::string_view(req.target().data(), req.target().size()));
  if (!target) return problem_for(req, bhttp::status::bad_request, "the request target is malformed");
  const auto segments = split_path(target->path);
  std::string allow;
  for (const auto& e : entries_) {
    if (e.segments.size() != segments.size()) continue;
    std::map<std::string, std::string, std::less<>> params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const auto& pat = e.segments[i];
      if (pat.size() > 2 && pat.front() == '{' && pat.back() == '}') {
        if (segments[i].empty()) match = false;
        params[pat.substr(1, pat.size() - 2)] = segments[i];
      } else {
        match = pat == segments[i];
      }
    }
    if (!match) continue;
    if (e.method != req.method()) {
      if (!allow.empty()) allow += ", ";
      allow += std::string(bhttp::to_string(e.method));
      continue;
    }
    ctx.route = e.pattern;
    ctx.params = std::move(params);
    for (auto& [k, v] : target->query) ctx.params.emplace("?" + k, v);
    return e.route(req, ctx);
  }
  if (!allow.empty()) {
    auto res = problem_for(req, bhttp::status::method_not_allowed, "this path does not take that method");
    res.set(bhttp::field::allow, allow);
    return res;
  }
  return problem_for(req, bhttp::status::not_found, "no such resource");
}

}  // namespace apexloop::http
