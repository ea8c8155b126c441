#!/usr/bin/env python3
"""Convert torchvision's ImageNet MobileNetV2 weights to safetensors and write a reference fixture.

Run from the repository root (needs only torch + numpy):

    /work/main/.venv/bin/python scripts/convert_mobilenet_v2.py [path/to/mobilenet_v2-b0353104.pth]

Inputs : ../shared/models/imagenet/mobilenet_v2-b0353104.pth  (torchvision state_dict, legacy pickle)
Outputs: models/imagenet/mobilenet_v2.safetensors             (every f32 tensor, torchvision names;
                                                                `num_batches_tracked` dropped)
         crates/facealign-train/tests/fixtures/mnv2_ref.safetensors (input [1,3,64,64] RGB in [0,1],
                                                                pooled features [1,1280], logits [1,1000])

torchvision is not required: MobileNetV2 is re-created below in plain torch with torchvision's module
layout (so `load_state_dict(strict=True)` proves the names match). The reference is computed in float64,
eval mode, after ImageNet mean/std normalisation (which the Rust model does as its first op). If
torchvision happens to be importable, the script also checks our re-creation against it.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

SRC = "../shared/models/imagenet/mobilenet_v2-b0353104.pth"
OUT_WEIGHTS = "models/imagenet/mobilenet_v2.safetensors"
OUT_FIXTURE = "crates/facealign-train/tests/fixtures/mnv2_ref.safetensors"
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU6(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, groups=1):
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = int(round(cin * t))
        self.use_res_connect = stride == 1 and cin == cout
        layers = []
        if t != 1:
            layers.append(ConvBNReLU6(cin, hidden, k=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    TABLE = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, width=1.0):
        super().__init__()
        cin = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        feats = [ConvBNReLU6(3, cin, stride=2)]
        for t, c, n, s in self.TABLE:
            cout = make_divisible(c * width)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(ConvBNReLU6(cin, last, k=1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, 1000))

    def pooled(self, x):
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.classifier(self.pooled(x))


def write_safetensors(path, tensors):
    """Minimal safetensors writer (the format: u64 LE header length, JSON header, raw LE data)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4"))
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else SRC  # optional: path to the .pth
    sd = torch.load(src, map_location="cpu", weights_only=True)
    model = MobileNetV2()
    model.load_state_dict(sd, strict=True)  # proves the torchvision names and shapes
    model.eval()

    n_params = sum(p.numel() for p in model.parameters())
    n_features = sum(p.numel() for p in model.features.parameters())
    print(f"params: total {n_params}, features {n_features}")
    assert n_params == 3_504_872 and n_features == 2_223_872

    weights = {k: v.float() for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    write_safetensors(OUT_WEIGHTS, weights)
    print(f"wrote {OUT_WEIGHTS}: {len(weights)} tensors")

    # Deterministic analytic input in [0, 1]: 0.5 + 0.5 sin(0.37 h + 0.23 w + 1.1 c).
    c = torch.arange(3, dtype=torch.float64).view(1, 3, 1, 1)
    h = torch.arange(64, dtype=torch.float64).view(1, 1, 64, 1)
    w = torch.arange(64, dtype=torch.float64).view(1, 1, 1, 64)
    x = 0.5 + 0.5 * torch.sin(0.37 * h + 0.23 * w + 1.1 * c)
    x = x.float().double()  # the Rust test feeds the f32 copy; use exactly those values
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    xn = (x - mean) / std

    m64 = model.double()
    with torch.no_grad():
        pooled = m64.pooled(xn)
        logits = m64.classifier(pooled)
    print("logits[0,:5]", logits[0, :5].tolist(), "argmax", int(logits.argmax()))

    try:  # optional cross-check against the real torchvision
        import torchvision  # noqa: F401
        from torchvision.models import mobilenet_v2

        tv = mobilenet_v2()
        tv.load_state_dict(sd)
        tv = tv.double().eval()
        with torch.no_grad():
            d = (tv(xn) - logits).abs().max().item()
        print(f"torchvision {torchvision.__version__}: max |logit diff| = {d:.3e}")
        assert d < 1e-9
    except ImportError:
        print("torchvision not importable; skipped the cross-check")

    write_safetensors(OUT_FIXTURE, {"input": x, "pooled": pooled, "logits": logits})
    print(f"wrote {OUT_FIXTURE}")
    assert math.isfinite(float(logits.sum()))


if __name__ == "__main__":
    main()
