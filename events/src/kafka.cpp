#include "apexloop/events/kafka.hpp"

#include "apexloop/core/env.hpp"

#include <librdkafka/rdkafka.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <future>
#include <optional>
#include <thread>

namespace apexloop::events {
namespace {

std::expected<rd_kafka_conf_t*, std::string> make_conf(const KafkaConfig& cfg,
                                                       const std::map<std::string, std::string>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) -> bool {
    return rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  bool ok = set("bootstrap.servers", cfg.bootstrap);
  for (const auto& [k, v] : props) ok = ok && set(k, v);
  for (const auto& [k, v] : cfg.extra) ok = ok && set(k, v);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return std::unexpected(std::string("kafka config: ") + err);
  }
  return conf;
}

// Delivery of one append: the producer's poll thread fulfils it from the delivery report.
struct Delivery {
  std::promise<std::expected<Position, AppendError>> done;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (d == nullptr) return;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    d->done.set_value(Position{m->partition, m->offset});
    return;
  }
  // With idempotence a failure can still mean "persisted, but the ack was lost".
  const auto status = rd_kafka_message_status(m);
  const auto kind = status == RD_KAFKA_MSG_STATUS_NOT_PERSISTED ? AppendFailure::not_written
                                                                : AppendFailure::uncertain;
  d->done.set_value(std::unexpected(AppendError{kind, rd_kafka_err2str(m->err)}));
}

}  // namespace

KafkaConfig KafkaConfig::from_env() {
  KafkaConfig c;
  c.bootstrap = env_or("KAFKA_BOOTSTRAP", c.bootstrap);
  c.topic = env_or("APEXLOOP_TOPIC", c.topic);
  // Out-of-range counts fall back to the defaults rather than reaching the broker.
  const long partitions = env_long("APEXLOOP_TOPIC_PARTITIONS", c.partitions);
  const long replication = env_long("APEXLOOP_TOPIC_REPLICATION", c.replication);
  if (partitions > 0 && partitions < 10000) c.partitions = static_cast<int>(partitions);
  if (replication > 0 && replication < 100) c.replication = static_cast<int>(replication);
  return c;
}

std::expected<void, std::string> ensure_topic(const KafkaConfig& cfg, std::chrono::milliseconds timeout) {
  auto conf = make_conf(cfg, {});
  if (!conf) return std::unexpected(conf.error());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof err);
  if (rk == nullptr) return std::unexpected(std::string("kafka admin: ") + err);
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> guard(rk, rd_kafka_destroy);

  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(cfg.topic.c_str(), cfg.partitions, cfg.replication,
                                                  err, sizeof err);
  if (nt == nullptr) return std::unexpected(std::string("kafka topic: ") + err);
  // The log is the source of truth: it is kept forever.
  rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
  rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
  rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", cfg.replication >= 3 ? "2" : "1");

  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  std::expected<void, std::string> result;
  if (ev == nullptr) {
    result = std::unexpected("kafka: no answer to CreateTopics from " + cfg.bootstrap);
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = std::unexpected(std::string("kafka CreateTopics: ") + rd_kafka_event_error_string(ev));
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      const auto e = rd_kafka_topic_result_error(topics[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* msg = rd_kafka_topic_result_error_string(topics[i]);
        result = std::unexpected(std::string("kafka CreateTopics: ") + (msg ? msg : rd_kafka_err2str(e)));
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  return result;
}

struct Producer::Poller {
  std::atomic<bool> stop{false};
  std::thread thread;
};

Producer::Producer(const KafkaConfig& cfg) : cfg_(cfg) {}

std::expected<std::unique_ptr<Producer>, std::string> Producer::create(const KafkaConfig& cfg) {
  auto conf = make_conf(cfg, {
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"linger.ms", "1"},
                                 {"message.timeout.ms", "10000"},
                                 // Same partition for a key as Java clients choose.
                                 {"partitioner", "murmur2_random"},
                             });
  if (!conf) return std::unexpected(conf.error());
  rd_kafka_conf_set_dr_msg_cb(*conf, on_delivery);
  char err[512];
  std::unique_ptr<Producer> p(new Producer(cfg));
  p->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof err);
  if (p->rk_ == nullptr) return std::unexpected(std::string("kafka producer: ") + err);
  p->poller_ = std::make_unique<Poller>();
  p->poller_->thread = std::thread([rk = p->rk_, poller = p->poller_.get()] {
    while (!poller->stop.load()) rd_kafka_poll(rk, 50);
  });
  return p;
}

Producer::~Producer() {
  if (rk_ == nullptr) return;
  rd_kafka_flush(rk_, 10'000);
  poller_->stop = true;
  poller_->thread.join();
  rd_kafka_destroy(rk_);
}

std::expected<std::vector<Position>, AppendError> Producer::append(
    std::string_view key, const std::vector<OutgoingEvent>& events) {
  std::vector<std::unique_ptr<Delivery>> deliveries;
  deliveries.reserve(events.size());
  std::vector<std::future<std::expected<Position, AppendError>>> futures;
  for (const auto& ev : events) {
    auto d = std::make_unique<Delivery>();
    futures.push_back(d->done.get_future());
    const std::string v = std::to_string(ev.v);
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(cfg_.topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(ev.bytes.data()), ev.bytes.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("type", ev.type.data(), static_cast<ssize_t>(ev.type.size())),
        RD_KAFKA_V_HEADER("v", v.data(), static_cast<ssize_t>(v.size())),
        RD_KAFKA_V_OPAQUE(d.get()), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      futures.pop_back();
      // Earlier events of this append are already queued: their fate is unknown to the caller.
      for (auto& f : futures) f.wait();
      return std::unexpected(AppendError{deliveries.empty() ? AppendFailure::not_written
                                                            : AppendFailure::uncertain,
                                         rd_kafka_err2str(err)});
    }
    deliveries.push_back(std::move(d));
  }
  std::vector<Position> positions;
  std::optional<AppendError> failure;
  for (auto& f : futures) {
    auto r = f.get();
    if (r) {
      positions.push_back(*r);
    } else if (!failure || r.error().kind == AppendFailure::uncertain) {
      failure = r.error();
    }
  }
  if (failure) {
    // Part of a multi-event append landed: that is as uncertain as a lost ack.
    if (!positions.empty()) failure->kind = AppendFailure::uncertain;
    return std::unexpected(*failure);
  }
  return positions;
}


std::expected<std::unique_ptr<Consumer>, std::string> Consumer::create(const KafkaConfig& cfg,
                                                                       const std::string& group) {
  auto conf = make_conf(cfg, {
                                 {"group.id", group},
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"auto.offset.reset", "earliest"},
                                 {"fetch.wait.max.ms", "10"},
                             });
  if (!conf) return std::unexpected(conf.error());
  std::unique_ptr<Consumer> c(new Consumer(cfg));
  char err[512];
  c->rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, *conf, err, sizeof err);
  if (c->rk_ == nullptr) return std::unexpected(std::string("kafka consumer: ") + err);
  rd_kafka_poll_set_consumer(c->rk_);
  c->queue_ = rd_kafka_queue_get_consumer(c->rk_);
  return c;
}

Consumer::~Consumer() {
  if (rk_ == nullptr) return;
  if (queue_ != nullptr) rd_kafka_queue_destroy(queue_);
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
}

std::expected<std::vector<std::int32_t>, std::string> Consumer::partition_ids(
    std::chrono::milliseconds timeout) {
  // A topic another process has just created can take a moment to show up in metadata.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto ids = partition_ids_once(timeout);
    if (ids || std::chrono::steady_clock::now() >= deadline) return ids;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::expected<std::vector<std::int32_t>, std::string> Consumer::partition_ids_once(
    std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, cfg_.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk_, 0, t, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(t);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected(std::string("kafka metadata: ") + rd_kafka_err2str(err));
  }
  std::vector<std::int32_t> ids;
  std::string error;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) error = rd_kafka_err2str(md->topics[i].err);
    for (int p = 0; p < md->topics[i].partition_cnt; ++p) ids.push_back(md->topics[i].partitions[p].id);
  }
  rd_kafka_metadata_destroy(md);
  if (ids.empty()) return std::unexpected("kafka: topic " + cfg_.topic + " has no partitions " + error);
  return ids;
}

std::expected<void, std::string> Consumer::assign_all(const std::map<std::int32_t, std::int64_t>& offsets,
                                                      std::chrono::milliseconds timeout) {
  auto ids = partition_ids(timeout);
  if (!ids) return std::unexpected(ids.error());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(ids->size()));
  for (auto id : *ids) {
    auto it = offsets.find(id);
    rd_kafka_topic_partition_list_add(list, cfg_.topic.c_str(), id)->offset =
        it == offsets.end() ? RD_KAFKA_OFFSET_BEGINNING : it->second;
  }
  const auto err = rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::unexpected(std::string("kafka assign: ") + rd_kafka_err2str(err));
  return {};
}

std::expected<void, std::string> Consumer::assign_one(std::int32_t partition, std::int64_t offset) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, cfg_.topic.c_str(), partition)->offset = offset;
  const auto err = rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::unexpected(std::string("kafka assign: ") + rd_kafka_err2str(err));
  return {};
}

std::expected<std::int32_t, std::string> Consumer::partition_of_key(std::string_view key,
                                                                    std::chrono::milliseconds timeout) {
  auto ids = partition_ids(timeout);
  if (!ids) return std::unexpected(ids.error());
  // The producer's partitioner is murmur2_random (see Producer::create); a non-empty key is
  // placed by murmur2 over the partition count, exactly as here.
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), static_cast<std::int32_t>(ids->size()),
                                          nullptr, nullptr);
}

std::expected<std::int64_t, std::string> Consumer::offset_for_time(std::int32_t partition, std::int64_t ms,
                                                                   std::chrono::milliseconds timeout) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, cfg_.topic.c_str(), partition)->offset = ms;
  const auto err = rd_kafka_offsets_for_times(rk_, list, static_cast<int>(timeout.count()));
  std::int64_t offset = list->elems[0].offset;
  const auto perr = list->elems[0].err;
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || perr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected(std::string("kafka offsets_for_times: ") +
                           rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : perr));
  }
  if (offset < 0) {  // no message that late: start at the end
    int64_t low = 0, high = 0;
    const auto werr = rd_kafka_query_watermark_offsets(rk_, cfg_.topic.c_str(), partition, &low, &high,
                                                       static_cast<int>(timeout.count()));
    if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) return std::unexpected(std::string("kafka watermarks: ") + rd_kafka_err2str(werr));
    offset = high;
  }
  return offset;
}

template <class Fn>
std::size_t Consumer::consume(std::size_t max, std::chrono::milliseconds timeout, Fn&& fn) {
  // A batch at a time: one lock of librdkafka's queue for many messages, not one per message.
  constexpr std::size_t kChunk = 512;
  std::array<rd_kafka_message_t*, kChunk> got{};
  std::size_t seen = 0;
  int wait = static_cast<int>(timeout.count());
  while (seen < max) {
    // The first message may be waited for; after it, only what is queued already is taken.
    const std::size_t want = wait > 0 ? 1 : std::min(kChunk, max - seen);
    const ssize_t n = rd_kafka_consume_batch_queue(queue_, wait, got.data(), want);
    if (n <= 0) break;
    wait = 0;
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = got[static_cast<std::size_t>(i)];
      // Errors here (partition EOF, transient broker errors) are retried by librdkafka itself.
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        fn(m);
        ++seen;
      }
      rd_kafka_message_destroy(m);
    }
  }
  return seen;
}

std::vector<Message> Consumer::poll(std::size_t max, std::chrono::milliseconds timeout, Parts parts) {
  std::vector<Message> out;
  consume(max, timeout, [&](rd_kafka_message_t* m) {
    Message msg;
    msg.position = Position{m->partition, m->offset};
    if (m->payload != nullptr) msg.value.assign(static_cast<const char*>(m->payload), m->len);
    if (parts == Parts::all && m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (parts == Parts::all && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const void* val = nullptr;
      size_t size = 0;
      if (rd_kafka_header_get_last(hdrs, "type", &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR && val) {
        msg.type.assign(static_cast<const char*>(val), size);
      }
    }
    out.push_back(std::move(msg));
  });
  return out;
}

std::size_t Consumer::poll_each(std::size_t max, std::chrono::milliseconds timeout,
                                const std::function<void(Position, std::string_view)>& each) {
  return consume(max, timeout, [&](rd_kafka_message_t* m) {
    const std::string_view value = m->payload == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(m->payload), m->len);
    each(Position{m->partition, m->offset}, value);
  });
}

std::expected<std::map<std::int32_t, std::int64_t>, std::string> Consumer::high_watermarks(
    std::chrono::milliseconds timeout) {
  auto ids = partition_ids(timeout);
  if (!ids) return std::unexpected(ids.error());
  std::map<std::int32_t, std::int64_t> out;
  for (auto id : *ids) {
    int64_t low = 0, high = 0;
    const auto err = rd_kafka_query_watermark_offsets(rk_, cfg_.topic.c_str(), id, &low, &high,
                                                      static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(std::string("kafka watermarks: ") + rd_kafka_err2str(err));
    }
    out[id] = high;
  }
  return out;
}

std::vector<PartitionLag> Consumer::lag(const std::map<std::int32_t, std::int64_t>& next) const {
  std::vector<PartitionLag> out;
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  for (int i = 0; i < assigned->cnt; ++i) {
    const auto p = assigned->elems[i].partition;
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(rk_, cfg_.topic.c_str(), p, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      continue;
    }
    auto it = next.find(p);
    out.push_back({p, it == next.end() ? low : it->second, high});
  }
  rd_kafka_topic_partition_list_destroy(assigned);
  return out;
}

}  // namespace apexloop::events
