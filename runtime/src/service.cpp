#include "apexloop/runtime/service.hpp"

#include <sodium.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace apexloop {

TimestampMs SystemClock::now() const {
  using namespace std::chrono;
  return TimestampMs{duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()};
}

void SodiumRandom::fill(std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); }

void init_logging(std::string_view service) {
  auto logger = spdlog::stderr_logger_mt(std::string(service));
  logger->set_pattern(fmt::format("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l service={} %v", service),
                      spdlog::pattern_time_type::utc);
  const std::string level = env_or("APEXLOOP_LOG_LEVEL", "info");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::expected<http::ServerOptions, std::string> listen_options(const char* var, std::string_view fallback,
                                                               int threads) {
  const std::string addr = env_or(var, fallback);
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) return std::unexpected(std::string(var) + " must be host:port");
  http::ServerOptions opts;
  opts.host = addr.substr(0, colon);
  char* end = nullptr;
  const long port = std::strtol(addr.c_str() + colon + 1, &end, 10);
  if (end == nullptr || *end != '\0' || port < 0 || port > 65535) {
    return std::unexpected(std::string(var) + " has a bad port");
  }
  opts.port = static_cast<std::uint16_t>(port);
  opts.threads = static_cast<int>(env_long("APEXLOOP_HTTP_THREADS", threads));
  opts.body_limit = static_cast<std::size_t>(env_long("APEXLOOP_MAX_BODY_BYTES", 1024 * 1024));
  opts.rate_limit_per_second = static_cast<double>(env_long("APEXLOOP_RATE_LIMIT_PER_SECOND", 100));
  opts.rate_limit_burst = static_cast<double>(env_long("APEXLOOP_RATE_LIMIT_BURST", 200));
  opts.trusted_proxies.clear();
  const std::string proxies = env_or("APEXLOOP_TRUSTED_PROXIES", "127.0.0.1,::1");
  for (std::size_t start = 0; start <= proxies.size();) {
    const auto comma = std::min(proxies.find(',', start), proxies.size());
    if (comma > start) opts.trusted_proxies.push_back(proxies.substr(start, comma - start));
    start = comma + 1;
  }
  return opts;
}

void write_port_file(std::string_view path, std::uint16_t port) {
  if (path.empty()) return;
  const std::string tmp = std::string(path) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
  }
  std::filesystem::rename(tmp, std::string(path));
}

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void wait_for_stop_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("event=stopping signal={}", sig);
}

}  // namespace apexloop
