#!/usr/bin/env bash
# Installs what is missing, builds, starts a Kafka broker on free loopback ports (unless
# KAFKA_BOOTSTRAP names one), runs every test, stops what it started. Non-zero on any failure.
#   ./tests/run.sh              everything: sanitizer unit tests, then unit + integration tests
#   APEXLOOP_SKIP_SANITIZE=1    skip the ASan+UBSan build (for a quick local loop)
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"

./deploy/install-deps.sh
# shellcheck source=../deploy/lib/build.sh
source deploy/lib/build.sh
# shellcheck source=../deploy/lib/kafka.sh
source deploy/lib/kafka.sh

echo "== build"
apexloop_build build

if [[ ${APEXLOOP_SKIP_SANITIZE:-0} != 1 ]]; then
  echo "== unit tests under ASan+UBSan"
  # Debug (-O0) builds much faster than an optimised sanitizer build and finds the same bugs.
  apexloop_build build-asan -DAPEXLOOP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -- \
    core_tests events_tests runtime_tests projector_tests command_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j 2
fi

work=$(mktemp -d /tmp/apexloop-tests.XXXXXX)
# Every process a test spawns is listed here, so that none outlives a test that crashed.
export APEXLOOP_TEST_PID_FILE=$work/spawned.pids
cleanup() {
  if [[ -f $APEXLOOP_TEST_PID_FILE ]]; then
    while read -r pid; do
      # Only what is still one of ours: a recycled pid must not be touched.
      [[ -r /proc/$pid/cmdline ]] || continue
      if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'apexloop-(command-service|projector|query-service)|apexloop-e2e'; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$APEXLOOP_TEST_PID_FILE"
  fi
  if [[ -z ${KAFKA_BOOTSTRAP_GIVEN:-} ]]; then kafka_stop "$work/kafka" >/dev/null 2>&1 || true; fi
  rm -rf -- "$work"
}
trap cleanup EXIT

if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
  KAFKA_BOOTSTRAP_GIVEN=1
  echo "== using the Kafka cluster at $KAFKA_BOOTSTRAP"
else
  echo "== starting a Kafka broker"
  read -r port cport < <(free_port 2 | paste -s -d ' ')
  kafka_start "$work/kafka" "$port" "$cport"
  export KAFKA_BOOTSTRAP=127.0.0.1:$port
fi

echo "== unit and integration tests"
ctest --test-dir build --output-on-failure -j 2
