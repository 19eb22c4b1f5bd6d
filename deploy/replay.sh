#!/usr/bin/env bash
# Deterministic replay of the read models from the event log (issue 6).
#   deploy/replay.sh --verify     rebuild every read model from offset 0 into a fresh directory, up
#                                 to the live projector's stored offsets, and compare the hashes of
#                                 both (printed); exit 1 when they differ, 2 on any failure
#   deploy/replay.sh --into DIR   rebuild into DIR up to the log's end now and compact it, for a
#                                 blue-green switch: start a projector with APEXLOOP_DATA_DIR=DIR
#                                 (it resumes from there), point the query service at it, retire
#                                 the old one
# Uses the environment of up.sh: KAFKA_BOOTSTRAP, APEXLOOP_TOPIC, APEXLOOP_DATA_DIR (the live
# projector's, default $APEXLOOP_RUN_DIR/data). The live projector keeps running meanwhile.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
bin=${APEXLOOP_PROJECTOR_BIN:-$root/build/projector/apexloop-projector}
run=${APEXLOOP_RUN_DIR:-$root/.run}
export KAFKA_BOOTSTRAP=${KAFKA_BOOTSTRAP:-127.0.0.1:${APEXLOOP_KAFKA_PORT:-9092}}
live=${APEXLOOP_DATA_DIR:-$run/data}

usage() {
  echo "usage: deploy/replay.sh --verify | --into DIR" >&2
  exit 2
}
[[ -x $bin ]] || { echo "replay.sh: $bin not built; run deploy/up.sh or tests/run.sh" >&2; exit 2; }

case ${1:-} in
  --verify)
    [[ $# -eq 1 ]] || usage
    [[ -f $live/readmodel/CURRENT ]] || { echo "replay.sh: no read models at $live" >&2; exit 2; }
    work=$(mktemp -d "${TMPDIR:-/tmp}/apexloop-replay.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    "$bin" replay --verify "$live" "$work/fresh"
    ;;
  --into)
    [[ $# -eq 2 ]] || usage
    "$bin" replay --into "$2"
    ;;
  *) usage ;;
esac
