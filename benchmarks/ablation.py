#!/usr/bin/env python3
"""The paper's Table 2 ablation: architectures trained alike, compared on held-out data.

  /usr/bin/python3 benchmarks/ablation.py --qanet build/examples/qanet --out bench-ablation \\
      --models ribcage-trinary.safetensors ribcage-binary.safetensors siamese-trinary.safetensors \\
               naive-trinary.safetensors [--heldout DIR] [--data ../shared/data] [--dsb-images 30] [--threads 2]

The models are trained with the same command but --architecture / --encoding (docs/training.md,
"The ablation"); each model's architecture, input encoding and parameter count are read from its
file. The sets are those of benchmarks/boundary_models.py (held-out simulated frames, seed 777;
the real-segmenter benchmark's masks of SIM+ 02 and the DSB test part), each model run through
`qanet evaluate --json` (raw scores: none of the models is recalibrated, so none is helped by a
calibration set). Reported per model and set: Pearson, MAE, hit-rate AUC (the area under
h(t) = share of frames with |predicted - true| < t, t in [0, 1]), folder MAE and Spearman; the
two real-segmenter sets also pooled. OUT/report.md, OUT/report.json, OUT/hit_rate_<set>.svg.
"""
import argparse, json, os, struct, sys, time

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boundary_models as bm  # noqa: E402


def model_info(path):
    """Architecture, input encoding and trainable parameter count from a qanet safetensors file."""
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    meta = header.pop("__metadata__")
    params = sum(int(np.prod(t["shape"])) for name, t in header.items() if "running_" not in name)
    return {"architecture": meta["architecture"], "encoding": meta["input_encoding"], "params": params}


def frame_figures(truth, predicted):
    t, p = np.asarray(truth), np.asarray(predicted)
    err = np.abs(p - t)
    # The area under h(t) on [0, 1] is the mean of 1 - min(|e|, 1): each frame is a hit for t > |e|.
    return {"n": len(t), "pearson": float(stats.pearsonr(p, t)[0]), "mae": float(err.mean()),
            "bias": float((p - t).mean()), "auc": float((1 - np.minimum(err, 1)).mean())}


def hit_rate_svg(path, title, curves):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ts = np.linspace(0, 0.5, 201)
    for label, err in curves:
        ax.plot(ts, [(err < t).mean() for t in ts], label=label)
    ax.set_xlabel("t (|predicted - true SEG| below t)")
    ax.set_ylabel("hit rate h(t)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    tmp = path + ".tmp"
    fig.savefig(tmp, format="svg", metadata={"Date": None})  # no date: the same inputs give the same file
    plt.close(fig)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bm.add_held_out_arguments(ap)
    ap.add_argument("--models", nargs="+", required=True)
    a = ap.parse_args()
    start = time.time()
    sets = bm.held_out_sets(a)
    results = []
    for model in a.models:
        info = model_info(model)
        label = f"{info['architecture']} ({info['encoding']})"
        pooled_t, pooled_p, pooled_folders = [], [], []
        for name, data in sets.items():
            j = bm.evaluate(a, model, data)
            t = [s["true"] for s in j["samples"]]
            p = [s["predicted"] for s in j["samples"]]
            fig = frame_figures(t, p)
            # A second computation of qanet's figures: they must agree, or the report is wrong.
            if abs(fig["auc"] - j["auc"]) > 1e-6 or abs(fig["mae"] - j["mae"]) > 1e-6:
                sys.exit(f"ablation.py: qanet's AUC/MAE {j['auc']}/{j['mae']} differ from the samples' {fig}")
            results.append({"model": model, "label": label, **info, "set": name, **fig, "folder_mae": j["folder_mae"],
                            "folder_spearman": j["folder_spearman"], "samples": j["samples"]})
            if name.startswith("real-segmenter"):
                pooled_t += t
                pooled_p += p
                pooled_folders += j["folders"]
            bm.rs.log(f"{label} on {name}: n {fig['n']} Pearson {fig['pearson']:.3f} MAE {fig['mae']:.3f} AUC {fig['auc']:.3f}")
        ft = np.array([f["true"] for f in pooled_folders])
        fp = np.array([f["predicted"] for f in pooled_folders])
        results.append({"model": model, "label": label, **info, "set": "real-segmenter benchmark, both",
                        **frame_figures(pooled_t, pooled_p), "folder_mae": float(np.abs(fp - ft).mean()),
                        "folder_spearman": float(stats.spearmanr(fp, ft)[0]),
                        "samples": [{"true": x, "predicted": y} for x, y in zip(pooled_t, pooled_p)]})
    set_names = list(dict.fromkeys(r["set"] for r in results))
    for s in set_names:
        slug = s.replace("real-segmenter benchmark, ", "real_").replace("held-out simulated", "heldout_sim")
        curves = [(r["label"], np.abs(np.array([x["predicted"] - x["true"] for x in r["samples"]])))
                  for r in results if r["set"] == s]
        hit_rate_svg(os.path.join(a.out, f"hit_rate_{slug.replace(' ', '_')}.svg"), s, curves)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump({"qanet": a.qanet, "seconds": time.time() - start,
                   "results": [{k: v for k, v in r.items() if k != "samples"} for r in results]}, f, indent=1)
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    lines = ["# Ablation (Table 2): architectures trained alike, raw scores on held-out data", "",
             "| set | model | parameters | n | Pearson | MAE | bias | hit-rate AUC | folder MAE | folder Spearman |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in set_names:
        for r in results:
            if r["set"] == s:
                lines.append(f"| {s} | {r['label']} | {r['params']:,} | {r['n']} | {fmt(r['pearson'])} | {fmt(r['mae'])} | "
                             f"{r['bias']:+.3f} | {fmt(r['auc'])} | {fmt(r['folder_mae'])} | {fmt(r['folder_spearman'])} |")
    bm.write_report(a.out, lines, start)


if __name__ == "__main__":
    main()
