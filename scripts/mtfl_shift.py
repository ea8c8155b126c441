#!/usr/bin/env python3
"""MTFL's web faces named `net_7876/_*.jpg` have their five labels 27.7 px too high (session 26).

In ../shared/data/mtfl/train.txt, every one of the 2,350 web faces whose file name starts with `_`
(`net_7876/_-20_1004_0.jpg`, ...: the names carry an angle, -60 to 60) has its five points shifted by the
same vector from where the face is; the 3,499 other web faces and the 4,151 LFW faces do not. Measured with
dlib's own detector and 68-point predictor (its eye centres, nose tip and mouth corners; `measure` below):
the truth minus dlib's points is (+0.27, -0.03) px on the other web faces (dlib's own bias) and (+0.53,
-27.73) px on the `_` faces, with a spread of 0.4-0.6 px on both (dlib's own noise: the shift is one
constant, the same in every angle group). So 23.5 % of MTFL's faces (221 of our 1,000 validation faces)
were trained and scored on points placed on the forehead.

    python3 scripts/mtfl_shift.py fix [OUT_DIR]      # writes OUT_DIR/train.txt (default runs/data/mtfl)
        # MTFL's list with the `_` faces moved back by SHIFT, and links OUT_DIR/lfw_5590, OUT_DIR/net_7876
        # to the images, so that `mtfl:OUT_DIR/train.txt` has the same ids as the original list.
    /tmp/dlibenv/bin/python scripts/mtfl_shift.py measure      # re-measures SHIFT (needs dlib, ~2 min)
"""
import os
import statistics
import sys

DATA = os.environ.get('FACEALIGN_DATA', '../shared/data')
MTFL = os.path.join(DATA, 'mtfl/train.txt')
# Truth minus dlib on the `_` faces, minus the same on the other web faces (medians, `measure`, session 26):
# what the `_` faces' labels are off by, in pixels of the 80×80 image.
SHIFT = (0.26, -27.70)


def shifted(rel):
    """Is this list entry one of the faces whose labels are off by SHIFT?"""
    return rel.replace('\\', '/').startswith('net_7876/_')


def entries(path=MTFL):
    """(image path relative to the list, its five points as given) of every face of an MTFL list."""
    for line in open(path):
        f = line.split()
        if len(f) >= 11:
            v = [float(x) for x in f[1:11]]
            yield f[0], [(v[i], v[5 + i]) for i in range(5)]


def corrected(rel, points):
    """The five points of list entry `rel`, moved back by SHIFT when it is one of the shifted faces."""
    if not shifted(rel):
        return points
    return [(x - SHIFT[0], y - SHIFT[1]) for x, y in points]


def fix(out_dir='runs/data/mtfl'):
    os.makedirs(out_dir, exist_ok=True)
    lines, n = [], 0
    for line in open(MTFL):
        f = line.split()
        if len(f) >= 11 and shifted(f[0]):
            v = [float(x) for x in f[1:11]]
            p = corrected(f[0], [(v[i], v[5 + i]) for i in range(5)])
            line = ' '.join([f[0]] + [f'{q[0]:.2f}' for q in p] + [f'{q[1]:.2f}' for q in p] + f[11:]) + '\n'
            n += 1
        lines.append(line)
    tmp = os.path.join(out_dir, 'train.txt.tmp')
    with open(tmp, 'w') as out:
        out.writelines(lines)
    os.replace(tmp, os.path.join(out_dir, 'train.txt'))
    for d in ('lfw_5590', 'net_7876'):
        link = os.path.join(out_dir, d)
        target = os.path.relpath(os.path.join(os.path.dirname(MTFL), d), out_dir)
        if os.path.islink(link) and os.readlink(link) != target:
            os.remove(link)
        if not os.path.lexists(link):
            os.symlink(target, link)
    print(f'{out_dir}/train.txt: {n} of {len(lines)} faces moved by {-SHIFT[0]:+.2f}, {-SHIFT[1]:+.2f} px')


def measure():
    import dlib
    import face_recognition_models
    import numpy as np
    from PIL import Image
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    five = (range(36, 42), range(42, 48), [30], [48], [54])
    groups = {}
    root = os.path.dirname(MTFL)
    for rel, points in entries():
        g = np.array(points)
        im = np.asarray(Image.open(os.path.join(root, rel)).convert('RGB'))
        ds = detector(im, 1)
        if not ds:
            continue
        # The detection nearest the labels' centre moved down by half the shift (either case).
        c = g.mean(axis=0) - np.array(SHIFT) / 2
        d = min(ds, key=lambda d: np.hypot((d.left() + d.right()) / 2 - c[0], (d.top() + d.bottom()) / 2 - c[1]))
        s = predictor(im, d)
        p = np.array([np.mean([(s.part(i).x, s.part(i).y) for i in ix], axis=0) for ix in five])
        name = os.path.basename(rel)
        key = ('_' + name.split('_')[1]) if shifted(rel) else 'other web faces' if rel.startswith('net_7876/') else 'LFW faces'
        groups.setdefault(key, []).append((g - p).mean(axis=0))
    print('| faces | n found | truth - dlib, x (spread) | y (spread) |')
    print('|---|---|---|---|')
    for k, o in sorted(groups.items()):
        o = np.array(o)
        print(f'| {k} | {len(o)} | {np.median(o[:, 0]):+.2f} ({o[:, 0].std():.2f}) | {np.median(o[:, 1]):+.2f} ({o[:, 1].std():.2f}) |')
    ref = np.median(np.array(groups['other web faces']), axis=0)
    sh = np.median(np.array([x for k, o in groups.items() if k.startswith('_') for x in o]), axis=0)
    print(f'SHIFT = ({sh[0] - ref[0]:.2f}, {sh[1] - ref[1]:.2f})   # the `_` faces against the others')


if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in ('fix', 'measure'):
        sys.exit(__doc__)
    fix(*sys.argv[2:3]) if sys.argv[1] == 'fix' else measure()
