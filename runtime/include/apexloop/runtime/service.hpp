#pragma once
// What every service's main.cpp needs: configuration from the environment, logging, the real
// clock and randomness, and a clean stop on SIGINT/SIGTERM.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "apexloop/core/clock.hpp"
#include "apexloop/core/env.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop {

class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimestampMs now() const override;
};

class SodiumRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override;
};


// logfmt lines (`ts=... level=... service=... event=...`) in UTC on stderr.
void init_logging(std::string_view service);

// `host:port` from `var` (default `fallback`) into server options; APEXLOOP_HTTP_THREADS
// overrides `threads`, APEXLOOP_MAX_BODY_BYTES the body limit.
[[nodiscard]] std::expected<http::ServerOptions, std::string> listen_options(const char* var,
                                                                            std::string_view fallback,
                                                                            int threads);

// Writes the bound port for whoever started us with port 0 (tests, scripts): written to a
// temporary name and renamed, so a reader never sees half a number.
void write_port_file(std::string_view path, std::uint16_t port);

// Blocks the calling thread until SIGINT or SIGTERM. Call block_stop_signals() first, before any
// thread starts, so every thread inherits the mask and the signal waits for us here.
void block_stop_signals();
void wait_for_stop_signal();

// Starts `app`, publishes its port to APEXLOOP_PORT_FILE, serves until SIGINT or SIGTERM, then
// stops it. Answers the process's exit code.
template <typename App>
int serve(App& app) {
  auto port = app.start();
  if (!port) {
    spdlog::critical("event=start_failed error=\"{}\"", port.error());
    return 1;
  }
  write_port_file(env_or("APEXLOOP_PORT_FILE", ""), *port);
  spdlog::info("event=listening port={}", *port);
  wait_for_stop_signal();
  app.stop();
  return 0;
}

}  // namespace apexloop
