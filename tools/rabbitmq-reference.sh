#!/usr/bin/env bash
# A throwaway RabbitMQ 3.10 node with the management plugin, to check Warren's HTTP API and
# policy precedence against the reference (outside CI; see test/management/policy-precedence.test.ts).
#
#   tools/rabbitmq-reference.sh start [amqp-port]   start it (default 5674; HTTP on amqp-port + 10000,
#                                                   Prometheus on amqp-port + 10018)
#   tools/rabbitmq-reference.sh stop [amqp-port]
#
# Needs rabbitmq-server (apt-get install -y rabbitmq-server). Everything lives under
# /tmp/warren-bench-rabbitmq-<port>, as with bench/amqp/rabbitmq.sh, whose functions it reuses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../bench/amqp/rabbitmq.sh
source "$here/../bench/amqp/rabbitmq.sh"
cmd=${1:-start}
port=${2:-5674}
case "$cmd" in
  start)
    _rabbitmq_env "$port"
    rm -rf "$RMQ_BASE"
    mkdir -p "$RMQ_BASE/mnesia" "$RMQ_BASE/log"
    echo "[rabbitmq_management,rabbitmq_prometheus]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    echo "[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}]." > "$RABBITMQ_ADVANCED_CONFIG_FILE"
    cat > "$RABBITMQ_CONFIG_FILE.conf" <<CONF
loopback_users.guest = true
listeners.tcp.default = 127.0.0.1:$port
management.tcp.ip = 127.0.0.1
management.tcp.port = $((port + 10000))
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $((port + 10018))
CONF
    "$RABBITMQ_SBIN/rabbitmq-server" >"$RMQ_BASE/log/stdout.log" 2>&1 &
    deadline=$((SECONDS + 180))
    until "$RABBITMQ_SBIN/rabbitmqctl" -n "$RMQ_NODE" --timeout 60 await_startup >/dev/null 2>&1; do
      if [ $SECONDS -ge $deadline ]; then echo "RabbitMQ did not start; see $RMQ_BASE/log" >&2; exit 1; fi
      sleep 1
    done
    echo "amqp://guest:guest@127.0.0.1:$port http://127.0.0.1:$((port + 10000)) prometheus http://127.0.0.1:$((port + 10018))"
    ;;
  stop) rabbitmq_stop "$port" ;;
  *) echo "usage: $0 start|stop [port]" >&2; exit 2 ;;
esac
