// apexloop-command-service: validates writes and appends them to the event log.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "apexloop/command/app.hpp"
#include "apexloop/runtime/service.hpp"

int main() {
  using namespace apexloop;
  block_stop_signals();
  init_logging("command-service");
  auto http = listen_options("APEXLOOP_COMMAND_LISTEN", "127.0.0.1:8081", 8);
  if (!http) {
    spdlog::critical("event=bad_config error=\"{}\"", http.error());
    return 2;
  }
  command::CommandConfig cfg{env_or("APEXLOOP_DATA_DIR", ".run/data"), events::KafkaConfig::from_env(), *http,
                             env_or("APEXLOOP_BOOTSTRAP_TOKEN", ""),
                             std::chrono::seconds(env_long("APEXLOOP_SESSION_TTL_SECONDS", 12 * 3600)),
                             std::chrono::seconds(env_long("APEXLOOP_INVITATION_TTL_SECONDS", 7 * 24 * 3600)),
                             static_cast<int>(env_long("APEXLOOP_HASH_CONCURRENCY", 2)),
                             static_cast<int>(env_long("APEXLOOP_SIGNIN_MAX_FAILURES", 10)),
                             std::chrono::seconds(env_long("APEXLOOP_SIGNIN_LOCKOUT_SECONDS", 60))};
  cfg.max_upload_bytes = static_cast<std::size_t>(env_long("APEXLOOP_MAX_UPLOAD_BYTES", 100L * 1024 * 1024));
  cfg.blob_sweep_interval = std::chrono::seconds(env_long("APEXLOOP_BLOB_SWEEP_SECONDS", 3600));
  // Bytes just stored wait for their append (seconds at most): a shorter grace could sweep them.
  constexpr long kMinBlobGraceSeconds = 60;
  const long grace = env_long("APEXLOOP_BLOB_GRACE_SECONDS", 3600);
  if (grace < kMinBlobGraceSeconds) spdlog::warn("event=blob_grace_raised from={} to={}", grace, kMinBlobGraceSeconds);
  cfg.blob_grace = std::chrono::seconds(std::max(grace, kMinBlobGraceSeconds));
  if (cfg.bootstrap_token.empty()) {
    spdlog::warn("event=bootstrap_disabled reason=\"APEXLOOP_BOOTSTRAP_TOKEN is not set\"");
  }
  command::CommandApp app(cfg);
  return serve(app);
}
