# shellcheck shell=bash
# deploy/lib/services.sh: start a process in the background once, with its PID in
# $APEXLOOP_RUN_DIR/<name>.pid and its output in $APEXLOOP_RUN_DIR/logs/<name>.log.

# service_running NAME: the pid file names a live process.
service_running() {
  local pidfile=$APEXLOOP_RUN_DIR/$1.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# service_start NAME COMMAND [ARGS...]
service_start() {
  local name=$1
  shift
  if service_running "$name"; then
    echo "   $name already running (pid $(cat "$APEXLOOP_RUN_DIR/$name.pid"))"
    return 0
  fi
  "$@" </dev/null >>"$APEXLOOP_RUN_DIR/logs/$name.log" 2>&1 &
  local pid=$!
  disown "$pid" 2>/dev/null || true
  echo "$pid" >"$APEXLOOP_RUN_DIR/$name.pid"
  echo "   $name started (pid $pid)"
}

# service_wait_ready NAME URL: waits up to 60 s for URL to answer 200.
service_wait_ready() {
  local name=$1 url=$2 i
  for ((i = 0; i < 600; i++)); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    if ! service_running "$name"; then
      echo "up.sh: $name exited; last lines of $APEXLOOP_RUN_DIR/logs/$name.log:" >&2
      tail -n 20 "$APEXLOOP_RUN_DIR/logs/$name.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "up.sh: $name not ready at $url after 60 s; see $APEXLOOP_RUN_DIR/logs/$name.log" >&2
  return 1
}

# service_stop NAME: TERM, then KILL after 20 s.
service_stop() {
  local name=$1 pidfile=$APEXLOOP_RUN_DIR/$1.pid pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    echo "   $name stopped"
  fi
  rm -f -- "$pidfile"
}
