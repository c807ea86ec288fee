#!/usr/bin/env bash
# Runs a command with throwaway Redis servers for the C tests: a single server and a 3-master
# Redis Cluster on free 127.0.0.1 ports (scripts/redis-harness.sh), described to the command
# through KS_TEST_* variables; both are stopped when the command ends, however it ends.
#   tests/c/with_redis.sh [--no-cluster] COMMAND [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
harness="$root/scripts/redis-harness.sh"
single="" cluster="" want_cluster=1
if [ "${1:-}" = --no-cluster ]; then want_cluster=0; shift; fi
cleanup() {
  [ -n "$single" ] && bash "$harness" stop "$single" || true
  [ -n "$cluster" ] && bash "$harness" stop "$cluster" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

value() { sed -n "s/^$1=//p" <<<"$2"; }

out=$(bash "$harness" start --owner-pid $$)
single=$(value REDIS_HARNESS_DIR "$out")
export KS_TEST_HARNESS="$harness" KS_TEST_REDIS_DIR="$single"
export KS_TEST_REDIS_URL=$(value REDIS_URL "$out") KS_TEST_REDIS_PORT=$(value REDIS_PORTS "$out")

if [ "$want_cluster" = 1 ]; then
  out=$(bash "$harness" start --cluster --owner-pid $$)
  cluster=$(value REDIS_HARNESS_DIR "$out")
  export KS_TEST_CLUSTER_NODES=$(value REDIS_NODES "$out") KS_TEST_CLUSTER_PORTS=$(value REDIS_PORTS "$out")
  export KS_TEST_CLUSTER_PORT=${KS_TEST_CLUSTER_PORTS%%,*}
fi

"$@"
