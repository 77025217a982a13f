#!/usr/bin/env bash
# The issue's failover target: kill -9 the leader 20 times during confirmed publishing and acked
# consuming (3 nodes and an etcd on loopback, lease TTL 3 s), and print the summary line:
#   failover cycles=20 confirmed=N lost=0 duplicates=D failover_ms min=.. p50=.. p99=.. max=..
# Needs /usr/bin/etcd (Debian etcd-server). Takes about 3-4 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
CLUSTER_CYCLES=${CLUSTER_CYCLES:-20} npx tap --reporter=tap --timeout 900 test/cluster/failover.test.ts 2>&1 \
  | grep -E '^\s+# (cycle|failover)|not ok' | sed 's/^ *# //'
