#!/usr/bin/env python3
"""Is the frontal gap to dlib aliasing? (session 31, docs/RESULTS.md "Aliased crops of large faces").

The landmark crop (`geometry::warp_rgb`) samples the photo bilinearly at each crop pixel, with no
low-pass filter first: a face 500 px wide drawn into the 96-px crop is point-sampled about 5x below
its resolution, while the training faces (AFLW's 120-px crops, MTFL's 80-px faces) are drawn at about
their own resolution. This script cuts every face of the given data specs out of its photo (a square
of 3x its landmark box, clipped to the photo) and writes it twice as COCO keypoint files: `orig`, at
the photo's resolution (the same crop as the original spec, up to rounding), and `aa`, shrunk with
PIL's antialiasing bilinear (triangle) filter so that the model's 1.25x crop of it is ~96 px (never
enlarged). Score both with `facealign eval` and compare:

    . scripts/adult_fixtures.sh
    /tmp/dlibenv/bin/python scripts/antialias_probe.py /tmp/aa "${ADULT[@]}"
    for v in orig aa; do facealign eval --data coco:/tmp/aa/$v/s{0,1,2,3,4}/a.json; done

Needs Pillow (the dlib virtualenv has it). Coordinates are image_px (pixel centres at integers):
a point x of the photo is `(x - x0 + 0.5) * W' / W - 0.5` in a region of width W starting at x0,
shrunk to W'.
"""
import json
import math
import os
import sys

from PIL import Image

from shape_bias import faces

CROP_SCALE, INPUT = 1.25, 96  # the default model's crop: 1.25x the landmark box, 96 px


def cut(img, pts, shrink):
    """The region of 3x the landmark box of `pts` around its centre (clipped to the photo), shrunk
    when `shrink` so that the model's crop is ~INPUT px; the points in its pixels; the factor."""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    side = max(max(xs) - min(xs), max(ys) - min(ys))
    x0, y0 = max(0, math.floor(cx - 1.5 * side)), max(0, math.floor(cy - 1.5 * side))
    x1, y1 = min(img.width, math.ceil(cx + 1.5 * side)), min(img.height, math.ceil(cy + 1.5 * side))
    region = img.crop((x0, y0, x1, y1))
    f = max(1.0, CROP_SCALE * side / INPUT) if shrink else 1.0
    w, h = max(1, round(region.width / f)), max(1, round(region.height / f))
    sx, sy = w / region.width, h / region.height
    if (w, h) != region.size:
        region = region.resize((w, h), Image.BILINEAR)
    return region, [((x - x0 + 0.5) * sx - 0.5, (y - y0 + 0.5) * sy - 0.5) for x, y in pts], f


def main(out, specs):
    for variant in ('orig', 'aa'):
        for si, spec in enumerate(specs):
            d = os.path.join(out, variant, f's{si}')
            os.makedirs(d, exist_ok=True)
            images, anns = [], []
            for n, (fid, path, pts) in enumerate(faces(spec)):
                region, p, f = cut(Image.open(path).convert('RGB'), pts, variant == 'aa')
                name = f'{n:03d}.png'
                region.save(os.path.join(d, name))
                images.append({'id': n, 'file_name': name, 'width': region.width, 'height': region.height,
                               'source': fid, 'shrink': round(f, 3)})
                anns.append({'image_id': n, 'id': n, 'keypoints': [c for x, y in p for c in (x, y, 1)]})
            with open(os.path.join(d, 'a.json'), 'w') as fh:
                json.dump({'images': images, 'annotations': anns, 'categories': []}, fh)
            print(variant, spec, f'{len(images)} faces, shrink', ' '.join(f'{i["shrink"]:.1f}' for i in images))


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
