#!/usr/bin/env python3
"""Systematic shape error of a 68-point model on hand-annotated faces (session 15).

Reads the predictions of `facealign eval --predictions P.json` on a `dlib:` or `pts:` data spec and
that spec's own annotations, and prints (1) the mean signed error of every point in each face's eye
frame (x along the line between the eye centres, y perpendicular, down), in % of the outer-eye
distance (points 37-46), and (2) the mean width of the jaw (points 1-17 and 4-14) and brows (18-27)
over that distance, true and predicted. A model that follows the annotation convention has signed
errors near 0 and equal widths; a teacher's convention shows as a bias.

Usage: scripts/shape_bias.py P.json [P2.json ...]   (each from `eval --predictions` on dlib: or pts:)
"""
import json
import math
import os
import re
import statistics
import sys


def dlib_truth(xml):
    out, img, k, cur = {}, None, 0, None
    for m in re.finditer(r"<image file='([^']+)'|<box |<part name='(\d+)' x='(-?\d+)' y='(-?\d+)'/>",
                         open(xml).read()):
        if m.group(1):
            img, k = m.group(1), 0
        elif m.group(0).startswith('<box'):
            cur = {}
            out[f'{img}#{k}'] = cur
            k += 1
        else:
            cur[int(m.group(2))] = (float(m.group(3)), float(m.group(4)))
    return {i: [v[j] for j in range(68)] for i, v in out.items() if len(v) == 68}


def pop_option(args, flag, default=None):
    """The value after `flag` in the argument list `args` (both removed from it), or `default`."""
    if flag in args:
        i = args.index(flag)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


def pts_truth(image):
    text = open(os.path.splitext(image)[0] + '.pts').read()
    v = list(map(float, text.split('{')[1].split('}')[0].split()))
    return [(v[2 * i] - 1, v[2 * i + 1] - 1) for i in range(len(v) // 2)]  # 1-based → image_px


PARTS = {'jaw': range(0, 17), 'brows': range(17, 27), 'nose': range(27, 36), 'eyes': range(36, 48),
         'mouth': range(48, 68)}


def faces(spec):
    """(id as `facealign eval --predictions` names it, image path, 68 true points in image pixels);
    a final `#origin=N` (facealign's data spec: the file's top-left pixel centre is N) moves the
    points as facealign does (`.pts` are 1-based by convention, the other formats 0-based)."""
    kind, path = spec.split(':', 1)
    path, _, origin = path.partition('#origin=')
    shift = float(origin) - (1.0 if kind == 'pts' else 0.0) if origin else 0.0
    for fid, image, pts in _faces(kind, path, spec):
        yield fid, image, [(x - shift, y - shift) for x, y in pts]


def _faces(kind, path, spec):
    if kind == 'dlib':
        root = os.path.dirname(path)
        for i, pts in dlib_truth(path).items():
            yield i, os.path.join(root, i.split('#')[0]), pts
    elif kind == 'pts':
        for name in sorted(os.listdir(path)):
            stem, ext = os.path.splitext(name)
            if ext.lower() in ('.jpg', '.jpeg', '.png', '.ppm') and os.path.exists(os.path.join(path, stem + '.pts')):
                yield name, os.path.join(path, name), pts_truth(os.path.join(path, name))
    elif kind == 'coco':
        d = json.load(open(path))
        names = {i['id']: i['file_name'] for i in d['images']}
        for a in d['annotations']:
            k = a['keypoints']
            name = names[a['image_id']]
            yield name, os.path.join(os.path.dirname(path), name), [(k[3 * i], k[3 * i + 1]) for i in range(68)]
    else:
        sys.exit(f'{spec}: only dlib:, pts: and coco: specs')


def widths(p):
    iod = math.dist(p[36], p[45])
    return (math.dist(p[0], p[16]) / iod, math.dist(p[3], p[13]) / iod, math.dist(p[17], p[26]) / iod)


def main(paths):
    err = [[0.0, 0.0] for _ in range(68)]
    true_w, pred_w = [], []
    for path in paths:
        f = json.load(open(path))
        spec = f['data']
        kind, _, where = spec.partition(':')
        where = where.split('#')[0]
        truth = dlib_truth(where) if kind == 'dlib' else None
        for im in f['images']:
            g = truth[im['id']] if truth is not None else pts_truth(im['image'])
            p = im['landmarks']
            if len(g) != 68 or len(p) != 68:
                sys.exit(f"{path}: {im['id']}: expected 68 points")
            le = [sum(g[i][c] for i in range(36, 42)) / 6 for c in (0, 1)]
            re_ = [sum(g[i][c] for i in range(42, 48)) / 6 for c in (0, 1)]
            n = math.hypot(re_[0] - le[0], re_[1] - le[1])
            c, s = (re_[0] - le[0]) / n, (re_[1] - le[1]) / n
            iod = math.dist(g[36], g[45])
            for j in range(68):
                ex, ey = p[j][0] - g[j][0], p[j][1] - g[j][1]
                err[j][0] += (c * ex + s * ey) / iod
                err[j][1] += (-s * ex + c * ey) / iod
            true_w.append(widths(g))
            pred_w.append(widths(p))
    n = len(true_w)
    print(f'{n} faces. Mean signed error per point, % of the outer-eye distance (x along the eye line, y down):')
    for j in range(68):
        print(f'{j + 1:2d} {100 * err[j][0] / n:+5.1f} {100 * err[j][1] / n:+5.1f}', end='  |' if j % 6 != 5 else '\n')
    print()
    mean = lambda v, i: statistics.mean(x[i] for x in v)
    print('| width / outer-eye distance | jaw, points 1-17 | jaw, points 4-14 | brows, points 18-27 |')
    print('|---|---|---|---|')
    print('| true | ' + ' | '.join(f'{mean(true_w, i):.3f}' for i in range(3)) + ' |')
    print('| predicted | ' + ' | '.join(f'{mean(pred_w, i):.3f}' for i in range(3)) + ' |')


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
