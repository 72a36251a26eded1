#!/usr/bin/python3
"""PyTorch parity check of qanet's CPU engine.

Each case folder holds three safetensors files written by qanet (tests/test_nn_torch.cpp):
  model.safetensors   the network (qanet model file: weights + __metadata__)
  batch.safetensors   image, seg [N,1,...] and target [N,1]
  result.safetensors  qanet's float32 results of one training-mode step on that batch:
                      output, loss, grad.image, grad.seg, grad.<parameter>, running.<buffer>
This script rebuilds the same network in PyTorch from the metadata, loads the weights, runs the
same forward (BatchNorm in training mode), MSE loss and backward, and compares everything.

Error of a tensor: max|qanet - torch| / scale, scale = max|torch| of that tensor; for the bias
of a convolution (followed by BatchNorm, so its true gradient is zero and both sides hold only
rounding noise) the scale is the largest gradient of the same layer's weight.
Exit status 0 when every error is below --tol (default 1e-4), 1 otherwise.

Usage: torch_parity.py [--tol 1e-4] CASE_DIR [CASE_DIR ...]
The safetensors files are parsed here with json + struct (the safetensors package is not needed).
"""
import argparse
import json
import struct
import sys

import numpy as np
import torch
from torch import nn


def read_safetensors(path):
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop('__metadata__', {})
    data = b[8 + n:]
    tensors = {}
    for name, e in header.items():
        s, t = e['data_offsets']
        dt = {'F32': '<f4', 'F64': '<f8'}[e['dtype']]
        tensors[name] = np.frombuffer(data[s:t], dtype=dt).reshape(e['shape']).astype(np.float32)
    return tensors, meta


class Block(nn.Module):
    def __init__(self, cin, cout, dim, pad):
        super().__init__()
        conv, bn, pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dim == 2 else (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)
        self.conv = conv(cin, cout, 3, padding=pad)
        self.bn = bn(cout, eps=1e-5, momentum=0.1)
        self.act = nn.LeakyReLU(0.01)
        self.pool = pool(2)

    def forward(self, x):
        return self.pool(self.act(self.bn(self.conv(x))))


class QaNet(nn.Module):
    """RibCage / Siamese / Naive as described by a qanet model file's metadata (SPEC section 4)."""

    def __init__(self, meta):
        super().__init__()
        self.arch = meta['architecture']
        dim, pad = int(meta['dim']), int(meta['padding'])
        w = json.loads(meta['widths'])
        hidden = json.loads(meta['head'])

        def stream(cin0, spine=False):
            return nn.ModuleList([Block(cin0 if k == 0 else (3 * w[k] if spine else w[k]), w[k + 1], dim, pad) for k in range(4)])

        if self.arch == 'ribcage':
            self.image_rib, self.seg_rib, self.spine = stream(1), stream(1), stream(2, True)
            features = 3 * w[4]
        elif self.arch == 'siamese':
            self.image_rib, self.seg_rib = stream(1), stream(1)
            features = 2 * w[4]
        else:
            self.stream = stream(2)
            features = w[4]
        sizes = [features] + hidden + [1]
        self.head = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, image, seg):
        gap = lambda t: t.flatten(2).mean(2)
        if self.arch == 'ribcage':
            a, b, c = image, seg, None
            for k in range(4):
                c = self.spine[k](torch.cat([image, seg], 1) if k == 0 else torch.cat([c, a, b], 1))
                a, b = self.image_rib[k](a), self.seg_rib[k](b)
            h = torch.cat([gap(a), gap(c), gap(b)], 1)
        elif self.arch == 'siamese':
            a, b = image, seg
            for k in range(4):
                a, b = self.image_rib[k](a), self.seg_rib[k](b)
            h = torch.cat([gap(a), gap(b)], 1)
        else:
            a = torch.cat([image, seg], 1)
            for k in range(4):
                a = self.stream[k](a)
            h = gap(a)
        for i, fc in enumerate(self.head):
            h = fc(h)
            if i + 1 < len(self.head):
                h = torch.relu(h)
        return h


def load_model(path):
    tensors, meta = read_safetensors(path)
    model = QaNet(meta)
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith('num_batches_tracked')]
    if missing or unexpected:
        raise SystemExit(f'{path}: state dict mismatch: missing {missing}, unexpected {unexpected}')
    return model, meta


def check_case(case, tol):
    model, meta = load_model(f'{case}/model.safetensors')
    batch, _ = read_safetensors(f'{case}/batch.safetensors')
    res, _ = read_safetensors(f'{case}/result.safetensors')
    model.train()
    image = torch.from_numpy(batch['image'].copy()).requires_grad_(True)
    seg = torch.from_numpy(batch['seg'].copy()).requires_grad_(True)
    out = model(image, seg)
    loss = nn.functional.mse_loss(out, torch.from_numpy(batch['target'].copy()))
    loss.backward()
    ref = {'output': out.detach().numpy(), 'loss': np.array([loss.item()], np.float32),
           'grad.image': image.grad.numpy(), 'grad.seg': seg.grad.numpy()}
    for name, p in model.named_parameters():
        ref['grad.' + name] = p.grad.numpy()
    for name, b in model.named_buffers():
        if not name.endswith('num_batches_tracked'):
            ref['running.' + name] = b.numpy()
    worst, failed = 0.0, []
    for name, r in ref.items():
        if name not in res:
            failed.append(f'{name} missing from qanet results')
            continue
        q = res[name]
        if q.shape != r.shape:
            failed.append(f'{name}: shape {q.shape} vs torch {r.shape}')
            continue
        scale = float(np.abs(r).max())
        if name.endswith('conv.bias') and name.startswith('grad.'):
            scale = max(scale, float(np.abs(ref[name[:-4] + 'weight']).max()))
        err = float(np.abs(q - r).max()) / max(scale, 1e-30)
        worst = max(worst, err)
        if err >= tol:
            failed.append(f'{name}: relative error {err:.3g}')
    extra = set(res) - set(ref)
    if extra:
        failed.append(f'unexpected qanet results {sorted(extra)}')
    print(f'{case}: {meta["architecture"]} {meta["preset"]} {meta["dim"]}D, {len(ref)} tensors, '
          f'worst relative error {worst:.3g} (loss {loss.item():.6g})')
    for f in failed:
        print('  FAIL', f)
    return not failed, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tol', type=float, default=1e-4)
    ap.add_argument('cases', nargs='+')
    args = ap.parse_args()
    torch.set_num_threads(1)
    ok = True
    for case in args.cases:
        ok &= check_case(case, args.tol)[0]
    print('parity', 'OK' if ok else 'FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
