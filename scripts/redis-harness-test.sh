#!/usr/bin/env bash
# Checks scripts/redis-harness.sh itself: start/stop, crash + restart with AOF, pause,
# cluster creation, and the owner-pid safety net. Leaves no server behind.
set -uo pipefail
cd "$(dirname "$0")/.."
H=scripts/redis-harness.sh
passed=0 failed=0 dirs=()
cleanup() { for d in "${dirs[@]}"; do [ -d "$d" ] && bash $H stop "$d" >/dev/null 2>&1; done; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
check() { # NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
cli() { redis-cli -h 127.0.0.1 "$@" 2>/dev/null; }

eval "$(bash $H start --aof --unix-socket --owner-pid $$)"; dirs+=("$REDIS_HARNESS_DIR")
check "single server answers" test "$(cli -p "$REDIS_PORTS" ping)" = PONG
check "not the shared 6379" test "$REDIS_PORTS" != 6379
check "unix socket answers" test "$(redis-cli -s "$REDIS_SOCKET" ping)" = PONG
check "write" test "$(cli -p "$REDIS_PORTS" set k v)" = OK
bash $H kill "$REDIS_HARNESS_DIR"
check "killed server is down" test -z "$(cli -p "$REDIS_PORTS" ping)"
bash $H restart "$REDIS_HARNESS_DIR"
check "restart on the same port keeps AOF data" test "$(cli -p "$REDIS_PORTS" get k)" = v
bash $H pause "$REDIS_HARNESS_DIR"
check "paused server does not answer" test -z "$(timeout 1 redis-cli -h 127.0.0.1 -p "$REDIS_PORTS" ping 2>/dev/null)"
bash $H resume "$REDIS_HARNESS_DIR"
check "resumed server answers" test "$(cli -p "$REDIS_PORTS" ping)" = PONG
single_dir=$REDIS_HARNESS_DIR single_port=$REDIS_PORTS
bash $H stop "$single_dir"
check "stop kills the server" test -z "$(cli -p "$single_port" ping)"
check "stop removes the directory" test ! -e "$single_dir"

eval "$(bash $H start --cluster --owner-pid $$)"; dirs+=("$REDIS_HARNESS_DIR")
IFS=, read -r -a ports <<< "$REDIS_PORTS"
check "cluster has three nodes" test "${#ports[@]}" = 3
check "cluster state ok" grep -q cluster_state:ok <<< "$(cli -p "${ports[2]}" cluster info)"
check "cluster follows MOVED" test "$(cli -c -p "${ports[0]}" set '{a}x' 1; cli -c -p "${ports[1]}" get '{a}x')" = $'OK\n1'
check "REDIS_NODES lists every node" test "$(tr ',' '\n' <<< "$REDIS_NODES" | wc -l)" = 3
bash $H stop "$REDIS_HARNESS_DIR"
check "cluster stopped" test -z "$(cli -p "${ports[0]}" ping)$(cli -p "${ports[1]}" ping)$(cli -p "${ports[2]}" ping)"

sleep 60 & owner=$!
eval "$(bash $H start --owner-pid $owner -- --maxmemory 2mb)"; dirs+=("$REDIS_HARNESS_DIR")
check "extra redis-server arguments apply" grep -q 2097152 <<< "$(cli -p "$REDIS_PORTS" config get maxmemory)"
kill $owner; wait $owner 2>/dev/null
for _ in $(seq 1 50); do [ -e "$REDIS_HARNESS_DIR" ] || break; sleep 0.1; done
check "owner exit stops the server" test -z "$(cli -p "$REDIS_PORTS" ping)"
check "owner exit removes the directory" test ! -e "$REDIS_HARNESS_DIR"

echo "redis-harness: $passed passed, $failed failed"
[ "$failed" = 0 ]
