#!/usr/bin/env bash
# Installs what is missing, builds, and starts Kafka (unless KAFKA_BOOTSTRAP names a cluster),
# the three services and nginx on loopback; only what is not already running. Returns once all
# are ready, then loads a small demo workspace (once: deploy/demo.sh does nothing when its
# workspace is there already; `--no-demo` skips it). Stop everything with ./deploy/down.sh.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"

demo=1
for arg in "$@"; do
  case $arg in
    --demo) demo=1 ;;  # the default; kept so that older instructions still work
    --no-demo) demo=0 ;;
    -h | --help)
      sed -n '2,5p' "$0"
      exit 0
      ;;
    *)
      echo "up.sh: unknown argument $arg (try --no-demo)" >&2
      exit 2
      ;;
  esac
done

./deploy/install-deps.sh
# shellcheck source=lib/build.sh
source deploy/lib/build.sh
# shellcheck source=lib/kafka.sh
source deploy/lib/kafka.sh
# shellcheck source=lib/services.sh
source deploy/lib/services.sh

echo "== build"
apexloop_build build >/dev/null

run=${APEXLOOP_RUN_DIR:-$root/.run}
mkdir -p "$run/data" "$run/logs" "$run/nginx-tmp"
run=$(cd -- "$run" && pwd -P)
export APEXLOOP_RUN_DIR=$run

if [[ -n ${KAFKA_BOOTSTRAP:-} ]]; then
  echo "== using the Kafka cluster at $KAFKA_BOOTSTRAP"
else
  export KAFKA_BOOTSTRAP=127.0.0.1:${APEXLOOP_KAFKA_PORT:-9092}
  if [[ -f $run/kafka/kafka.pid ]] && kill -0 "$(cat "$run/kafka/kafka.pid")" 2>/dev/null; then
    echo "== kafka already running at $KAFKA_BOOTSTRAP"
  else
    echo "== starting kafka at $KAFKA_BOOTSTRAP"
    kafka_start "$run/kafka" "${APEXLOOP_KAFKA_PORT:-9092}" "${APEXLOOP_KAFKA_CONTROLLER_PORT:-9093}"
    ln -sf "$run/kafka/kafka.pid" "$run/kafka.pid"
  fi
fi

# Secrets made once per run directory, readable by root only; never printed into logs.
umask 077
[[ -s $run/session.key ]] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$run/session.key"
if [[ -z ${APEXLOOP_BOOTSTRAP_TOKEN:-} ]]; then
  [[ -s $run/bootstrap.token ]] || od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$run/bootstrap.token"
  APEXLOOP_BOOTSTRAP_TOKEN=$(cat "$run/bootstrap.token")
fi
umask 022
export APEXLOOP_BOOTSTRAP_TOKEN APEXLOOP_SESSION_KEY_FILE=$run/session.key APEXLOOP_DATA_DIR=$run/data
export APEXLOOP_COMMAND_LISTEN=127.0.0.1:${APEXLOOP_COMMAND_PORT:-8081}
export APEXLOOP_QUERY_LISTEN=127.0.0.1:${APEXLOOP_QUERY_PORT:-8082}
export APEXLOOP_PROJECTOR_LISTEN=127.0.0.1:${APEXLOOP_PROJECTOR_PORT:-8083}
origin_port=${APEXLOOP_ORIGIN_PORT:-8080}

echo "== starting services"
service_start command-service "$root/build/command-service/apexloop-command-service"
service_start projector "$root/build/projector/apexloop-projector"
service_start query-service "$root/build/query-service/apexloop-query-service"
sed -e "s#@RUN_DIR@#$run#g" -e "s#@LISTEN_PORT@#$origin_port#g" \
  -e "s#@COMMAND_PORT@#${APEXLOOP_COMMAND_LISTEN##*:}#g" -e "s#@QUERY_PORT@#${APEXLOOP_QUERY_LISTEN##*:}#g" \
  deploy/nginx.conf.template >"$run/nginx.conf"
service_start nginx /usr/sbin/nginx -c "$run/nginx.conf" -p "$run"

service_wait_ready command-service "http://$APEXLOOP_COMMAND_LISTEN/readyz"
service_wait_ready projector "http://$APEXLOOP_PROJECTOR_LISTEN/readyz"
service_wait_ready query-service "http://$APEXLOOP_QUERY_LISTEN/readyz"
service_wait_ready nginx "http://127.0.0.1:$origin_port/"

origin="http://127.0.0.1:$origin_port"
if [[ $demo == 1 ]]; then
  ./deploy/demo.sh "$origin"
fi

cat <<MSG

Apexloop is up.
  API origin      $origin/api/v1/   (reads -> query-service, writes -> command-service)
  Kafka           $KAFKA_BOOTSTRAP  topic ${APEXLOOP_TOPIC:-apexloop.events}
                  kcat -b $KAFKA_BOOTSTRAP -C -t ${APEXLOOP_TOPIC:-apexloop.events} -e
  Bootstrap token $run/bootstrap.token (create a workspace with it: see README)
  Logs and PIDs   $run/logs, $run/*.pid
  Stop            ./deploy/down.sh
MSG
if [[ $demo == 1 ]]; then
  echo "  Demo            $run/demo.env (workspace id, admin e-mail and password)"
fi
