#!/usr/bin/env bash
# Alternated in-process runs of several builds of the package, for before/after comparisons on
# a noisy machine: SETS sets, each running every tree once, the order rotated and reversed every
# other set so that no tree always runs first or last. Run by hand; then
# `python3 bench/koa/pairs.py OUT BASE TREE...` prints the paired ratios.
#
#   bash bench/koa/alternate.sh SETS OUT name=/path/to/node-binding ... [-- in-process.js args]
#
# Each tree is a package directory (a worktree's node-binding with its addon built); the
# harness is this checkout's bench/koa/in-process.js, loading the package via KS_BENCH_PACKAGE.
set -euo pipefail
sets=$1; out=$2; shift 2
trees=(); while (($#)) && [[ $1 != -- ]]; do trees+=("$1"); shift; done
(($#)) && shift
args=("$@"); ((${#args[@]})) || args=(--variants ours-memory --requests 100000 --rounds 3)
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"; n=${#trees[@]}
for ((s = 0; s < sets; s++)); do
  for ((k = 0; k < n; k++)); do
    if ((s % 2 == 0)); then idx=$(((k + s / 2) % n)); else idx=$(((n - 1 - k + s / 2) % n)); fi
    t=${trees[$idx]}; name=${t%%=*}; pkg=${t#*=}
    echo "== set $s tree $name $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/log"
    KS_BENCH_PACKAGE=$pkg node "$here/in-process.js" "${args[@]}" > "$out/$s-$name.txt" 2>&1
  done
done
