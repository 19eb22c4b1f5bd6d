#pragma once
// The whole stack for an integration test: the three real service binaries on port 0 in a temp
// dir, nginx as the one origin, all on the real broker named by KAFKA_BOOTSTRAP.

#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "apexloop/core/json.hpp"
#include "apexloop/events/kafka.hpp"
#include <gtest/gtest.h>

#include "harness.hpp"

namespace apexloop::testing {

using namespace std::chrono_literals;

inline const std::string kBootstrapToken = "test-bootstrap-token-0123456789";
inline const std::string kAdminPassword = "correct horse battery staple";

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
  return s;
}

class Stack {
 public:
  std::string dir = make_temp_dir("apexloop-e2e");
  std::string topic = "apexloop.test." + std::to_string(::getpid()) + "." + std::to_string(std::time(nullptr));
  std::string bootstrap;
  Process command, projector, query, nginx;
  std::uint16_t command_port = 0, projector_port = 0, query_port = 0, origin = 0;
  // Settings on top of env() for one service (by name), for a test that restarts it differently.
  std::map<std::string, std::map<std::string, std::string>> overrides;

  ~Stack() {
    // Keep the logs of a failed run for a look; otherwise leave nothing behind.
    for (Process* p : {&nginx, &query, &projector, &command}) {
      p->signal(SIGTERM);
      p->wait(std::chrono::seconds(10));
    }
    if (!::testing::Test::HasFailure() && std::getenv("APEXLOOP_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

  Stack() {
    const char* b = std::getenv("KAFKA_BOOTSTRAP");
    if (b == nullptr || *b == '\0') throw std::runtime_error("KAFKA_BOOTSTRAP is not set: run tests/run.sh");
    bootstrap = b;
    std::ofstream(dir + "/session.key") << "5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9\n";
  }

  std::map<std::string, std::string> env(const std::string& name, const std::string& data_dir) const {
    return {{"KAFKA_BOOTSTRAP", bootstrap},
            {"APEXLOOP_TOPIC", topic},
            {"APEXLOOP_TOPIC_PARTITIONS", "3"},
            {"APEXLOOP_DATA_DIR", data_dir},
            {"APEXLOOP_SESSION_KEY_FILE", dir + "/session.key"},
            {"APEXLOOP_BOOTSTRAP_TOKEN", kBootstrapToken},
            {"APEXLOOP_COMMAND_LISTEN", "127.0.0.1:0"},
            {"APEXLOOP_QUERY_LISTEN", "127.0.0.1:0"},
            {"APEXLOOP_PROJECTOR_LISTEN", "127.0.0.1:0"},
            // High enough that no test trips it by accident; the rate-limit test restarts a
            // service with a low one.
            {"APEXLOOP_RATE_LIMIT_PER_SECOND", "100000"},
            {"APEXLOOP_RATE_LIMIT_BURST", "100000"},
            {"APEXLOOP_PORT_FILE", dir + "/" + name + ".port"}};
  }

  std::pair<Process, std::uint16_t> spawn(const std::string& name, const std::string& bin,
                                          const std::string& data_dir) {
    std::filesystem::remove(dir + "/" + name + ".port");
    auto vars = env(name, data_dir);
    for (const auto& [k, v] : overrides[name]) vars[k] = v;
    Process p(name, {bin}, vars, dir + "/" + name + ".log");
    const auto port = wait_port_file(dir + "/" + name + ".port", 60s);
    if (port == 0) throw std::runtime_error(name + " did not start; see " + dir + "/" + name + ".log");
    return {std::move(p), port};
  }

  void start_projector() {
    std::tie(projector, projector_port) = spawn("projector", APEXLOOP_PROJECTOR_BIN, dir + "/data");
  }

  void start() {
    std::tie(command, command_port) = spawn("command", APEXLOOP_COMMAND_BIN, dir + "/data");
    start_projector();
    std::tie(query, query_port) = spawn("query", APEXLOOP_QUERY_BIN, dir + "/data");
    origin = free_port();
    std::string conf = read_file(APEXLOOP_NGINX_TEMPLATE);
    conf = replace_all(conf, "@RUN_DIR@", dir);
    conf = replace_all(conf, "@LISTEN_PORT@", std::to_string(origin));
    conf = replace_all(conf, "@COMMAND_PORT@", std::to_string(command_port));
    conf = replace_all(conf, "@QUERY_PORT@", std::to_string(query_port));
    std::filesystem::create_directories(dir + "/nginx-tmp");
    std::ofstream(dir + "/nginx.conf") << conf;
    nginx = Process("nginx", {"/usr/sbin/nginx", "-c", dir + "/nginx.conf", "-p", dir}, {}, dir + "/nginx.log");
    for (auto [port, what] : {std::pair{command_port, "command"}, {projector_port, "projector"}, {query_port, "query"}}) {
      if (!wait_ready(port, "/readyz", 60s)) throw std::runtime_error(std::string(what) + " never became ready");
    }
    if (!wait_ready(origin, "/", 10s)) throw std::runtime_error("nginx did not start; see " + dir + "/nginx-error.log");
  }

  // Restarts the command service with `settings` on top of the stack's (none: as at the start), on
  // the same port so nginx keeps reaching it; answers once its write model has caught up.
  void restart_command(std::map<std::string, std::string> settings) {
    command.signal(SIGTERM);
    if (command.wait(std::chrono::seconds(20)) != 0) throw std::runtime_error("command did not stop cleanly");
    settings["APEXLOOP_COMMAND_LISTEN"] = "127.0.0.1:" + std::to_string(command_port);
    overrides["command"] = std::move(settings);
    std::tie(command, command_port) = spawn("command", APEXLOOP_COMMAND_BIN, dir + "/data");
    if (!wait_ready(command_port, "/readyz", 60s)) throw std::runtime_error("command never became ready after a restart");
  }

  // Sum of the topic's high watermarks: how many events the log holds.
  std::int64_t log_size() const {
    events::KafkaConfig cfg;
    cfg.bootstrap = bootstrap;
    cfg.topic = topic;
    auto c = events::Consumer::create(cfg, "apexloop-test-probe");
    auto hw = (*c)->high_watermarks(10s);
    if (!hw) throw std::runtime_error(hw.error());
    std::int64_t n = 0;
    for (const auto& [_, h] : *hw) n += h;
    return n;
  }

  std::vector<events::Message> read_log() const {
    events::KafkaConfig cfg;
    cfg.bootstrap = bootstrap;
    cfg.topic = topic;
    auto c = events::Consumer::create(cfg, "apexloop-test-dump");
    auto hw = *(*c)->high_watermarks(10s);
    if (auto a = (*c)->assign_all({}, 10s); !a) throw std::runtime_error(a.error());
    std::vector<events::Message> out;
    std::int64_t want = 0;
    for (const auto& [_, h] : hw) want += h;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (static_cast<std::int64_t>(out.size()) < want && std::chrono::steady_clock::now() < deadline) {
      for (auto& m : (*c)->poll(1000, 200ms)) out.push_back(std::move(m));
    }
    return out;
  }
};

// No secret may appear in the event log or in any service's log lines: passwords, raw session
// and invitation tokens, the bootstrap token, and no password hash at all.
inline void expect_no_secrets(const Stack& stack, const std::vector<std::string>& secrets) {
  ASSERT_FALSE(secrets.empty());
  std::vector<std::pair<std::string, std::string>> texts;  // (where, text)
  for (const auto& m : stack.read_log()) texts.emplace_back("event " + m.type, m.value);
  for (const char* name : {"command.log", "projector.log", "query.log"}) texts.emplace_back(name, read_file(stack.dir + "/" + name));
  ASSERT_GT(texts.size(), 3u) << "the log is empty";
  for (const auto& [where, text] : texts) {
    EXPECT_EQ(text.find("$argon2id$"), std::string::npos) << where;
    EXPECT_EQ(text.find(kBootstrapToken), std::string::npos) << where;
    for (const auto& secret : secrets) {
      ASSERT_GE(secret.size(), 10u) << "too short to scan for: " << secret;
      EXPECT_EQ(text.find(secret), std::string::npos) << where << " carries a secret";
    }
  }
}

inline Json json_of(const HttpResult& r) {
  auto j = parse_json(r.body);
  if (!j) throw std::runtime_error("not JSON: " + r.body);
  return *j;
}


}  // namespace apexloop::testing
