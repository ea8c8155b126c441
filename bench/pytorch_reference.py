#!/usr/bin/env python3
"""PyTorch reference for `facealign bench` (not part of the tests).

Same model (torchvision-layout MobileNetV2 with a 2M-output regression head, ImageNet
normalisation inside the model), same ACR loss arithmetic (paper mode, λ = 2), same Adam
(lr 1e-4 for timing), same sizes and threads; prints the same JSON keys as
`facealign bench --json --no-data`.

    .venv/bin/python bench/pytorch_reference.py --size 224 --batch 16 --threads 2
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'scripts'))
from convert_mobilenet_v2 import MobileNetV2  # noqa: E402


class Regressor(nn.Module):
    def __init__(self, points):
        super().__init__()
        self.backbone = MobileNetV2()
        self.backbone.classifier = nn.Identity()
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(1280, 2 * points))
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x):
        x = (x - self.mean) / self.std
        f = self.backbone.features(x)
        f = nn.functional.adaptive_avg_pool2d(f, 1).flatten(1)
        return self.head(f)


def acr(pred, target, phi, lam=2.0):
    e = (target - pred).abs()
    low = lam * torch.log1p(e.clamp_min(1e-12).pow(2.0 - phi))
    high = e * e + lam * math.log(2.0) - 1.0
    return torch.where(e <= 1.0, low, high).mean()


def median_time(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--points', type=int, default=68)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Regressor(a.points)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    b, s, m2 = a.batch, a.size, 2 * a.points
    xs, ys, phi = torch.rand(b, 3, s, s), torch.rand(b, m2) - 0.5, torch.rand(b, m2)

    def train_step():
        model.train()
        loss = acr(model(xs), ys, phi)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step = median_time(train_step, a.warmup, a.steps)
    model.eval()
    x1, x32 = torch.rand(1, 3, s, s), torch.rand(32, 3, s, s)
    with torch.no_grad():
        i1 = median_time(lambda: model(x1), a.warmup, max(a.steps, 10))
        i32 = median_time(lambda: model(x32), min(a.warmup, 2), min(max(a.steps, 1), 5))
    print(json.dumps({
        'stack': f'pytorch {torch.__version__}', 'model': 'mobilenet_v2', 'size': s, 'batch': b,
        'threads': a.threads, 'points': a.points, 'train_img_per_s': b / step, 'train_step_ms': step * 1e3,
        'infer_ms_b1': i1 * 1e3, 'infer_img_per_s_b32': 32 / i32,
    }))


if __name__ == '__main__':
    main()
