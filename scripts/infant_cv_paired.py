#!/usr/bin/env python3
"""Paired end-to-end comparison of two `--detector` settings on the five folds of scripts/infant_cv.sh.

`eval --detector` pools the faces each setting finds, so two settings that find different faces give
means over different faces. This script scores each held-out infant per setting (each fold's last
epoch, exported and calibrated for every detector named, as infant_cv.sh does; `predict --refine 1`
plus any extra flags) and prints the mean over the faces both settings find, and the faces only one
finds. A face counts as found by the face whose box holds the centroid of its true points (nearest
landmark centroid if several); NME = mean point error / outer-eye-corner distance (points 36, 45),
the .pts coordinates being 1-based.

Usage (repository root): [FACEALIGN=bin] scripts/infant_cv_paired.py NAME DETECTORS_A DETECTORS_B [FLAG...] [--per-face CSV]
  e.g. scripts/infant_cv_paired.py hm_ft_a68hmf16_e150 ultraface-rfb,yunet ultraface-rfb,yunet-320
--per-face appends `image,setting,nme` rows (setting = the detector list and flags) for every face found, e.g.
for scripts/mediapipe_anchor.py infants --ours CSV (another tool on the same faces).
"""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import shape_bias  # scripts/shape_bias.py, beside this file

T = '../shared/data/infanface/train'
B = os.environ.get('FACEALIGN', './target/release/facealign')


def fold_ids(k):
    f = 'configs/infanface/val_ids.txt' if k == 0 else f'configs/infanface/cv5_fold{k}_ids.txt'
    return [l.strip() for l in open(f) if l.strip() and not l.startswith('#')]


def nme(pred, gt):
    d = math.dist(gt[36], gt[45])
    return 100 * sum(math.dist(a, b) for a, b in zip(pred, gt)) / len(gt) / d


def scores(doc):
    """image name -> (NME %, detector of the list that found it) for the found faces."""
    out = {}
    for im in doc['images']:
        name = os.path.basename(im['image'])
        gt = shape_bias.pts_truth(os.path.join(T, name))  # 1-based .pts -> image_px
        gx, gy = (sum(p[i] for p in gt) / len(gt) for i in (0, 1))
        best = None
        for f in im['faces']:
            x, y, w, h = f['box']
            lm = f['landmarks']
            d = math.hypot(sum(p[0] for p in lm) / len(lm) - gx, sum(p[1] for p in lm) / len(lm) - gy)
            if x <= gx <= x + w and y <= gy <= y + h and (best is None or d < best[0]):
                best = (d, f)
        if best:
            out[name] = (nme(best[1]['landmarks'], gt), best[1].get('detector'))
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    args = sys.argv[1:]
    per_face = shape_bias.pop_option(args, '--per-face')
    name, lists, flags = args[0], args[1:3], args[3:]
    dets = sorted({d for l in lists for d in l.split(',')} - {'ultraface-rfb'})
    res = [{}, {}]
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(5):
            run = f'runs/infant/{name}-cv{k}'
            m = f'{tmp}/fold{k}.safetensors'
            q = dict(stdout=subprocess.DEVNULL, check=True)
            subprocess.run([B, 'model', 'export', f'{run}/last.safetensors', m], **q)
            subprocess.run([B, 'model', 'calibrate', m, '--data', f'pts:{T}'], **q)
            for d in dets:
                subprocess.run([B, 'model', 'calibrate', '--detector', d, m, '--data', f'pts:{T}'], **q)
            photos = [os.path.join(T, i) for i in fold_ids(k)]
            for j, l in enumerate(lists):
                out = f'{tmp}/f{k}-{j}.json'
                subprocess.run([B, 'predict', *photos, '--model', m, '--detector', l, '--refine', '1',
                                *flags, '--json', out], stderr=subprocess.DEVNULL, **q)
                res[j].update(scores(json.load(open(out))))
    a, b = res
    if per_face:
        new = not os.path.exists(per_face)
        with open(per_face, 'a', newline='') as f:
            w = csv.writer(f)  # the setting holds commas (a detector list): quoted
            if new:
                w.writerow(['image', 'setting', 'nme'])
            for l, r in zip(lists, res):
                w.writerows([n, ' '.join([l, *flags]), f'{r[n][0]:.4f}'] for n in sorted(r))
    both = sorted(set(a) & set(b))
    mean = lambda r, ns: sum(r[n][0] for n in ns) / len(ns)
    print(f'| --detector | found | NME % on its faces | NME % on the {len(both)} both find |')
    print('|---|---|---|---|')
    for l, r in zip(lists, res):
        print(f'| {l} {" ".join(flags)} | {len(r)} | {mean(r, list(r)):.2f} | {mean(r, both):.2f} |')
    for n in sorted(set(a) ^ set(b)):
        r, l = (a, lists[0]) if n in a else (b, lists[1])
        print(f'only {l}: {n} NME {r[n][0]:.2f} % ({r[n][1] or "first detector"})')


if __name__ == '__main__':
    main()
