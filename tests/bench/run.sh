#!/usr/bin/env bash
# Runs the benchmarks and prints their results as markdown rows for the README. Not a test: it
# reports what it measured on this machine and asserts nothing.
#   tests/bench/run.sh [records=100000] [clients=200]
# Query throughput: wrk -t2 -c32 on loopback against a contact's 50-row list and a single record
# served by the query service, and against nginx serving the same list bytes as a static file,
# in the same run. Re-projection: tests/bench/reprojection_bench on a real RocksDB store.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$root"
records=${1:-100000}
clients=${2:-200}

./deploy/install-deps.sh
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# shellcheck source=../../deploy/lib/build.sh
source deploy/lib/build.sh
# shellcheck source=../../deploy/lib/kafka.sh
source deploy/lib/kafka.sh
# shellcheck source=../../deploy/lib/services.sh
source deploy/lib/services.sh
apexloop_build build >/dev/null

work=$(mktemp -d /tmp/apexloop-bench.XXXXXX)
export APEXLOOP_RUN_DIR=$work
mkdir -p "$work/logs" "$work/nginx-tmp" "$work/static"
cleanup() {
  for s in nginx query-service projector; do service_stop "$s" >/dev/null 2>&1 || true; done
  kafka_stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf -- "$work"
}
trap cleanup EXIT

read -r kport cport qport pport nport < <(free_port 5 | paste -s -d ' ')
kafka_start "$work/kafka" "$kport" "$cport"
export KAFKA_BOOTSTRAP=127.0.0.1:$kport APEXLOOP_TOPIC=apexloop.bench APEXLOOP_DATA_DIR=$work/data
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$work/session.key"
export APEXLOOP_SESSION_KEY_FILE=$work/session.key
export APEXLOOP_QUERY_LISTEN=127.0.0.1:$qport APEXLOOP_PROJECTOR_LISTEN=127.0.0.1:$pport
# wrk is one client address far above any sane per-address limit: measure the service, not the limit.
export APEXLOOP_RATE_LIMIT_PER_SECOND=0

echo "== loading $records records for $clients clients into the log" >&2
build/tests/bench/read_bench_setup "$work" "$records" "$clients" >&2
service_start projector build/projector/apexloop-projector >/dev/null
service_start query-service build/query-service/apexloop-query-service >/dev/null
token=$(cat "$work/token")
record=$(cat "$work/record")
position=$(cat "$work/position")
list="/api/v1/databases/tickets/records?limit=50"
start=$(date +%s.%N)
for ((i = 0; i < 1200; i++)); do
  code=$(curl -s -o "$work/static/list.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
    -H "Apexloop-After: $position" "http://127.0.0.1:$qport$list" || true)
  [[ $code == 200 ]] && break
  sleep 0.5
done
[[ $code == 200 ]] || { echo "bench: the read models never caught up" >&2; exit 1; }
ingest=$(echo "$(date +%s.%N) - $start" | bc)
bytes=$(wc -c <"$work/static/list.json")

cat >"$work/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp;
  server {
    listen 127.0.0.1:$nport;
    location / { root $work/static; default_type application/json; }
  }
}
CONF
service_start nginx /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" >/dev/null
sleep 1

measure() { # NAME URL [HEADER] -> "req/s p50 p99"
  local out
  out=$(wrk -t2 -c32 -d10s --latency ${3:+-H "$3"} "$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%s|%s|%s|%s\n' "$1" "$rps" "$p50" "$p99"
}

wrk -t2 -c32 -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:$qport$list" >/dev/null  # warm-up
results=$(
  measure "nginx, the same list bytes as a static file" "http://127.0.0.1:$nport/list.json"
  measure "query service, contact's 50-row list" "http://127.0.0.1:$qport$list" "Authorization: Bearer $token"
  measure "query service, one record by id" "http://127.0.0.1:$qport/api/v1/databases/tickets/records/$record" "Authorization: Bearer $token"
)
rss=$(ps -o rss= -p "$(cat "$work/query-service.pid")")
peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$(cat "$work/query-service.pid")/status")  # kB, the run's peak
reproj=""
[[ ${APEXLOOP_BENCH_SKIP_REPROJECTION:-0} == 1 ]] || reproj=$(build/tests/bench/reprojection_bench "$records" "$clients")

cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
echo "Machine: $(nproc) cores, $cpu, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%d); records=$records clients=$clients; list body $bytes bytes"
echo
echo "| what | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
while IFS='|' read -r name rps p50 p99; do echo "| $name | $rps | $p50 | $p99 |"; done <<<"$results"
echo
echo "- projector ingest of the loaded log (start to the contact seeing it): ${ingest} s"
echo "- query service RSS after the run: $((rss / 1024)) MiB (peak $((peak / 1024)) MiB)"
[[ -z $reproj ]] || echo "$reproj" | sed 's/^/- re-projection bench: /'
