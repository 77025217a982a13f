#!/usr/bin/env bash
# Start a throwaway RabbitMQ node on loopback for `warren bench --compare`.
#
#   bench/amqp/rabbitmq.sh start [port]   start it (default port 5673), print its URL and pid
#   bench/amqp/rabbitmq.sh stop [port]    stop it and remove its temporary directory
#   bench/amqp/rabbitmq.sh url [port]     print the URL of a running node
#   bench/amqp/rabbitmq.sh pid [port]     print the pid of its beam.smp (for --other-broker-pid)
#
# Or source it and call rabbitmq_start / rabbitmq_stop. Needs rabbitmq-server installed
# (apt-get install -y rabbitmq-server); nothing in CI needs it. The node keeps everything
# (mnesia, logs, Erlang cookie) under /tmp/warren-bench-rabbitmq-<port>, listens on 127.0.0.1
# only, and runs without plugins (RABBITMQ_STREAM_PORT=N enables rabbitmq_stream on 127.0.0.1:N).
# Example:
#
#   url=$(bench/amqp/rabbitmq.sh start | head -1)
#   node dist/src/cli/main.js bench --start-broker --compare "$url" --scenario S1,S2,S3 --duration 10
#   bench/amqp/rabbitmq.sh stop

RABBITMQ_SBIN=${RABBITMQ_SBIN:-/usr/lib/rabbitmq/bin}

_rabbitmq_env() {
  local port=${1:-5673}
  RMQ_PORT=$port
  RMQ_BASE=/tmp/warren-bench-rabbitmq-$port
  RMQ_NODE=warrenbench$port@localhost
  export HOME=$RMQ_BASE # the Erlang cookie lives in $HOME
  export RABBITMQ_NODENAME=$RMQ_NODE
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$port
  export RABBITMQ_DIST_PORT=$((port + 20000))
  export RABBITMQ_MNESIA_BASE=$RMQ_BASE/mnesia
  export RABBITMQ_LOG_BASE=$RMQ_BASE/log
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_BASE/enabled_plugins
  export RABBITMQ_CONFIG_FILE=$RMQ_BASE/rabbitmq # .conf is appended
  export RABBITMQ_ADVANCED_CONFIG_FILE=$RMQ_BASE/advanced.config
  export RABBITMQ_PID_FILE=$RMQ_BASE/rabbitmq.pid
  # Erlang schedulers spin while idle by default; on a 2-core machine shared with Warren and the
  # load generator that spinning would take CPU from whichever broker is being measured.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-+sbwt none +sbwtdcpu none +sbwtdio none}"
  export ERL_CRASH_DUMP=$RMQ_BASE/erl_crash.dump # not in the current directory
}

rabbitmq_url() {
  _rabbitmq_env "$@"
  echo "amqp://guest:guest@127.0.0.1:$RMQ_PORT"
}

rabbitmq_pid() {
  _rabbitmq_env "$@"
  [ -f "$RABBITMQ_PID_FILE" ] && echo "$(cat "$RABBITMQ_PID_FILE")"
}

rabbitmq_start() {
  if [ ! -x "$RABBITMQ_SBIN/rabbitmq-server" ]; then
    echo "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)" >&2
    return 1
  fi
  _rabbitmq_env "$@"
  if [ -d "$RMQ_BASE" ] && "$RABBITMQ_SBIN/rabbitmqctl" -n "$RMQ_NODE" status >/dev/null 2>&1; then
    echo "RabbitMQ node $RMQ_NODE is already running" >&2
    rabbitmq_url "$@"
    return 0
  fi
  rm -rf "$RMQ_BASE"
  mkdir -p "$RMQ_BASE/mnesia" "$RMQ_BASE/log"
  if [ -n "${RABBITMQ_STREAM_PORT:-}" ]; then
    echo "[rabbitmq_stream]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  else
    echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  fi
  echo "[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}]." > "$RABBITMQ_ADVANCED_CONFIG_FILE"
  cat > "$RABBITMQ_CONFIG_FILE.conf" <<EOF
loopback_users.guest = true
listeners.tcp.default = 127.0.0.1:$RMQ_PORT
EOF
  if [ -n "${RABBITMQ_STREAM_PORT:-}" ]; then
    cat >> "$RABBITMQ_CONFIG_FILE.conf" <<EOF
stream.listeners.tcp.1 = 127.0.0.1:$RABBITMQ_STREAM_PORT
stream.advertised_host = 127.0.0.1
stream.advertised_port = $RABBITMQ_STREAM_PORT
EOF
  fi
  # the server forks beam.smp; its stdout goes to a log file in the temp directory
  "$RABBITMQ_SBIN/rabbitmq-server" >"$RMQ_BASE/log/stdout.log" 2>&1 &
  # await_startup gives up at once while the node is not registered with epmd yet: retry
  local deadline=$((SECONDS + 180))
  until "$RABBITMQ_SBIN/rabbitmqctl" -n "$RMQ_NODE" --timeout 60 await_startup >"$RMQ_BASE/log/await.log" 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 $! 2>/dev/null; then
      echo "RabbitMQ did not start; see $RMQ_BASE/log" >&2
      tail -20 "$RMQ_BASE/log/stdout.log" >&2
      return 1
    fi
    sleep 1
  done
  rabbitmq_url "$@"
  echo "pid $(rabbitmq_pid "$@") node $RMQ_NODE version $("$RABBITMQ_SBIN/rabbitmqctl" -n "$RMQ_NODE" version 2>/dev/null)" >&2
}

rabbitmq_stop() {
  _rabbitmq_env "$@"
  [ -d "$RMQ_BASE" ] || return 0 # the Erlang CLI needs $HOME (the cookie) to exist
  "$RABBITMQ_SBIN/rabbitmqctl" -n "$RMQ_NODE" stop >/dev/null 2>&1 || true
  rm -rf "$RMQ_BASE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cmd=${1:-start}
  shift || true
  case "$cmd" in
    start) rabbitmq_start "$@" ;;
    stop) rabbitmq_stop "$@" ;;
    url) rabbitmq_url "$@" ;;
    pid) rabbitmq_pid "$@" ;;
    *) echo "usage: $0 start|stop|url|pid [port]" >&2; exit 2 ;;
  esac
fi
