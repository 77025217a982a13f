#!/usr/bin/env bash
# S3 (1 KiB persistent messages, durable queue, confirm window 512) against a 3-node cluster on
# this machine (its confirms wait for the leader's and both followers' fdatasync), against a
# single node, and, when rabbitmq-server is installed, against RabbitMQ in the same run.
#   bench/cluster/s3.sh [duration seconds, default 10]
#   CLUSTER_TLS=1 bench/cluster/s3.sh   # the nodes get a certificate: replication over TLS
# Prints one line per broker and the ratios. Needs /usr/bin/etcd (and openssl for CLUSTER_TLS).
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${1:-10}
npm run build >/dev/null
main=dist/src/cli/main.js
node_flags=(--initial-old-space-size=64 --max-semi-space-size=4)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
  [ -z "${rmq_started:-}" ] || bench/amqp/rabbitmq.sh stop 5699 >/dev/null 2>&1 || true
}
trap cleanup EXIT
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

s3() { # url -> confirmed msg/s
  node "$main" bench --url "$1" --scenario S3 --duration "$dur" --json 2>/dev/null \
    | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{let v=0;for(const l of s.split('\n')){try{const j=JSON.parse(l);if(j.type==='result'&&typeof j.confirm_rate==='number')v=j.confirm_rate}catch{}}console.log(Math.round(v))})"
}

# etcd and three nodes
ec=$(free_port); ep=$(free_port)
etcd --name b --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$ec" --advertise-client-urls "http://127.0.0.1:$ec" \
  --listen-peer-urls "http://127.0.0.1:$ep" --initial-advertise-peer-urls "http://127.0.0.1:$ep" --initial-cluster "b=http://127.0.0.1:$ep" \
  --log-level error >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$ec/version" >/dev/null && break; sleep 0.1; done
ports=()
tls_args=()
if [ -n "${CLUSTER_TLS:-}" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 1 -subj /CN=localhost >/dev/null 2>&1
  tls_args=(--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
fi
for i in 1 2 3; do
  p=$(free_port); h=$(free_port); r=$(free_port); ports+=("$p")
  WARREN_CLUSTER_SECRET=bench-cluster-secret node "${node_flags[@]}" "$main" start --cluster --etcd "http://127.0.0.1:$ec" --cluster-name bench \
    --port "$p" --http-port "$h" --stream-port 0 --host 127.0.0.1 --data-dir "$tmp/n$i" --advertise "127.0.0.1:$p" \
    --replication-port "$r" --lease-ttl 5 --log-level warning "${tls_args[@]}" >"$tmp/n$i.out" 2>&1 &
  pids+=($!)
done
leader=""
for _ in $(seq 100); do
  for i in 1 2 3; do grep -q 'warren ready' "$tmp/n$i.out" 2>/dev/null && leader=${ports[$((i-1))]}; done
  [ -n "$leader" ] && break; sleep 0.2
done
[ -n "$leader" ] || { echo "no leader"; cat "$tmp"/n*.out; exit 1; }
for _ in $(seq 100); do
  n=$(node "$main" cluster status --json --etcd "http://127.0.0.1:$ec" --cluster-name bench | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).isr.length))")
  [ "$n" = 3 ] && break; sleep 0.2
done
cluster=$(s3 "amqp://guest:guest@127.0.0.1:$leader")
echo "S3 3-node cluster (ISR 3, confirms after 3 fdatasyncs${CLUSTER_TLS:+, replication over TLS}): $cluster confirmed msg/s"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
sleep 2; pids=()

# a single node
p=$(free_port); h=$(free_port)
node "${node_flags[@]}" "$main" start --port "$p" --http-port "$h" --stream-port 0 --host 127.0.0.1 --data-dir "$tmp/single" --log-level warning >"$tmp/single.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'warren ready' "$tmp/single.out" && break; sleep 0.1; done
single=$(s3 "amqp://guest:guest@127.0.0.1:$p")
echo "S3 single node: $single confirmed msg/s"
echo "cluster / single node: $(node -e "console.log(($cluster/$single).toFixed(2))") (target >= 0.40)"

if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || [ -x /usr/sbin/rabbitmq-server ]; then
  rmq_started=1
  url=$(bench/amqp/rabbitmq.sh start 5699 | head -1)
  rmq=$(s3 "$url")
  echo "S3 RabbitMQ: $rmq confirmed msg/s"
  echo "cluster / RabbitMQ: $(node -e "console.log(($cluster/$rmq).toFixed(2))") (target >= 3)"
fi
