#!/usr/bin/env python3
"""Paired ratios of alternate.sh's runs: for each scenario, each TREE against BASE in the same
set (CPU µs, then wall µs of the ours-memory line, or --variant): the tree medians, the median
paired ratio with its quartiles, how many pairs the tree was slower in, and the ratio of minimums.

    python3 bench/koa/pairs.py OUT BASE TREE... [--variant ours-memory]
"""
import glob, os, re, statistics, sys

args = sys.argv[1:]
variant = 'ours-memory'
if '--variant' in args:
    i = args.index('--variant'); variant = args[i + 1]; del args[i:i + 2]
out, base, others = args[0], args[1], args[2:]
data = {}  # tree -> scenario -> set -> (wall, cpu)
for f in glob.glob(os.path.join(out, '*-*.txt')):
    s, name = os.path.basename(f)[:-4].split('-', 1)
    scenario = None
    for line in open(f):
        m = re.match(r'scenario: (\w+)', line)
        if m: scenario = m.group(1)
        fields = line.split()
        if fields and fields[0] == variant and scenario:
            data.setdefault(name, {}).setdefault(scenario, {})[int(s)] = (float(fields[1]), float(fields[3]))

def quartiles(v):
    v = sorted(v); n = len(v)
    return v[n // 4], statistics.median(v), v[(3 * n) // 4]

for other in others:
    print(f'{other} / {base}')
    for scenario in data[base]:
        for col, label in ((1, 'cpu'), (0, 'wall')):
            b, x = data[base][scenario], data[other].get(scenario, {})
            sets = sorted(set(b) & set(x))
            if not sets: continue
            r = [x[s][col] / b[s][col] for s in sets]
            lo, med, hi = quartiles(r)
            print(f'  {scenario:6} {label:4} {base} {statistics.median(b[s][col] for s in sets):7.2f}  {other} {statistics.median(x[s][col] for s in sets):7.2f}'
                  f'  paired {med:.3f} ({lo:.3f}-{hi:.3f})  slower {sum(v > 1 for v in r)}/{len(r)}'
                  f'  min-ratio {min(x[s][col] for s in sets) / min(b[s][col] for s in sets):.3f}')
