#include "apexloop/runtime/metrics.hpp"

#include <fmt/format.h>

namespace apexloop {

void write_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  if (labels.empty()) {
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  } else {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
  }
}

void write_metric_head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  if (!help.empty()) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += '\n';
  }
  out += "# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void write_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, double value) {
  write_metric_head(out, name, type, help);
  write_sample(out, name, "", value);
}

void HttpMetrics::observe(const std::string& method, const std::string& route, unsigned status,
                          double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{method, route, status}];
  Series& s = latency_[route];
  ++s.count;
  s.sum += seconds;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++s.buckets[i];
  }
}

void HttpMetrics::render(std::string& out) const {
  std::lock_guard lock(mu_);
  out += "# HELP apexloop_http_requests_total HTTP requests answered.\n";
  out += "# TYPE apexloop_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    write_sample(out, "apexloop_http_requests_total",
                 fmt::format("service=\"{}\",method=\"{}\",route=\"{}\",status=\"{}\"", service_, method,
                             route, status),
                 static_cast<double>(n));
  }
  out += "# HELP apexloop_http_request_duration_seconds Time from a parsed request to its answer.\n";
  out += "# TYPE apexloop_http_request_duration_seconds histogram\n";
  for (const auto& [route, s] : latency_) {
    const std::string base = fmt::format("service=\"{}\",route=\"{}\"", service_, route);
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      write_sample(out, "apexloop_http_request_duration_seconds_bucket",
                   fmt::format("{},le=\"{}\"", base, kBuckets[i]), static_cast<double>(s.buckets[i]));
    }
    write_sample(out, "apexloop_http_request_duration_seconds_bucket", base + ",le=\"+Inf\"",
                 static_cast<double>(s.count));
    write_sample(out, "apexloop_http_request_duration_seconds_sum", base, s.sum);
    write_sample(out, "apexloop_http_request_duration_seconds_count", base, static_cast<double>(s.count));
  }
}

}  // namespace apexloop
