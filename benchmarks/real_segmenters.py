#!/usr/bin/env python3
"""Does qanet's model score masks of REAL segmenters correctly, on held-out annotated images?

  /usr/bin/python3 benchmarks/real_segmenters.py --qanet build/examples/qanet --out bench-real \
      [--model M] [--data ../shared/data] [--dsb-images 30] [--threads 2] \
      [--limit-folders N] [--datasets sim,dsb] [--parts A,B]

Needs Debian's python3-numpy python3-scipy python3-skimage python3-tifffile python3-pil (Pillow
decodes the LZW TIFFs of SIM+, since Debian has no imagecodecs for tifffile).

Held-out images (never used for training):
  sim: Fluo-N2DH-SIM+/02 (10 frames, complete SEG ground truth);
  dsb: the TEST part of DSB2018-stage1-train: FNV-1a-64("DSB2018-stage1-train/" + ID) % 100 >= 85,
       the first --dsb-images in sorted ID order (frame numbers 0.. in that order; OUT/work/dsb/frames.json).
Part A: 15 real segmenters (Otsu/Li/Triangle/Yen/local thresholds + connected components, EDT and
  h-maxima watersheds, under/over thresholds, Felzenszwalb and SLIC inside the Otsu foreground),
  parameters fixed below. Part B: error modes applied to the ground truth (dilation, erosion,
  specks, missed cells, splits, merges, iso-level outlines, holes), 1-2 strengths each, seeded.
Each result folder is written in CTC layout (OUT/work/<dataset>/images/tTTT.tif, unchanged copies;
OUT/work/<dataset>/<folder>/masks/maskTTT.tif) and scored with one `qanet score --json` process.
True SEG is computed here (CTC definition) and checked against `qanet metrics` on every folder.
Report: stdout, OUT/report.json, OUT/report.md. --limit-folders N keeps the first N folders of
each part per dataset (smoke runs: --dsb-images 5 --limit-folders 2).
"""
import argparse, json, math, os, shutil, subprocess, sys, time, zlib

import numpy as np
import tifffile
from scipy import ndimage as ndi, stats
from skimage import feature, filters, io as skio, measure, morphology, restoration, segmentation

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
SEED = 20240617
SIGMA = 1.0  # pre-smoothing of every segmenter and of the intensity-based error modes


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_tif(path):
    try:
        return tifffile.imread(path)
    except ValueError:  # LZW (SIM+) needs imagecodecs, which Debian lacks; Pillow decodes it
        return skio.imread(path, plugin="pil")


def write_labels(path, lab):
    if lab.max() > 65535:
        raise RuntimeError(f"{path}: {lab.max()} labels do not fit uint16")
    tifffile.imwrite(path, lab.astype(np.uint16), compression="zlib")


def relabel(lab):
    """Consecutive labels 1..n (0 stays background)."""
    u, inv = np.unique(lab, return_inverse=True)
    out = inv.reshape(lab.shape).astype(np.int32)
    return out if u[0] == 0 else out + 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return h


def rng_for(*keys):
    """Generator seeded by SEED and stable keys (crc32, not hash(), which is salted per process)."""
    return np.random.default_rng([SEED] + [zlib.crc32(str(k).encode()) for k in keys])


# ----------------------------------------------------------------------------- data sets

def in_dsb_part(image_id, part):
    """The split of qanet (qa/split.hpp): FNV-1a % 100 < 70 train, < 85 calibration, else test."""
    b = fnv1a64("DSB2018-stage1-train/" + image_id) % 100
    return b >= 85 if part == "test" else 70 <= b < 85 if part == "calibration" else b < 70


def load_datasets(data, dsb_n, which, dsb_part="test"):
    sim_dir = os.path.join(data, "Fluo-N2DH-SIM+")
    dsb_dir = os.path.join(data, "DSB2018-stage1-train")
    out = []
    if "sim" in which:
        if not os.path.isdir(os.path.join(sim_dir, "02_GT", "SEG")):
            sys.exit(f"real_segmenters.py: data folder {sim_dir}/02_GT/SEG is missing (give --data DIR)")
        frames = [(t, os.path.join(sim_dir, "02", f"t{t:03d}.tif"),
                   os.path.join(sim_dir, "02_GT", "SEG", f"man_seg{t:03d}.tif"), f"t{t:03d}") for t in range(10)]
        out.append({"name": "sim", "title": "Fluo-N2DH-SIM+/02", "frames": frames})
    if "dsb" in which:
        if not os.path.isdir(os.path.join(dsb_dir, "masks")):
            sys.exit(f"real_segmenters.py: data folder {dsb_dir} is missing (give --data DIR)")
        ids = sorted(f[:-4] for f in os.listdir(os.path.join(dsb_dir, "images")) if f.endswith(".tif"))
        test = [i for i in ids if in_dsb_part(i, dsb_part)]
        log(f"DSB2018-stage1-train: {len(ids)} images, {len(test)} in the {dsb_part} part; using {min(dsb_n, len(test))}")
        frames = [(t, os.path.join(dsb_dir, "images", i + ".tif"), os.path.join(dsb_dir, "masks", i + ".tif"), i)
                  for t, i in enumerate(test[:dsb_n])]
        out.append({"name": "dsb", "title": f"DSB2018-stage1-train {dsb_part} part", "frames": frames,
                    "test_images": len(test), "all_images": len(ids)})
    for ds in out:
        for f in ds["frames"]:
            for p in f[1:3]:
                if not os.path.isfile(p):
                    sys.exit(f"real_segmenters.py: {p} is missing (give --data DIR)")
    return out


# ----------------------------------------------------------------------------- part A: segmenters

def norm(sm):
    lo, hi = np.percentile(sm, [0.5, 99.5])
    return (sm - lo) / max(hi - lo, 1e-9)


def cc(fg):
    return measure.label(fg, connectivity=2)  # 8-connected components, skimage's default


def otsu_fg(s):
    return s > filters.threshold_otsu(s)


def seg_threshold(fn):
    return lambda s: cc(s > fn(s))


def seg_otsu_open_fill(s):
    fg = ndi.binary_fill_holes(morphology.binary_opening(otsu_fg(s), morphology.disk(2)))
    return cc(morphology.remove_small_objects(fg, min_size=15))


def seg_local(block):
    def run(s, raw):
        # Offset: two noise sigmas, so that flat background is not half foreground; holes filled and
        # specks removed, as adaptive-threshold pipelines do.
        off = -2.0 * restoration.estimate_sigma(raw)
        fg = ndi.binary_fill_holes(s > filters.threshold_local(s, block, method="gaussian", offset=off))
        return cc(morphology.remove_small_objects(fg, min_size=15))
    return run


def seg_otsu_multiple(m):
    def run(s):
        t = filters.threshold_otsu(s)
        bg = np.median(s[s <= t])  # relative to the background level: SIM+ has a camera offset of ~80
        return cc(s > bg + m * (t - bg))
    return run


def seg_edt_watershed(min_distance):
    def run(s):
        fg = otsu_fg(s)
        dist = ndi.distance_transform_edt(fg)
        peaks = feature.peak_local_max(dist, min_distance=min_distance, labels=cc(fg), exclude_border=False)
        seeds = np.zeros(fg.shape, bool)
        seeds[tuple(peaks.T)] = True
        return segmentation.watershed(-dist, measure.label(seeds), mask=fg)
    return run


def seg_hmax_watershed(h):
    def run(s):
        n = norm(s)
        seeds = measure.label(morphology.h_maxima(n, h))
        return segmentation.watershed(-n, seeds, mask=otsu_fg(s))
    return run


def seg_felzenszwalb(s):
    fz = segmentation.felzenszwalb(norm(s), scale=100, sigma=0.5, min_size=20, channel_axis=None) + 1
    return measure.label(fz * otsu_fg(s), background=0, connectivity=1)


def seg_slic(s):
    fg = otsu_fg(s)
    n = max(1, int(fg.sum() / 300))  # superpixels of ~300 px in the foreground
    return segmentation.slic(norm(s), n_segments=n, compactness=0.1, channel_axis=None, mask=fg, start_label=1)


def with_raw(fn):
    return lambda s, raw: fn(s)


SEGMENTERS = [  # name -> f(smoothed image, raw image)
    ("otsu", with_raw(seg_threshold(filters.threshold_otsu))),
    ("otsu_open_fill", with_raw(seg_otsu_open_fill)),
    ("li", with_raw(seg_threshold(filters.threshold_li))),
    ("triangle", with_raw(seg_threshold(filters.threshold_triangle))),
    ("yen", with_raw(seg_threshold(filters.threshold_yen))),
    ("local_b31", seg_local(31)),
    ("local_b101", seg_local(101)),
    ("edt_ws_md5", with_raw(seg_edt_watershed(5))),
    ("edt_ws_md10", with_raw(seg_edt_watershed(10))),
    ("hmax_ws_h0.05", with_raw(seg_hmax_watershed(0.05))),
    ("hmax_ws_h0.15", with_raw(seg_hmax_watershed(0.15))),
    ("otsu_x0.5", with_raw(seg_otsu_multiple(0.5))),
    ("otsu_x1.5", with_raw(seg_otsu_multiple(1.5))),
    ("felzenszwalb_fg", with_raw(seg_felzenszwalb)),
    ("slic_fg", with_raw(seg_slic)),
]


# ----------------------------------------------------------------------------- part B: error modes

def objects(lab):
    return [(i + 1, sl) for i, sl in enumerate(ndi.find_objects(lab)) if sl is not None]


def grow(lab, r):
    """Objects grow into background only (nearest object wins), never into each other."""
    dist, idx = ndi.distance_transform_edt(lab == 0, return_indices=True)
    out = lab[idx[0], idx[1]]
    out[dist > r] = 0
    return out


def inner_distance(cell):
    """Distance of each cell pixel to the nearest pixel outside it (the image border counts as outside)."""
    return ndi.distance_transform_edt(np.pad(cell, 1))[1:-1, 1:-1]


def mode_identity(gt, img, sm, rng, _):
    return gt.copy()


def mode_dilate(gt, img, sm, rng, r):
    return grow(gt, r)


def mode_erode(gt, img, sm, rng, r):
    out = np.zeros_like(gt)
    for l, sl in objects(gt):
        cell = gt[sl] == l
        out[sl][cell & (inner_distance(cell) > r)] = l  # pixels next to other cells erode too
    return out


def mode_specks(gt, img, sm, rng, n):
    out = gt.copy().ravel()
    bg = np.flatnonzero(out == 0)
    pick = rng.choice(bg, size=min(n, bg.size), replace=False)
    out[pick] = gt.max() + 1 + np.arange(pick.size)
    return out.reshape(gt.shape)


def mode_missed(gt, img, sm, rng, frac):
    labels = np.unique(gt[gt > 0])
    dimness = ndi.mean(img, gt, labels)  # mean raw intensity inside each cell
    drop = labels[np.argsort(dimness, kind="stable")[:int(round(frac * labels.size))]]
    out = gt.copy()
    out[np.isin(gt, drop)] = 0
    return out


def mode_split(gt, img, sm, rng, k):
    """k equal angular sectors around a point near the centroid: k=2 is one straight cut through
    the centroid region, k=3 three rays from it."""
    out, nxt = gt.copy(), int(gt.max()) + 1
    for l, sl in objects(gt):
        yy, xx = np.nonzero(gt[sl] == l)
        r = math.sqrt(yy.size / math.pi)
        cy, cx = yy.mean() + rng.uniform(-0.2, 0.2) * r, xx.mean() + rng.uniform(-0.2, 0.2) * r
        ang = (np.arctan2(yy - cy, xx - cx) - rng.uniform(0, 2 * math.pi)) % (2 * math.pi)
        piece = np.minimum((ang / (2 * math.pi / k)).astype(int), k - 1)
        sub = out[sl]
        for j in range(1, k):
            sub[yy[piece == j], xx[piece == j]] = nxt
            nxt += 1
    return out


def touching_pairs(gt):
    """Pairs of labels that are 4-adjacent or at most 2 px of background apart (each grown by 1 px)."""
    g = grow(gt, 1).astype(np.int64)
    pairs = set()
    for a, b in ((g[:, 1:], g[:, :-1]), (g[1:], g[:-1])):
        sel = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[sel], b[sel]), np.maximum(a[sel], b[sel])
        pairs.update(zip(lo.tolist(), hi.tolist()))
    return sorted(pairs)


def mode_merge(gt, img, sm, rng, which):
    pairs = touching_pairs(gt)
    if which == "half":
        pairs = [pairs[i] for i in sorted(rng.permutation(len(pairs))[:int(math.ceil(len(pairs) / 2))])]
    root = np.arange(int(gt.max()) + 1)

    def find(x):
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x
    for a, b in pairs:  # union-find: chains of touching cells become one object
        ra, rb = find(a), find(b)
        root[max(ra, rb)] = min(ra, rb)
    return np.array([find(x) for x in range(root.size)])[gt]


def mode_isolevel(gt, img, sm, rng, t):
    out = np.zeros_like(gt)
    global_bg = np.median(sm[gt == 0]) if (gt == 0).any() else np.percentile(sm, 5)
    for l, sl in objects(gt):
        margin = max(5, (max(s.stop - s.start for s in sl) + 1) // 2)
        box = tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(sl, gt.shape))
        g, s, o = gt[box], sm[box], out[box]
        cell = g == l
        bgpix = s[g == 0]
        bg = np.median(bgpix) if bgpix.size >= 10 else global_bg
        level = bg + t * (np.percentile(s[cell], 95) - bg)
        # Other cells' pixels are excluded: this mode moves outlines; merging is a mode of its own.
        comp = measure.label((s > level) & ((g == 0) | cell) & (o == 0), connectivity=1)
        ids, counts = np.unique(comp[cell & (comp > 0)], return_counts=True)
        if ids.size:  # else the whole cell is below the level: missed
            o[comp == ids[np.argmax(counts)]] = l
    return out


def mode_holes(gt, img, sm, rng, q):
    out = gt.copy()
    for l, sl in objects(gt):
        cell = gt[sl] == l
        dark = sm[sl] < np.percentile(sm[sl][cell], q)
        out[sl][cell & dark & (inner_distance(cell) > 2)] = 0  # > 2 px inside: the outline stays whole
    return out


MODES = [  # (family, function, strengths)
    ("identity", mode_identity, [None]),
    ("dilation", mode_dilate, [2, 4]),
    ("erosion", mode_erode, [2, 4]),
    ("specks", mode_specks, [200, 2000]),
    ("missed", mode_missed, [0.3, 0.6]),
    ("split", mode_split, [2, 3]),
    ("merge", mode_merge, ["all", "half"]),
    ("isolevel", mode_isolevel, [0.3, 0.7]),
    ("holes", mode_holes, [10, 25]),
]


# ----------------------------------------------------------------------------- SEG and qanet

def seg_frame(gt, pred):
    """CTC SEG: per GT object, IoU with the predicted object covering > half of it (else 0)."""
    g, p = gt.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    glabels, gsize = np.unique(g[g > 0], return_counts=True)
    psize = np.bincount(p)
    sel = (g > 0) & (p > 0)
    base = int(p.max()) + 1
    codes, inter = np.unique(g[sel] * base + p[sel], return_counts=True)
    gi, pi = codes // base, codes % base
    gs = gsize[np.searchsorted(glabels, gi)]
    match = 2 * inter > gs
    jac = np.zeros(glabels.size)
    jac[np.searchsorted(glabels, gi[match])] = inter[match] / (gs[match] + psize[pi[match]] - inter[match])
    return jac


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    try:
        out = json.loads(r.stdout) if r.returncode == 0 else None
    except json.JSONDecodeError:
        out = None
    return out, r.returncode, r.stderr.strip()


def qanet_score(a, images, masks):
    cmd = [a.qanet, "--threads", str(a.threads), "score", "--images", images, "--masks", masks, "--json"]
    return run_json(cmd + (["--model", a.model] if a.model else []))


def check_seg(a, gt_dir, masks, frames, true_frames, pooled):
    """Our SEG must equal `qanet metrics` on every frame and pooled; a bug in either is fatal."""
    out, rc, err = run_json([a.qanet, "--threads", str(a.threads), "metrics", "--gt", gt_dir, "--pred", masks,
                             "--json", "--seg-only"])
    if out is None:
        sys.exit(f"real_segmenters.py: qanet metrics failed on {masks} (exit {rc}): {err}")
    by_frame = {f["frame"]: f["seg"] for f in out["frames"]}
    for t, ours in zip(frames, true_frames):
        if abs(by_frame[t] - ours) > 1e-9:
            sys.exit(f"real_segmenters.py: SEG of {masks} frame {t}: ours {ours!r}, qanet metrics {by_frame[t]!r}")
    if abs(out["seg"] - pooled) > 1e-9:
        sys.exit(f"real_segmenters.py: pooled SEG of {masks}: ours {pooled!r}, qanet metrics {out['seg']!r}")


# ----------------------------------------------------------------------------- statistics

def corr(x, y, kind):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float((stats.spearmanr if kind == "spearman" else stats.pearsonr)(x, y)[0])


def summary(folders):
    """Per-folder and per-frame agreement of a list of scored folders."""
    fs = [f for f in folders if f["predicted"] is not None]
    fr = [(t, p) for f in folders for t, p in zip(f["true_frames"], f["pred_frames"]) if p is not None]
    err = [abs(f["predicted"] - f["true"]) for f in fs]
    return {"folders": len(folders), "folders_scored": len(fs),
            "folder_mae": float(np.mean(err)) if err else None, "folder_max_abs_error": max(err) if err else None,
            "folder_spearman": corr([f["true"] for f in fs], [f["predicted"] for f in fs], "spearman"),
            "folder_pearson": corr([f["true"] for f in fs], [f["predicted"] for f in fs], "pearson"),
            "frames": sum(len(f["true_frames"]) for f in folders), "frames_scored": len(fr),
            "frame_mae": float(np.mean([abs(p - t) for t, p in fr])) if fr else None,
            "frame_spearman": corr(*zip(*fr), "spearman") if len(fr) >= 3 else None,
            "frame_pearson": corr(*zip(*fr), "pearson") if len(fr) >= 3 else None,
            **interval_summary(fs)}


def interval_summary(fs):
    """How often qanet's conformal intervals (models calibrated with residuals) hold the truth."""
    fi = [(f["true"], f["interval"]) for f in fs if f.get("interval")]
    ri = [(t, i) for f in fs for t, i in zip(f["true_frames"], f.get("frame_intervals") or []) if i]
    if not fi:
        return {}
    held = lambda pairs: float(np.mean([lo <= t <= hi for t, (lo, hi) in pairs]))
    return {"interval_folder_coverage": held(fi), "interval_frame_coverage": held(ri) if ri else None,
            "interval_mean_width": float(np.mean([hi - lo for _, (lo, hi) in fi]))}


def fmt(v, spec=".4f"):
    return "-" if v is None else format(v, spec)


# ----------------------------------------------------------------------------- main

def prepare_dataset(out, ds):
    """Unchanged image copies, CTC GT folder, frame map; arrays kept for the masks."""
    root = os.path.join(out, "work", ds["name"])
    shutil.rmtree(root, ignore_errors=True)  # no stale frames from a run with other options
    os.makedirs(os.path.join(root, "images"))
    os.makedirs(os.path.join(root, "gt", "SEG"))
    ds["root"], ds["arrays"] = root, []
    for t, img_p, gt_p, src in ds["frames"]:
        shutil.copyfile(img_p, os.path.join(root, "images", f"t{t:03d}.tif"))
        shutil.copyfile(gt_p, os.path.join(root, "gt", "SEG", f"man_seg{t:03d}.tif"))
        img, gt = read_tif(img_p), read_tif(gt_p).astype(np.int32)
        if img.shape != gt.shape:
            sys.exit(f"real_segmenters.py: {img_p} and {gt_p} differ in shape")
        raw = img.astype(np.float64)
        ds["arrays"].append((raw, filters.gaussian(raw, sigma=SIGMA, preserve_range=True), gt))
    with open(os.path.join(root, "frames.json"), "w") as f:
        json.dump({f"{t:03d}": {"image": img_p, "gt": gt_p, "id": src} for t, img_p, gt_p, src in ds["frames"]},
                  f, indent=1)


def score_folder(a, ds, folder, make_mask, problems):
    masks_dir = os.path.join(ds["root"], folder, "masks")
    os.makedirs(masks_dir)
    frames = [f[0] for f in ds["frames"]]
    jacs = []
    for t, (raw, sm, gt) in zip(frames, ds["arrays"]):
        lab = relabel(make_mask(t, raw, sm, gt))
        write_labels(os.path.join(masks_dir, f"mask{t:03d}.tif"), lab)
        jacs.append(seg_frame(gt, lab))
    true_frames = [float(j.mean()) for j in jacs]
    pooled = float(np.concatenate(jacs).mean())
    check_seg(a, os.path.join(ds["root"], "gt"), masks_dir, frames, true_frames, pooled)
    out, rc, err = qanet_score(a, os.path.join(ds["root"], "images"), masks_dir)
    for line in err.splitlines():
        if "not scored" in line or out is None:
            problems.append(f"{ds['name']}/{folder}: {line}")
    pred_frames, objects, predicted = [None] * len(frames), [0] * len(frames), None
    interval, frame_intervals = None, [None] * len(frames)  # for models calibrated with residuals
    if out is not None:
        with open(os.path.join(ds["root"], folder, "score.json"), "w") as f:
            json.dump(out, f, indent=1)
        by_frame = {f["frame"]: f for f in out["frames"]}
        pred_frames = [by_frame[t]["score"] for t in frames]
        objects = [by_frame[t]["objects"] for t in frames]
        predicted = out["score"]  # qanet's object-weighted mean over the frames it could score
        interval = out.get("interval")
        frame_intervals = [by_frame[t].get("interval") for t in frames]
        a.model_used = out["model"]
    elif rc != 0 and not err:
        problems.append(f"{ds['name']}/{folder}: qanet score exit {rc}")
    return {"dataset": ds["name"], "folder": folder, "frames": len(frames), "true": pooled, "predicted": predicted,
            "error": None if predicted is None else predicted - pooled, "true_frames": true_frames,
            "pred_frames": pred_frames, "objects": objects, "interval": interval, "frame_intervals": frame_intervals}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qanet", required=True, help="the qanet program")
    ap.add_argument("--out", required=True, help="output folder (work/, report.json, report.md)")
    ap.add_argument("--model", default="", help="model file (default: qanet's bundled model)")
    ap.add_argument("--data", default=DEFAULT_DATA, help=f"shared data folder (default {DEFAULT_DATA})")
    ap.add_argument("--dsb-images", type=int, default=30, help="first N DSB2018 test images (default 30)")
    ap.add_argument("--threads", type=int, default=2, help="qanet worker threads (default 2)")
    ap.add_argument("--limit-folders", type=int, default=0, help="first N folders of each part per dataset")
    ap.add_argument("--datasets", default="sim,dsb", help="comma list of sim, dsb")
    ap.add_argument("--parts", default="A,B", help="comma list of A, B")
    a = ap.parse_args()
    a.model_used = None
    if not (os.path.isfile(a.qanet) and os.access(a.qanet, os.X_OK)):
        sys.exit(f"real_segmenters.py: {a.qanet} is not an executable qanet program")
    if not a.model:
        os.environ.pop("QANET_MODEL", None)  # the default is the bundled model, not the caller's environment
    if not os.path.isdir(a.data):
        sys.exit(f"real_segmenters.py: data folder {a.data} is missing (give --data DIR)")
    start = time.time()
    datasets = load_datasets(a.data, a.dsb_images, a.datasets.split(","))
    parts = a.parts.split(",")
    lim = (lambda xs: xs[:a.limit_folders]) if a.limit_folders > 0 else (lambda xs: xs)
    jobs = []  # (dataset, part, folder name, family, mask function)
    for ds in datasets:
        if "A" in parts:
            for name, fn in lim(SEGMENTERS):
                jobs.append((ds, "A", name, name, lambda t, raw, sm, gt, fn=fn: fn(sm, raw)))
        if "B" in parts:
            bjobs = []
            for fam, fn, strengths in MODES:
                for s in strengths:
                    name = fam if s is None else f"{fam}_{s}"
                    bjobs.append((ds, "B", name, fam, lambda t, raw, sm, gt, fn=fn, s=s, ds=ds, name=name:
                                  fn(gt, raw, sm, rng_for(ds["name"], name, t), s)))
            jobs += lim(bjobs)
    os.makedirs(a.out, exist_ok=True)
    for ds in datasets:
        prepare_dataset(a.out, ds)
    results, problems = {"A": [], "B": []}, []
    for i, (ds, part, name, fam, fn) in enumerate(jobs):
        t0 = time.time()
        r = score_folder(a, ds, f"{part}_{name}", fn, problems)
        r["segmenter" if part == "A" else "mode"], r["family"] = name, fam
        results[part].append(r)
        log(f"[{i + 1}/{len(jobs)}] {ds['name']}/{part}_{name}: true {r['true']:.4f} "
            f"predicted {fmt(r['predicted'])} ({time.time() - t0:.1f} s)")
    table3 = compare_folders(a, datasets, results["A"]) if results["A"] else {}
    report = build_report(a, datasets, results, problems, time.time() - start)
    report["part_c"] = table3
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    md = render(report)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(md)
    print(md)


def compare_folders(a, datasets, folders):
    """The paper's Table 3 protocol on part A: `qanet compare` of each dataset's segmenter folders
    (qanet's relative error against the cross-method baseline's, each segmenter judged by the others)."""
    out = {}
    for ds in datasets:
        names = [r["folder"] for r in folders if r["dataset"] == ds["name"]]
        if len(names) < 2:
            continue
        cmd = [a.qanet, "--threads", str(a.threads), "compare", "--json", "--images", os.path.join(ds["root"], "images"),
               "--gt", os.path.join(ds["root"], "gt", "SEG"), "--results"]
        cmd += [os.path.join(ds["root"], n, "masks") for n in names]
        j, rc, err = run_json(cmd + (["--model", a.model] if a.model else []))
        if j is None:
            sys.exit(f"real_segmenters.py: qanet compare failed on {ds['name']} (exit {rc}): {err}")
        rows = [{"folder": n, "true": r["true"], "predicted": r["predicted"], "baseline": r["baseline"],
                 "qanet_relative_error": r["qanet_relative_error"],
                 "baseline_relative_error": r["baseline_relative_error"]} for n, r in zip(names, j["results"])]
        better = [r for r in rows if r["qanet_relative_error"] is not None and r["baseline_relative_error"] is not None
                  and r["qanet_relative_error"] < r["baseline_relative_error"]]
        out[ds["name"]] = {"folders": rows, "qanet_better": len(better),
                           "mean_qanet_relative_error": j["mean_qanet_relative_error"],
                           "mean_baseline_relative_error": j["mean_baseline_relative_error"]}
    return out


def build_report(a, datasets, results, problems, seconds):
    names = [ds["name"] for ds in datasets]
    rep = {"qanet": a.qanet, "model": a.model_used or a.model or "bundled", "seed": SEED, "seconds": round(seconds, 1),
           "datasets": {ds["name"]: {"title": ds["title"], "frames": len(ds["frames"]),
                                     **({"test_images": ds["test_images"], "all_images": ds["all_images"]}
                                        if "test_images" in ds else {})} for ds in datasets},
           "problems": problems, "part_a": {"folders": results["A"]}, "part_b": {"folders": results["B"]}}
    A, B = results["A"], results["B"]
    if A:
        rep["part_a"]["summary"] = {n: summary([r for r in A if r["dataset"] == n]) for n in names}
        rep["part_a"]["summary"]["overall"] = summary(A)
    if B:
        rows = []
        for r in B:
            fr = [(t, p) for t, p in zip(r["true_frames"], r["pred_frames"]) if p is not None]
            rows.append({"dataset": r["dataset"], "mode": r["mode"], "family": r["family"],
                         "frames_scored": len(fr), "mean_true": float(np.mean([t for t, _ in fr])) if fr else None,
                         "mean_predicted": float(np.mean([p for _, p in fr])) if fr else None,
                         "frame_mae": float(np.mean([abs(p - t) for t, p in fr])) if fr else None,
                         "pooled_true": r["true"], "predicted": r["predicted"]})
        rep["part_b"]["modes"] = rows
        fam = {}
        for scope in names + ["overall"]:
            for f in dict.fromkeys(r["family"] for r in B):
                errs = [abs(p - t) for r in B if r["family"] == f and scope in ("overall", r["dataset"])
                        for t, p in zip(r["true_frames"], r["pred_frames"]) if p is not None]
                fam.setdefault(scope, {})[f] = float(np.mean(errs)) if errs else None
        rep["part_b"]["family_frame_mae"] = fam
        rep["part_b"]["summary"] = {n: summary([r for r in B if r["dataset"] == n]) for n in names}
        rep["part_b"]["summary"]["overall"] = summary(B)
    rep["overall_frame_pearson"] = summary(A + B)["frame_pearson"]
    return rep


def render(rep):
    L = [f"# qanet on real segmenters and ground-truth error modes", "",
         f"qanet `{rep['qanet']}`, model `{rep['model']}`, seed {rep['seed']}, {rep['seconds']} s", ""]
    for n, d in rep["datasets"].items():
        extra = f" ({d['test_images']} of {d['all_images']} images are in the test part)" if "test_images" in d else ""
        L.append(f"- {n}: {d['title']}, {d['frames']} frames{extra}")
    heads = ["scope", "folders", "folder MAE", "max |err|", "Spearman", "Pearson", "frames", "frame MAE",
             "frame Spearman"]

    def summary_table(s):
        out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for k, v in s.items():
            out.append(f"| {k} | {v['folders_scored']}/{v['folders']} | {fmt(v['folder_mae'])} | "
                       f"{fmt(v['folder_max_abs_error'])} | {fmt(v['folder_spearman'], '.3f')} | "
                       f"{fmt(v['folder_pearson'], '.3f')} | {v['frames_scored']}/{v['frames']} | "
                       f"{fmt(v['frame_mae'])} | {fmt(v['frame_spearman'], '.3f')} |")
        for k, v in s.items():
            if v.get("interval_folder_coverage") is not None:
                out.append(f"\n{k}: the score intervals hold the true SEG for {100 * v['interval_folder_coverage']:.0f}% "
                           f"of folders, {100 * (v['interval_frame_coverage'] or 0):.0f}% of frames "
                           f"(folder interval width {v['interval_mean_width']:.3f})")
        return out
    if rep["part_a"]["folders"]:
        L += ["", "## Part A: real segmenters (true = pooled CTC SEG, predicted = qanet sequence score)", "",
              "| dataset | segmenter | frames | true SEG | predicted | error |", "|---|---|---|---|---|---|"]
        for r in rep["part_a"]["folders"]:
            L.append(f"| {r['dataset']} | {r['segmenter']} | {r['frames']} | {r['true']:.4f} | "
                     f"{fmt(r['predicted'])} | {fmt(r['error'], '+.4f')} |")
        L += [""] + summary_table(rep["part_a"]["summary"])
    if rep["part_b"]["folders"]:
        L += ["", "## Part B: error modes on the ground truth (per-frame means)", "",
              "| dataset | mode | frames | mean true | mean predicted | frame MAE |", "|---|---|---|---|---|---|"]
        for r in rep["part_b"]["modes"]:
            L.append(f"| {r['dataset']} | {r['mode']} | {r['frames_scored']} | {fmt(r['mean_true'])} | "
                     f"{fmt(r['mean_predicted'])} | {fmt(r['frame_mae'])} |")
        fam = rep["part_b"]["family_frame_mae"]
        fams = list(next(iter(fam.values())))
        L += ["", "Per-frame MAE per mode family:", "", "| scope | " + " | ".join(fams) + " |",
              "|" + "---|" * (len(fams) + 1)]
        for scope, v in fam.items():
            L.append(f"| {scope} | " + " | ".join(fmt(v[f]) for f in fams) + " |")
        L += [""] + summary_table(rep["part_b"]["summary"])
    if rep.get("part_c"):
        L += ["", "## Part C: the paper's Table 3 protocol on part A (`qanet compare`)", "",
              "Relative error |estimate - true| / true of qanet's prediction and of the cross-method baseline "
              "(the mean SEG of a segmenter measured against each other segmenter as the ground truth).", "",
              "| dataset | segmenter folder | true | qanet | baseline | qanet rel. err | baseline rel. err |",
              "|---|---|---|---|---|---|---|"]
        pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"
        for n, d in rep["part_c"].items():
            for r in d["folders"]:
                L.append(f"| {n} | {r['folder']} | {fmt(r['true'])} | {fmt(r['predicted'])} | {fmt(r['baseline'])} | "
                         f"{pct(r['qanet_relative_error'])} | {pct(r['baseline_relative_error'])} |")
        L.append("")
        for n, d in rep["part_c"].items():
            L.append(f"- {n}: qanet's relative error is below the baseline's for {d['qanet_better']} of "
                     f"{len(d['folders'])} folders (mean {pct(d['mean_qanet_relative_error'])} against "
                     f"{pct(d['mean_baseline_relative_error'])})")
    L += ["", f"Overall per-frame Pearson (parts A and B): {fmt(rep['overall_frame_pearson'], '.3f')}"]
    if rep["problems"]:
        L += ["", "## Problems reported by qanet", ""] + [f"- {p}" for p in rep["problems"]]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
