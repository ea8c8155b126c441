#!/usr/bin/env python3
"""Copy a heatmap model file with `model.decode_power = K` in its config metadata (stdlib only).

The decoder's power only changes how coordinates are read from the heatmaps (soft-argmax of
H^K / sum H^K), not the weights, so a heatmap model trained with Adaptive Wing can be scored with
another K without retraining (docs/RESULTS.md, "Adaptive Wing").
Usage: scripts/set_decode_power.py IN.safetensors OUT.safetensors K
"""
import json
import os
import re
import struct
import sys

src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, 'rb') as f:
    (n,) = struct.unpack('<Q', f.read(8))
    header = json.loads(f.read(n))
    data = f.read()
meta = header['__metadata__']
cfg = meta['facealign.config']
cfg = re.sub(r'(?m)^decode_power = .*\n', '', cfg)
cfg, count = re.subn(r'(?m)^(\[model\]\n)', r'\1decode_power = %d\n' % k, cfg)
if count != 1:
    sys.exit(f'{src}: no [model] table in the config metadata')
meta['facealign.config'] = cfg
blob = json.dumps(header, separators=(',', ':')).encode()
blob += b' ' * (-len(blob) % 8)
with open(dst + '.tmp', 'wb') as f:
    f.write(struct.pack('<Q', len(blob)))
    f.write(blob)
    f.write(data)
os.replace(dst + '.tmp', dst)
