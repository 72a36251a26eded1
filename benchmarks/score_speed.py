#!/usr/bin/python3
"""Whole-frame scoring speed: `qanet score` with the shared trunk and patch by patch, against a
PyTorch peer that runs the same network on the same patches, batched, in one run.

For each frame edge (default 512, 1024, 2048) a frame is simulated (`qanet simulate --size E,E
--seed 5`, one perturbed mask) and scored with the bundled model by `qanet --threads T score
--json` (the whole command: reading, scale, resampling, tiling, network, aggregation), the best
of --repeats runs, with its peak resident memory (wait4). The peer is the RibCage small 2D
network in PyTorch (torch_parity.QaNet, same preset) running the same number of 128 x 128
patches as qanet's tiling gives, in batches of 16, eval mode, no_grad, T threads: the network
alone (no reading, no resampling), so the ratio favours PyTorch. Prints a Markdown table (and
--json) with the ratios; the machine load before and after: on a shared machine, rerun.

Usage: score_speed.py --qanet BUILD/examples/qanet [--threads 2] [--repeats 3] [--edges 512 1024 2048] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd):
    """(seconds, stdout) of one run of cmd."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err.decode()}")
    return wall, out.decode()


def peak_rss(cmd):
    """Peak resident memory (MB) of one run of cmd, from wait4."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return usage.ru_maxrss / 1024.0


def torch_child(patches, threads, repeats):
    import torch
    sys.path.insert(0, HERE)
    from torch_parity import QaNet
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    meta = dict(architecture='ribcage', dim='2', padding='0', widths='[1,16,32,64,128]', head='[128,128]')
    model = QaNet(meta).eval()
    best = float('inf')
    with torch.no_grad():
        x = torch.rand(16, 1, 128, 128)
        s = torch.randint(0, 3, (16, 1, 128, 128)).float() / 2
        model(x, s)
        for _ in range(repeats):
            t0 = time.perf_counter()
            left = patches
            while left > 0:
                n = min(16, left)
                model(x[:n], s[:n])
                left -= n
            best = min(best, time.perf_counter() - t0)
    print(json.dumps(dict(seconds=best, torch=torch.__version__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--qanet')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--edges', type=int, nargs='*', default=[512, 1024, 2048])
    ap.add_argument('--json', action='store_true')
    ap.add_argument('--torch-child', nargs=3, type=int, metavar=('PATCHES', 'THREADS', 'REPEATS'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        return torch_child(*a.torch_child)
    if not a.qanet:
        ap.error('--qanet is required')
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for edge in a.edges:
            d = os.path.join(tmp, str(edge))
            subprocess.run([a.qanet, 'simulate', '--out', d, '--size', f'{edge},{edge}', '--frames', '1',
                            '--perturbations', '1', '--seed', '5'], check=True, capture_output=True)
            image, mask = os.path.join(d, '01', 't000.tif'), os.path.join(d, '01_RES_p1', 'mask000.tif')
            row = dict(edge=edge)
            for name, extra in [('shared', []), ('patch_by_patch', ['--patch-by-patch'])]:
                cmd = [a.qanet, '--threads', str(a.threads), 'score', '--json', '--image', image, '--mask', mask] + extra
                runs = [timed(cmd) for _ in range(a.repeats)]
                j = json.loads(runs[0][1])
                row[name] = dict(seconds=min(r[0] for r in runs), peak_rss_mb=peak_rss(cmd),
                                 patches=len(j['patches']), trunk_passes=j.get('trunk_passes'), score=j['score'],
                                 scale=j['scale'])
            peer = subprocess.run([sys.executable, __file__, '--torch-child', str(row['shared']['patches']),
                                   str(a.threads), str(a.repeats)], check=True, capture_output=True, text=True)
            row['torch_batched_patches'] = json.loads(peer.stdout.strip().splitlines()[-1])
            rows.append(row)
    load1 = os.getloadavg()[0]
    if a.json:
        print(json.dumps(dict(threads=a.threads, load=[load0, load1], rows=rows), indent=1))
        return
    print(f"threads {a.threads}, load average {load0:.2f} before, {load1:.2f} after\n")
    print('| frame | scale | patches | shared trunk s | patch by patch s | speed-up | PyTorch batched patches s | '
          'shared / PyTorch | peak MB (shared, patch by patch) | score (shared, patch by patch) |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        s, p, t = r['shared'], r['patch_by_patch'], r['torch_batched_patches']
        print(f"| {r['edge']}^2 | {s['scale']:.2f} | {s['patches']} | {s['seconds']:.3f} | {p['seconds']:.3f} | "
              f"{p['seconds'] / s['seconds']:.2f}x | {t['seconds']:.3f} | {t['seconds'] / s['seconds']:.2f}x | "
              f"{s['peak_rss_mb']:.0f}, {p['peak_rss_mb']:.0f} | {s['score']:.5f}, {p['score']:.5f} |")


if __name__ == '__main__':
    main()
