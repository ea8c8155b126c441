#!/usr/bin/env python3
"""dlib's 68-point predictor on the 210 InfAnFace training infants, by InfAnFace's Common (none of the four
attributes) and Challenging subsets (session 18): a same-faces anchor for issue 13's infant rows, whose
numbers for dlib (6.98 % Common) were measured on InfAnFace's test faces, which we do not have.

dlib never saw these faces. Two boxes: (1) its own frontal detector (HOG, image upsampled once), a face
found when a detection contains the centre of the true landmarks' box (faces it misses are counted, not
scored); (2) the bounding box of the true landmarks, on every face (issue 13's "ground-truth box unless
noted"; not dlib's box convention, so far off on many faces). NME % by the outer-eye distance (points 37
and 46): mean and median.

Needs dlib and its model, which the project does not depend on (a throw-away virtualenv):
    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face_recognition_models pillow numpy
    /tmp/dlibenv/bin/python scripts/dlib_infants.py ../shared/data/infanface/train [--found OUT] [IDS_FILE...]
IDS_FILE (e.g. configs/infanface/val_ids.txt) adds rows for those faces only; --found writes the ids of the
faces dlib finds (for `ONLY=OUT scripts/infant_cv.sh`: our models on the same faces).
"""
import csv
import math
import os
import statistics
import sys

import dlib
import numpy as np
from PIL import Image

import face_recognition_models

import shape_bias  # scripts/shape_bias.py, beside this file

ATTRS = ('turned', 'occluded', 'expressive', 'tilted')


def nme(shape, g):
    p = [(shape.part(i).x, shape.part(i).y) for i in range(68)]
    return 100 * statistics.fmean(math.dist(a, b) for a, b in zip(p, g)) / math.dist(g[36], g[45])


def found_by(detections, g):
    """The detection that holds the centre of the true points' box `g` (the face it found), or None."""
    xs, ys = [q[0] for q in g], [q[1] for q in g]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return next((d for d in detections if d.left() < cx < d.right() and d.top() < cy < d.bottom()), None)


def main(folder, id_files, found_out=None):
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    detector = dlib.get_frontal_face_detector()
    rows = list(csv.DictReader(open(os.path.join(folder, 'attributes.csv'))))
    errs, errs_gt = {}, {}
    for r in rows:
        path = os.path.join(folder, r['image'])
        g = shape_bias.pts_truth(path)
        full = np.asarray(Image.open(path).convert('RGB'))
        xs, ys = [q[0] for q in g], [q[1] for q in g]
        gt_box = dlib.rectangle(int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys)))
        errs_gt[r['image']] = nme(predictor(full, gt_box), g)
        d = found_by(detector(full, 1), g)
        errs[r['image']] = None if d is None else nme(predictor(full, d), g)
    if found_out:
        with open(found_out, 'w') as f:
            f.write('# InfAnFace training faces that dlib\'s frontal detector finds (scripts/dlib_infants.py)\n')
            f.write(''.join(i + '\n' for i in sorted(errs) if errs[i] is not None))
    common = {r['image'] for r in rows if all(float(r[a]) == 0 for a in ATTRS)}
    groups = [('all', set(errs)), ('common', common), ('challenging', set(errs) - common)]
    for f in id_files:
        ids = {l.strip() for l in open(f) if l.strip() and not l.startswith('#')}
        name = os.path.basename(f)
        groups += [(name, ids), (name + ' common', ids & common), (name + ' challenging', ids - common)]
    print('| faces | n | found by dlib\'s detector | NME %, own box: mean | median | landmark box: mean | median |')
    print('|---|---|---|---|---|---|---|')
    for name, ids in groups:
        e = [errs[i] for i in sorted(ids) if errs[i] is not None]
        t = [errs_gt[i] for i in sorted(ids)]
        print(f'| {name} | {len(ids)} | {len(e)} | {statistics.fmean(e):.2f} | {statistics.median(e):.2f} '
              f'| {statistics.fmean(t):.2f} | {statistics.median(t):.2f} |')


if __name__ == '__main__':
    args = sys.argv[2:]
    found = shape_bias.pop_option(args, '--found')
    main(sys.argv[1], args, found)
