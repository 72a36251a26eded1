#!/usr/bin/python3
"""Speed and memory of qanet's CPU engine against PyTorch, same model, batch and thread count.

For each configuration (default: RibCage paper 2D 256x256 batch 8, small 2D 128x128 batch 32)
it runs `qanet bench --json` and then the same network in PyTorch (torch_parity.QaNet, built
from the same preset) in a child process, both with --threads threads, and reports training
samples/s (forward + backward + AdamW), inference samples/s (forward, eval mode, no_grad) and
peak resident memory (ru_maxrss) of each process, with the ratios qanet / PyTorch.

Usage: compare_torch.py --qanet BUILD/examples/qanet [--threads 2] [--steps 3] [--repeats R] [--json]
       [--config preset,dim,size,batch ...]
The machine load (os.getloadavg) is printed before and after: on a shared machine, rerun.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PRESETS = {  # mirrors qanet::nn::model_preset for RibCage
    ('paper', 2): dict(widths=[1, 32, 64, 128, 256], head=[128, 128], padding=0, patch=[256, 256]),
    ('small', 2): dict(widths=[1, 16, 32, 64, 128], head=[128, 128], padding=0, patch=[128, 128]),
    ('paper', 3): dict(widths=[1, 64, 128, 256, 512], head=[128, 128], padding=1, patch=[32, 256, 256]),
    ('small', 3): dict(widths=[1, 8, 16, 32, 64], head=[128, 128], padding=1, patch=[16, 64, 64]),
}


def torch_child(preset, dim, size, batch, steps, threads):
    import torch
    sys.path.insert(0, HERE)
    from torch_parity import QaNet
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    p = PRESETS[(preset, dim)]
    meta = dict(architecture='ribcage', dim=str(dim), padding=str(p['padding']),
                widths=json.dumps(p['widths']), head=json.dumps(p['head']))
    model = QaNet(meta)
    shape = [size] * dim if dim == 2 else [max(size // 8, 16), size, size]
    image = torch.rand(batch, 1, *shape)
    seg = torch.randint(0, 3, (batch, 1, *shape)).float() / 2
    target = torch.rand(batch, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.MSELoss()

    def step():
        opt.zero_grad()
        loss_fn(model(image, seg), target).backward()
        opt.step()

    model.train()
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    train = batch * steps / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(image, seg)
        t0 = time.perf_counter()
        for _ in range(steps):
            model(image, seg)
        infer = batch * steps / (time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps(dict(params=params, train_samples_per_s=train, infer_samples_per_s=infer,
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                          torch=torch.__version__)))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--qanet', required=False, help='path of the qanet program')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--repeats', type=int, default=1,
                    help='alternate qanet and PyTorch runs this many times and keep the best of each '
                         '(on a shared machine the best run is the least disturbed one)')
    ap.add_argument('--json', action='store_true')
    ap.add_argument('--config', nargs='*', default=['paper,2,256,8', 'small,2,128,32'])
    ap.add_argument('--torch-child', nargs=5, metavar=('PRESET', 'DIM', 'SIZE', 'BATCH', 'STEPS'), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        pr, d, s, b, st = args.torch_child
        torch_child(pr, int(d), int(s), int(b), int(st), args.threads)
        return 0
    if not args.qanet:
        ap.error('--qanet is required')
    results = []
    load_before = os.getloadavg()
    for c in args.config:
        preset, dim, size, batch = c.split(',')
        qs, ts = [], []
        for _ in range(max(1, args.repeats)):
            qs.append(run_json([args.qanet, 'bench', '--preset', preset, '--dim', dim, '--size', size, '--batch', batch,
                                '--steps', str(args.steps), '--threads', str(args.threads), '--json']))
            ts.append(run_json([sys.executable, os.path.abspath(__file__), '--threads', str(args.threads),
                                '--torch-child', preset, dim, size, batch, str(args.steps)]))

        def best(runs):
            b = dict(runs[0])
            for k in ('train_samples_per_s', 'infer_samples_per_s'):
                b[k] = max(r[k] for r in runs)
            return b

        q, t = best(qs), best(ts)
        if q['params'] != t['params']:
            print(f'warning: parameter counts differ: qanet {q["params"]}, torch {t["params"]}', file=sys.stderr)
        r = dict(config=f'{preset} {dim}D {size} batch {batch}', params=q['params'],
                 qanet_train=q['train_samples_per_s'], torch_train=t['train_samples_per_s'],
                 qanet_infer=q['infer_samples_per_s'], torch_infer=t['infer_samples_per_s'],
                 qanet_peak_mb=q['peak_rss_mb'], torch_peak_mb=t['peak_rss_mb'])
        r['train_ratio'] = r['qanet_train'] / r['torch_train']
        r['infer_ratio'] = r['qanet_infer'] / r['torch_infer']
        results.append(r)
    summary = dict(threads=args.threads, steps=args.steps, load_before=load_before, load_after=os.getloadavg(),
                   results=results)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f'threads {args.threads}, load average before {load_before[0]:.2f}, after {summary["load_after"][0]:.2f}')
        print(f'{"config":28s} {"train q/t (samples/s)":>26s} {"ratio":>6s} {"infer q/t":>20s} {"ratio":>6s} {"peak MB q/t":>14s}')
        for r in results:
            print(f'{r["config"]:28s} {r["qanet_train"]:12.2f} /{r["torch_train"]:10.2f} {r["train_ratio"]:6.2f} '
                  f'{r["qanet_infer"]:9.2f} /{r["torch_infer"]:8.2f} {r["infer_ratio"]:6.2f} '
                  f'{r["qanet_peak_mb"]:6.0f} /{r["torch_peak_mb"]:6.0f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
