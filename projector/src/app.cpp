#include "apexloop/projector/app.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "apexloop/projector/stall.hpp"
#include "apexloop/projector/store.hpp"
#include "apexloop/runtime/metrics.hpp"

namespace apexloop::projector {

using namespace std::chrono_literals;
namespace bhttp = http::bhttp;

struct ProjectorApp::Impl {
  ProjectorConfig cfg;
  std::unique_ptr<ReadModelStore> store;
  std::unique_ptr<events::Consumer> consumer;
  HttpMetrics http_metrics{"projector"};
  std::unique_ptr<http::Server> server;
  std::thread loop;
  std::atomic<bool> stopping{false};
  std::atomic<bool> ready{false};

  mutable std::mutex stats_mu;
  std::uint64_t applied = 0, rejected = 0, skipped = 0, batches = 0;
  std::int64_t last_event_at_ms = 0;
  std::map<std::int32_t, std::int64_t> next_offsets;
  StallDetector stall{cfg.stall_after};

  explicit Impl(ProjectorConfig c) : cfg(std::move(c)) {}

  // Lag (from the consumer's cached watermarks) and progress, fed to the stall rule. Called by
  // /readyz and /metrics, so a stall shows whether or not anyone scrapes.
  bool stalled() {
    std::lock_guard lock(stats_mu);
    std::int64_t lag = 0, applied_sum = 0;
    for (const auto& l : consumer->lag(next_offsets)) lag += std::max<std::int64_t>(0, l.high_watermark - l.next_offset);
    for (const auto& [_, off] : next_offsets) applied_sum += off;
    stall.observe(lag, applied_sum, std::chrono::steady_clock::now());
    return stall.stalled();
  }

  void run_loop() {
    while (!stopping.load()) {
      auto batch = consumer->poll(cfg.max_batch, 100ms, events::Consumer::Parts::value_only);
      if (batch.empty()) {
        // Idle: the last batch is in RocksDB by now; a write that failed stops us here rather
        // than at the next batch.
        if (auto synced = store->sync(); !synced) {
          spdlog::critical("event=store_write_failed error=\"{}\"", synced.error());
          std::_Exit(3);
        }
        ready = true;
        continue;
      }
      auto stats = store->apply(batch);
      if (!stats) {
        // The store refused the write (disk full, I/O error): nothing of this batch is stored, and
        // going on would skip it. Stop; a restart resumes from the stored offsets.
        spdlog::critical("event=store_write_failed error=\"{}\"", stats.error());
        std::_Exit(3);
      }
      std::lock_guard lock(stats_mu);
      applied += stats->applied;
      rejected += stats->rejected;
      skipped += stats->skipped;
      ++batches;
      if (stats->last_event_at_ms != 0) last_event_at_ms = stats->last_event_at_ms;
      next_offsets = store->offsets();
    }
  }

  void samples(std::string& out) {
    const bool is_stalled = stalled();
    std::lock_guard lock(stats_mu);
    write_metric(out, "apexloop_projector_stalled", "gauge",
                 "1 when behind the log and nothing applied for APEXLOOP_PROJECTOR_STALL_SECONDS.",
                 is_stalled ? 1.0 : 0.0);
    write_metric(out, "apexloop_projector_stuck_seconds", "gauge", "", stall.stuck_seconds());
    // Wall-clock age of the newest applied event (its `at`): only for operators, never for state.
    write_metric_head(out, "apexloop_projector_last_event_age_seconds", "gauge",
                      "Seconds since the `at` of the last applied event.");
    if (last_event_at_ms != 0) {
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      write_sample(out, "apexloop_projector_last_event_age_seconds", "",
                   static_cast<double>(now_ms - last_event_at_ms) / 1000.0);
    }
    write_metric_head(out, "apexloop_projector_events_total", "counter", "");
    write_sample(out, "apexloop_projector_events_total", "outcome=\"applied\"", static_cast<double>(applied));
    write_sample(out, "apexloop_projector_events_total", "outcome=\"rejected\"", static_cast<double>(rejected));
    write_sample(out, "apexloop_projector_events_total", "outcome=\"skipped\"", static_cast<double>(skipped));
    write_metric(out, "apexloop_projector_batches_total", "counter", "", static_cast<double>(batches));
    write_metric_head(out, "apexloop_kafka_consumer_lag", "gauge", "Messages in the partition not yet applied.");
    for (const auto& l : consumer->lag(next_offsets)) {
      write_sample(out, "apexloop_kafka_consumer_lag", fmt::format("partition=\"{}\"", l.partition),
                   static_cast<double>(std::max<std::int64_t>(0, l.high_watermark - l.next_offset)));
    }
    write_metric_head(out, "apexloop_projector_next_offset", "gauge", "");
    for (const auto& [p, off] : next_offsets) {
      write_sample(out, "apexloop_projector_next_offset", fmt::format("partition=\"{}\"", p), static_cast<double>(off));
    }
    write_metric(out, "apexloop_projector_last_event_timestamp_seconds", "gauge", "",
                 static_cast<double>(last_event_at_ms) / 1000.0);
  }
};

ProjectorApp::ProjectorApp(ProjectorConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

ProjectorApp::~ProjectorApp() { stop(); }

std::expected<std::uint16_t, std::string> ProjectorApp::start() {
  auto& d = *impl_;
  std::filesystem::create_directories(d.cfg.data_dir);
  auto store = ReadModelStore::open(d.cfg.data_dir + "/readmodel");
  if (!store) return std::unexpected(store.error());
  d.store = std::move(*store);
  d.next_offsets = d.store->offsets();
  if (auto t = events::ensure_topic(d.cfg.kafka, 10s); !t) return std::unexpected(t.error());
  auto consumer = events::Consumer::create(d.cfg.kafka, "apexloop-projector");
  if (!consumer) return std::unexpected(consumer.error());
  d.consumer = std::move(*consumer);
  // This instance owns every partition; it resumes each from the offset stored with the state.
  if (auto a = d.consumer->assign_all(d.store->offsets(), 10s); !a) return std::unexpected(a.error());
  for (const auto& [p, off] : d.store->offsets()) spdlog::info("event=resume partition={} offset={}", p, off);

  auto router = std::make_shared<http::Router>();
  http::add_operational_routes(*router, [&d] { return d.ready.load() && !d.stalled(); }, d.http_metrics,
                               [&d](std::string& out) { d.samples(out); });
  d.server = std::make_unique<http::Server>(
      d.cfg.http, [router](const http::Request& req, http::RequestContext& ctx) { return router->dispatch(req, ctx); },
      d.http_metrics);
  const auto port = d.server->start();
  d.loop = std::thread([&d] { d.run_loop(); });
  return port;
}

void ProjectorApp::stop() {
  auto& d = *impl_;
  d.stopping = true;
  if (d.loop.joinable()) d.loop.join();
  if (d.server) {
    d.server->stop();
    d.server->wait();
  }
}

}  // namespace apexloop::projector
