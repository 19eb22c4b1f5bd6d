// apexloop-projector: `run` (default) consumes the log into the read models;
// `hash DIR` prints the SHA-256 of the read models in DIR (safe beside a live projector);
// `replay ...` rebuilds read models from the log (see replay_main.cpp, deploy/replay.sh).
#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <string_view>
#include <unistd.h>

#include "apexloop/projector/app.hpp"
#include "apexloop/projector/replay.hpp"
#include "apexloop/projector/store.hpp"
#include "apexloop/runtime/service.hpp"

int main(int argc, char** argv) {
  using namespace apexloop;
  const std::string_view cmd = argc > 1 ? argv[1] : "run";
  if (cmd == "hash") {
    if (argc != 3) {
      std::fprintf(stderr, "usage: apexloop-projector hash DATA_DIR\n");
      return 2;
    }
    const std::string dir = std::string(argv[2]) + "/readmodel";
    const auto secondary = std::filesystem::temp_directory_path() / ("apexloop-hash-" + std::to_string(getpid()));
    auto db = projector::open_secondary(dir, secondary.string());
    if (!db) {
      std::fprintf(stderr, "%s\n", db.error().c_str());
      return 1;
    }
    (*db)->TryCatchUpWithPrimary();
    std::printf("%s\n", projector::hash_read_models(**db).c_str());
    db->reset();
    std::filesystem::remove_all(secondary);
    return 0;
  }
  if (cmd == "replay") return projector::replay_main(argc - 1, argv + 1);
  if (cmd != "run") {
    std::fprintf(stderr, "usage: apexloop-projector [run | hash DATA_DIR]\n");
    return 2;
  }
  block_stop_signals();
  init_logging("projector");
  auto http = listen_options("APEXLOOP_PROJECTOR_LISTEN", "127.0.0.1:8083", 1);
  if (!http) {
    spdlog::critical("event=bad_config error=\"{}\"", http.error());
    return 2;
  }
  projector::ProjectorConfig cfg{env_or("APEXLOOP_DATA_DIR", ".run/data"), events::KafkaConfig::from_env(), *http,
                                 static_cast<std::size_t>(env_long("APEXLOOP_PROJECTOR_MAX_BATCH", 2000))};
  cfg.stall_after = std::chrono::seconds(env_long("APEXLOOP_PROJECTOR_STALL_SECONDS", 30));
  projector::ProjectorApp app(cfg);
  return serve(app);
}
