#!/usr/bin/env python3
"""simulator_stats.py -- the calibration statistics of docs/simulator.md, computed the same way
on any CTC-layout folders (real Fluo-N2DH-SIM+ and the output of `qanet simulate`).

Usage:
  python3 simulator_stats.py NAME=IMAGES_DIR:GT_SEG_DIR [NAME=...] [--markdown] [--png OUT.png]

Every statistic is a median (over cells or over frames, as named), with the 10th and 90th
percentiles. --png writes a side-by-side picture: a 300x300 (--png-size) window of the first frame of each
dataset, each stretched between its own 0.5 and 99.9 percentiles.
Needs numpy, scipy and Pillow (Debian's /usr/bin/python3).
"""
import argparse, glob, os, re, sys
import numpy as np
from scipy import ndimage as ndi
from PIL import Image


def load(path):
    return np.array(Image.open(path))


def pairs(img_dir, gt_dir):
    out = []
    for g in sorted(glob.glob(os.path.join(gt_dir, "man_seg*.tif"))):
        m = re.search(r"man_seg(\d+)\.tif$", g)
        if not m:
            continue
        i = os.path.join(img_dir, "t%s.tif" % m.group(1))
        if os.path.exists(i):
            out.append((i, g))
    return out


def frame_stats(img, gt):
    img = img.astype(np.float64)
    ids = np.unique(gt)
    ids = ids[ids > 0]
    st = {"cells/frame": len(ids), "cells per 100k px": len(ids) / gt.size * 1e5,
          "coverage (fg fraction)": float((gt > 0).mean())}
    far = ~ndi.binary_dilation(gt > 0, iterations=10)
    bg = np.median(img[far]) if far.any() else np.nan
    fg = np.median(img[gt > 0]) if len(ids) else np.nan
    st["background level"] = bg
    st["fg/bg intensity ratio"] = fg / bg
    # White-noise level: robust sd of horizontal differences far from cells, / sqrt(2).
    both = far[:, 1:] & far[:, :-1]
    d = (img[:, 1:] - img[:, :-1])[both]
    noise = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2) if d.size else np.nan
    st["noise sd (background)"] = noise
    st["SNR (fg-bg)/noise"] = (fg - bg) / noise
    cells = {"area (px, inner cells)": [], "elongation (axis ratio)": [], "touching a cell (fraction)": [],
             "gap to nearest cell (px)": [], "texture CV (inner cells)": [], "cell brightness / bg": []}
    objs = ndi.find_objects(gt)
    h, w = gt.shape
    for lab in ids:
        sl = objs[lab - 1]
        if sl is None:
            continue
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        m = gt[sl] == lab
        border = y0 == 0 or x0 == 0 or y1 == h or x1 == w
        vals = img[sl][m]
        cells["cell brightness / bg"].append(vals.mean() / bg)
        if not border:
            cells["area (px, inner cells)"].append(m.sum())
            yy, xx = np.nonzero(m)
            if len(yy) > 2:
                ev = np.sort(np.linalg.eigvalsh(np.cov(np.stack([yy, xx]))))
                cells["elongation (axis ratio)"].append(np.sqrt(ev[1] / max(ev[0], 1e-9)))
            inner = ndi.binary_erosion(m, iterations=3)
            if inner.sum() > 10:
                v = img[sl][inner] - bg
                cells["texture CV (inner cells)"].append(v.std() / max(v.mean(), 1e-9))
        # Distance from this cell to the nearest other cell, inside a window of 40 px.
        P = 40
        Y0, Y1, X0, X1 = max(0, y0 - P), min(h, y1 + P), max(0, x0 - P), min(w, x1 + P)
        win = gt[Y0:Y1, X0:X1]
        others = (win > 0) & (win != lab)
        if others.any():
            dist = ndi.distance_transform_edt(~others)
            gap = dist[win == lab].min() - 1.0
        else:
            gap = float(P)
        cells["gap to nearest cell (px)"].append(min(gap, P))
        cells["touching a cell (fraction)"].append(1.0 if gap <= 0.0 else 0.0)
    return st, cells


def dataset_stats(img_dir, gt_dir):
    frames, cells = {}, {}
    ps = pairs(img_dir, gt_dir)
    if not ps:
        sys.exit("no tTTT.tif / man_segTTT.tif pairs in %s, %s" % (img_dir, gt_dir))
    for i, g in ps:
        st, ce = frame_stats(load(i), load(g).astype(np.int64))
        for k, v in st.items():
            frames.setdefault(k, []).append(v)
        for k, v in ce.items():
            cells.setdefault(k, []).extend(v)
    out = {}
    for k, v in list(frames.items()) + list(cells.items()):
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        if k == "touching a cell (fraction)":
            out[k] = (v.mean(), v.mean(), v.mean()) if v.size else (np.nan,) * 3
        else:
            out[k] = tuple(np.percentile(v, [50, 10, 90])) if v.size else (np.nan,) * 3
    out["frames"] = (len(ps),) * 3
    return out, ps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+", help="NAME=IMAGES_DIR:GT_SEG_DIR")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--png")
    ap.add_argument("--png-size", type=int, default=300, help="edge of each window in the picture")
    a = ap.parse_args()
    names, results, firsts = [], [], []
    for d in a.datasets:
        name, dirs = d.split("=", 1)
        img_dir, gt_dir = dirs.split(":", 1)
        r, ps = dataset_stats(img_dir, gt_dir)
        names.append(name)
        results.append(r)
        firsts.append(ps[0][0])
    keys = list(results[0].keys())
    if a.markdown:
        hdr = "| statistic | " + " | ".join("%s median (p10-p90)" % n for n in names)
        if len(names) == 2:
            hdr += " | %s / %s |" % (names[1], names[0])
        else:
            hdr += " |"
        print(hdr)
        print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
    for k in keys:
        cols = []
        for r in results:
            m, lo, hi = r[k]
            cols.append("%.3g" % m if k in ("frames", "touching a cell (fraction)") else "%.3g (%.3g-%.3g)" % (m, lo, hi))
        ratio = ""
        if len(names) == 2 and results[0][k][0] not in (0,) and np.isfinite(results[0][k][0]):
            ratio = "%.2f" % (results[1][k][0] / results[0][k][0]) if results[0][k][0] else "-"
        if a.markdown:
            print("| %s | %s |%s" % (k, " | ".join(cols), (" %s |" % ratio) if len(names) == 2 else ""))
        else:
            print("%-28s %s %s" % (k, "  ".join("%-26s" % c for c in cols), ratio))
    if a.png:
        tiles = []
        for f in firsts:
            im = load(f).astype(np.float64)
            if im.ndim == 3:
                im = im[im.shape[0] // 2]
            im = im[:a.png_size, :a.png_size]
            lo, hi = np.percentile(im, [0.5, 99.9])
            tiles.append(np.clip((im - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8))
        hmax = max(t.shape[0] for t in tiles)
        gap = np.full((hmax, 8), 255, np.uint8)
        row = []
        for t in tiles:
            pad = np.zeros((hmax, t.shape[1]), np.uint8)
            pad[:t.shape[0]] = t
            row += [pad, gap]
        Image.fromarray(np.concatenate(row[:-1], axis=1)).save(a.png, optimize=True)


if __name__ == "__main__":
    main()
