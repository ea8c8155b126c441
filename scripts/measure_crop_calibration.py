#!/usr/bin/env python3
"""Issue 13: the crop calibration that turns the box of AFLW-19's labelled points into the box of
its five 5-point points (eye centres 7 / 10, nose tip 13, mouth corners 15 / 17; the AFLW-19 ->
5-point map of facealign_core::scheme_map), so that a 5-point model sees an AFLW face cropped as
it was trained (MTFL: crops from the 5-point box).

BoxCalibration (facealign_core::geometry): the source box's centre moves by (dx * w, dy * h) and
its side max(w, h) is multiplied by scale. Medians over the training faces only (trainval minus the
validation ids; the test split is never read) whose five points are all labelled.

Usage: python3 scripts/measure_crop_calibration.py [../shared/data/aflw/train.json]
"""
import json
import statistics
import sys

FIVE = [7, 10, 13, 15, 17]


def ids(path):
    with open(path) as f:
        return {l.strip() for l in f if l.strip() and not l.startswith("#")}


def box(pts):
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/aflw/train.json"
    d = json.load(open(path))
    names = {im["id"]: im["file_name"] for im in d["images"]}
    train = ids("configs/aflw/trainval_ids.txt") - ids("configs/aflw/val_ids.txt")
    dx, dy, sc = [], [], []
    for a in d["annotations"]:
        if names[a["image_id"]] not in train:
            continue
        k = a["keypoints"]
        pts = [(k[3 * i], k[3 * i + 1]) for i in range(19) if k[3 * i + 2] > 0]
        if not all(k[3 * i + 2] > 0 for i in FIVE):
            continue
        x, y, w, h = box(pts)
        fx, fy, fw, fh = box([(k[3 * i], k[3 * i + 1]) for i in FIVE])
        if w <= 0 or h <= 0:
            continue
        dx.append(((fx + fw / 2) - (x + w / 2)) / w)
        dy.append(((fy + fh / 2) - (y + h / 2)) / h)
        sc.append(max(fw, fh) / max(w, h))
    med = [statistics.median(v) for v in (dx, dy, sc)]
    print(f"{len(dx)} training faces with all five points labelled")
    print("median dx = {:.3f}, dy = {:.3f}, scale = {:.3f}".format(*med))
    print("--crop-calibration {:.2f},{:.2f},{:.2f}".format(*med))


if __name__ == "__main__":
    main()
