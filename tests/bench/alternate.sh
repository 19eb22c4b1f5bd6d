#!/usr/bin/env bash
# Compares two builds of the cold replay bench on a machine whose speed drifts: runs them in
# turn, each on a freshly started broker with the page cache dropped (when root), and prints a
# line per run, then each build's median. Only runs made this way compare (see the README's
# "Cold replay"). Not a test: it reports what it measured and asserts nothing.
#
#   tests/bench/alternate.sh ROUNDS BENCH_A BENCH_B [replay_bench arguments...]
#
# BENCH_A and BENCH_B are replay_bench binaries: copy one aside before building the other, e.g.
#   cp build/tests/bench/replay_bench /tmp/before   # ... change, build ...
#   tests/bench/alternate.sh 4 /tmp/before build/tests/bench/replay_bench 1000000 200
# Both must print the same read-model hash: a change that alters it changed the read models.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
if [[ $# -lt 3 || ! $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 ROUNDS BENCH_A BENCH_B [replay_bench arguments...]" >&2
  exit 2
fi
rounds=$1
benches=("$(realpath "$2")" "$(realpath "$3")")
shift 3
for b in "${benches[@]}"; do
  [[ -x $b ]] || { echo "not an executable: $b" >&2; exit 2; }
done
cd "$root"
# shellcheck source=../../deploy/lib/kafka.sh
source deploy/lib/kafka.sh

work=$(mktemp -d /tmp/apexloop-alternate.XXXXXX)
cleanup() {
  kafka_stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf -- "$work"
}
trap cleanup EXIT

labels=(A B)
declare -a times_a=() times_b=()
for ((round = 1; round <= rounds; round++)); do
  for which in 0 1; do
    kafka_stop "$work/kafka" >/dev/null 2>&1 || true
    rm -rf -- "$work/kafka"
    read -r port cport < <(free_port 2 | paste -s -d ' ')
    kafka_start "$work/kafka" "$port" "$cport" >/dev/null
    if [[ $EUID -eq 0 ]]; then
      sync
      echo 3 >/proc/sys/vm/drop_caches
    fi
    out=$(TMPDIR=$work KAFKA_BOOTSTRAP=127.0.0.1:$port "${benches[$which]}" "$@" 2>&1) || {
      echo "$out" >&2
      exit 1
    }
    secs=$(grep -oE 'in [0-9.]+ s =' <<<"$out" | grep -oE '[0-9.]+')
    cpu=$(grep -oE 'CPU: [0-9.]+ s' <<<"$out" | grep -oE '[0-9.]+')
    applying=$(grep -oE '[0-9.]+ s of it the applying' <<<"$out" | grep -oE '^[0-9.]+')
    flush=$(grep -oE '(memtables|table file): [0-9.]+' <<<"$out" | grep -oE '[0-9.]+')
    hash=$(grep -oE 'hash [0-9a-f]{8}' <<<"$out" | cut -d' ' -f2)
    printf 'round %d %s: %s s (CPU %s s, applying thread %s s, last file or flush %s s) hash %s\n' \
      "$round" "${labels[$which]}" "$secs" "$cpu" "$applying" "$flush" "$hash"
    if [[ $which -eq 0 ]]; then times_a+=("$secs"); else times_b+=("$secs"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "median A ${benches[0]}: $(median "${times_a[@]}") s"
echo "median B ${benches[1]}: $(median "${times_b[@]}") s"
