#!/usr/bin/env bash
# Starts and stops throwaway redis-server processes for tests: a single server or a
# 3-master Redis Cluster, on free 127.0.0.1 ports in a temporary directory. Never touches
# 127.0.0.1:6379. Needs redis-server and redis-cli (scripts/install-deps.sh installs them).
#
#   scripts/redis-harness.sh start [--cluster] [--replicas N] [--node-timeout MS] [--aof] [--unix-socket]
#                                  [--owner-pid PID] [-- REDIS-ARGS...]
#       Starts the server(s), waits until they answer (cluster: until cluster_state:ok on every
#       node) and prints KEY=VALUE lines (no spaces or quotes: split at the first '=', or eval):
#         REDIS_HARNESS_DIR=/tmp/koa-session-redis.XXXXXX   (pass it to stop/kill/restart)
#         REDIS_PORTS=P1[,P2,P3]
#         REDIS_URL=redis://127.0.0.1:P1                     (the first node)
#         REDIS_NODES=redis://127.0.0.1:P1,redis://...:P2,...  (cluster only)
#         REDIS_SOCKET=/tmp/.../node0/redis.sock               (--unix-socket only)
#       --replicas N     cluster: N replicas per master (3 masters + 3N replicas; waits until
#                        every replica is in sync)
#       --node-timeout MS  cluster: cluster-node-timeout (default 5000): how long a master may
#                        be unreachable before a replica is promoted
#       --aof            appendonly yes + appendfsync always (no acknowledged write is lost)
#       --unix-socket    also listen on a unix socket
#       --owner-pid PID  stop everything by itself once process PID has exited (a safety net
#                        for test runners that crash before calling stop)
#       REDIS-ARGS       extra redis-server arguments, e.g. -- --maxmemory 1mb
#   scripts/redis-harness.sh stop DIR           kill every server started in DIR, remove DIR
#   scripts/redis-harness.sh kill DIR [N]       SIGKILL node N (default 0): a crash, for fault tests
#   scripts/redis-harness.sh restart DIR [N]    start node N again on its port, wait until it answers
#   scripts/redis-harness.sh pause|resume DIR [N]  SIGSTOP / SIGCONT node N (a hung server)
set -euo pipefail

die() { echo "redis-harness: $*" >&2; exit 1; }

# A random port in 20000-29999 (below Linux's ephemeral range) that nothing accepts on.
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 10000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

node_pid() { cat "$1/node$2/pid" 2>/dev/null || true; }

# Running and not a zombie (an orphaned server may wait a while to be reaped).
alive() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}

kill_node() { # DIR N: SIGKILL the node's process group and wait until it is gone
  local pid; pid=$(node_pid "$1" "$2")
  [ -n "$pid" ] || return 0
  kill -CONT -- "-$pid" 2>/dev/null || true
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.02; done
  rm -f "$1/node$2/pid"
}

# DIR N: runs node N with the arguments saved in DIR/nodeN/args; 0 once it answers PING,
# 2 if its port was taken, 1 on any other failure.
launch_node() {
  local dir=$1 n=$2 nd="$1/node$2" args pid
  mapfile -d '' -t args < "$nd/args"
  setsid redis-server "${args[@]}" </dev/null >/dev/null 2>&1 &
  pid=$!
  echo "$pid" > "$nd/pid"
  for _ in $(seq 1 400); do
    if ! alive "$pid"; then
      rm -f "$nd/pid"
      grep -qi "address already in use" "$nd/redis.log" 2>/dev/null && return 2
      return 1
    fi
    [ "$(redis-cli -h 127.0.0.1 -p "$(cat "$nd/port")" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.025
  done
  kill_node "$dir" "$n"
  return 1
}

start_node() { # DIR N CLUSTER AOF SOCKET NODE_TIMEOUT EXTRA...: picks ports until the server starts
  local dir=$1 n=$2 cluster=$3 aof=$4 sock=$5 node_timeout=$6; shift 6
  local nd="$dir/node$n" port rc
  mkdir -p "$nd"
  for _ in $(seq 1 10); do
    port=$(pick_port)
    local args=(--port "$port" --bind 127.0.0.1 --dir "$nd" --logfile "$nd/redis.log" --daemonize no --save "")
    if [ "$aof" = 1 ]; then args+=(--appendonly yes --appendfsync always); else args+=(--appendonly no); fi
    [ "$sock" = 1 ] && args+=(--unixsocket "$nd/redis.sock" --unixsocketperm 700)
    # An explicit bus port: the default (port + 10000) may be taken.
    [ "$cluster" = 1 ] && args+=(--cluster-enabled yes --cluster-config-file nodes.conf
                                 --cluster-port "$(pick_port)" --cluster-node-timeout "$node_timeout")
    args+=("$@")
    printf '%s\0' "${args[@]}" > "$nd/args"
    echo "$port" > "$nd/port"
    rc=0; launch_node "$dir" "$n" || rc=$?
    [ "$rc" = 0 ] && return 0
    [ "$rc" = 2 ] || { cat "$nd/redis.log" >&2 2>/dev/null; die "redis-server node $n did not start"; }
    rm -f "$nd/redis.log"
  done
  die "redis-server node $n: no free port after 10 tries"
}

nodes_of() { local d; for d in "$1"/node*; do [ -d "$d" ] && echo "${d##*/node}"; done | sort -n; }

cmd_stop() {
  local dir=$1 n wd
  [ -d "$dir" ] && [ -f "$dir/.redis-harness" ] || die "not a harness directory: $dir"
  wd=$(cat "$dir/watchdog.pid" 2>/dev/null || true)
  if [ -n "$wd" ] && [ "$wd" != "${REDIS_HARNESS_WATCHDOG:-}" ]; then kill "$wd" 2>/dev/null || true; fi
  for n in $(nodes_of "$dir"); do kill_node "$dir" "$n"; done
  rm -rf "$dir"
}

cmd_start() {
  local cluster=0 aof=0 sock=0 owner="" extra=() replicas=0 node_timeout=5000
  while [ $# -gt 0 ]; do
    case $1 in
      --cluster) cluster=1 ;;
      --replicas) replicas=${2:?--replicas needs a number}; shift ;;
      --node-timeout) node_timeout=${2:?--node-timeout needs ms}; shift ;;
      --aof) aof=1 ;;
      --unix-socket) sock=1 ;;
      --owner-pid) owner=${2:?--owner-pid needs a pid}; shift ;;
      --) shift; extra=("$@"); break ;;
      *) die "unknown option $1" ;;
    esac
    shift
  done
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || die "redis-server and redis-cli are needed (run scripts/install-deps.sh)"
  local dir count ports=() urls=() n
  dir=$(mktemp -d "${TMPDIR:-/tmp}/koa-session-redis.XXXXXX")
  touch "$dir/.redis-harness"
  # Anything failing from here on must not leave servers behind.
  trap 'cmd_stop "$dir" >/dev/null 2>&1 || true' EXIT
  count=1; [ "$cluster" = 1 ] && count=$(( 3 * (1 + replicas) ))
  for n in $(seq 0 $((count - 1))); do
    start_node "$dir" "$n" "$cluster" "$aof" "$sock" "$node_timeout" "${extra[@]}"
    ports+=("$(cat "$dir/node$n/port")")
    urls+=("redis://127.0.0.1:${ports[-1]}")
  done
  if [ "$cluster" = 1 ]; then
    local addrs=() info ok
    for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/cluster-create.log" 2>&1 \
      || { cat "$dir/cluster-create.log" >&2; die "redis-cli --cluster create failed"; }
    for _ in $(seq 1 600); do
      ok=1
      for p in "${ports[@]}"; do
        info=$(redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null || true)
        case $info in *cluster_state:ok*) ;; *) ok=0 ;; esac
        case $info in *cluster_known_nodes:$count*) ;; *) ok=0 ;; esac
        info=$(redis-cli -h 127.0.0.1 -p "$p" info replication 2>/dev/null || true)
        case $info in *role:master*|*master_link_status:up*) ;; *) ok=0 ;; esac
      done
      [ "$ok" = 1 ] && break
      sleep 0.05
    done
    [ "$ok" = 1 ] || die "cluster never reached cluster_state:ok"
  fi
  if [ -n "$owner" ]; then
    REDIS_HARNESS_WATCHDOG=self setsid bash -c '
      while kill -0 "$1" 2>/dev/null; do sleep 1; done
      REDIS_HARNESS_WATCHDOG=$$ exec bash "$2" stop "$3"' watchdog "$owner" "${BASH_SOURCE[0]}" "$dir" \
      </dev/null >/dev/null 2>&1 &
    echo $! > "$dir/watchdog.pid"
  fi
  trap - EXIT
  echo "REDIS_HARNESS_DIR=$dir"
  (IFS=,; echo "REDIS_PORTS=${ports[*]}")
  echo "REDIS_URL=${urls[0]}"
  if [ "$cluster" = 1 ]; then (IFS=,; echo "REDIS_NODES=${urls[*]}"); fi
  if [ "$sock" = 1 ]; then echo "REDIS_SOCKET=$dir/node0/redis.sock"; fi
}

signal_node() { # SIGNAL DIR N
  local pid; pid=$(node_pid "$2" "$3")
  [ -n "$pid" ] || die "node $3 is not running"
  kill "-$1" "$pid"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop "${2:?usage: stop DIR}" ;;
  kill) [ -f "${2:?usage: kill DIR [N]}/.redis-harness" ] || die "not a harness directory: $2"; kill_node "$2" "${3:-0}" ;;
  restart)
    dir=${2:?usage: restart DIR [N]}; n=${3:-0}
    [ -f "$dir/node$n/args" ] || die "no node $n in $dir"
    kill_node "$dir" "$n"
    for _ in $(seq 1 50); do
      rc=0; launch_node "$dir" "$n" || rc=$?
      [ "$rc" = 0 ] && exit 0
      [ "$rc" = 2 ] || { cat "$dir/node$n/redis.log" >&2 2>/dev/null; die "node $n did not restart"; }
      sleep 0.1
    done
    die "node $n: port $(cat "$dir/node$n/port") still taken" ;;
  pause) signal_node STOP "${2:?usage: pause DIR [N]}" "${3:-0}" ;;
  resume) signal_node CONT "${2:?usage: resume DIR [N]}" "${3:-0}" ;;
  *) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
