#!/usr/bin/env python3
"""Does dlib's 68-point predictor (the teacher of MTFL's and part of AFLW's 68-point labels) draw a
narrower jaw when the face is small? (session 16)

On the 210 hand-annotated InfAnFace training faces (not the adult fixtures we report on), dlib's
`shape_predictor_68_face_landmarks` is run once at full resolution and again after the image is
shrunk so that the outer-eye distance (points 37-46) is T pixels and then enlarged 2x (the recipe
of the MTFL teacher labels: 80-px faces upscaled 2x). The box is the same face box each time
(dlib's detector at full resolution, scaled with the image; faces it does not find are skipped). Prints, per resolution: NME by the outer-eye distance against the hand
labels, and the jaw width (points 1-17) and the brow width (18-27) over the outer-eye distance,
predicted and true, as scripts/shape_bias.py measures them; then the same at full resolution with
the box scaled about its centre (a teacher run from a box of another convention).

Needs dlib and the 68-point model, which the project does not depend on: run it in a throw-away
virtualenv, e.g.
    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face_recognition_models pillow numpy
    /tmp/dlibenv/bin/python scripts/teacher_resolution.py ../shared/data/infanface/train
"""
import glob
import math
import os
import statistics
import sys

import dlib
import numpy as np
from PIL import Image

import face_recognition_models

import shape_bias  # scripts/shape_bias.py, beside this file


def widths(p):
    """Jaw 1-17 and brows 18-27 over the outer-eye distance (scripts/shape_bias.py's measure)."""
    jaw, _, brows = shape_bias.widths(p)
    return jaw, brows


def nme(p, g):
    iod = math.dist(g[36], g[45])
    return 100 * statistics.fmean(math.dist(a, b) for a, b in zip(p, g)) / iod


def scaled(box, k):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * k / 2, (box[3] - box[1]) * k / 2
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def main(folder, targets=(None, 60, 45, 35, 25), box_scales=(0.8, 0.9, 1.1, 1.25)):
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    detector = dlib.get_frontal_face_detector()
    rows = {t: [] for t in targets}
    by_box = {k: [] for k in box_scales}
    true_w = []
    n_det = 0
    images = sorted(glob.glob(os.path.join(folder, '*.jpg')) + glob.glob(os.path.join(folder, '*.png')))
    for path in images:
        pts = os.path.splitext(path)[0] + '.pts'
        if not os.path.exists(pts):
            continue
        g = shape_bias.pts_truth(path)
        img = Image.open(path).convert('RGB')
        full = np.asarray(img)
        xs, ys = [q[0] for q in g], [q[1] for q in g]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        box = None
        for d in detector(full, 1):
            if d.left() < cx < d.right() and d.top() < cy < d.bottom():
                box = (d.left(), d.top(), d.right(), d.bottom())
                n_det += 1
                break
        if box is None:
            continue  # the true landmarks' box is not dlib's convention (NME ~ 30 % from it)
        iod = math.dist(g[36], g[45])
        true_w.append(widths(g))
        for k in box_scales:
            shape = predictor(full, dlib.rectangle(*(int(round(v)) for v in scaled(box, k))))
            p = [(shape.part(i).x, shape.part(i).y) for i in range(68)]
            by_box[k].append((nme(p, g), *widths(p)))
        for t in targets:
            if t is None or t >= iod:
                s, view = 1.0, full
            else:
                s = t / iod  # shrink, then enlarge 2x: the teacher's recipe
                small = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BILINEAR)
                view_img = small.resize((small.width * 2, small.height * 2), Image.BILINEAR)
                s = 2 * small.width / img.width
                view = np.asarray(view_img)
            r = dlib.rectangle(*(int(round(v * s)) for v in box))
            shape = predictor(view, r)
            p = [(shape.part(i).x / s, shape.part(i).y / s) for i in range(68)]
            rows[t].append((nme(p, g), *widths(p)))
    tj = statistics.fmean(w[0] for w in true_w)
    tb = statistics.fmean(w[1] for w in true_w)
    print(f'{n_det} of {len(images)} faces found by dlib\'s detector at full resolution')
    print('| outer-eye distance seen by dlib | NME % | jaw 1-17 / outer-eye, true / dlib | brows 18-27, true / dlib |')
    print('|---|---|---|---|')
    for t in targets:
        v = rows[t]
        name = 'full resolution' if t is None else f'{t} px, then 2x'
        print(f'| {name} | {statistics.fmean(x[0] for x in v):.2f} | {tj:.3f} / {statistics.fmean(x[1] for x in v):.3f}'
              f' | {tb:.3f} / {statistics.fmean(x[2] for x in v):.3f} |')
    print()
    print('| box given to dlib (full resolution) | NME % | jaw 1-17 / outer-eye, dlib | brows 18-27, dlib |')
    print('|---|---|---|---|')
    for k in box_scales:
        v = by_box[k]
        print(f'| detector box x {k} | {statistics.fmean(x[0] for x in v):.2f} | {statistics.fmean(x[1] for x in v):.3f}'
              f' | {statistics.fmean(x[2] for x in v):.3f} |')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '../shared/data/infanface/train')
