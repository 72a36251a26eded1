#pragma once
// Minimal SVG plots for reports (predicted against true scores, hit-rate curves, training
// curves): text files any browser shows, no plotting dependency.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"

namespace qanet {

struct PlotSeries {
  std::vector<double> x, y;
  std::string label;
  std::string color = "#1f77b4";
  bool line = false;  // false: markers
};

struct PlotOptions {
  std::string title, x_label, y_label;
  double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;  // NAN: from the data
  bool diagonal = false;  // draw y = x (perfect prediction)
  int width = 520, height = 440;
};

namespace detail {
// Text for SVG and HTML pages, in elements and in quoted attributes.
inline std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}
inline std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}
}  // namespace detail

inline std::string svg_plot(const std::vector<PlotSeries>& series, PlotOptions opt) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    if (s.x.size() != s.y.size()) throw InvalidArgument("svg_plot: x and y differ in length");
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!std::isnan(opt.x_min)) x0 = opt.x_min;
  if (!std::isnan(opt.x_max)) x1 = opt.x_max;
  if (!std::isnan(opt.y_min)) y0 = opt.y_min;
  if (!std::isnan(opt.y_max)) y1 = opt.y_max;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double L = 64, R = 16, T = 36, B = 48;
  const double W = opt.width - L - R, H = opt.height - T - B;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * W; };
  auto py = [&](double y) { return T + H - (y - y0) / (y1 - y0) * H; };
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(opt.width) +
                  "\" height=\"" + std::to_string(opt.height) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + detail::num(L + W / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" +
       detail::xml_escape(opt.title) + "</text>\n";
  for (int k = 0; k <= 5; ++k) {  // grid and ticks
    const double xv = x0 + (x1 - x0) * k / 5, yv = y0 + (y1 - y0) * k / 5;
    o += "<line x1=\"" + detail::num(px(xv)) + "\" y1=\"" + detail::num(T) + "\" x2=\"" + detail::num(px(xv)) +
         "\" y2=\"" + detail::num(T + H) + "\" stroke=\"#eee\"/>\n";
    o += "<line x1=\"" + detail::num(L) + "\" y1=\"" + detail::num(py(yv)) + "\" x2=\"" + detail::num(L + W) +
         "\" y2=\"" + detail::num(py(yv)) + "\" stroke=\"#eee\"/>\n";
    o += "<text x=\"" + detail::num(px(xv)) + "\" y=\"" + detail::num(T + H + 16) + "\" text-anchor=\"middle\">" +
         detail::num(xv) + "</text>\n";
    o += "<text x=\"" + detail::num(L - 6) + "\" y=\"" + detail::num(py(yv) + 4) + "\" text-anchor=\"end\">" +
         detail::num(yv) + "</text>\n";
  }
  o += "<rect x=\"" + detail::num(L) + "\" y=\"" + detail::num(T) + "\" width=\"" + detail::num(W) + "\" height=\"" +
       detail::num(H) + "\" fill=\"none\" stroke=\"black\"/>\n";
  if (opt.diagonal) {
    const double a = std::max(x0, y0), b = std::min(x1, y1);
    if (b > a)
      o += "<line x1=\"" + detail::num(px(a)) + "\" y1=\"" + detail::num(py(a)) + "\" x2=\"" + detail::num(px(b)) +
           "\" y2=\"" + detail::num(py(b)) + "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n";
  }
  int legend = 0;
  for (const auto& s : series) {
    if (s.line) {
      std::string pts;
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts += detail::num(px(s.x[i])) + "," + detail::num(py(s.y[i])) + " ";
      o += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
    } else {
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
          o += "<circle cx=\"" + detail::num(px(s.x[i])) + "\" cy=\"" + detail::num(py(s.y[i])) + "\" r=\"2.2\" fill=\"" +
               s.color + "\" fill-opacity=\"0.6\"/>\n";
    }
    if (!s.label.empty()) {
      const double ly = T + 14 + 16 * legend++;
      o += "<rect x=\"" + detail::num(L + 8) + "\" y=\"" + detail::num(ly - 9) + "\" width=\"10\" height=\"10\" fill=\"" +
           s.color + "\"/><text x=\"" + detail::num(L + 22) + "\" y=\"" + detail::num(ly) + "\">" +
           detail::xml_escape(s.label) + "</text>\n";
    }
  }
  o += "<text x=\"" + detail::num(L + W / 2) + "\" y=\"" + detail::num(opt.height - 10) + "\" text-anchor=\"middle\">" +
       detail::xml_escape(opt.x_label) + "</text>\n";
  o += "<text transform=\"translate(16," + detail::num(T + H / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       detail::xml_escape(opt.y_label) + "</text>\n</svg>\n";
  return o;
}

}  // namespace qanet
