// Loads a benchmark workspace straight into the event log: N records over C clients, one portal
// role with a type policy, and a joined contact of the first client; then prints a session token
// for that contact, signed with the deployment's session key. The events are the ones the command
// service's own decisions produce; only the HTTP round trips are skipped, to load fast.
//   read_bench_setup OUT_DIR [records=100000] [clients=200]
//   (KAFKA_BOOTSTRAP, APEXLOOP_TOPIC and APEXLOOP_SESSION_KEY_FILE from the environment)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "apexloop/core/workspace.hpp"
#include "bench_ids.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/events/kafka.hpp"
#include "apexloop/runtime/auth.hpp"

using namespace apexloop;
using namespace std::chrono_literals;

namespace {

const std::string kWs = "0190b000-0000-7000-8000-00000000beef";
const std::string kAdmin = "0190b000-0000-7000-8000-00000000ad01";

std::string id_of(std::uint64_t n) { return bench::id_of("0190b000-0000-7000-8000", n); }

using bench::parse;

class Loader {
 public:
  explicit Loader(events::Producer& producer) : producer_(producer) {}
  void commit(const std::vector<Draft>& drafts) {
    for (const auto& d : drafts) {
      Envelope e{id_of(static_cast<std::uint64_t>(1'000'000'000 + seq_)), d.type, 1, kWs, d.stream, d.seq, TimestampMs{1'795'000'000'000 + seq_},
                 Actor{"user", kAdmin}, id_of(static_cast<std::uint64_t>(2'000'000'000 + seq_)), "", d.data};
      ++seq_;
      // The write model keeps the decisions honest; its positions only need to increase.
      if (auto r = wm_.apply(e, Position{0, seq_}); !r) throw std::runtime_error("apply: " + r.error());
      pending_.push_back({e.type, e.v, events::encode(e)});
      if (pending_.size() >= 5000) flush();
    }
  }
  void flush() {
    if (pending_.empty()) return;
    auto r = producer_.append(kWs, pending_);
    if (!r) throw std::runtime_error("append: " + r.error().detail);
    last_ = r->back();
    pending_.clear();
  }
  const WorkspaceState& ws() const { return *wm_.workspace(kWs); }
  Position last() const { return last_; }
  std::int64_t count() const { return seq_; }

 private:
  events::Producer& producer_;
  WriteModel wm_;
  std::vector<events::OutgoingEvent> pending_;
  std::int64_t seq_ = 0;
  Position last_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: read_bench_setup OUT_DIR [records] [clients]\n");
    return 2;
  }
  const std::string out = argv[1];
  const long records = argc > 2 ? std::atol(argv[2]) : 100'000;
  const long clients = argc > 3 ? std::atol(argv[3]) : 200;
  auto cfg = events::KafkaConfig::from_env();
  if (auto t = events::ensure_topic(cfg, 10s); !t) {
    std::fprintf(stderr, "%s\n", t.error().c_str());
    return 1;
  }
  auto producer = events::Producer::create(cfg);
  auto signer = TokenSigner::from_env();
  if (!producer || !signer) {
    std::fprintf(stderr, "kafka producer or session key missing\n");
    return 1;
  }
  Loader l(**producer);
  const auto client_ids = bench::define_workspace(l, kWs, kAdmin, "0190b000-0000-7000-8000", clients);
  const std::string contact = id_of(600'000'000);
  l.commit(*decide_invite_contact(l.ws(), client_ids[0], parse(R"({"email":"c@bench.io","name":"C","role":"stakeholder"})"),
                                  contact, TimestampMs{1'900'000'000'000}));
  l.commit(*decide_join(l.ws(), contact, parse(R"({"password":"0123456789"})")));
  l.commit(*decide_set_policy(l.ws(), "type:retainer", "stakeholder", "tickets",
                              parse(R"({"read":{"columns":["title","status","due","priority"]}})")));
  std::string first_record;
  for (long i = 0; i < records; ++i) {
    const std::string id = id_of(static_cast<std::uint64_t>(i));
    if (i == 0) first_record = id;
    const std::string fields = R"({"fields":{"owner":")" + client_ids[static_cast<std::size_t>(i % clients)] +
                               R"(","title":"Replace the toner in printer )" + std::to_string(i) +
                               R"( on the third floor","status":"in_progress","due":"2026-12-24","priority":)" + std::to_string(i % 5) +
                               R"(,"margin":1234}})";
    l.commit(decide_create_record(l.ws(), "tickets", parse(fields), id, kAdmin, std::nullopt)->drafts);
  }
  l.flush();
  const Principal p{kWs, "contact", contact, "stakeholder", client_ids[0], "bench", TimestampMs{4'000'000'000'000}};
  std::ofstream(out + "/token") << signer->issue(p) << "\n";
  std::ofstream(out + "/record") << first_record << "\n";
  std::ofstream(out + "/position") << to_string(l.last()) << "\n";
  std::printf("loaded %llu events; last position %s\n", static_cast<unsigned long long>(l.count()), to_string(l.last()).c_str());
  return 0;
}
