#!/usr/bin/env python3
"""Issue 16: the AFLW-19 L2-vs-ACR table from the finished study runs (scripts/run_aflw.sh).

Reads runs/aflw/<config>-s<seed>/test.json (and val.json) of every finished run and prints, per
config, mean ± sample sd over seeds of the test NME (box) overall and per |yaw| bin, FR@0.10 and
AUC@0.10; then the paired difference ACR − L2 per seed with its mean and a 95 % confidence interval
(Student t over the seeds both configs finished). Stdlib only.
Usage: python3 scripts/summarize_aflw.py [A=mnv2_l2] [B=mnv2_acr]
"""
import glob
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from summary_common import ms  # noqa: E402

# Two-sided 95 % Student t quantiles by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
SUBSETS = ['all', 'yaw_0_30', 'yaw_30_60', 'yaw_60_90']


def runs(config):
    """seed -> {subset: row} of the finished runs of `config`."""
    out = {}
    for f in glob.glob(f'runs/aflw/{config}-s*/test.json'):
        seed = int(re.search(r'-s(\d+)/test.json$', f).group(1))
        out[seed] = {r['subset']: r for r in json.load(open(f))[0]['rows']}
    return out


def main():
    a, b = (sys.argv[1:] + ['mnv2_l2', 'mnv2_acr'][len(sys.argv[1:]):])[:2]
    ra, rb = runs(a), runs(b)
    print('| config | seeds | test NME % | 0-30° | 30-60° | 60-90° | FR@0.10 % | FR@0.10 > 60° | AUC@0.10 |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, r in [(a, ra), (b, rb)]:
        if not r:
            continue
        seeds = sorted(r)
        cells = [ms([r[s][sub]['nme'] for s in seeds]) for sub in SUBSETS]
        fr = ms([r[s]['all']['fr_010'] for s in seeds])
        fr60 = ms([r[s]['yaw_60_90']['fr_010'] for s in seeds])
        auc = ms([r[s]['all']['auc'] for s in seeds], 4)
        print(f"| {name} | {','.join(map(str, seeds))} | {' | '.join(cells)} | {fr} | {fr60} | {auc} |")
    both = sorted(set(ra) & set(rb))
    if len(both) < 2:
        print(f'\n{len(both)} paired seed(s): no confidence interval yet')
        return
    print(f'\nPaired difference {b} − {a} (test NME points; negative = {b} better), seeds {both}:\n')
    print('| subset | per seed | mean | 95 % CI |')
    print('|---|---|---|---|')
    for sub in SUBSETS:
        d = [rb[s][sub]['nme'] - ra[s][sub]['nme'] for s in both]
        m, sd = statistics.mean(d), statistics.stdev(d)
        h = T95[len(d) - 1] * sd / len(d) ** 0.5
        print(f"| {sub} | {', '.join(f'{x:+.2f}' for x in d)} | {m:+.2f} | [{m - h:+.2f}, {m + h:+.2f}] |")


if __name__ == '__main__':
    main()
