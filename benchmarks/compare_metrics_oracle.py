#!/usr/bin/env python3
"""compare_metrics_oracle.py -- qanet's metrics against the Python oracle on the same data, in
one run: in-memory compute time of both, their ratio, and a check that the values agree.

Cases: the synthetic 1024x1024 frame (~300 cells) and 64x512x512 volume of bench_metrics
(written by `bench_metrics --export`), plus, when ../shared/data is present, a real Fluo-N2DH-SIM+
frame against a method's result and the Synthetic3D volume against a shifted copy (spacing 2,1,1).
With --qanet PATH (the qanet program), also `qanet metrics` end to end on a CTC folder (TIFF
decoding included) against the oracle's command line on the same files.

Usage:
  /usr/bin/python3 benchmarks/compare_metrics_oracle.py --bench BUILD/benchmarks/bench_metrics
        [--repeat 3] [--threads N] [--data ../shared/data] [--qanet BUILD/examples/qanet/qanet]
The oracle is single-threaded (numpy/scipy); --threads 1 gives the like-for-like ratio, the
default uses every core qanet's TBB sees.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def load_oracle(tools):
    sys.path.insert(0, tools)
    import metrics_oracle  # noqa: E402
    return metrics_oracle


def best_time(fn, repeat):
    ts = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2], out


def oracle_seg_only(m, gt, pred):
    g = m.as_label_array(gt, "GT")
    p = m.as_label_array(pred, "PRED")
    recs, _ = m.match_objects(g, p)
    return sum(r["jaccard"] for r in recs) / len(recs) if recs else None


def close(a, b, tol=1e-6):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol


def run_case(name, m, bench, gt_path, pred_path, spacing, repeat, threads):
    gt = np.load(gt_path)
    pred = np.load(pred_path)
    t_seg_o, _ = best_time(lambda: oracle_seg_only(m, gt, pred), repeat)
    t_all_o, (summ, _) = best_time(lambda: m.evaluate_pair(gt, pred, spacing), repeat)
    cmd = [bench, "--time", gt_path, pred_path, "--repeat", str(max(repeat, 5))]
    if spacing:
        cmd += ["--spacing", spacing]
    if threads:
        cmd += ["--threads", str(threads)]
    q = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    keys = [("SEG", "seg"), ("HD", "hd"), ("MHD", "mhd"), ("MHD95", "mhd95"), ("ASD", "asd"), ("neMHD", "nemhd")]
    agree = all(close(summ[k], q[v]) for k, v in keys) and summ["n_gt"] == q["gt_objects"]
    return dict(case=name, shape="x".join(map(str, gt.shape)), gt_objects=summ["n_gt"],
                oracle_seg_s=t_seg_o, qanet_seg_s=q["seg_s"], ratio_seg=t_seg_o / q["seg_s"],
                oracle_all_s=t_all_o, qanet_all_s=q["all_s"], ratio_all=t_all_o / q["all_s"],
                values_agree=agree, seg=q["seg"], mhd=q["mhd"])


def ctc_end_to_end(qanet, oracle_py, gt_dir, res_dir, repeat):
    frames = sorted(f[len("man_seg"):-4] for f in os.listdir(gt_dir) if f.startswith("man_seg"))
    pairs = [(os.path.join(gt_dir, f"man_seg{t}.tif"), os.path.join(res_dir, f"mask{t}.tif")) for t in frames
             if os.path.exists(os.path.join(res_dir, f"mask{t}.tif"))]
    ocmd = [sys.executable, oracle_py] + [p for pair in pairs for p in pair]
    qcmd = [qanet, "metrics", "--gt", gt_dir, "--pred", res_dir, "--json", "--skip-missing"]
    t_o, o = best_time(lambda: subprocess.run(ocmd, check=True, capture_output=True, text=True).stdout, repeat)
    t_q, q = best_time(lambda: subprocess.run(qcmd, check=True, capture_output=True, text=True).stdout, repeat)
    o, q = json.loads(o), json.loads(q)
    return dict(frames=len(pairs), oracle_cli_s=t_o, qanet_cli_s=t_q, ratio=t_o / t_q,
                seg_oracle=o["SEG"], seg_qanet=q.get("seg"), values_agree=close(o["SEG"], q.get("seg")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "bench_metrics"))
    ap.add_argument("--tools", default=os.path.join(ROOT, "..", "shared", "tools"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--qanet", default=None, help="the qanet program, for the end-to-end CTC comparison")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="qanet threads (0 = all)")
    ap.add_argument("--skip-3d", action="store_true", help="leave out the 64x512x512 volume")
    args = ap.parse_args()
    m = load_oracle(args.tools)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.bench, "--export", tmp], check=True)
        rows.append(run_case("synthetic 2D, ~300 cells", m, args.bench, f"{tmp}/frame2d_gt.npy",
                             f"{tmp}/frame2d_pred.npy", None, args.repeat, args.threads))
        if not args.skip_3d:
            rows.append(run_case("synthetic 3D, spacing 2,1,1", m, args.bench, f"{tmp}/volume3d_gt.npy",
                                 f"{tmp}/volume3d_pred.npy", "2,1,1", args.repeat, args.threads))
        sim = os.path.join(args.data, "Fluo-N2DH-SIM+")
        if os.path.isdir(sim):
            g = m.load_label_image(os.path.join(sim, "02_GT", "SEG", "man_seg000.tif")).astype(np.int32)
            p = m.load_label_image(os.path.join(sim, "02_RES_TDG-eval_dir", "mask000.tif")).astype(np.int32)
            np.save(f"{tmp}/sim_gt.npy", g)
            np.save(f"{tmp}/sim_pred.npy", p)
            rows.append(run_case("SIM+ 02 t000 vs TDG-eval_dir", m, args.bench, f"{tmp}/sim_gt.npy",
                                 f"{tmp}/sim_pred.npy", None, args.repeat, args.threads))
        vol = os.path.join(args.data, "Synthetic3D-stardist", "masks", "img3d.tif")
        if os.path.exists(vol):
            g = m.load_label_image(vol).astype(np.int32)
            np.save(f"{tmp}/v_gt.npy", g)
            shifted = np.zeros_like(g)  # shifted by one voxel along z and y, no wrap-around
            shifted[1:, 1:, :] = g[:-1, :-1, :]
            np.save(f"{tmp}/v_pred.npy", shifted)
            rows.append(run_case("Synthetic3D vs shifted copy", m, args.bench, f"{tmp}/v_gt.npy",
                                 f"{tmp}/v_pred.npy", "2,1,1", args.repeat, args.threads))
    print(f"{'case':32s} {'shape':>12s} {'GT':>5s} | {'SEG: oracle':>11s} {'qanet':>9s} {'ratio':>7s} | "
          f"{'all: oracle':>11s} {'qanet':>9s} {'ratio':>7s} | agree")
    for r in rows:
        print(f"{r['case']:32s} {r['shape']:>12s} {r['gt_objects']:5d} | {r['oracle_seg_s']:10.4f}s "
              f"{r['qanet_seg_s']:8.4f}s {r['ratio_seg']:6.1f}x | {r['oracle_all_s']:10.4f}s "
              f"{r['qanet_all_s']:8.4f}s {r['ratio_all']:6.1f}x | {r['values_agree']}")
    result = dict(in_memory=rows, threads=args.threads or os.cpu_count())
    if args.qanet:
        res = os.path.join(args.data, "Fluo-N2DH-SIM+", "02_RES_TDG-eval_dir")
        gtd = os.path.join(args.data, "Fluo-N2DH-SIM+", "02_GT", "SEG")
        # The oracle gets exactly the annotated frames that have a result (qanet: --skip-missing).
        e2e = ctc_end_to_end(args.qanet, os.path.join(args.tools, "metrics_oracle.py"), gtd, res, args.repeat)
        print(f"end to end (TIFF decoding included), SIM+ 02 TDG-eval_dir ({e2e['frames']} frames): oracle CLI {e2e['oracle_cli_s']:.3f}s, "
              f"qanet metrics {e2e['qanet_cli_s']:.3f}s, ratio {e2e['ratio']:.1f}x, SEG agree {e2e['values_agree']}")
        result["end_to_end"] = e2e
    print(json.dumps(result))
    return 0 if all(r["values_agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
