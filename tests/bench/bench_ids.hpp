#pragma once
// Deterministic ids and parsing for the benchmark loaders: benchmarks are repeatable runs.

#include <cstdint>
#include <cstdio>
#include <string>

#include <vector>

#include "apexloop/core/json.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop::bench {

// A UUID-shaped id `<prefix>-<n as 12 hex digits>`; `prefix` is the first 23 characters.
inline std::string id_of(const char* prefix, std::uint64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%012llx", prefix, static_cast<unsigned long long>(n));
  return buf;
}

inline Json parse(const std::string& s) { return *parse_json(s); }

// The benchmark workspace through the real decisions: a tickets database (owner, title, status,
// due, priority and an internal margin), one client type, one portal role and `clients` clients.
// `Sink` has commit(drafts) and ws(). Answers the client ids.
template <typename Sink>
std::vector<std::string> define_workspace(Sink& sink, const std::string& ws, const std::string& admin,
                                          const char* id_prefix, long clients) {
  sink.commit(*decide_create_workspace(parse(R"({"name":"Bench","admin":{"email":"a@b.io","name":"A","password":"0123456789"}})"),
                                       ws, admin));
  sink.commit(*decide_define_database(sink.ws(), parse(R"({"key":"tickets","name":"Tickets"})")));
  for (const char* c : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                        R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","in_progress","done"]}})",
                        R"({"key":"due","name":"Due","type":"date"})", R"({"key":"priority","name":"Priority","type":"number"})",
                        R"({"key":"margin","name":"Margin","type":"number","internal":true})"}) {
    sink.commit(*decide_add_column(sink.ws(), "tickets", parse(c)));
  }
  sink.commit(*decide_define_client_type(sink.ws(), parse(R"({"key":"retainer","name":"Retainer"})")));
  sink.commit(*decide_define_portal_role(sink.ws(), parse(R"({"key":"stakeholder","name":"Stakeholder"})")));
  std::vector<std::string> client_ids;
  for (long i = 0; i < clients; ++i) {
    client_ids.push_back(id_of(id_prefix, 500'000'000 + static_cast<std::uint64_t>(i)));
    sink.commit(*decide_create_client(sink.ws(), parse(R"({"name":"Client","client_type":"retainer"})"), client_ids.back()));
  }
  return client_ids;
}

}  // namespace apexloop::bench
