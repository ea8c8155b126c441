#!/usr/bin/env python3
"""AFLW's 68-point teacher labels with each eye placed by AFLW's hand-annotated eye corners (session 30).

dlib's teacher eyes (scripts/dlib_teacher.py) are drawn on 120-px crops; AFLW's eye corners were
clicked by hand. On the faces up to 30 deg of yaw the teacher's corners lie 3.3-3.6 % of the outer-eye
distance from the hand ones (a systematic 1-2 % of it: the hand eyes are wider and higher). This
moves each teacher eye (iBUG 37-42, 43-48) so that its corners land on the hand corners: in the
frame of the teacher's two corners (origin at their midpoint, axis along them), a point keeps its
coordinate across the eye and its coordinate along the eye scales with the corner distance; the
frame then goes to the hand corners' frame. The eye's height is kept. An eye whose hand corners are
not both annotated (v = 0) is left as the teacher drew it. Every other point is untouched.

    python3 scripts/snap_teacher_eyes.py runs/teacher_dlib/aflw/dlib68.json runs/teacher_snap/aflw/dlib68.json

`--width-only` (the second run of session 30, after the first showed that AFLW's corners sit higher
than the iBUG convention's) keeps each teacher eye where dlib drew it and only stretches it along its
own corner axis, about its own midpoint, to the hand corners' distance:

    python3 scripts/snap_teacher_eyes.py --width-only runs/teacher_dlib/aflw/dlib68.json runs/teacher_snapw/aflw/dlib68.json

Writes the COCO file (same layout, `teacher = "dlib-own-box, eyes on AFLW corners"`, or "..., eye widths
from AFLW corners") and a link to the shared crops beside it; prints the teacher's corner offsets
before the move and how far the eye points moved.
"""
import json
import math
import os
import statistics
import sys

SHARED = '../shared/data'
# (teacher eye points, teacher corners, AFLW-19 corner indices): right eye 36-41 (corners 36, 39) with
# AFLW 6, 8; left eye 42-47 (corners 42, 45) with AFLW 9, 11 (scheme_map.rs, aflw19_to_ibug68).
EYES = [(range(36, 42), (36, 39), (6, 8)), (range(42, 48), (42, 45), (9, 11))]


def frame(a, b):
    """Midpoint, unit axis from a to b, its normal, and the distance."""
    m = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    d = math.dist(a, b)
    u = ((b[0] - a[0]) / d, (b[1] - a[1]) / d)
    return m, u, (-u[1], u[0]), d


def snap(points, truth, width_only=False):
    """`points`: 68 (x, y); `truth`: 19 (x, y, v). Returns the new points and the eyes moved. With
    `width_only`, each eye keeps the teacher's midpoint and axis and only takes the hand corners'
    distance (its points scale along the teacher's corner axis about the teacher's midpoint)."""
    out = list(points)
    moved = 0
    for idx, (ta, tb), (ha, hb) in EYES:
        if truth[ha][2] <= 0 or truth[hb][2] <= 0:
            continue
        m, u, n, d = frame(points[ta], points[tb])
        hand = frame(truth[ha][:2], truth[hb][:2])
        m2, u2, n2, d2 = (m, u, n, hand[3]) if width_only else hand
        if d < 1e-6 or d2 < 1e-6:
            continue
        for k in idx:
            rx, ry = points[k][0] - m[0], points[k][1] - m[1]
            a = (rx * u[0] + ry * u[1]) * d2 / d
            b = rx * n[0] + ry * n[1]
            out[k] = (m2[0] + a * u2[0] + b * n2[0], m2[1] + a * u2[1] + b * n2[1])
        moved += 1
    return out, moved


def pt(kp, i):
    """Point `i` of a COCO keypoint list (x, y, v, ...)."""
    return kp[3 * i], kp[3 * i + 1]


def corner_offsets(teacher, truth, max_yaw=30.0):
    """Before snapping: on the faces up to `max_yaw` with all four hand eye corners annotated, how far
    each teacher corner lies from its hand corner, in % of the hand outer-eye distance: mean distance,
    mean offset along the outer-eye axis (toward the image's right) and across it (downward), and the
    mean ratio of hand to teacher eye width."""
    pairs = [(c, j) for _, corners, hand in EYES for c, j in zip(corners, hand)]
    rows = {c: ([], [], []) for c, _ in pairs}
    widths, n = [], 0
    for ann in teacher['annotations']:
        t = truth[ann['id']]
        if abs(t['yaw']) > max_yaw:
            continue
        k, h = ann['keypoints'], t['keypoints']
        if any(h[3 * j + 2] <= 0 for _, j in pairs):
            continue
        n += 1
        # The hand outer corners: the right eye's first, the left eye's second.
        _, u, across, iod = frame(pt(h, EYES[0][2][0]), pt(h, EYES[1][2][1]))
        for c, j in pairs:
            dx, dy = (a - b for a, b in zip(pt(h, j), pt(k, c)))
            d, x, y = rows[c]
            d.append(100 * math.hypot(dx, dy) / iod)
            x.append(100 * (dx * u[0] + dy * u[1]) / iod)
            y.append(100 * (dx * across[0] + dy * across[1]) / iod)
        for _, (a, b), (ha, hb) in EYES:
            widths.append(math.dist(pt(h, ha), pt(h, hb)) / math.dist(pt(k, a), pt(k, b)))
    print(f'before: {n} faces up to {max_yaw:g} deg of yaw with the four hand eye corners; hand corner - teacher corner, '
          '% of the outer-eye distance (distance, along the eye line, downward):')
    for c, j in pairs:
        d, x, y = rows[c]
        print(f'  iBUG {c + 1} / AFLW {j + 1}: {statistics.fmean(d):.2f}, {statistics.fmean(x):+.2f}, {statistics.fmean(y):+.2f}')
    print(f'  hand / teacher eye width: mean {statistics.fmean(widths):.3f}')


def main():
    args = [a for a in sys.argv[1:] if a != '--width-only']
    width_only = len(args) < len(sys.argv) - 1
    if len(args) != 2:
        sys.exit(__doc__)
    src, dst = args
    teacher = json.load(open(src))
    faces = {a['id']: a for a in json.load(open(os.path.join(SHARED, 'aflw/train.json')))['annotations']}
    corner_offsets(teacher, faces)
    truth = {i: a['keypoints'] for i, a in faces.items()}
    shifts, eyes = [], 0
    for ann in teacher['annotations']:
        kp = ann['keypoints']
        pts = [pt(kp, k) for k in range(68)]
        t = truth[ann['id']]
        new, moved = snap(pts, [(t[3 * j], t[3 * j + 1], t[3 * j + 2]) for j in range(19)], width_only)
        eyes += moved
        box = math.sqrt(ann['bbox'][2] * ann['bbox'][3])
        shifts += [100 * math.dist(p, q) / box for p, q in zip(pts[36:48], new[36:48]) if p != q]
        for k, (x, y) in enumerate(new):
            kp[3 * k], kp[3 * k + 1] = round(x, 3), round(y, 3)
        ann['teacher'] = 'dlib-own-box, eye widths from AFLW corners' if width_only else 'dlib-own-box, eyes on AFLW corners'
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    link = os.path.join(os.path.dirname(dst), 'images')
    if not os.path.lexists(link):
        os.symlink(os.path.relpath(os.path.join(SHARED, 'aflw/images'), os.path.dirname(dst)), link)
    with open(dst + '.tmp', 'w') as f:
        json.dump(teacher, f)
    os.replace(dst + '.tmp', dst)
    print(f'{len(teacher["annotations"])} faces, {eyes} eyes moved; eye points moved by '
          f'{statistics.fmean(shifts):.2f} % of the box on average (median {statistics.median(shifts):.2f})')


if __name__ == '__main__':
    main()
