#!/usr/bin/env bash
# Stops everything deploy/up.sh started (services first, then Kafka). Data stays in the run dir.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
# shellcheck source=lib/kafka.sh
source deploy/lib/kafka.sh
# shellcheck source=lib/services.sh
source deploy/lib/services.sh
export APEXLOOP_RUN_DIR=${APEXLOOP_RUN_DIR:-$root/.run}
[[ -d $APEXLOOP_RUN_DIR ]] || exit 0
for name in nginx query-service projector command-service; do service_stop "$name"; done
if [[ -d $APEXLOOP_RUN_DIR/kafka ]]; then
  kafka_stop "$APEXLOOP_RUN_DIR/kafka" && echo "   kafka stopped"
  rm -f -- "$APEXLOOP_RUN_DIR/kafka.pid"
fi
