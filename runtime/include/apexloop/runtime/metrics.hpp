#pragma once
// Prometheus text exposition for the few metrics every service has.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace apexloop {

class HttpMetrics {
 public:
  explicit HttpMetrics(std::string service) : service_(std::move(service)) {}
  void observe(const std::string& method, const std::string& route, unsigned status, double seconds);
  void render(std::string& out) const;

 private:
  static constexpr std::array<double, 12> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  struct Series {
    std::uint64_t count = 0;
    double sum = 0;
    std::array<std::uint64_t, kBuckets.size()> buckets{};
  };
  std::string service_;
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests_;
  std::map<std::string, Series> latency_;  // by route
};

// Formats one sample line `name{labels} value`.
void write_sample(std::string& out, std::string_view name, std::string_view labels, double value);

// A metric's `# HELP` line (when `help` is not empty) and `# TYPE` line (`counter` or `gauge`);
// its samples follow.
void write_metric_head(std::string& out, std::string_view name, std::string_view type, std::string_view help);

// A metric with one unlabelled sample: its `# HELP` line (when `help` is not empty), its `# TYPE`
// line (`counter` or `gauge`) and the sample.
void write_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, double value);

}  // namespace apexloop
