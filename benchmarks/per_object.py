#!/usr/bin/env python3
"""Per-object quality: does `qanet score --per-object` predict each object's IoU with its true cell?

  /usr/bin/python3 benchmarks/per_object.py --qanet build/examples/qanet --out bench-objects \
      [--object-model M] [--model FRAME_MODEL] [--part test|calibration] [--data ../shared/data] [--dsb-images 30] \
      [--datasets sim,dsb] [--limit-folders N] [--threads 2]

The masks are those of benchmarks/real_segmenters.py (same segmenters, error modes and seeds):
part A, 15 real segmenters; part B, error modes applied to the ground truth. Images: with
--part test (the default) SIM+ 02 and the DSB2018 test part, never used in training or
calibration; with --part calibration the DSB2018 calibration part only (SIM+ 01 is training
data), for choices made before looking at the test images. B_specks_2000 is left out: 2000
one-pixel objects per frame cost a network pass each and add nothing over B_specks_200.

True IoU of every mask object: its best intersection over union with a ground-truth object,
computed here with numpy (independently of qanet). Figures: MAE and Pearson of predicted against
true IoU, and the ROC AUC of the predicted IoU for flagging objects of true IoU below 0.5 (the
probability that a random poor object scores below a random good one; ties count half), per
dataset and overall, plus the per-folder MAE; for models calibrated with residuals, the share of
objects whose interval (qanet score's coverage, default 90%) holds the true IoU, and its width. Report: stdout, OUT/report.json, OUT/report.md.
"""
import argparse, csv, json, os, subprocess, sys, time

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_segmenters as rs  # noqa: E402

SKIP = {"B_specks_2000"}


def true_ious(gt, lab):
    """label -> best IoU with a GT object (0 for objects touching none)."""
    g, p = gt.ravel().astype(np.int64), lab.ravel().astype(np.int64)
    psize = np.bincount(p)
    gsize = np.bincount(g)
    sel = (g > 0) & (p > 0)
    base = int(g.max()) + 1
    codes, inter = np.unique(p[sel] * base + g[sel], return_counts=True)
    pl, gl = codes // base, codes % base
    iou = inter / (psize[pl] + gsize[gl] - inter)
    best = {int(l): 0.0 for l in np.unique(p[p > 0])}
    for l, v in zip(pl, iou):
        best[int(l)] = max(best[int(l)], float(v))
    return best


def auc_low(pred, true, threshold=0.5):
    """ROC AUC of `pred` for telling objects of true < threshold (positives, should score low)."""
    pred, true = np.asarray(pred), np.asarray(true)
    bad, good = pred[true < threshold], pred[true >= threshold]
    if len(bad) == 0 or len(good) == 0:
        return None
    ranks = stats.rankdata(np.concatenate([bad, good]))
    # Mann-Whitney: P(good scores above bad) from the rank sum of the good objects.
    u = ranks[len(bad):].sum() - len(good) * (len(good) + 1) / 2
    return float(u / (len(bad) * len(good)))


def summarise(rows):
    if not rows:
        return {"objects": 0}
    p = np.array([r["predicted"] for r in rows])
    t = np.array([r["true"] for r in rows])
    iv = [r for r in rows if "low" in r]
    cover = {"interval_coverage": float(np.mean([r["low"] <= r["true"] <= r["high"] for r in iv])),
             "interval_mean_width": float(np.mean([r["high"] - r["low"] for r in iv]))} if iv else {}
    return {**cover, "objects": len(rows), "mae": float(np.mean(np.abs(p - t))),
            "pearson": float(stats.pearsonr(p, t)[0]) if len(rows) > 2 and p.std() > 0 and t.std() > 0 else None,
            "auc_below_0.5": auc_low(p, t), "share_below_0.5": float(np.mean(t < 0.5)),
            "mean_true": float(t.mean()), "mean_predicted": float(p.mean())}


def fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qanet", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--object-model", default="", help="per-object model (default: qanet's bundled one)")
    ap.add_argument("--model", default="", help="frame model qanet score also runs (default: the bundled one)")
    ap.add_argument("--part", default="test", choices=["test", "calibration"])
    ap.add_argument("--data", default=rs.DEFAULT_DATA)
    ap.add_argument("--dsb-images", type=int, default=30)
    ap.add_argument("--datasets", default="sim,dsb")
    ap.add_argument("--limit-folders", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not (os.path.isfile(a.qanet) and os.access(a.qanet, os.X_OK)):
        sys.exit(f"per_object.py: {a.qanet} is not an executable qanet program")
    if not os.path.isdir(a.data):
        sys.exit(f"per_object.py: data folder {a.data} is missing (give --data DIR)")
    which = a.datasets.split(",")
    if a.part == "calibration":
        which = [w for w in which if w == "dsb"]  # SIM+ 01 is training data; 02 is the test sequence
    start = time.time()
    datasets = rs.load_datasets(a.data, a.dsb_images, which, dsb_part=a.part)
    lim = (lambda xs: xs[:a.limit_folders]) if a.limit_folders > 0 else (lambda xs: xs)
    os.makedirs(a.out, exist_ok=True)
    rows, folders = [], []
    for ds in datasets:
        rs.prepare_dataset(a.out, ds)
        jobs = [(f"A_{n}", lambda t, raw, sm, gt, fn=fn: fn(sm, raw)) for n, fn in lim(rs.SEGMENTERS)]
        bj = []
        for fam, fn, strengths in rs.MODES:
            for s in strengths:
                name = f"B_{fam}" if s is None else f"B_{fam}_{s}"
                bj.append((name, lambda t, raw, sm, gt, fn=fn, s=s, name=name:
                           fn(gt, raw, sm, rs.rng_for(ds["name"], name[2:], t), s)))
        jobs += lim(bj)
        for k, (name, make) in enumerate(jobs):
            if name in SKIP:
                continue
            t0 = time.time()
            masks_dir = os.path.join(ds["root"], name, "masks")
            os.makedirs(masks_dir)
            truth = {}
            for (t, _, _, _), (raw, sm, gt) in zip(ds["frames"], ds["arrays"]):
                lab = rs.relabel(make(t, raw, sm, gt))
                rs.write_labels(os.path.join(masks_dir, f"mask{t:03d}.tif"), lab)
                truth[t] = true_ious(gt, lab)
            table = os.path.join(ds["root"], name, "objects.csv")
            cmd = [a.qanet, "--threads", str(a.threads), "score", "--images", os.path.join(ds["root"], "images"),
                   "--masks", masks_dir, "--per-object", table]
            if a.object_model:
                cmd += ["--object-model", a.object_model]
            if a.model:
                cmd += ["--model", a.model]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"per_object.py: {' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
            got = []
            with open(table) as f:
                for rec in csv.DictReader(f):
                    t, label = int(rec["frame"]), int(rec["label"])
                    got.append({"dataset": ds["name"], "folder": name, "frame": t, "label": label,
                                "voxels": int(rec["voxels"]), "predicted": float(rec["predicted_iou"]),
                                "true": truth[t][label]})
                    if rec.get("low"):  # models calibrated with residuals: the object's interval
                        got[-1]["low"], got[-1]["high"] = float(rec["low"]), float(rec["high"])
            expected = sum(len(v) for v in truth.values())
            if len(got) != expected:
                sys.exit(f"per_object.py: {table} lists {len(got)} objects, the masks hold {expected}")
            rows += got
            s = summarise(got)
            folders.append({"dataset": ds["name"], "folder": name, **s})
            rs.log(f"[{ds['name']} {k + 1}/{len(jobs)}] {name}: {s['objects']} objects, true {s['mean_true']:.3f} "
                   f"predicted {s['mean_predicted']:.3f} MAE {s['mae']:.3f} AUC {fmt(s['auc_below_0.5'])} "
                   f"({time.time() - t0:.1f} s)")
    def folder_auc(scope):  # the mean of the per-folder AUCs: specks and superpixels do not dominate
        v = [f["auc_below_0.5"] for f in folders if scope(f) and f.get("auc_below_0.5") is not None]
        return float(np.mean(v)) if v else None
    scopes = {ds["name"]: (lambda f, n=ds["name"]: f["dataset"] == n) for ds in datasets}
    scopes.update({"part A (segmenters)": lambda f: f["folder"].startswith("A_"),
                   "part B (error modes)": lambda f: f["folder"].startswith("B_"), "overall": lambda f: True})
    report = {"qanet": a.qanet, "object_model": a.object_model or "bundled", "part": a.part,
              "seconds": round(time.time() - start, 1),
              "datasets": {ds["name"]: {"title": ds["title"], "frames": len(ds["frames"])} for ds in datasets},
              "summary": {**{ds["name"]: summarise([r for r in rows if r["dataset"] == ds["name"]]) for ds in datasets},
                          "part A (segmenters)": summarise([r for r in rows if r["folder"].startswith("A_")]),
                          "part B (error modes)": summarise([r for r in rows if r["folder"].startswith("B_")]),
                          "overall": summarise(rows)},
              "folders": folders}
    for k, scope in scopes.items():
        report["summary"][k]["mean_folder_auc"] = folder_auc(scope)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    L = ["# Per-object quality: predicted against true IoU", "",
         f"qanet `{a.qanet}`, object model `{report['object_model']}`, {a.part} images, {report['seconds']} s", ""]
    for n, d in report["datasets"].items():
        L.append(f"- {n}: {d['title']}, {d['frames']} frames")
    L += ["", "| scope | objects | MAE | Pearson | AUC (true IoU < 0.5) | mean folder AUC | share < 0.5 | mean true | "
          "mean predicted |", "|---|---|---|---|---|---|---|---|---|"]
    for k, v in report["summary"].items():
        if v["objects"]:
            L.append(f"| {k} | {v['objects']} | {fmt(v['mae'])} | {fmt(v['pearson'])} | {fmt(v['auc_below_0.5'])} | "
                     f"{fmt(v.get('mean_folder_auc'))} | "
                     f"{fmt(v['share_below_0.5'], '.2f')} | {fmt(v['mean_true'])} | {fmt(v['mean_predicted'])} |")
    L += ["", "| dataset | folder | objects | MAE | AUC | mean true | mean predicted |", "|---|---|---|---|---|---|---|"]
    for v in folders:
        L.append(f"| {v['dataset']} | {v['folder']} | {v['objects']} | {fmt(v['mae'])} | {fmt(v['auc_below_0.5'])} | "
                 f"{fmt(v['mean_true'])} | {fmt(v['mean_predicted'])} |")
    for k, v in report["summary"].items():
        if v.get("interval_coverage") is not None:
            L.append(f"\n{k}: the objects' intervals hold the true IoU for {100 * v['interval_coverage']:.1f}% of "
                     f"objects (mean width {v['interval_mean_width']:.3f})")
    md = "\n".join(L) + "\n"
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
