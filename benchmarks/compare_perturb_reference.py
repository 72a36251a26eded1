#!/usr/bin/env python3
"""compare_perturb_reference.py -- perturbations per second of qanet against the numpy/scipy
reference pipeline (../shared/tools/perturb_reference.py), on 256x256 crops of the same SIM+
ground truth, in one run (so both see the same machine load).

Usage:
  python3 benchmarks/compare_perturb_reference.py --bench BUILD/benchmarks/bench_perturb \
      [--gt ../shared/data/Fluo-N2DH-SIM+/01_GT/SEG/man_seg000.tif] [--patches 100]

The reference runs single-threaded; qanet is reported with one thread (the fair comparison)
and with all threads. "reference-like" runs the SPEC steps the reference has (morphology,
deformation, merges) at the SPEC values; "default" adds splits, drops, spurious blobs and the
severity draw.
"""
import argparse, json, os, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(root, "build", "benchmarks", "bench_perturb"))
    ap.add_argument("--gt", default=os.path.join(root, "..", "shared", "data", "Fluo-N2DH-SIM+", "01_GT", "SEG", "man_seg000.tif"))
    ap.add_argument("--reference", default=os.path.join(root, "..", "shared", "tools", "perturb_reference.py"))
    ap.add_argument("--patches", type=int, default=100)
    ap.add_argument("--min-time", default="2")
    a = ap.parse_args()
    for p, what in ((a.bench, "bench_perturb (build it: cmake --build BUILD --target bench_perturb)"),
                    (a.gt, "ground truth"), (a.reference, "reference tool")):
        if not os.path.exists(p):
            sys.exit("not found: %s (%s)" % (p, what))

    out = subprocess.run([sys.executable, a.reference, a.gt, "--patches", str(a.patches), "--size", "256"],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"([0-9.]+) per second", out)
    if not m:
        sys.exit("cannot parse the reference output: " + out)
    ref = float(m.group(1))

    env = dict(os.environ, QANET_PERTURB_GT=a.gt)
    js = subprocess.run([a.bench, "--benchmark_filter=BM_perturb_256_((reference_like|default)(_1thread)?|batch64)/",
                         "--benchmark_format=json", "--benchmark_min_time=%s" % a.min_time],
                        check=True, capture_output=True, text=True, env=env).stdout
    rows = {b["name"].split("/")[0]: b["items_per_second"] for b in json.loads(js)["benchmarks"]}

    print("256x256 crops of %s" % os.path.relpath(a.gt, root))
    print("| pipeline | threads | perturbations/s | ratio to reference |")
    print("|---|---|---|---|")
    print("| perturb_reference.py (numpy/scipy) | 1 | %.1f | 1.0 |" % ref)
    for name, label, threads in (("BM_perturb_256_reference_like_1thread", "qanet, reference-like", "1"),
                                 ("BM_perturb_256_reference_like", "qanet, reference-like", "all"),
                                 ("BM_perturb_256_default_1thread", "qanet, default", "1"),
                                 ("BM_perturb_256_default", "qanet, default", "all"),
                                 ("BM_perturb_256_batch64", "qanet, default, 64 samples in parallel", "all")):
        if name in rows:
            print("| %s | %s | %.1f | %.1fx |" % (label, threads, rows[name], rows[name] / ref))


if __name__ == "__main__":
    main()
