#!/usr/bin/env python3
"""68-point teacher labels from dlib run in its own box convention (session 16).

The shared teacher labels (aflw/teacher68.json, mtfl/**/*.pts) draw the jaw narrower than hand
annotation does (docs/RESULTS.md, "Where the frontal gap to dlib lies"). One measured cause: dlib's
shape predictor was trained on the boxes of dlib's own face detector, and its jaw narrows when it is
given another box (scripts/teacher_resolution.py: a box 0.8x the size gives a jaw 3.4 % narrower);
on the MTFL validation faces the shared labels give jaw / outer-eye 1.649 where dlib in its own
box gives 1.692. This script re-labels both sets with dlib's `shape_predictor_68_face_landmarks`
on the image enlarged 2x, from the box of dlib's frontal detector (upsampling once) that holds the
face, and keeps a face only where the labels agree with its true points as the shared sets did:

- MTFL: eye centres (means of the six eye points), nose tip (30) and mouth corners (48, 54) within
  8 % of the inter-eye distance on average -> OUT/mtfl/<same relative path>.pts (1-based, beside a
  link to the image), read as `pts:OUT/mtfl`;
- AFLW: the 19 true points through the AFLW-19 map (crates/facealign-core/src/scheme_map.rs) within
  5 % of the box size sqrt(w*h) on average over the annotated points -> OUT/aflw/dlib68.json (the
  COCO layout of teacher68.json, `teacher = "dlib-own-box"`, `agreement` in %), with a link
  `OUT/aflw/images` to the shared crops, read as `coco:OUT/aflw/dlib68.json`.

Needs dlib and its model, which the project does not depend on: a throw-away virtualenv,
    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face_recognition_models pillow numpy
    /tmp/dlibenv/bin/python scripts/dlib_teacher.py runs/teacher_dlib [--jobs 2]

Session 27: `--mtfl-list runs/data/mtfl/train.txt` reads MTFL's points from the list with the 2,350 shifted
faces moved back (scripts/mtfl_shift.py fix; its images are links to the shared ones), and `--parts mtfl`
(or `aflw`) makes only that part: MTFL's corrected teacher set goes to its own directory,
    /tmp/dlibenv/bin/python scripts/dlib_teacher.py runs/teacher_dlib_fix --parts mtfl --mtfl-list runs/data/mtfl/train.txt
"""
import json
import math
import multiprocessing
import os
import statistics
import sys

import dlib
import numpy as np
from PIL import Image

import face_recognition_models

SHARED = '../shared/data'
RIGHT_EYE, LEFT_EYE = range(36, 42), range(42, 48)
# AFLW-19 point j is the mean of these iBUG-68 points (scheme_map.rs, aflw19_to_ibug68).
AFLW19 = [[17], [19], [21], [22], [24], [26], [36], list(RIGHT_EYE), [39], [42], list(LEFT_EYE), [45],
          [31], [30], [35], [48], [62, 66], [54], [8]]

_pred = _det = None


def _init():
    global _pred, _det
    _pred = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    _det = dlib.get_frontal_face_detector()


def mean_of(p, idx):
    return (statistics.fmean(p[i][0] for i in idx), statistics.fmean(p[i][1] for i in idx))


def dlib68(path, centre):
    """dlib's 68 points (0-based pixels of the original image) of the detected face holding
    `centre`, the largest such; None when the detector finds none."""
    im = Image.open(path).convert('RGB')
    big = np.asarray(im.resize((im.width * 2, im.height * 2), Image.BILINEAR))
    cx, cy = 2 * centre[0], 2 * centre[1]
    found = [d for d in _det(big, 1) if d.left() < cx < d.right() and d.top() < cy < d.bottom()]
    if not found:
        return None
    d = max(found, key=lambda r: r.area())
    s = _pred(big, d)
    # dlib's part (x, y) is a pixel index of the 2x image; its centre maps to (x + 0.5) / 2 - 0.5.
    return [((s.part(k).x + 0.5) / 2 - 0.5, (s.part(k).y + 0.5) / 2 - 0.5) for k in range(68)]


def mtfl_job(item):
    root, line = item
    f = line.split()
    rel, v = f[0], list(map(float, f[1:11]))
    true5 = list(zip(v[:5], v[5:]))
    centre = (statistics.fmean(v[:5]), statistics.fmean(v[5:]))
    p = dlib68(os.path.join(root, rel), centre)
    if p is None:
        return rel, None, None
    ours = [mean_of(p, RIGHT_EYE), mean_of(p, LEFT_EYE), p[30], p[48], p[54]]
    ied = math.dist(true5[0], true5[1])
    agree = 100 * statistics.fmean(math.dist(a, b) for a, b in zip(ours, true5)) / ied
    return rel, p, agree


def aflw_job(item):
    image, ann = item
    kp = ann['keypoints']
    pts = [(kp[3 * j], kp[3 * j + 1]) for j in range(19) if kp[3 * j + 2] > 0]
    if not pts:
        return ann['id'], None, None
    centre = (statistics.fmean(q[0] for q in pts), statistics.fmean(q[1] for q in pts))
    p = dlib68(os.path.join(SHARED, 'aflw', image['file_name']), centre)
    if p is None:
        return ann['id'], None, None
    box = math.sqrt(ann['bbox'][2] * ann['bbox'][3])
    d = [math.dist(mean_of(p, AFLW19[j]), (kp[3 * j], kp[3 * j + 1])) for j in range(19) if kp[3 * j + 2] > 0]
    return ann['id'], p, 100 * statistics.fmean(d) / box


def write_atomic(path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def link(target, name):
    if not os.path.lexists(name):
        os.symlink(os.path.relpath(target, os.path.dirname(name)), name)


def accepted(pool, job, items, limit, found):
    """The (key, points, agreement) of `job` over `items` whose face the detector found (counted in
    found[0]) and whose agreement with the true points is within `limit` %."""
    for key, p, agree in pool.imap(job, items, chunksize=64):
        if p is None:
            continue
        found[0] += 1
        if agree <= limit:
            yield key, p, agree


def main(out, jobs, parts, mtfl_list):
    with multiprocessing.Pool(jobs, _init) as pool:
        if 'mtfl' in parts:
            make_mtfl(pool, out, mtfl_list)
        if 'aflw' in parts:
            make_aflw(pool, out)


def make_mtfl(pool, out, mtfl_list):
    root = os.path.dirname(mtfl_list)
    lines = [(root, l) for l in open(mtfl_list) if l.strip()]
    found, kept = [0], 0
    for rel, p, _ in accepted(pool, mtfl_job, lines, 8.0, found):
        kept += 1
        base = os.path.join(out, 'mtfl', rel)
        os.makedirs(os.path.dirname(base), exist_ok=True)
        link(os.path.join(root, rel), base)
        body = '\n'.join(f'{x + 1:.3f} {y + 1:.3f}' for x, y in p)  # 1-based
        write_atomic(os.path.splitext(base)[0] + '.pts', f'version: 1\nn_points: 68\n{{\n{body}\n}}\n')
    print(f'MTFL: {len(lines)} faces, {found[0]} found by the detector, {kept} kept (within 8 % of the inter-eye distance)')


def make_aflw(pool, out):
    coco = json.load(open(os.path.join(SHARED, 'aflw/train.json')))
    images = {im['id']: im for im in coco['images']}
    items = [(images[a['image_id']], a) for a in coco['annotations']]
    anns = {a['id']: a for a in coco['annotations']}
    out_anns, found = [], [0]
    for aid, p, agree in accepted(pool, aflw_job, items, 5.0, found):
        a = dict(anns[aid])
        a['keypoints'] = [c for x, y in p for c in (x, y, 2)]
        a['num_keypoints'] = 68
        a['teacher'] = 'dlib-own-box'
        a['agreement'] = round(agree, 2)
        out_anns.append(a)
    kept_ids = {a['image_id'] for a in out_anns}
    doc = {
        'info': {'description': 'AFLW faces re-labelled by dlib 68 in its own detector box (scripts/dlib_teacher.py); teacher labels, not ground truth'},
        'categories': json.load(open(os.path.join(SHARED, 'aflw/teacher68.json')))['categories'],
        'images': [im for im in coco['images'] if im['id'] in kept_ids],
        'annotations': out_anns,
    }
    os.makedirs(os.path.join(out, 'aflw'), exist_ok=True)
    link(os.path.join(SHARED, 'aflw/images'), os.path.join(out, 'aflw/images'))
    write_atomic(os.path.join(out, 'aflw/dlib68.json'), json.dumps(doc))
    print(f'AFLW: {len(items)} faces, {found[0]} found by the detector, {len(out_anns)} kept (within 5 % of the box size)')


if __name__ == '__main__':
    args = sys.argv[1:]
    opts = {'--jobs': '2', '--parts': 'mtfl,aflw', '--mtfl-list': os.path.join(SHARED, 'mtfl/train.txt')}
    for flag in opts:
        if flag in args:
            i = args.index(flag)
            opts[flag] = args[i + 1]
            del args[i:i + 2]
    main(args[0] if args else 'runs/teacher_dlib', int(opts['--jobs']), opts['--parts'].split(','),
         opts['--mtfl-list'])
