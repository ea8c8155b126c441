#!/usr/bin/env python3
"""MediaPipe Face Mesh on the faces we score, beside dlib (scripts/dlib_infants.py, scripts/dlib_adults.py): a
same-faces anchor for issue 13's rows whose MediaPipe numbers were measured on faces we do not have (infants,
rotated: 7.27 %; infants, common: 5.27 %; hand-annotated adults: 7.4 %).

MediaPipe runs as its users run it: the legacy Face Mesh solution (mediapipe 0.10.21, the version that made
the AFLW teacher labels of ../shared/data), static images, its own BlazeFace detector, whose eye keypoints set
the roll of the mesh's crop (so it is roll-aligned by construction), 468 points. Its landmarks are normalised
to the image, 0 and 1 being the outer edges of the border pixels, so the 0-based pixel centre is
`x * width - 0.5` (checked here by mirroring: `--check-mirror`). A face is found when the box of its 468
points and the face's true landmark box each hold the other's centre.

468 → iBUG 68 by the published correspondence of P. Yan, Mediapipe_2_Dlib_Landmarks (github.com/PeizhiYan/
Mediapipe_2_Dlib_Landmarks; one vertex or the mean of two per point), written out below. Because the map is
a convention, not MediaPipe's own output, the infant mode also scores a **fitted map**: for each of the 68
points the one mesh vertex closest to it on average (in % of the outer-eye distance), chosen on the four other
folds' faces of our five-fold split (configs/infanface/val_ids.txt, cv5_fold{1..4}_ids.txt), so no face
picks its own vertex. NME % by the outer-eye distance (points 37 and 46), as everywhere here.

Needs mediapipe (a throw-away virtualenv; the project does not depend on it):
    python3 -m venv /tmp/dlibenv && /tmp/dlibenv/bin/pip install dlib-bin face_recognition_models pillow numpy mediapipe==0.10.21
    /tmp/dlibenv/bin/python scripts/mediapipe_anchor.py infants ../shared/data/infanface/train [--found OUT] [--per-face CSV] [--ours CSV]
        # --ours: scripts/infant_cv_paired.py ... --per-face CSV (our cross-validated folds on the same faces)
    /tmp/dlibenv/bin/python scripts/mediapipe_anchor.py adults OURS.json SPECS...   # OURS.json: facealign eval --predictions
    /tmp/dlibenv/bin/python scripts/mediapipe_anchor.py aflw OURS.json ../shared/data/aflw/train.json configs/aflw/test_ids.txt [--pad 0.5]
        # OURS.json: facealign eval --model M --data "coco:../shared/data/aflw/train.json#@configs/aflw/test_ids.txt" --norm box --predictions OURS.json
    /tmp/dlibenv/bin/python scripts/mediapipe_anchor.py aflw OURS.json ../shared/data/aflw/train.json configs/aflw/test_ids.txt --dlib
        # --dlib: dlib (its HOG detector, upsampled once, and 68-point predictor) instead of MediaPipe
    /tmp/dlibenv/bin/python scripts/mediapipe_anchor.py check-mirror IMAGE...
"""
import csv
import math
import os
import statistics
import sys

import mediapipe as mp
import numpy as np
from PIL import Image

import shape_bias  # scripts/shape_bias.py, beside this file

# P. Yan's 468 -> 68 correspondence (iBUG order, 0-based here; two vertices: their mean).
MP_TO_IBUG68 = [
    [127], [234], [93], [132, 58], [58, 172], [136], [150], [176], [152], [400], [379], [365], [397, 288],
    [361], [323], [454], [356],  # jaw 1-17
    [156], [70, 63], [105], [66], [107, 55],  # right brow 18-22
    [336, 285], [296], [334], [293, 300], [383],  # left brow 23-27
    [168, 6], [197, 195], [5], [4], [98], [97], [2], [326], [327],  # nose 28-36
    [33], [160], [158], [133], [153], [144],  # right eye 37-42
    [362], [385], [387], [263], [373], [380],  # left eye 43-48
    [61], [39], [37], [0], [267], [269], [291], [321], [314], [17], [84], [91],  # outer lip 49-60
    [78], [82], [13], [312], [308], [317], [14], [87],  # inner lip 61-68
]
assert len(MP_TO_IBUG68) == 68
# iBUG-68 mirror permutation (point i becomes FLIP68[i] after a horizontal flip).
FLIP68 = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
          + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
          + [64, 63, 62, 61, 60, 67, 66, 65])
assert sorted(FLIP68) == list(range(68)) and all(FLIP68[FLIP68[i]] == i for i in range(68))
ATTRS = ('turned', 'occluded', 'expressive', 'tilted')


class Mesh:
    """MediaPipe Face Mesh on whole images: every face's 468 points in 0-based image pixels."""
    name = 'MediaPipe'

    def __init__(self, pad=0.0):
        self.fm = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=10,
                                                  refine_landmarks=False, min_detection_confidence=0.5)
        self.pad = pad

    def __call__(self, rgb):
        h, w = rgb.shape[:2]
        res = self.fm.process(np.ascontiguousarray(rgb))
        return [np.array([(p.x * w - 0.5, p.y * h - 0.5) for p in f.landmark]) for f in res.multi_face_landmarks or []]

    def faces(self, path):
        """The faces of the image file `path`, framed first by black borders of `pad` × its size."""
        im = np.asarray(Image.open(path).convert('RGB'))
        b = int(round(self.pad * im.shape[1]))
        if b:
            im = np.pad(im, ((b, b), (b, b), (0, 0)))
        return [m - b for m in self(im)]

    def to68(self, m, table=MP_TO_IBUG68):
        return [tuple(m[ix].mean(axis=0)) for ix in table]


class External:
    """68-point faces another tool wrote (scripts/faceapi_anchor/run.mjs's JSON: image path -> faces)."""

    def __init__(self, path):
        import json
        d = json.load(open(path))
        self.name = d.get('tool', os.path.basename(path)).split()[0]
        self.images = {os.path.realpath(k): v for k, v in d['images'].items()}
        self.source = path

    def faces(self, path):
        im = self.images.get(os.path.realpath(path))
        if im is None:
            sys.exit(f'{self.source}: no image {path}')
        return [np.asarray(f['landmarks'], dtype=float) for f in im.get('faces', [])]

    def to68(self, m, table=None):
        return [tuple(m[ix].mean(axis=0)) for ix in table] if table else [tuple(q) for q in m]


class DlibFaces:
    """dlib's 68-point predictor from its own frontal HOG detector (the image upsampled once), as
    scripts/dlib_adults.py runs it (`--dlib`: dlib on the AFLW yaw rows, session 26)."""
    name = 'dlib'

    def __init__(self, upsample=1):
        import dlib
        import face_recognition_models
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.upsample = upsample

    def faces(self, path):
        im = np.asarray(Image.open(path).convert('RGB'))
        out = []
        for d in self.detector(im, self.upsample):
            s = self.predictor(im, d)
            out.append(np.array([(s.part(i).x, s.part(i).y) for i in range(68)], dtype=float))
        return out

    def to68(self, m, table=None):
        return [tuple(q) for q in m]


def nme(p, g):
    return 100 * statistics.fmean(math.dist(a, b) for a, b in zip(p, g)) / math.dist(g[36], g[45])


def found_by(meshes, g):
    """The mesh that found the face of true points `g`, or None: the centre of each one's box lies inside the
    other's box (a mesh spanning two small faces of a group photo finds neither)."""
    xs, ys = [q[0] for q in g], [q[1] for q in g]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    for m in meshes:
        mx, my = (m[:, 0].min() + m[:, 0].max()) / 2, (m[:, 1].min() + m[:, 1].max()) / 2
        if (m[:, 0].min() < cx < m[:, 0].max() and m[:, 1].min() < cy < m[:, 1].max()
                and min(xs) < mx < max(xs) and min(ys) < my < max(ys)):
            return m
    return None


def folds():
    """Fold of each InfAnFace training image (our five-fold split)."""
    out = {}
    for k in range(5):
        f = 'configs/infanface/val_ids.txt' if k == 0 else f'configs/infanface/cv5_fold{k}_ids.txt'
        for line in open(f):
            if line.strip() and not line.startswith('#'):
                out[line.strip()] = k
    return out


def fitted_tables(found, truth, fold_of):
    """Per fold, the 68 single points of the tool's output closest on average to the true points on the other
    folds' faces."""
    tables = {}
    n = next(iter(found.values())).shape[0]
    for k in range(5):
        train = [(m, truth[i]) for i, m in found.items() if fold_of[i] != k]
        cost = np.zeros((68, n))
        for m, g in train:
            g = np.asarray(g)
            iod = np.linalg.norm(g[36] - g[45])
            cost += np.linalg.norm(m[None, :, :] - g[:, None, :], axis=2) / iod
        tables[k] = [[int(j)] for j in cost.argmin(axis=1)]
    return tables


def infants(tool, folder, found_out=None, per_face=None, ours=None):
    rows = list(csv.DictReader(open(os.path.join(folder, 'attributes.csv'))))
    fold_of = folds()
    found, truth = {}, {}
    for r in rows:
        path = os.path.join(folder, r['image'])
        g = shape_bias.pts_truth(path)
        truth[r['image']] = g
        m = found_by(tool.faces(path), g)
        if m is not None:
            found[r['image']] = m
    tables = fitted_tables(found, truth, fold_of)
    err = {i: nme(tool.to68(m), truth[i]) for i, m in found.items()}
    err_fit = {i: nme(tool.to68(m, tables[fold_of[i]]), truth[i]) for i, m in found.items()}
    if found_out:
        with open(found_out, 'w') as f:
            f.write(f'# InfAnFace training faces that {tool.name} finds (scripts/mediapipe_anchor.py)\n')
            f.write(''.join(i + '\n' for i in sorted(found)))
    if per_face:
        with open(per_face, 'w') as f:
            f.write('image,fold,common,nme_published_map,nme_fitted_map\n')
            f.write(''.join(f'{i},{fold_of[i]},{int(all(float(r[a]) == 0 for a in ATTRS))},{err[i]:.4f},{err_fit[i]:.4f}\n'
                            for r in rows if (i := r['image']) in found))
    common = {r['image'] for r in rows if all(float(r[a]) == 0 for a in ATTRS)}
    groups = [('all', set(truth)), ('common', common), ('challenging', set(truth) - common)]
    print(f'| faces | n | found by {tool.name} | NME %, its 68 points: mean | median | fitted map (other folds): mean | median |')
    print('|---|---|---|---|---|---|---|')
    for name, ids in groups:
        e = [err[i] for i in sorted(ids) if i in err]
        t = [err_fit[i] for i in sorted(ids) if i in err]
        print(f'| {name} | {len(ids)} | {len(e)} | {statistics.fmean(e):.2f} | {statistics.median(e):.2f} '
              f'| {statistics.fmean(t):.2f} | {statistics.median(t):.2f} |')
    if not ours:
        return
    # A facealign model on the same faces (scripts/infant_cv_paired.py --per-face: each face scored by the fold
    # model that did not train on it): the faces both find, per setting.
    theirs = {}
    for r in csv.DictReader(open(ours)):
        theirs.setdefault(r['setting'], {})[r['image']] = float(r['nme'])
    print(f'\n| facealign setting (cross-validated) | faces | found by both | {tool.name}, its 68 points | '
          f'{tool.name}, fitted map | facealign | facealign better on | facealign, all it finds |')
    print('|---|---|---|---|---|---|---|---|')
    for setting, o in theirs.items():
        for name, ids in groups:
            both = sorted(i for i in ids if i in o and i in err)
            if not both:
                continue
            mean = lambda d: statistics.fmean(d[i] for i in both)
            better = sum(o[i] < err_fit[i] for i in both)
            mine = [o[i] for i in ids if i in o]
            print(f'| {setting}, {name} | {len(ids)} | {len(both)} | {mean(err):.2f} | {mean(err_fit):.2f} '
                  f'| {mean(o):.2f} | {better} of {len(both)} | {statistics.fmean(mine):.2f} ({len(mine)}) |')


def adults(tool, ours_path, specs):
    import json
    import shape_bias  # the same face list and ids as `facealign eval --predictions`
    ours_file = json.load(open(ours_path))
    ours = {f['id']: f for f in ours_file['images']}
    model = ours_file.get('model', 'model')
    rows, cache = [], {}
    for spec in specs:
        for fid, image, g in shape_bias.faces(spec):
            if fid not in ours:
                sys.exit(f'{ours_path}: no face `{fid}` (run facealign eval --predictions on the same specs)')
            if image not in cache:
                cache[image] = tool.faces(image)
            m = found_by(cache[image], g)
            rows.append((spec, fid, None if m is None else nme(tool.to68(m), g), 100 * ours[fid]['nme']))
    print(f'| faces | n | found by {tool.name} | {tool.name} NME %, own detector | {model}, same faces | {model}, all faces |')
    print('|---|---|---|---|---|---|')
    groups = [(s, [r for r in rows if r[0] == s]) for s in specs] + [('all', rows)]
    others = [r for r in rows if not r[0].startswith('dlib:')]
    if others and len(others) < len(rows):
        groups.append(('all but dlib\'s example photos', others))
    for name, rs in groups:
        f = [r for r in rs if r[2] is not None]
        mean = lambda v: f'{statistics.fmean(v):.2f}' if v else '-'
        print(f'| {name} | {len(rs)} | {len(f)} | {mean([r[2] for r in f])} | {mean([r[3] for r in f])} '
              f'| {mean([r[3] for r in rs])} |')
    print()
    for spec, fid, e, o in others:
        print(f'{fid}: {tool.name} {"missed" if e is None else f"{e:.2f}"}, {model} {o:.2f}')


# Our iBUG-68 -> AFLW-19 reading (crates/facealign-core/src/scheme_map.rs, aflw19_to_ibug68): what
# `facealign eval` scores a 68-point model by on AFLW-19 faces.
IBUG68_TO_AFLW19 = [[17], [19], [21], [22], [24], [26], [36], list(range(36, 42)), [39], [42], list(range(42, 48)),
                    [45], [31], [30], [35], [48], [62, 66], [54], [8]]
YAW_BINS = ((0, 30), (30, 60), (60, 90))


def aflw(tool, ours_path, train_json, ids_file, fit_tool=None, fit_faces=3000):
    """AFLW-19 faces of `ids_file` (our AFLW test split), NME % by √(w·h) of the annotation's box over the
    labelled points, per yaw bin, MediaPipe (published map, then 68 -> 19 as facealign reads a 68-point
    model; and a 468 -> 19 map fitted on up to `fit_faces` AFLW faces outside `ids_file`) beside a
    facealign model's `eval --predictions` on the same faces. `pad`: the 120-px crop is framed with
    black borders of `pad` × its size on every side first (MediaPipe's detector wants a margin)."""
    import json
    d = json.load(open(train_json))
    names = {i['id']: i['file_name'] for i in d['images']}
    anns = {names[a['image_id']]: a for a in d['annotations']}
    test = [line.strip() for line in open(ids_file) if line.strip() and not line.startswith('#')]
    ours_file = json.load(open(ours_path))
    ours = {f['id']: f for f in ours_file['images']}
    model = ours_file.get('model', 'model')
    rest = sorted(set(anns) - set(test))[:fit_faces]
    root = os.path.dirname(train_json)

    def run(name, t=tool):
        a = anns[name]
        k = a['keypoints']
        g = [(k[3 * i], k[3 * i + 1]) if k[3 * i + 2] > 0 else None for i in range(19)]
        m = found_by(t.faces(os.path.join(root, name)), [q for q in g if q is not None])
        x, y, w, h = a['bbox']
        return g, m, math.sqrt(w * h), abs(a.get('yaw', 0.0))

    def err(p, g, box):
        e = [math.dist(q, t) for q, t in zip(p, g) if t is not None]
        return 100 * statistics.fmean(e) / box

    fit = [(g, m, box) for g, m, box, _ in (run(r, fit_tool or tool) for r in rest) if m is not None]
    cost = np.zeros((19, fit[0][1].shape[0]))
    for g, m, box in fit:
        for j, t in enumerate(g):
            if t is not None:
                cost[j] += np.linalg.norm(m - np.asarray(t), axis=1) / box
    fitted = cost.argmin(axis=1)
    rows = []
    for name in test:
        g, m, box, yaw = run(name)
        o = 100 * ours[name]['nme']
        if m is None:
            rows.append((yaw, None, None, o))
            continue
        p68 = tool.to68(m)
        p19 = [tuple(np.mean([p68[i] for i in ix], axis=0)) for ix in IBUG68_TO_AFLW19]
        rows.append((yaw, err(p19, g, box), err([m[j] for j in fitted], g, box), o))
    print(f'AFLW faces of {ids_file}, {tool.name}; fitted map to the 19 on {len(fit)} faces found of {len(rest)} others')
    print(f'| yaw | n | found by {tool.name} | {tool.name}, its 68 points | {tool.name}, fitted map | {model}, same faces '
          f'| {model}, all faces | {model} < 10 %, all faces |')
    print('|---|---|---|---|---|---|---|---|')
    for lo, hi in YAW_BINS + ((0, 90),):
        rs = [r for r in rows if lo <= r[0] < hi or (hi == 90 and r[0] >= 90)]
        f = [r for r in rs if r[1] is not None]
        mean = lambda v: f'{statistics.fmean(v):.2f}' if v else '-'
        print(f'| {lo}-{hi}° | {len(rs)} | {len(f)} | {mean([r[1] for r in f])} | {mean([r[2] for r in f])} '
              f'| {mean([r[3] for r in f])} | {mean([r[3] for r in rs])} '
              f'| {100 * sum(r[3] < 10 for r in rs) / max(1, len(rs)):.0f} % |')


def check_mirror(images):
    """Mean x offset (px) between the 68 mapped points and those of the mirrored photo mirrored back: about 0
    when the pixel convention is right (the model's own left-right asymmetry averages out over faces);
    about ±1 px if it were off by half a pixel."""
    mesh = Mesh()
    dx = []
    for path in images:
        im = np.asarray(Image.open(path).convert('RGB'))
        w = im.shape[1]
        a, b = mesh(im), mesh(im[:, ::-1])
        if len(a) != 1 or len(b) != 1:
            continue
        p, q = mesh.to68(a[0]), mesh.to68(b[0])
        dx += [p[i][0] - (w - 1 - q[FLIP68[i]][0]) for i in range(68)]
    print(f'{len(dx) // 68} faces: mean x offset {statistics.fmean(dx):+.3f} px, '
          f'median {statistics.median(dx):+.3f} px (0 = the convention holds; ±1 = off by half a pixel)')


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode, args = sys.argv[1], sys.argv[2:]
    faces_json, fit_json = shape_bias.pop_option(args, '--faces'), shape_bias.pop_option(args, '--fit-faces')
    use_dlib = '--dlib' in args
    if use_dlib:
        args.remove('--dlib')
    tool = (External(faces_json) if faces_json else DlibFaces() if use_dlib
            else Mesh(float(shape_bias.pop_option(args, '--pad', 0.0))))
    if mode == 'infants':
        found, per_face, ours = shape_bias.pop_option(args, '--found'), shape_bias.pop_option(args, '--per-face'), shape_bias.pop_option(args, '--ours')
        infants(tool, args[0], found, per_face, ours)
    elif mode == 'adults':
        adults(tool, args[0], args[1:])
    elif mode == 'aflw':
        aflw(tool, args[0], args[1], args[2], External(fit_json) if fit_json else None)
    elif mode == 'check-mirror':
        check_mirror(args)
    else:
        sys.exit(__doc__)
