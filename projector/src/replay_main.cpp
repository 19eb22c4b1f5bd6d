// apexloop-projector replay: the command behind deploy/replay.sh.
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "apexloop/projector/replay.hpp"
#include "apexloop/projector/store.hpp"

namespace apexloop::projector {

namespace {

std::string offsets_text(const Offsets& o) {
  std::string out;
  for (const auto& [p, off] : o) out += (out.empty() ? "" : ",") + std::to_string(p) + ":" + std::to_string(off);
  return out.empty() ? "-" : out;
}

void report(const char* what, const StoreState& s) {
  std::printf("%-7s %s offsets %s\n", what, s.hash.c_str(), offsets_text(s.offsets).c_str());
}

void report_speed(const ReplayResult& r) {
  std::printf("replayed %llu events in %.2f s (%.0f events/s)\n", static_cast<unsigned long long>(r.events), r.seconds,
              r.seconds > 0 ? static_cast<double>(r.events) / r.seconds : 0.0);
}

}  // namespace

int replay_main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  const auto kafka = events::KafkaConfig::from_env();
  if (mode == "--verify" && argc == 4) {
    // The live store's state first: the replay then stops at exactly its offsets, however far
    // the live projector has moved on meanwhile.
    auto live = live_state(argv[2]);
    if (!live) {
      std::fprintf(stderr, "replay: live read models: %s\n", live.error().c_str());
      return 2;
    }
    const std::string work = argv[3];
    if (std::filesystem::exists(work + "/readmodel")) {
      std::fprintf(stderr, "replay: %s/readmodel exists; --verify needs a fresh directory\n", work.c_str());
      return 2;
    }
    auto replayed = replay_until(work, kafka, live->offsets);
    if (!replayed) {
      std::fprintf(stderr, "replay: %s\n", replayed.error().c_str());
      return 2;
    }
    report("live", *live);
    report("replay", replayed->state);
    report_speed(*replayed);
    const bool same = live->hash == replayed->state.hash && live->offsets == replayed->state.offsets;
    std::printf("%s\n", same ? "OK: the replay is byte-identical to the live read models"
                             : "DIFFERENT: the live read models differ from a clean replay");
    return same ? 0 : 1;
  }
  if (mode == "--into" && argc == 3) {
    auto end = log_end(kafka);
    if (!end) {
      std::fprintf(stderr, "replay: %s\n", end.error().c_str());
      return 2;
    }
    auto replayed = replay_until(argv[2], kafka, *end);
    if (!replayed) {
      std::fprintf(stderr, "replay: %s\n", replayed.error().c_str());
      return 2;
    }
    report("replay", replayed->state);
    report_speed(*replayed);
    // Compacted before the switch, so that the projector that serves it does not begin by
    // stalling its writes behind the rebuild's uncompacted files.
    auto compacted = compact_read_models(std::string(argv[2]) + "/readmodel");
    if (!compacted) {
      std::fprintf(stderr, "replay: %s\n", compacted.error().c_str());
      return 2;
    }
    std::printf("compacted in %.2f s\n", *compacted);
    return 0;
  }
  std::fprintf(stderr, "usage: apexloop-projector replay --verify LIVE_DATA_DIR FRESH_DIR | --into DATA_DIR\n");
  return 2;
}

}  // namespace apexloop::projector
