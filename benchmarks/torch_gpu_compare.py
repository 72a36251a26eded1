#!/usr/bin/python3
"""qanet's CUDA backend against PyTorch eager on the same GPU, model and batch.

For each configuration (default: RibCage `paper` 2D 256x256 batch 32 and `paper` 3D 32x256x256
batch 2) and each math mode it measures
  training samples/s   zero_grad + forward (BatchNorm in training mode) + MSE + backward + AdamW,
                       with the loss read back every step (loss.item(), as qanet's MseLoss does)
  inference samples/s  forward in eval mode under torch.inference_mode()
Math modes: tf32 (fp32 storage, TF32 tensor cores for convolutions and matmuls: PyTorch's
default for cuDNN convolutions), bf16 (torch.autocast bfloat16 with fp32 master weights), and
on request fp32 (TF32 off everywhere). qanet runs through BENCH (build/benchmarks/bench_cuda) for tf32 and fp32;
qanet has no bf16 path yet, so its bf16 column reads n/a.
The PyTorch model is benchmarks/torch_parity.QaNet (the module the CPU parity test uses), built
from the same preset; cudnn.benchmark is on for PyTorch and qanet runs with --algo benchmark.

Usage: torch_gpu_compare.py [--qanet-bench BENCH] [--maths tf32,bf16] [--json OUT] [--budget S]
                            [--config preset,dim,size,batch,warmup,steps ...] [--skip-torch]
Runs that would start after --budget seconds are reported as skipped (the GPU check has a time
budget). Exit status 0 when every requested run finished, 1 otherwise.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PRESETS = {  # qanet::nn::model_preset for RibCage
    ('paper', 2): dict(widths=[1, 32, 64, 128, 256], head=[128, 128], padding=0),
    ('small', 2): dict(widths=[1, 16, 32, 64, 128], head=[128, 128], padding=0),
    ('paper', 3): dict(widths=[1, 64, 128, 256, 512], head=[128, 128], padding=1),
    ('small', 3): dict(widths=[1, 8, 16, 32, 64], head=[128, 128], padding=1),
}
DEFAULT_CONFIGS = ['paper,2,256,32,3,10', 'paper,3,256,2,2,5']


def patch_of(dim, size):
    return [size, size] if dim == 2 else [max(16, size // 8), size, size]


def torch_run(preset, dim, size, batch, warmup, steps, math):
    import torch
    sys.path.insert(0, HERE)
    from torch_parity import QaNet
    torch.backends.cudnn.benchmark = True
    tf32 = math in ('tf32', 'bf16')
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    p = PRESETS[(preset, dim)]
    meta = dict(architecture='ribcage', dim=str(dim), padding=str(p['padding']),
                widths=json.dumps(p['widths']), head=json.dumps(p['head']))
    dev = torch.device('cuda')
    model = QaNet(meta).to(dev)
    shape = patch_of(dim, size)
    image = torch.rand(batch, 1, *shape, device=dev)
    seg = torch.randint(0, 3, (batch, 1, *shape), device=dev).float() / 2
    target = torch.rand(batch, 1, device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.MSELoss()
    def autocast():
        return torch.autocast('cuda', dtype=torch.bfloat16) if math == 'bf16' else contextlib.nullcontext()

    def train_step():
        opt.zero_grad(set_to_none=False)
        with autocast():
            out = model(image, seg)
        loss = loss_fn(out.float(), target)
        loss.backward()
        opt.step()
        return loss.item()

    def infer_step():
        with torch.inference_mode(), autocast():
            model(image, seg)

    def timed(fn, n):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(n):
            fn()
        e1.record()
        torch.cuda.synchronize()
        return e0.elapsed_time(e1) / 1000.0

    model.train()
    t0 = time.time()
    for _ in range(warmup):
        train_step()
    torch.cuda.synchronize()
    warm = time.time() - t0
    train_s = timed(train_step, steps)
    model.eval()
    for _ in range(warmup):
        infer_step()
    infer_s = timed(infer_step, steps)
    res = dict(impl='torch', device=torch.cuda.get_device_name(0), preset=preset, dim=dim,
               patch='x'.join(map(str, shape)), batch=batch, math=math, steps=steps, warmup_s=round(warm, 3),
               train_samples_per_s=steps * batch / train_s, infer_samples_per_s=steps * batch / infer_s,
               peak_memory_mib=torch.cuda.max_memory_allocated() / 2**20,
               torch=torch.__version__, cudnn=torch.backends.cudnn.version())
    del model, opt, image, seg, target
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return res


def qanet_run(bench, preset, dim, size, batch, warmup, steps, math):
    cmd = [bench, '--preset', preset, '--dim', str(dim), '--size', str(size), '--batch', str(batch),
           '--warmup', str(warmup), '--steps', str(steps), '--math', math, '--algo', 'benchmark']
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}')
    line = [l for l in r.stdout.splitlines() if l.startswith('{')][-1]
    res = json.loads(line)
    if 'skipped' in res:
        raise RuntimeError('qanet: ' + res['skipped'])
    return res


def fmt(v):
    return f'{v:9.1f}' if isinstance(v, (int, float)) else f'{v:>9}'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--qanet-bench', default=None, help='path of bench_cuda (omit: PyTorch only)')
    ap.add_argument('--maths', default='tf32,bf16')
    ap.add_argument('--budget', type=float, default=1e9, help='seconds after which no new run starts')
    ap.add_argument('--config', action='append', help='preset,dim,size,batch,warmup,steps')
    ap.add_argument('--json', default=None, help='write all results here')
    ap.add_argument('--skip-torch', action='store_true')
    args = ap.parse_args()
    maths = args.maths.split(',')
    results, failures = [], []
    t_start = time.time()

    def over_budget(what):
        if time.time() - t_start > args.budget:
            failures.append(f'{what}: skipped, time budget of {args.budget:.0f} s spent')
            return True
        return False
    for c in args.config or DEFAULT_CONFIGS:
        preset, dim, size, batch, warmup, steps = c.split(',')
        dim, size, batch, warmup, steps = int(dim), int(size), int(batch), int(warmup), int(steps)
        for math in maths:
            row = dict(config=f'{preset} {dim}D {"x".join(map(str, patch_of(dim, size)))} batch {batch}', math=math)
            if not args.skip_torch and not over_budget(f'torch {row["config"]} {math}'):
                try:
                    row['torch'] = torch_run(preset, dim, size, batch, warmup, steps, math)
                except Exception as e:  # report and go on: one OOM must not hide the other figures
                    failures.append(f'torch {row["config"]} {math}: {e}')
            if args.qanet_bench and math != 'bf16' and not over_budget(f'qanet {row["config"]} {math}'):
                try:
                    row['qanet'] = qanet_run(args.qanet_bench, preset, dim, size, batch, warmup, steps, math)
                except Exception as e:
                    failures.append(f'qanet {row["config"]} {math}: {e}')
            results.append(row)
            print(json.dumps(row), flush=True)

    print()
    print(f'{"configuration":34} {"math":5} | {"train samples/s":^31} | {"inference samples/s":^31}')
    print(f'{"":34} {"":5} | {"qanet":>9} {"torch":>9} {"ratio":>9}  | {"qanet":>9} {"torch":>9} {"ratio":>9}')
    for r in results:
        q, t = r.get('qanet', {}), r.get('torch', {})
        cells = []
        for key in ('train_samples_per_s', 'infer_samples_per_s'):
            qv, tv = q.get(key, 'n/a'), t.get(key, 'n/a')
            ratio = qv / tv if isinstance(qv, float) and isinstance(tv, float) and tv > 0 else 'n/a'
            cells.append(f'{fmt(qv)} {fmt(tv)} {ratio if isinstance(ratio, str) else f"{ratio:8.2f}x":>9}')
        print(f'{r["config"]:34} {r["math"]:5} | {cells[0]}  | {cells[1]}')
    print('ratio = qanet / PyTorch eager (bar: 1.0x parity, target 1.5x); qanet has no bf16 path yet.')
    for f in failures:
        print('FAILED', f)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(results=results, failures=failures), f, indent=1)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
