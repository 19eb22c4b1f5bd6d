#pragma once
// What the integration tests need to run the real stack: child processes, free ports, a
// rendered nginx config, and a small blocking HTTP client.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace apexloop::testing {

// A child process with its own environment; stdout and stderr go to `log`.
class Process {
 public:
  Process() = default;
  Process(std::string name, std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log);
  Process(Process&& o) noexcept { *this = std::move(o); }
  Process& operator=(Process&& o) noexcept;
  ~Process();
  void signal(int sig);
  // Waits for exit; answers the exit status (or 128+signal).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  [[nodiscard]] bool running();
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& log() const { return log_; }

 private:
  std::string name_;
  std::string log_;
  pid_t pid_ = -1;
};

[[nodiscard]] std::uint16_t free_port();
[[nodiscard]] std::string make_temp_dir(const std::string& prefix);
[[nodiscard]] std::string read_file(const std::string& path);
// Waits for a port file written by a service; 0 when it does not appear in time.
[[nodiscard]] std::uint16_t wait_port_file(const std::string& path, std::chrono::milliseconds timeout);

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;
  [[nodiscard]] std::string header(const std::string& name) const;
};

// One request on a new connection to 127.0.0.1:port.
[[nodiscard]] HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                                      const std::string& body = "",
                                      const std::map<std::string, std::string>& headers = {});
// Raw bytes on a new connection; answers whatever came back before the peer closed or the timeout.
[[nodiscard]] std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Polls `target` until it answers 200.
[[nodiscard]] bool wait_ready(std::uint16_t port, const std::string& target, std::chrono::milliseconds timeout);

}  // namespace apexloop::testing
