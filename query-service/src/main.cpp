// apexloop-query-service: serves reads from the projector's read models.
#include <malloc.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "apexloop/query/app.hpp"
#include "apexloop/runtime/service.hpp"

int main() {
  using namespace apexloop;
  // The store's memtables (a secondary replays the projector's unflushed writes into them) come
  // and go in blocks of megabytes. With glibc's sliding mmap threshold, blocks freed once make the
  // next ones come from the heap, which keeps them after they are freed: a burst of writes would
  // leave the process that much bigger for good. Blocks this size or larger are always mapped,
  // and given back when freed.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  block_stop_signals();
  init_logging("query-service");
  // No read blocks a thread (a read that waits for a position is parked on a timer), so one
  // thread per core serves best; more only add switching.
  const int threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  auto http = listen_options("APEXLOOP_QUERY_LISTEN", "127.0.0.1:8082", threads);
  if (!http) {
    spdlog::critical("event=bad_config error=\"{}\"", http.error());
    return 2;
  }
  query::QueryConfig cfg{env_or("APEXLOOP_DATA_DIR", ".run/data"), *http,
                         std::chrono::milliseconds(env_long("APEXLOOP_CATCH_UP_MS", 5)),
                         std::chrono::milliseconds(2000)};
  cfg.kafka = events::KafkaConfig::from_env();
  query::QueryApp app(cfg);
  return serve(app);
}
