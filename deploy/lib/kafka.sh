# shellcheck shell=bash
#
# deploy/lib/kafka.sh: run a single Apache Kafka 4.x broker (KRaft, combined
# broker+controller) on loopback, for tests and local development.
#
# Source it; it defines functions and one variable and does nothing else:
#
#   source deploy/lib/kafka.sh
#   kafka_fetch                          # jars into the cache, once
#   read -r port cport < <(free_port 2 | paste -s -d ' ')
#   kafka_start "$dir" "$port" "$cport"  # returns when the broker serves metadata
#   kafka_create_topic "$port" events 3  # bootstrap server: 127.0.0.1:$port
#   ...
#   kafka_stop "$dir"
#
# Functions: kafka_version, kafka_home, kafka_fetch, kafka_start DIR PORT
# CONTROLLER_PORT, kafka_stop DIR, free_port [COUNT], kafka_run_class CLASS
# [ARG...], kafka_create_topic PORT TOPIC [PARTITIONS [ARG...]]. Names that
# start with _kafka_ are internal.
#
# The jars come from Maven Central through deploy/kafka/pom.xml because the
# project's machines reach Maven Central but not the Apache download mirrors.
# They live in $APEXLOOP_CACHE/kafka-VERSION/libs, outside the repository.
#
# Environment (all optional):
#   APEXLOOP_CACHE                 cache root; default ${XDG_CACHE_HOME:-$HOME/.cache}/apexloop
#   APEXLOOP_KAFKA_VERSION         override kafka.version from deploy/kafka/pom.xml
#   APEXLOOP_KAFKA_HEAP_OPTS       broker heap flags; default "-Xmx512m -Xms256m"
#   APEXLOOP_KAFKA_START_TIMEOUT   seconds kafka_start waits for readiness; default 60
#   JAVA_HOME                      use $JAVA_HOME/bin/java instead of java on PATH
#
# Every function returns non-zero on failure instead of exiting, and checks
# each step explicitly: callers may run them under `if` or `||`, where bash
# switches errexit off inside the function.

# Resolved once, at source time, because BASH_SOURCE may be a relative path and
# the caller may cd away before calling us.
_KAFKA_REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)

# The Kafka version: APEXLOOP_KAFKA_VERSION, else kafka.version in the pom, so
# that the pom stays the one place to bump it.
kafka_version() {
  if [[ -n ${APEXLOOP_KAFKA_VERSION:-} ]]; then
    printf '%s\n' "$APEXLOOP_KAFKA_VERSION"
    return 0
  fi
  local pom="$_KAFKA_REPO_ROOT/deploy/kafka/pom.xml" v
  v=$(sed -n 's:.*<kafka\.version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</kafka\.version>.*:\1:p;T;q' "$pom")
  if [[ -z $v ]]; then
    echo "kafka.sh: no <kafka.version> in $pom" >&2
    return 1
  fi
  printf '%s\n' "$v"
}

# Where this version's jars live: $(kafka_home)/libs.
kafka_home() {
  local cache=${APEXLOOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apexloop} v
  v=$(kafka_version) || return 1
  printf '%s/kafka-%s\n' "$cache" "$v"
}

# Copies the broker's jars into $(kafka_home)/libs unless a stamp says this
# exact pom and version were already fetched. The stamp holds the pom's hash
# because copy-dependencies never deletes jars: after a pom change the old
# directory would otherwise keep stale jars next to new ones on the classpath.
kafka_fetch() {
  local pom="$_KAFKA_REPO_ROOT/deploy/kafka/pom.xml" version home want
  version=$(kafka_version) || return 1
  home=$(kafka_home) || return 1
  want="$version $(sha256sum <"$pom" | cut -d ' ' -f 1)" || return 1
  if _kafka_fetched "$home" "$want"; then
    return 0
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    echo "kafka.sh: mvn not found; install maven (deploy/install-deps.sh)" >&2
    return 1
  fi
  mkdir -p -- "$home" || return 1

  # Locked, so that two test scripts starting at once do not both download
  # and then swap libs/ under each other.
  (
    if command -v flock >/dev/null 2>&1; then
      flock -w 900 9 || { echo "kafka.sh: timed out waiting for $home/.lock" >&2; exit 1; }
    fi
    if _kafka_fetched "$home" "$want"; then
      exit 0
    fi
    echo "kafka.sh: fetching Kafka $version jars into $home/libs" >&2
    # Fetch into a fresh directory and swap it in, so that an interrupted
    # fetch never leaves a half-filled libs/ that looks usable.
    tmp=$(mktemp -d "$home/libs.tmp.XXXXXX") && chmod 755 "$tmp" || exit 1
    if ! mvn -B -q -f "$pom" -Dkafka.version="$version" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp" >"$home/fetch.log" 2>&1; then
      echo "kafka.sh: mvn failed fetching Kafka $version; last lines of $home/fetch.log:" >&2
      tail -n 30 "$home/fetch.log" >&2
      rm -rf -- "$tmp"
      exit 1
    fi
    if ! compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null; then
      echo "kafka.sh: mvn succeeded but no kafka_2.13 jar in $tmp" >&2
      rm -rf -- "$tmp"
      exit 1
    fi
    rm -rf -- "$home/libs" && mv -- "$tmp" "$home/libs" || exit 1
    printf '%s\n' "$want" >"$home/.fetched"
  ) 9>"$home/.lock"
}

# kafka_start DIR PORT CONTROLLER_PORT
# Starts a broker+controller with its data, config, log and pid file in DIR
# and returns once it answers metadata requests on 127.0.0.1:PORT. DIR is
# formatted on first use and reused as is afterwards (same cluster, same
# topics), so a restart on the same DIR keeps the data.
kafka_start() {
  if [[ $# -ne 3 ]]; then
    echo "usage: kafka_start DIR PORT CONTROLLER_PORT" >&2
    return 2
  fi
  local dir=$1 port=$2 cport=$3
  if ! _kafka_is_port "$port" || ! _kafka_is_port "$cport" || [[ $port == "$cport" ]]; then
    echo "kafka_start: need two different ports in 1..65535, got '$port' and '$cport'" >&2
    return 2
  fi
  kafka_fetch || return 1
  mkdir -p -- "$dir" || return 1
  # Absolute, since log.dirs and the pid check must not depend on the cwd.
  dir=$(cd -- "$dir" && pwd -P) || return 1

  local pidfile="$dir/kafka.pid" log="$dir/kafka.log" props="$dir/server.properties"
  local old_pid
  if old_pid=$(_kafka_pid_of "$dir"); then
    echo "kafka_start: a broker is already running from $dir (pid $old_pid); kafka_stop it first" >&2
    return 1
  fi
  rm -f -- "$pidfile"

  local home java
  home=$(kafka_home) || return 1
  java=${JAVA_HOME:+$JAVA_HOME/bin/}java
  local -a heap
  read -r -a heap <<<"${APEXLOOP_KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
  # Same GC flags as Kafka's own kafka-run-class.sh; the log4j2 file sends
  # everything to stdout, which we redirect into DIR/kafka.log.
  local -a jvm=(
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$_KAFKA_REPO_ROOT/deploy/kafka/log4j2.properties"
    -cp "$home/libs/*"
  )

  _kafka_write_props "$dir" "$port" "$cport" >"$props" || return 1
  printf '\n===== kafka_start %s: 127.0.0.1:%s controller 127.0.0.1:%s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$port" "$cport" >>"$log"

  # meta.properties is what the storage tool writes last; its presence means
  # the directory is formatted and must not be formatted again (a new cluster
  # id would make the broker refuse its own data).
  if [[ ! -f $dir/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$(_kafka_random_id) || return 1
    # --standalone: Kafka 4 prefers a dynamic quorum
    # (controller.quorum.bootstrap.servers); this seeds it with this node as
    # the only voter.
    if ! kafka_run_class kafka.tools.StorageTool format \
        --config "$props" --cluster-id "$cluster_id" --standalone --ignore-formatted \
        </dev/null >>"$log" 2>&1; then
      echo "kafka_start: formatting $dir/data failed; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
  fi

  # stdin from /dev/null and every output redirected, so the broker holds no
  # descriptor of the caller's (a caller in $(...) or a pipe would otherwise
  # wait for the broker to exit).
  "$java" "${heap[@]}" "${jvm[@]}" kafka.Kafka "$props" </dev/null >>"$log" 2>&1 &
  local pid=$!
  # Out of the job table: no "Killed" notice from bash when kafka_stop has to
  # SIGKILL it, and the caller's `wait` without arguments does not block on it.
  disown "$pid" 2>/dev/null || true
  printf '%s\n' "$pid" >"$pidfile"

  local timeout=${APEXLOOP_KAFKA_START_TIMEOUT:-60}
  if ! _kafka_wait_ready "$pid" "$port" "$timeout"; then
    _kafka_report_failure "$log"
    kafka_stop "$dir" >/dev/null 2>&1 || true
    return 1
  fi
}

# kafka_stop DIR
# Stops the broker started from DIR: SIGTERM (a clean shutdown, so the next
# start needs no log recovery), SIGKILL after 30 s. Returns 0 when nothing
# runs from DIR, including when it never ran.
kafka_stop() {
  if [[ $# -ne 1 ]]; then
    echo "usage: kafka_stop DIR" >&2
    return 2
  fi
  local dir=$1 pid i
  [[ -d $dir ]] || return 0
  dir=$(cd -- "$dir" && pwd -P) || return 1
  if pid=$(_kafka_pid_of "$dir"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      _kafka_alive "$pid" || break
      sleep 0.1
    done
    if _kafka_alive "$pid"; then
      echo "kafka_stop: broker pid $pid ignored SIGTERM for 30s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        _kafka_alive "$pid" || break
        sleep 0.1
      done
      if _kafka_alive "$pid"; then
        echo "kafka_stop: broker pid $pid survived SIGKILL" >&2
        return 1
      fi
    fi
  fi
  rm -f -- "$dir/kafka.pid"
}

# free_port [COUNT]
# Prints COUNT (default 1) distinct TCP ports that are free on 127.0.0.1, one
# per line. All sockets are held open until every port is chosen, so the
# ports differ from each other; another process may still take one before the
# caller binds it, which is the usual, accepted race.
free_port() {
  local count=${1:-1}
  if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: free_port [COUNT]" >&2
    return 2
  fi
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$count" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
    return
  fi
  # Without python: random ports in the ephemeral range that nobody answers
  # on. Weaker (a bound but not listening port looks free), hence the fallback.
  local -A seen=()
  local n=0 p tries=0
  while ((n < count && tries < 1000)); do
    tries=$((tries + 1))
    p=$((32768 + RANDOM % 28000))
    [[ -z ${seen[$p]:-} ]] || continue
    if ! (: <>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      seen[$p]=1
      printf '%s\n' "$p"
      n=$((n + 1))
    fi
  done
  ((n == count))
}

# kafka_run_class CLASS [ARG...]
# Runs a Kafka main class with the cached jars in the foreground, e.g.
#   kafka_run_class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:$port --list
# Warnings and errors go to stderr, so stdout carries only the tool's output.
kafka_run_class() {
  if [[ $# -lt 1 ]]; then
    echo "usage: kafka_run_class CLASS [ARG...]" >&2
    return 2
  fi
  kafka_fetch || return 1
  local home
  home=$(kafka_home) || return 1
  # A small heap, C1 only and the serial GC: tools are short-lived JVMs, and
  # these shave a good part of their start-up on two cores.
  "${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$_KAFKA_REPO_ROOT/deploy/kafka/tools-log4j2.properties" \
    -cp "$home/libs/*" "$@"
}

# kafka_create_topic PORT TOPIC [PARTITIONS [TOPIC_COMMAND_ARG...]]
# Creates TOPIC (replication factor 1, default 1 partition) on the broker at
# 127.0.0.1:PORT; succeeds if it already exists. Extra arguments go to
# TopicCommand as is, e.g. --config cleanup.policy=compact. Needed because
# kcat cannot create topics and the broker does not auto-create them.
kafka_create_topic() {
  if [[ $# -lt 2 ]] || ! _kafka_is_port "$1"; then
    echo "usage: kafka_create_topic PORT TOPIC [PARTITIONS [TOPIC_COMMAND_ARG...]]" >&2
    return 2
  fi
  local port=$1 topic=$2 partitions=${3:-1}
  kafka_run_class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$port" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor 1 "${@:4}" >/dev/null
}

# ---- internals ----------------------------------------------------------

_kafka_fetched() {
  local home=$1 want=$2
  [[ -f $home/.fetched && -d $home/libs && "$(<"$home/.fetched")" == "$want" ]]
}

_kafka_is_port() {
  [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535))
}

# A Kafka Uuid in its string form: 16 random bytes, URL-safe base64 without
# padding. Like Kafka's Uuid.randomUuid(), never one starting with '-', which
# the storage tool's argument parser would take for an option.
_kafka_random_id() {
  local id i
  for ((i = 0; i < 20; i++)); do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n') || return 1
    if [[ ${#id} -eq 22 && $id != -* && $id != AAAAAAAAAAAAAAAAAAAAA[AQ] ]]; then
      printf '%s\n' "$id"
      return 0
    fi
  done
  echo "kafka.sh: could not generate a cluster id" >&2
  return 1
}

_kafka_write_props() {
  local dir=$1 port=$2 cport=$3
  cat <<EOF
# Written by deploy/lib/kafka.sh (kafka_start); rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data

# One broker: every internal topic must accept a replication factor of 1.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The defaults (50 partitions each) make the first consumer group or
# transaction wait seconds while the internal topic is created.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1

# Tests create their topics explicitly; a typo must fail, not create a topic.
auto.create.topics.enable=false
num.partitions=1
# A consumer group's first rebalance would otherwise wait 3 s for more members.
group.initial.rebalance.delay.ms=0

# Two cores: the defaults (3 network, 8 I/O threads) only add contention.
num.network.threads=2
num.io.threads=2
# Small segments and a short retention keep a test broker's disk use small.
log.segment.bytes=16777216
log.retention.hours=24
EOF
}

# True if PID is a live process (a zombie counts as dead: it is only waiting
# for its parent to reap it).
_kafka_alive() {
  local pid=$1 stat
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/stat ]]; then
    stat=$(<"/proc/$pid/stat") 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
  fi
}

# Prints the pid from DIR/kafka.pid if that process is alive and is the
# broker of DIR. A pid file left by a crash or a reboot may name a pid that
# now belongs to an unrelated process, which kafka_stop must not signal.
_kafka_pid_of() {
  local dir=$1 pid cmdline
  [[ -f $dir/kafka.pid ]] || return 1
  pid=$(<"$dir/kafka.pid") || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  _kafka_alive "$pid" || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"kafka.Kafka $dir/server.properties"* ]] || return 1
  fi
  printf '%s\n' "$pid"
}

# Waits until the broker PID answers a metadata request listing one broker
# on 127.0.0.1:PORT. That happens only once the broker has registered with
# the controller and been unfenced, so topics can be created right away;
# the port merely accepting TCP is not enough, the kernel accepts
# connections before Kafka serves them.
_kafka_wait_ready() {
  local pid=$1 port=$2 timeout=$3
  local deadline=$((SECONDS + timeout))
  local have_kcat='' out
  command -v kcat >/dev/null 2>&1 && have_kcat=1
  while ((SECONDS < deadline)); do
    if ! _kafka_alive "$pid"; then
      echo "kafka_start: broker process $pid exited during startup (port $port)" >&2
      return 1
    fi
    if [[ -n $have_kcat ]]; then
      # Captured rather than piped into grep -q: under the caller's pipefail
      # an early grep exit would fail the pipeline with kcat's SIGPIPE.
      out=$(timeout 10 kcat -b "127.0.0.1:$port" -L -m 2 2>/dev/null) || true
      if [[ $out =~ (^|$'\n')\ *1\ brokers: ]]; then
        return 0
      fi
    elif (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      # No kcat: give the broker a moment to finish registering, then make
      # sure it did not die doing so.
      sleep 3
      _kafka_alive "$pid" && return 0
    fi
    sleep 0.25
  done
  echo "kafka_start: broker process $pid not ready on 127.0.0.1:$port within ${timeout}s" >&2
  return 1
}

# Prints why a start failed: the ERROR/FATAL lines of the last start in LOG
# (a failing broker logs its cause once, then pages of orderly shutdown that
# would push it out of any tail), then the last lines.
_kafka_report_failure() {
  local log=$1 from
  from=$(grep -n '^===== kafka_start' "$log" | tail -n 1 | cut -d : -f 1)
  echo "kafka_start: errors logged by this start (from $log):" >&2
  tail -n +"${from:-1}" "$log" | grep -E -A 4 '^\[[^]]*\] (ERROR|FATAL)' | head -n 40 >&2 || true
  echo "kafka_start: last lines of $log:" >&2
  tail -n 15 "$log" >&2
}
