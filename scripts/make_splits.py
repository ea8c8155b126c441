#!/usr/bin/env python3
"""Make the committed validation splits (run from the repository root; stdlib only).

configs/infanface/val_ids.txt: 40 of the 210 InfAnFace training faces, stratified by source set.
configs/mtfl/val_ids.txt: 1,000 of the 10,000 MTFL training faces.
configs/infanface/lc130_drop_ids.txt: 40 of the other 170 InfAnFace faces (a learning curve).
"""
import csv
import os
import random

d = '../shared/data/infanface/train'
imgs = sorted(f for f in os.listdir(d) if f.endswith('.jpg'))
rows = {r['image']: r for r in csv.DictReader(open(d + '/attributes.csv'))}
by = {}
for f in imgs:
    by.setdefault(rows[f]['source'], []).append(f)
rng = random.Random(2022)
val = []
for src in sorted(by):
    k = round(40 * len(by[src]) / len(imgs))
    val += rng.sample(by[src], k)
val = sorted(val)
infant_val = set(val)  # `val` and `held` are reused below for MTFL and AFLW
with open('configs/infanface/val_ids.txt', 'w') as f:
    f.write('# InfAnFace validation split: %d of %d training faces, stratified by source set,\n'
            '# drawn once with random.Random(2022) (scripts/make_splits.py). Never trained on.\n' % (len(val), len(imgs)))
    f.write('\n'.join(val) + '\n')

# configs/infanface/lc130_drop_ids.txt (session 17, a learning curve): 40 of the 170 faces left for training,
# stratified by source set (largest remainders), with random.Random(2026). Training without them (130 faces)
# against training on all 170 measures what 40 more infants buy on the same validation faces.
held = set(val)
rest = {src: [f for f in by[src] if f not in held] for src in by}
n_rest = sum(len(v) for v in rest.values())
quota = {src: 40 * len(rest[src]) / n_rest for src in rest}
count = {src: int(q) for src, q in quota.items()}
for src in sorted(rest, key=lambda s: count[s] - quota[s])[:40 - sum(count.values())]:
    count[src] += 1  # largest remainders, so exactly 40
rng = random.Random(2026)
drop = []
for src in sorted(rest):
    drop += rng.sample(rest[src], count[src])
drop = sorted(drop)
with open('configs/infanface/lc130_drop_ids.txt', 'w') as f:
    f.write('# InfAnFace learning curve: %d of the %d training faces outside val_ids.txt, stratified by source set,\n'
            '# random.Random(2026) (scripts/make_splits.py). Excluded from training in the 130-face runs.\n'
            % (len(drop), n_rest))
    f.write('\n'.join(drop) + '\n')

lines = [l.split()[0].replace('\\', '/') for l in open('../shared/data/mtfl/train.txt') if l.strip()]
val = sorted(random.Random(2014).sample(lines, 1000))
with open('configs/mtfl/val_ids.txt', 'w') as f:
    f.write('# MTFL validation split: 1000 of %d training faces, random.Random(2014) (scripts/make_splits.py).\n' % len(lines))
    f.write('\n'.join(val) + '\n')

# configs/mtfl68/val_ids.txt: the MTFL faces with 68-point teacher labels (.pts beside the image) that
# are in the MTFL validation split above, so the 5- and 68-point studies hold out the same faces.
have = {l for l in lines if os.path.exists('../shared/data/mtfl/' + os.path.splitext(l)[0] + '.pts')}
val68 = [v for v in val if v in have]
os.makedirs('configs/mtfl68', exist_ok=True)
with open('configs/mtfl68/val_ids.txt', 'w') as f:
    f.write('# MTFL 68-point teacher-label validation split: the %d of the %d teacher-labelled faces that are in\n'
            '# configs/mtfl/val_ids.txt (scripts/make_splits.py). Never trained on.\n' % (len(val68), len(have)))
    f.write('\n'.join(val68) + '\n')

# configs/aflw/{val,test,trainval}_ids.txt (issues 13 and 16): AFLW-19 (19,079 manual large-pose faces),
# stratified by yaw bin (0-30, 30-60, 60-90 degrees): 1,000 validation faces (model selection, tuning)
# and 2,000 test faces (reported, never tuned on), drawn once with random.Random(2011). trainval = all
# but test (the trainer's val_ids carves validation out of it). The same ids hold out the same faces of
# aflw/teacher68.json (same image ids).
import json
aflw = json.load(open('../shared/data/aflw/train.json'))
files = {im['id']: im['file_name'] for im in aflw['images']}
bins = {0: [], 1: [], 2: []}
for a in aflw['annotations']:
    y = abs(a['yaw'])
    bins[0 if y <= 30 else 1 if y <= 60 else 2].append(files[a['image_id']])
rng = random.Random(2011)
n = sum(len(v) for v in bins.values())
val, test = [], []
for b in sorted(bins):
    ids = sorted(bins[b])
    rng.shuffle(ids)
    kv, kt = round(1000 * len(ids) / n), round(2000 * len(ids) / n)
    val += ids[:kv]
    test += ids[kv:kv + kt]
held = set(test)
trainval = sorted(f for f in files.values() if f not in held)
head = '# AFLW-19 %s: %d of %d faces, stratified by |yaw| bin (0-30, 30-60, >60), random.Random(2011)\n# (scripts/make_splits.py).%s\n'
for name, ids, note in [('val', sorted(val), ' Model selection and tuning only.'),
                        ('test', sorted(test), ' Reported; never trained or tuned on.'),
                        ('trainval', trainval, ' Everything but the test split.')]:
    with open('configs/aflw/%s_ids.txt' % name, 'w') as f:
        f.write(head % (name, len(ids), n, note))
        f.write('\n'.join(ids) + '\n')

# configs/infanface/cv5_fold{1..4}_ids.txt (session 18): five-fold cross-validation of an infant recipe on all
# 210 faces. Fold 0 is val_ids.txt; folds 1-4 split the other 170 faces, stratified by source set and by
# InfAnFace's Common / Challenging partition (Common = none of the four attributes turned, occluded,
# expressive, tilted), dealt round-robin after one shuffle per stratum with random.Random(2027).
attrs = ('turned', 'occluded', 'expressive', 'tilted')
strata = {}
for f in imgs:
    if f not in infant_val:
        common = all(float(rows[f][a]) == 0 for a in attrs)
        strata.setdefault((rows[f]['source'], common), []).append(f)
rng = random.Random(2027)
folds, k = [[], [], [], []], 0
for key in sorted(strata):
    ids = sorted(strata[key])
    rng.shuffle(ids)
    for f in ids:
        folds[k % 4].append(f)
        k += 1
for i, fold in enumerate(folds, 1):
    with open('configs/infanface/cv5_fold%d_ids.txt' % i, 'w') as f:
        f.write('# InfAnFace cross-validation fold %d of 5 (fold 0 = val_ids.txt): %d of the %d other training faces,\n'
                '# stratified by source set and Common/Challenging, random.Random(2027) (scripts/make_splits.py).\n'
                % (i, len(fold), len(imgs) - len(infant_val)))
        f.write('\n'.join(sorted(fold)) + '\n')
