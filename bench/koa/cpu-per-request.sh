#!/usr/bin/env bash
# CPU time of the Koa server per request, for one variant and scenario of bench/koa/server.js:
# less sensitive to wall-clock noise than req/s (but not to other processes on the same cores).
#   bench/koa/cpu-per-request.sh VARIANT SCENARIO     e.g.  ours-memory read
# Drives the server with wrk (-c10, 1 s warm-up, 3 s measured) and reads utime+stime from /proc.
set -euo pipefail
variant=$1 scenario=$2
server=${SERVER:-$(dirname "$0")/server.js}
port=$((40000 + RANDOM % 10000))
node "$server" "$variant" "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
cookie=
if [ "$scenario" != new ] && [ "$variant" != bare ]; then
  cookie=$(curl -s -i "http://127.0.0.1:$port/write" | grep -i '^set-cookie' | sed 's/^[Ss]et-[Cc]ookie: //; s/;.*//' | paste -sd';' | sed 's/;/; /g')
fi
url="http://127.0.0.1:$port/$scenario"
wrk -t1 -c10 -d1s ${cookie:+-H "Cookie: $cookie"} "$url" >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks)
out=$(wrk -t1 -c10 -d3s ${cookie:+-H "Cookie: $cookie"} "$url")
t1=$(ticks)
n=$(echo "$out" | grep -o '[0-9]* requests in' | awk '{print $1}')
hz=$(getconf CLK_TCK)
echo "$variant $scenario: $n requests, $(( (t1 - t0) * 1000000 / hz / n )) us CPU per request"
