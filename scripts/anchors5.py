#!/usr/bin/env python3
"""dlib, face-api.js and MediaPipe on our held-out 5-point faces (session 26): the same-faces comparison for
issue 13's 5-point row ("MTFL/AFLW adults, 5 points": dlib 8.52 % from the ground-truth box, 7.76 % from its
own detector, face-api.js 9.65 %, measured on faces we do not have), beside a facealign model's predictions
on the same faces.

Faces: `mtfl` = the 1,000 MTFL validation faces (configs/mtfl/val_ids.txt; 80×80, MTFL's five hand-annotated
points, the 221 of them whose labels are 27.7 px too high moved back as scripts/mtfl_shift.py does, unless
`--raw`; score ours on its corrected list, runs/data/mtfl/train.txt, too), NME % by the distance between the two eye centres (facealign's ocular normaliser for 5 points);
`aflw` = the AFLW test faces (configs/aflw/test_ids.txt; 120×120), AFLW's true points read as the five
(eye centres 7 / 10, nose tip 13, mouth corners 15 / 17, 0-based; unlabelled ones skipped), NME % by √(w·h)
of the box of the labelled five, per yaw bin. Both are what `facealign eval` scores a 5-point model by.

Each tool's 68 iBUG points become the five as facealign reads a 68-point model (SchemeMap Five -> Ibug68:
eye centres = means of the six points of each eye, nose tip 31, mouth corners 49 and 55, 1-based); the
MediaPipe mesh becomes 68 points by P. Yan's published correspondence first (scripts/mediapipe_anchor.py).
Settings, each on every face:
- dlib, own detector: its frontal HOG detector on the image upsampled `--upsample` times (1, as in
  scripts/dlib_adults.py; 2 finds no more of these faces), a face found when a detection holds the centre of the five true points' box;
- dlib, ground-truth box: dlib's predictor started from the box its detector would give, predicted from the
  five true points (centre offset and side, in units of the larger side of their box: medians over faces its
  detector finds among `--calibrate` faces outside the scored split; the issue's "ground-truth box");
- MediaPipe (legacy Face Mesh 0.10.21, its own BlazeFace detector) and face-api.js (`--faces OUT.json` of
  scripts/faceapi_anchor/run.mjs, its SSD detector) on the image framed by black borders of `--pad` × its size
  (their detectors want a margin; session 23), a face found when its points' box holds the true box's centre.
Faces a tool misses are counted, not scored; ours are scored on the same faces and on all.

    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face_recognition_models pillow numpy mediapipe==0.10.21
    python3 scripts/mtfl_shift.py fix
    facealign eval --model adult5 --data 'mtfl:runs/data/mtfl/train.txt#@configs/mtfl/val_ids.txt' --predictions /tmp/a5_mtfl.json
    facealign eval --model adult5 --data 'coco:../shared/data/aflw/train.json#@configs/aflw/test_ids.txt' --crop-calibration 0.01,-0.07,0.56 --norm box --predictions /tmp/a5_aflw.json
    /tmp/dlibenv/bin/python scripts/anchors5.py list mtfl > /tmp/mtfl_val.txt      # image list for face-api.js
    (cd scripts/faceapi_anchor && npm ci && node run.mjs /tmp/mtfl_val.txt /tmp/fa_mtfl.json --pad 0.5)
    /tmp/dlibenv/bin/python scripts/anchors5.py mtfl /tmp/a5_mtfl.json [MORE_OURS.json...] [--faces /tmp/fa_mtfl.json]
    /tmp/dlibenv/bin/python scripts/anchors5.py aflw /tmp/a5_aflw.json [MORE_OURS.json...] [--faces /tmp/fa_aflw.json]
"""
import json
import math
import os
import statistics
import sys

import dlib
import numpy as np
from PIL import Image

import mediapipe_anchor  # scripts/mediapipe_anchor.py, beside this file
import mtfl_shift
import shape_bias

DATA = os.environ.get('FACEALIGN_DATA', '../shared/data')
MTFL = os.path.join(DATA, 'mtfl/train.txt')
AFLW = os.path.join(DATA, 'aflw/train.json')
SPLITS = {'mtfl': 'configs/mtfl/val_ids.txt', 'aflw': 'configs/aflw/test_ids.txt'}
AFLW_TO_FIVE = (7, 10, 13, 15, 17)
# iBUG-68 (0-based) -> five, as facealign_core::scheme_map reads a 68-point model in the 5-point scheme.
IBUG68_TO_FIVE = (list(range(36, 42)), list(range(42, 48)), [30], [48], [54])
YAW_BINS = ((0, 30), (30, 60), (60, 90))


def ids(path):
    return [line.strip() for line in open(path) if line.strip() and not line.startswith('#')]


def faces(kind, raw=False):
    """{id: (image path, five true points (None = unlabelled), yaw or None)} of every face of the dataset; MTFL's
    shifted web faces moved back (scripts/mtfl_shift.py) unless `raw`."""
    out = {}
    if kind == 'mtfl':
        root = os.path.dirname(MTFL)
        for rel, g in mtfl_shift.entries(MTFL):
            out[rel] = (os.path.join(root, rel), g if raw else mtfl_shift.corrected(rel, g), None)
    else:
        d = json.load(open(AFLW))
        names = {i['id']: i['file_name'] for i in d['images']}
        root = os.path.dirname(AFLW)
        for a in d['annotations']:
            k, name = a['keypoints'], names[a['image_id']]
            g = [(k[3 * i], k[3 * i + 1]) if k[3 * i + 2] > 0 else None for i in AFLW_TO_FIVE]
            out[name] = (os.path.join(root, name), g, abs(a.get('yaw', 0.0)))
    return out


def five(p68):
    return [tuple(np.mean([p68[i] for i in ix], axis=0)) for ix in IBUG68_TO_FIVE]


def box(g):
    xs, ys = [q[0] for q in g if q], [q[1] for q in g if q]
    return min(xs), min(ys), max(xs), max(ys)


def nme(p, g, kind):
    """NME % of the five points `p` against the truth `g`, as `facealign eval` scores the dataset."""
    if kind == 'mtfl':
        d = math.dist(g[0], g[1])
    else:
        x0, y0, x1, y1 = box(g)
        d = math.sqrt((x1 - x0) * (y1 - y0))
    e = [math.dist(a, b) for a, b in zip(p, g) if b is not None]
    return 100 * statistics.fmean(e) / d if d > 0 and e else None


class Dlib(mediapipe_anchor.DlibFaces):
    """dlib's detector and predictor (mediapipe_anchor.DlibFaces), matched to a face and read as the five."""
    calibration = None

    def detect(self, im, g):
        """dlib's detection holding the centre of the true points' box, or None."""
        x0, y0, x1, y1 = box(g)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return next((d for d in self.detector(im, self.upsample)
                     if d.left() < cx < d.right() and d.top() < cy < d.bottom()), None)

    def shape(self, im, rect):
        s = self.predictor(im, rect)
        return five([(s.part(i).x, s.part(i).y) for i in range(68)])

    def calibrate(self, items):
        """Medians of dlib's detection relative to the five true points' box (centre offset, side), in units of
        that box's larger side, over the faces among `items` its detector finds."""
        dx, dy, side = [], [], []
        for path, g, _ in items:
            if any(q is None for q in g):
                continue
            im = np.asarray(Image.open(path).convert('RGB'))
            d = self.detect(im, g)
            if d is None:
                continue
            x0, y0, x1, y1 = box(g)
            s = max(x1 - x0, y1 - y0)
            dx.append(((d.left() + d.right()) / 2 - (x0 + x1) / 2) / s)
            dy.append(((d.top() + d.bottom()) / 2 - (y0 + y1) / 2) / s)
            side.append((d.right() - d.left()) / s)
        self.calibration = (statistics.median(dx), statistics.median(dy), statistics.median(side), len(side), len(items))

    def from_truth(self, g):
        dx, dy, side = self.calibration[:3]
        x0, y0, x1, y1 = box(g)
        s = max(x1 - x0, y1 - y0)
        cx, cy, h = (x0 + x1) / 2 + dx * s, (y0 + y1) / 2 + dy * s, side * s / 2
        return dlib.rectangle(int(round(cx - h)), int(round(cy - h)), int(round(cx + h)), int(round(cy + h)))


def found(meshes, g):
    """The face (68 points) whose box holds the centre of the true points' box, the nearest if several."""
    x0, y0, x1, y1 = box(g)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hit = [m for m in meshes if m[:, 0].min() < cx < m[:, 0].max() and m[:, 1].min() < cy < m[:, 1].max()]
    return min(hit, key=lambda m: math.hypot(m[:, 0].mean() - cx, m[:, 1].mean() - cy)) if hit else None


def ours_nme(path, kind, truth):
    """A facealign predictions file (`eval --predictions` on the split): its model name and NME % per face,
    recomputed here from its landmarks by the same rule as the tools'."""
    d = json.load(open(path))
    if d.get('scheme') != 'five':
        sys.exit(f'{path}: scheme {d.get("scheme")!r}, expected five (eval a model on the 5-point data)')
    return d.get('model', os.path.basename(path)), {f['id']: nme(f['landmarks'], truth[f['id']][1], kind) for f in d['images']}


def main(kind, ours_paths, faces_json=None, pad=0.5, upsample=1, n_calibrate=2000, raw=False):
    everything = faces(kind, raw)
    split = ids(SPLITS[kind])
    held = set(split)
    if kind == 'aflw':
        held |= set(ids('configs/aflw/val_ids.txt'))
    truth = {i: everything[i] for i in split}
    rest = sorted(set(everything) - held)[:n_calibrate]
    ours = [ours_nme(p, kind, truth) for p in ours_paths]
    for name, o in ours:
        if not set(split) <= set(o):
            sys.exit(f'{name}: its predictions are not those of {SPLITS[kind]}')

    dl = Dlib(upsample)
    dl.calibrate([everything[i] for i in rest])
    tools = {'dlib, own detector': {}, 'dlib, ground-truth box': {}}
    mesh = mediapipe_anchor.Mesh(pad)
    tools[f'MediaPipe, own detector (pad {pad})'] = {}
    ext = mediapipe_anchor.External(faces_json) if faces_json else None
    if ext:
        tools[f'{ext.name}, own detector'] = {}
    for i in split:
        path, g, _ = truth[i]
        im = np.asarray(Image.open(path).convert('RGB'))
        d = dl.detect(im, g)
        tools['dlib, own detector'][i] = None if d is None else nme(dl.shape(im, d), g, kind)
        tools['dlib, ground-truth box'][i] = nme(dl.shape(im, dl.from_truth(g)), g, kind)
        m = found(mesh.faces(path), g)
        tools[f'MediaPipe, own detector (pad {pad})'][i] = None if m is None else nme(five(mesh.to68(m)), g, kind)
        if ext:
            m = found(ext.faces(path), g)
            tools[f'{ext.name}, own detector'][i] = None if m is None else nme(five(ext.to68(m)), g, kind)

    dx, dy, side, n_found, n_cal = dl.calibration
    print(f'{kind}: {len(split)} faces of {SPLITS[kind]}; dlib upsample {upsample}; dlib box from the five points '
          f'(centre {dx:+.3f}, {dy:+.3f}, side {side:.3f} × the larger side of their box: medians over the '
          f'{n_found} faces its detector finds of {n_cal} outside the split)')
    groups = [('all', lambda i: True)]
    if kind == 'aflw':
        groups += [(f'yaw {lo}-{hi}°', lambda i, lo=lo, hi=hi: lo <= truth[i][2] < hi or (hi == 90 and truth[i][2] >= 90))
                   for lo, hi in YAW_BINS]
    names = ' | '.join(f'{n}, same faces' for n, _ in ours)
    print(f'| faces | tool | n | found | tool NME % (median) | {names} | FR@0.10 tool / ours |')
    print('|---|---|---|---|---|' + '---|' * len(ours) + '---|')
    fmt = lambda v: f'{statistics.fmean(v):.2f} ({statistics.median(v):.2f})' if v else '-'
    for gname, sel in groups:
        members = [i for i in split if sel(i)]
        for tname, errs in tools.items():
            f = [i for i in members if errs[i] is not None]
            te = [errs[i] for i in f]
            cols = ' | '.join(fmt([o[i] for i in f if o[i] is not None]) for _, o in ours)
            fr = lambda v: f'{100 * sum(e >= 10 for e in v) / len(v):.1f}' if v else '-'
            print(f'| {gname} | {tname} | {len(members)} | {len(f)} | {fmt(te)} | {cols} | '
                  f'{fr(te)} / {fr([ours[0][1][i] for i in f])} |')
        cols = ' | '.join(fmt([o[i] for i in members if o[i] is not None]) for _, o in ours)
        print(f'| {gname} | (ours, all faces) | {len(members)} | {len(members)} | - | {cols} | - |')


if __name__ == '__main__':
    args = sys.argv[1:]
    if len(args) < 2 or args[0] not in ('mtfl', 'aflw', 'list'):
        sys.exit(__doc__)
    if args[0] == 'list':
        every = faces(args[1])
        print('\n'.join(os.path.realpath(every[i][0]) for i in ids(SPLITS[args[1]])))
        sys.exit(0)
    raw = '--raw' in args
    if raw:
        args.remove('--raw')
    faces_json = shape_bias.pop_option(args, '--faces')
    pad = float(shape_bias.pop_option(args, '--pad', 0.5))
    upsample = int(shape_bias.pop_option(args, '--upsample', 1))
    n_cal = int(shape_bias.pop_option(args, '--calibrate', 2000))
    main(args[0], args[1:], faces_json, pad, upsample, n_cal, raw)
