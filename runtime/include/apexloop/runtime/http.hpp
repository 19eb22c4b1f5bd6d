#pragma once
// The HTTP edge shared by the services: a Boost.Beast server whose sessions only move bytes,
// a router that turns a request into a response, problem+json errors and request metrics.

#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/json.hpp"
#include "apexloop/runtime/metrics.hpp"

namespace apexloop::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the kernel picks one; see Server::port()
  std::size_t body_limit = 1024 * 1024;
  std::size_t header_limit = 16 * 1024;
  std::chrono::seconds header_timeout{10};  // a slow sender is closed at this deadline
  std::chrono::seconds body_timeout{30};
  // A streamed body (StreamedRoute) may take this long in all, while each piece of it must come
  // within body_timeout: large uploads need more than 30 s, a trickle is still cut off.
  std::chrono::seconds stream_body_timeout{15 * 60};
  std::chrono::seconds write_timeout{30};
  std::chrono::seconds idle_timeout{60};
  int threads = 4;
  // Per client address (see rate_limit.hpp): requests per second on average and the burst
  // allowed above it; 0 per second is no limit. Answered 429 with Retry-After.
  double rate_limit_per_second = 0;
  double rate_limit_burst = 0;
  std::vector<std::string> trusted_proxies{"127.0.0.1", "::1"};  // whose X-Forwarded-For counts
};

struct RequestContext {
  std::string remote_ip;
  std::string route = "unmatched";  // the route pattern, the metrics label
  std::map<std::string, std::string, std::less<>> params;

  // A handler that cannot answer yet (a read waiting for the read models to reach a position)
  // calls wait() and returns anything: the server calls it again, with this same context, once
  // `ready()` holds or `max_wait` (from the first wait) has passed, and then `wait_expired` is
  // true. No thread is held meanwhile. Only for handlers that are safe to call again (reads).
  void wait(std::function<bool()> ready, std::chrono::steady_clock::duration max_wait) {
    if (!waited_since) waited_since = std::chrono::steady_clock::now();
    wait_ready = std::move(ready);
    wait_deadline = *waited_since + max_wait;
    waiting = true;
  }
  bool wait_expired = false;
  // The server's side of wait().
  bool waiting = false;
  std::function<bool()> wait_ready;
  std::optional<std::chrono::steady_clock::time_point> waited_since;
  std::chrono::steady_clock::time_point wait_deadline;
  // A streamed answer (the audit stream): a handler that sets this answers with a response whose
  // status and headers go out first, with `Transfer-Encoding: chunked`; then the server calls
  // `stream` for each next piece, sends it as one chunk, and ends after the call that answers
  // false. Memory stays bounded by one piece. An exception from `stream` cuts the connection
  // without the final chunk, so the client can tell a broken stream from a complete one.
  // `stream` runs on a server thread and may block briefly (e.g. on a Kafka poll).
  std::function<bool(std::string& piece)> stream;
};

using Handler = std::function<Response(const Request&, RequestContext&)>;

// A request body taken piece by piece as it arrives instead of whole in memory (file uploads).
// Dropping a sink without finish() means the body was refused or cut off (too large, a broken
// connection, a write() that answered): the sink undoes whatever it kept.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The next piece of the body, in order. An answer stops the read and is sent as it is.
  [[nodiscard]] virtual std::optional<Response> write(std::string_view piece) = 0;
  // The whole body has arrived: the answer. `head` is the request without its body.
  [[nodiscard]] virtual Response finish(const Request& head, RequestContext& ctx) = 0;
};

// A route whose body is streamed into a sink, with its own body limit (413 beyond it). `open`
// sees the request head, before any of the body is read: an answer there (401, 403, 404 ...)
// is sent without reading the body at all.
struct StreamedRoute {
  std::size_t body_limit = 0;
  std::function<std::expected<std::unique_ptr<BodySink>, Response>(const Request& head, RequestContext& ctx)> open;
};

// Asked by the server once a request's header is read: the streamed route it is for (then
// `ctx.route` and `ctx.params` are set), or null for an ordinary request.
using StreamMatcher = std::function<const StreamedRoute*(const Request& head, RequestContext& ctx)>;

class Server {
 public:
  Server(ServerOptions opts, Handler handler, HttpMetrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes whose bodies are streamed (Router::match_streamed); call before start().
  void stream_bodies(StreamMatcher match);

  // Binds and listens; answers the bound port.
  [[nodiscard]] std::uint16_t start();
  void stop();
  void wait();  // until stop() has been called and every thread has returned

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Responses.
[[nodiscard]] Response problem(unsigned version, bool keep_alive, bhttp::status status,
                               std::string_view title, std::string_view detail,
                               Json::Object extra = {});
[[nodiscard]] Response json_response(const Request& req, bhttp::status status, std::string body);
[[nodiscard]] Response problem_for(const Request& req, bhttp::status status, std::string_view detail,
                                   Json::Object extra = {});

// `application/json` (parameters such as charset allowed).
[[nodiscard]] bool is_json_content_type(const Request& req);

// Routes match method and path segment by segment; `{name}` captures one segment.
class Router {
 public:
  using Route = std::function<Response(const Request&, RequestContext&)>;
  void add(bhttp::verb method, std::string pattern, Route route);
  // A route that takes its body as a stream (see StreamedRoute); the server reaches it through
  // match_streamed, never through dispatch.
  void add(bhttp::verb method, std::string pattern, StreamedRoute route);
  // 404 for an unknown path, 405 with Allow for a known path and another method.
  [[nodiscard]] Response dispatch(const Request& req, RequestContext& ctx) const;
  // The streamed route `head` is for, if any, with ctx.route and ctx.params set.
  [[nodiscard]] const StreamedRoute* match_streamed(const Request& head, RequestContext& ctx) const;

 private:
  struct Entry {
    bhttp::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Route route;
    std::optional<StreamedRoute> streamed;
  };
  // Whether `segments` fit `e`, and the captures if so.
  static std::optional<std::map<std::string, std::string, std::less<>>> capture(const Entry& e,
                                                                               const std::vector<std::string>& segments);
  std::vector<Entry> entries_;
};

// GET /healthz (alive), /readyz (200 when `ready`, else 503) and /metrics (Prometheus text: the
// HTTP metrics, then what `samples` appends), alike on every service.
void add_operational_routes(Router& router, std::function<bool()> ready, const HttpMetrics& http_metrics,
                            std::function<void(std::string&)> samples);

// Splits the target into path and decoded query parameters; false on bad percent-encoding.
struct Target {
  std::string path;
  std::map<std::string, std::string, std::less<>> query;
};
[[nodiscard]] std::optional<Target> parse_target(std::string_view target);

}  // namespace apexloop::http
