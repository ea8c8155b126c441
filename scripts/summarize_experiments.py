#!/usr/bin/env python3
"""Summarise runs/exp/*/eval.json into markdown tables (mean ± sample std over seeds).

Run from the repository root after scripts/run_experiments.sh; prints markdown to stdout.
"""
import collections
import glob
import json
import os

from summary_common import load_times, metric_cells, ms, seed_times, table

runs = collections.defaultdict(list)
times = load_times('runs/exp/times.tsv')
for path in sorted(glob.glob('runs/exp/*/eval.json')):
    name = os.path.basename(os.path.dirname(path))
    config, seed = name.rsplit('-s', 1)
    report = json.load(open(path))[0]
    row = next(r for r in report['rows'] if r['subset'] == 'all')
    subsets = {r['subset']: r['nme'] for r in report['rows'] if r['subset'] != 'all' and not r['subset'].startswith('@')}
    runs[config].append((int(seed), row, subsets, times.get(name)))



for dataset in ['infanface', 'mtfl']:
    rows = {k: v for k, v in runs.items() if k.endswith('-' + dataset)}
    if not rows:
        continue
    print(f'\n### {dataset}\n')
    table(['config', 'seeds', 'NME %', 'FR@0.10 %', 'AUC@0.10', 'wall-clock per run (s)'],
          [[config.rsplit('-', 1)[0], str(len(rs))] + metric_cells([r[1] for r in rs], seed_times(rs))
           for config, rs in sorted(rows.items())])
    subs = sorted({s for rs in rows.values() for r in rs for s in r[2]})
    if subs:
        print(f'\nNME % per subset ({dataset} validation split):\n')
        table(['config'] + subs,
              [[config.rsplit('-', 1)[0]] + [ms([r[2][s] for r in rs if s in r[2]]) for s in subs]
               for config, rs in sorted(rows.items())])
