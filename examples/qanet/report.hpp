#pragma once
// The triage report of `qanet score --report DIR`: one self-contained HTML page (pictures
// embedded as data URIs, plots as inline SVG) that a person reviews before analysis. Frames,
// patches and objects ranked from worst to best, overlays of the worst frames, the scores over
// the sequence, and the items flagged below a threshold.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "heatmap.hpp"
#include "qanet/io.hpp"
#include "qanet/io/svg_plot.hpp"
#include "sequence_score.hpp"

namespace qanet::cli {

struct ReportSettings {
  std::string model, object_model, metric;
  bool higher_is_better = true;
  double sequence_score = 0;
  std::string sequence_interval;  // "[low, high]" or empty
  std::function<std::string(double)> interval;  // of a frame score, "" without intervals
  double flag_below = NAN;        // NaN: nothing flagged
  std::size_t overlays = 6;       // worst frames shown as pictures
  std::size_t rows = 50;          // worst patches and objects listed
  int picture_edge = 512;         // pictures are shrunk to at most this many px
};

namespace detail {

inline std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                            (i + 1 < bytes.size() ? std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8 : 0) |
                            (i + 2 < bytes.size() ? std::uint32_t{static_cast<unsigned char>(bytes[i + 2])} : 0);
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? digits[n & 63] : '=';
  }
  return out;
}

inline std::string fixed(double v, int digits = 4) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// `p` shrunk by an integer step (nearest sample) so that no edge exceeds `edge`, as an <img>.
inline std::string embedded_picture(const RgbPicture& p, int edge, const std::string& alt) {
  const int step = std::max(1, (std::max(p.width, p.height) + edge - 1) / edge);
  const int w = (p.width + step - 1) / step, h = (p.height + step - 1) / step;
  std::vector<std::uint8_t> small(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        small[(static_cast<std::size_t>(y) * w + x) * 3 + c] =
            p.pixels[(static_cast<std::size_t>(y) * step * p.width + static_cast<std::size_t>(x) * step) * 3 + c];
  return "<img alt=\"" + qanet::detail::xml_escape(alt) + "\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) +
         "\" src=\"data:image/png;base64," + base64(encode_png(small, w, h, 3)) + "\">";
}

template <int Dim>
const Assessment<Dim>& assessment_of(const FrameScore& f) {
  if constexpr (Dim == 2) return *f.a2;
  else return *f.a3;
}
template <int Dim>
const std::vector<ObjectScore<Dim>>& objects_of(const FrameScore& f) {
  if constexpr (Dim == 2) return f.objects2;
  else return f.objects3;
}

template <std::size_t N>
std::string coords(const std::array<Index, N>& a) {
  std::string s;
  for (std::size_t k = 0; k < N; ++k) s += (k ? ", " : "") + std::to_string(a[k]);
  return s;
}
template <std::size_t N>
std::string coords(const std::array<double, N>& a) {
  std::string s;
  for (std::size_t k = 0; k < N; ++k) s += (k ? ", " : "") + fixed(a[k], 1);
  return s;
}

}  // namespace detail

// Writes DIR/index.html (atomically) for the scored `frames` (those that failed are listed with
// their reason). Per-object columns and pictures appear when the frames carry object scores.
template <int Dim>
void write_report(const std::filesystem::path& dir, const std::vector<FrameScore>& frames, const ReportSettings& s) {
  using detail::fixed;
  using qanet::detail::xml_escape;
  const bool hib = s.higher_is_better;
  auto worse = [&](double a, double b) { return hib ? a < b : a > b; };
  auto flagged = [&](double v, bool unit) {
    return !std::isnan(s.flag_below) && (unit || hib ? v < s.flag_below : v > s.flag_below);
  };
  std::vector<const FrameScore*> ranked;
  for (const auto& f : frames)
    if (f.ok()) ranked.push_back(&f);
  std::stable_sort(ranked.begin(), ranked.end(), [&](auto* a, auto* b) { return worse(a->score(), b->score()); });
  bool per_object = false;
  for (const auto* f : ranked) per_object = per_object || !detail::objects_of<Dim>(*f).empty();

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>qanet triage report</title>\n"
                  "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
                  "margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}"
                  "td.l{text-align:left}tr.flag td{background:#fdd}figure{display:inline-block;margin:0.5em}"
                  "figcaption{font-size:90%}</style></head><body>\n";
  std::size_t n_flag_frames = 0, n_objects = 0, n_flag_objects = 0;
  for (const auto* f : ranked) {
    n_flag_frames += flagged(f->score(), false);
    for (const auto& o : detail::objects_of<Dim>(*f)) ++n_objects, n_flag_objects += flagged(o.score, true);
  }
  h += "<h1>Segmentation quality: triage report</h1>\n<p>Predicted " + xml_escape(s.metric) + " (model <code>" +
       xml_escape(s.model) + "</code>) of " + std::to_string(ranked.size()) + " frames" +
       (ranked.size() < frames.size() ? " (" + std::to_string(frames.size() - ranked.size()) + " not scored)" : "") +
       ". Sequence score (object-weighted): <b>" + fixed(s.sequence_score) + "</b> " + xml_escape(s.sequence_interval) +
       ".</p>\n";
  if (per_object)
    h += "<p>Per-object predicted IoU with the true cell (model <code>" + xml_escape(s.object_model) + "</code>): " +
         std::to_string(n_objects) + " objects.</p>\n";
  if (!std::isnan(s.flag_below))
    h += "<p class=\"flags\">Flagged (" + std::string(hib ? "below " : "above ") + fixed(s.flag_below, 3) +
         "): <b>" + std::to_string(n_flag_frames) + " frames</b>" +
         (per_object ? ", <b>" + std::to_string(n_flag_objects) + " objects</b> (IoU below " + fixed(s.flag_below, 3) + ")" : "") +
         "; their rows are red.</p>\n";

  // Scores over the sequence, and the distribution of object scores.
  PlotSeries pts{{}, {}, "frame score", "#1f77b4", false};
  for (const auto& f : frames)
    if (f.ok()) pts.x.push_back(f.frame), pts.y.push_back(f.score());
  std::vector<PlotSeries> series{pts};
  if (!std::isnan(s.flag_below) && !pts.x.empty()) {
    const auto [lo, hi] = std::minmax_element(pts.x.begin(), pts.x.end());
    series.push_back({{*lo, *hi}, {s.flag_below, s.flag_below}, "flag threshold", "#d62728", true});
  }
  PlotOptions po;
  po.title = "Predicted " + s.metric + " over the sequence";
  po.x_label = "frame";
  po.y_label = "predicted " + s.metric;
  if (hib) po.y_min = 0, po.y_max = 1;
  h += "<h2>Scores over the sequence</h2>\n" + svg_plot(series, po) + "\n";
  if (per_object) {
    PlotSeries hist{{}, {}, "objects", "#2ca02c", true};
    std::vector<double> counts(20, 0.0);
    for (const auto* f : ranked)
      for (const auto& o : detail::objects_of<Dim>(*f))
        counts[static_cast<std::size_t>(std::clamp(static_cast<int>(o.score * 20), 0, 19))] += 1;
    for (int b = 0; b < 20; ++b)  // a step outline of the histogram
      for (double x : {b / 20.0, (b + 1) / 20.0}) hist.x.push_back(x), hist.y.push_back(counts[b]);
    PlotOptions ho;
    ho.title = "Objects by predicted IoU (bins of 0.05)";
    ho.x_label = "predicted IoU";
    ho.y_label = "objects";
    ho.x_min = 0, ho.x_max = 1, ho.y_min = 0;
    h += svg_plot({hist}, ho) + "\n";
  }

  // The worst frames as pictures.
  h += "<h2>The worst frames</h2>\n<p>Left: each pixel tinted by the scores of the patches covering it; right: each "
       "object by its own predicted IoU (red poor, yellow middling, green good); mask outlines white.</p>\n";
  for (std::size_t k = 0; k < std::min(s.overlays, ranked.size()); ++k) {
    const FrameScore& f = *ranked[k];
    const auto image = read_tiff_as<float, Dim>(f.image);
    const auto mask = read_labels<Dim>(f.mask);
    const std::string cap = "frame " + std::to_string(f.frame) + ": " + fixed(f.score());
    h += "<div><figure>" + detail::embedded_picture(patch_overlay(image, mask, detail::assessment_of<Dim>(f), hib),
                                                    s.picture_edge, cap) +
         "<figcaption>" + xml_escape(cap + " (" + f.mask.filename().string() + "), patches") + "</figcaption></figure>";
    if (per_object)
      h += "<figure>" +
           detail::embedded_picture(object_overlay(image, mask, detail::objects_of<Dim>(f)), s.picture_edge, cap) +
           "<figcaption>objects</figcaption></figure>";
    h += "</div>\n";
  }

  // Frames, worst first.
  h += "<h2>Frames, worst first</h2>\n<table id=\"frames\"><tr><th>rank</th><th>frame</th><th>" + xml_escape(s.metric) +
       "</th><th>interval</th><th>objects</th><th class=\"l\">mask</th></tr>\n";
  for (std::size_t k = 0; k < ranked.size(); ++k) {
    const FrameScore& f = *ranked[k];
    h += std::string("<tr") + (flagged(f.score(), false) ? " class=\"flag\"" : "") + "><td>" + std::to_string(k + 1) +
         "</td><td>" + std::to_string(f.frame) + "</td><td>" + fixed(f.score()) + "</td><td>" +
         xml_escape(s.interval ? s.interval(f.score()) : "") + "</td><td>" + std::to_string(f.objects()) +
         "</td><td class=\"l\">" + xml_escape(f.mask.string()) + "</td></tr>\n";
  }
  for (const auto& f : frames)
    if (!f.ok())
      h += "<tr><td>-</td><td>" + std::to_string(f.frame) + "</td><td>-</td><td></td><td>0</td><td class=\"l\">" +
           xml_escape(f.mask.string() + ": " + f.error) + "</td></tr>\n";
  h += "</table>\n";

  // Patches (tiles), worst first.
  struct Tile {
    const FrameScore* f;
    const PatchScore<Dim>* p;
  };
  std::vector<Tile> tiles;
  for (const auto* f : ranked)
    for (const auto& p : detail::assessment_of<Dim>(*f).patches) tiles.push_back({f, &p});
  std::stable_sort(tiles.begin(), tiles.end(), [&](const Tile& a, const Tile& b) { return worse(a.p->score, b.p->score); });
  h += "<h2>Patches, worst first</h2>\n<p>The " + std::to_string(std::min(s.rows, tiles.size())) + " worst of " +
       std::to_string(tiles.size()) + " patches (origin and size in the image's pixels, numpy order).</p>\n"
       "<table id=\"patches\"><tr><th>rank</th><th>frame</th><th>origin</th><th>size</th><th>" + xml_escape(s.metric) +
       "</th><th>objects</th></tr>\n";
  for (std::size_t k = 0; k < std::min(s.rows, tiles.size()); ++k)
    h += std::string("<tr") + (flagged(tiles[k].p->score, false) ? " class=\"flag\"" : "") + "><td>" +
         std::to_string(k + 1) + "</td><td>" + std::to_string(tiles[k].f->frame) + "</td><td>" +
         detail::coords(tiles[k].p->origin) + "</td><td>" + detail::coords(tiles[k].p->size) + "</td><td>" +
         fixed(tiles[k].p->score) + "</td><td>" + std::to_string(tiles[k].p->objects) + "</td></tr>\n";
  h += "</table>\n";

  if (per_object) {
    struct Obj {
      const FrameScore* f;
      const ObjectScore<Dim>* o;
    };
    std::vector<Obj> objs;
    for (const auto* f : ranked)
      for (const auto& o : detail::objects_of<Dim>(*f)) objs.push_back({f, &o});
    std::stable_sort(objs.begin(), objs.end(), [](const Obj& a, const Obj& b) { return a.o->score < b.o->score; });
    h += "<h2>Objects, worst first</h2>\n<p>The " + std::to_string(std::min(s.rows, objs.size())) + " worst of " +
         std::to_string(objs.size()) + " objects.</p>\n<table id=\"objects\"><tr><th>rank</th><th>frame</th>"
         "<th>label</th><th>centroid</th><th>voxels</th><th>predicted IoU</th></tr>\n";
    for (std::size_t k = 0; k < std::min(s.rows, objs.size()); ++k)
      h += std::string("<tr") + (flagged(objs[k].o->score, true) ? " class=\"flag\"" : "") + "><td>" +
           std::to_string(k + 1) + "</td><td>" + std::to_string(objs[k].f->frame) + "</td><td>" +
           std::to_string(objs[k].o->label) + "</td><td>" + detail::coords(objs[k].o->centroid) + "</td><td>" +
           std::to_string(objs[k].o->voxels) + "</td><td>" + fixed(objs[k].o->score) + "</td></tr>\n";
    h += "</table>\n";
  }
  h += "</body></html>\n";
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "index.html", h);
}

}  // namespace qanet::cli
