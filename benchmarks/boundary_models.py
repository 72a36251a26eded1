#!/usr/bin/env python3
"""The boundary-metric models (MHD95, ASD, neMHD) on held-out data: predicted against true.

  /usr/bin/python3 benchmarks/boundary_models.py --qanet build/examples/qanet --out bench-boundary \
      [--models models/qanet-mhd95-2d-small.safetensors ...] [--heldout DIR] [--data ../shared/data] \
      [--dsb-images 30] [--threads 2]

Two sets of frames, neither used in training, calibration or model choice:
- held-out simulated 2D frames (the paper's Table 1 protocol): `qanet simulate --frames 20
  --perturbations 5 --seed 777` (made here unless --heldout names such a folder);
- the real-segmenter benchmark's masks (benchmarks/real_segmenters.py: 15 scikit-image
  segmenters, part A, and the error modes of part B on the ground truth) of SIM+ 02 and the
  DSB2018 test part, laid out as CTC folders (01, 01_GT/SEG, 01_RES_<folder>).
Each model is run through `qanet evaluate --json` (true values from qanet's exact metrics, in px
of the original image; neMHD with the tau of each frame's scale, docs/scoring.md). Report:
OUT/report.md and OUT/report.json: per model and set, frame-level Pearson, Spearman, MAE, RMSE,
bias; per result folder the pooled truth and prediction, and their Spearman across folders.
"""
import argparse, json, os, subprocess, sys, time

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_segmenters as rs  # noqa: E402

SKIP = {"B_specks_2000"}  # 2000 one-pixel objects per frame: slow, and part A's specks cover it
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = [os.path.join(ROOT, "models", f"qanet-{m}-2d-small.safetensors") for m in ("mhd95", "asd", "nemhd")]


def ctc_folders(out, ds):
    """The benchmark's masks of `ds` as a CTC dataset: OUT/ctc/<name>/{01,01_GT/SEG,01_RES_<folder>}."""
    ctc = os.path.join(out, "ctc", ds["name"])
    os.makedirs(os.path.join(ctc, "01_GT"), exist_ok=True)
    for link, target in ((os.path.join(ctc, "01"), os.path.join(ds["root"], "images")),
                         (os.path.join(ctc, "01_GT", "SEG"), os.path.join(ds["root"], "gt", "SEG"))):
        if not os.path.islink(link):
            os.symlink(target, link)
    jobs = [(f"A_{n}", lambda t, raw, sm, gt, fn=fn: fn(sm, raw)) for n, fn in rs.SEGMENTERS]
    for fam, fn, strengths in rs.MODES:
        for s in strengths:
            name = f"B_{fam}" if s is None else f"B_{fam}_{s}"
            jobs.append((name, lambda t, raw, sm, gt, fn=fn, s=s, name=name:
                         fn(gt, raw, sm, rs.rng_for(ds["name"], name[2:], t), s)))
    for name, make in jobs:
        if name in SKIP:
            continue
        masks = os.path.join(ctc, f"01_RES_{name}")
        os.makedirs(masks, exist_ok=True)
        for (t, _, _, _), (raw, sm, gt) in zip(ds["frames"], ds["arrays"]):
            rs.write_labels(os.path.join(masks, f"mask{t:03d}.tif"), rs.relabel(make(t, raw, sm, gt)))
        rs.log(f"[{ds['name']}] {name}")
    return ctc


def evaluate(a, model, data):
    cmd = [a.qanet, "--threads", str(a.threads), "evaluate", "--model", model, "--data", data, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"boundary_models.py: {' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
    j = json.loads(r.stdout)
    folders = j["folders"]
    t = np.array([f["true"] for f in folders])
    p = np.array([f["predicted"] for f in folders])
    j["folder_mae"] = float(np.abs(p - t).mean())
    j["folder_spearman"] = float(stats.spearmanr(p, t)[0]) if len(folders) > 2 else None
    return j


def add_held_out_arguments(ap):
    """The options shared by the benchmarks that run models over the held-out sets."""
    ap.add_argument("--qanet", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--heldout", default="", help="a qanet simulate --frames 20 --perturbations 5 --seed 777 folder")
    ap.add_argument("--data", default=rs.DEFAULT_DATA)
    ap.add_argument("--dsb-images", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)


def held_out_sets(a):
    """{set name: CTC dataset folder}: the held-out simulated frames and the real-segmenter
    benchmark's masks of SIM+ 02 and the DSB test part (made under OUT on the first run)."""
    os.makedirs(a.out, exist_ok=True)
    heldout = a.heldout or os.path.join(a.out, "heldout")
    if not a.heldout and not os.path.isdir(os.path.join(heldout, "01_GT")):
        subprocess.run([a.qanet, "--threads", str(a.threads), "simulate", "--out", heldout, "--frames", "20",
                        "--perturbations", "5", "--seed", "777"], check=True, capture_output=True)
    sets = {"held-out simulated": heldout}
    for ds in rs.load_datasets(a.data, a.dsb_images, ["sim", "dsb"], dsb_part="test"):
        rs.prepare_dataset(a.out, ds)
        sets[f"real-segmenter benchmark, {ds['name']}"] = ctc_folders(a.out, ds)
    return sets


def write_report(out, lines, start):
    """OUT/report.md (the lines and the run's seconds), also printed."""
    lines = lines + ["", f"{time.time() - start:.0f} s"]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_held_out_arguments(ap)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    a = ap.parse_args()
    start = time.time()
    sets = held_out_sets(a)
    results = []
    for model in a.models:
        for name, data in sets.items():
            j = evaluate(a, model, data)
            results.append({"model": model, "set": name, "metric": j["metric"], "n": j["n"], "pearson": j["pearson"],
                            "spearman": j["spearman"], "mae": j["mae"], "rmse": j["rmse"], "bias": j["bias"], "auc": j["auc"],
                            "folder_mae": j["folder_mae"], "folder_spearman": j["folder_spearman"],
                            "folders": j["folders"]})
            rs.log(f"{os.path.basename(model)} on {name}: n {j['n']} Pearson {j['pearson']} MAE {j['mae']:.3f}")
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump({"qanet": a.qanet, "seconds": time.time() - start, "results": results}, f, indent=1)
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    lines = ["# Boundary-metric models on held-out data", "",
             "| model | metric | frames of | n | Pearson | Spearman | MAE | RMSE | bias | hit-rate AUC | folder MAE | folder Spearman |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {os.path.basename(r['model'])} | {r['metric']} | {r['set']} | {r['n']} | {fmt(r['pearson'])} | "
                     f"{fmt(r['spearman'])} | {fmt(r['mae'])} | {fmt(r['rmse'])} | {r['bias']:+.3f} | {fmt(r['auc'])} | "
                     f"{fmt(r['folder_mae'])} | {fmt(r['folder_spearman'])} |")
    write_report(a.out, lines, start)


if __name__ == "__main__":
    main()
