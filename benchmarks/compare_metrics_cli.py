#!/usr/bin/env python3
"""End-to-end speed of `qanet metrics` against the oracle's command line (TIFF decoding included).

Both evaluate the same CTC ground-truth folder against the same result folder, all metrics, in
one run on the same machine; prints the wall-time ratio and checks that they agree.

  python3 benchmarks/compare_metrics_cli.py --qanet build/examples/qanet \
      [--gt DIR --pred DIR] [--repeat 3] [--threads N]

Defaults: ../shared/data/Fluo-N2DH-SIM+/02_GT/SEG against 02_RES_TDG-eval_dir (frames 000-004).
"""
import argparse, glob, json, os, re, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def best_time(cmd, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qanet", default=os.path.join(ROOT, "build", "examples", "qanet"))
    data = os.path.join(SHARED, "data", "Fluo-N2DH-SIM+")
    ap.add_argument("--gt", default=os.path.join(data, "02_GT", "SEG"))
    ap.add_argument("--pred", default=os.path.join(data, "02_RES_TDG-eval_dir"))
    ap.add_argument("--oracle", default=os.path.join(SHARED, "tools", "metrics_oracle.py"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="qanet worker threads (0: all cores)")
    a = ap.parse_args()

    results = {int(re.findall(r"\d+", os.path.basename(p))[-1]): p
               for p in glob.glob(os.path.join(a.pred, "mask*.tif"))}
    pairs = []
    for g in sorted(glob.glob(os.path.join(a.gt, "man_seg*.tif"))):
        t = int(re.findall(r"\d+", os.path.basename(g))[-1])
        if t in results:
            pairs += [g, results[t]]
    if not pairs:
        sys.exit("no annotated frame has a result")

    q_cmd = [a.qanet] + (["--threads", str(a.threads)] if a.threads else []) + \
            ["metrics", "--json", "--skip-missing", "--gt", a.gt, "--pred", a.pred]
    o_cmd = ["/usr/bin/python3", a.oracle] + pairs
    tq, q_out = best_time(q_cmd, a.repeat)
    to, o_out = best_time(o_cmd, a.repeat)
    q, o = json.loads(q_out), json.loads(o_out)
    worst = max(abs(q[k] - o[K]) for k, K in
                [("seg", "SEG"), ("hd", "HD"), ("mhd", "MHD"), ("mhd95", "MHD95"), ("asd", "ASD"), ("nemhd", "neMHD")])
    print(f"{len(pairs) // 2} frames of {a.gt} vs {a.pred}")
    print(f"oracle CLI   {to * 1000:9.1f} ms")
    print(f"qanet metrics{tq * 1000:9.1f} ms")
    print(f"ratio (oracle / qanet): {to / tq:.1f}x   largest difference of the pooled values: {worst:.2e}")


if __name__ == "__main__":
    main()
