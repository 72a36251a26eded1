#pragma once
// Finite-difference gradient check (central differences, double precision) for any layer or
// model: the caller computes analytic gradients with backward, then gradient_check perturbs
// each element of each listed tensor by +-eps, re-evaluates the scalar loss and compares.

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "qanet/nn/layer.hpp"

namespace qanet::nn {

struct GradCheckResult {
  std::string name;
  Index checked = 0;        // elements compared
  double analytic_norm = 0;  // ||a|| over the checked elements
  double numeric_norm = 0;   // ||n||
  double abs_error = 0;      // ||a - n||
  // ||a - n|| / max(||a||, ||n||); 0 when both vanish.
  double rel_error() const {
    const double d = std::max(analytic_norm, numeric_norm);
    return d > 0 ? abs_error / d : 0.0;
  }
};

// loss(): runs forward on the current tensor values and returns the scalar loss.
// tensors: (name, value, analytic gradient). At most max_elements per tensor are checked,
// spread evenly (0 = all). Values are restored afterwards.
inline std::vector<GradCheckResult> gradient_check(const std::function<double()>& loss,
                                                   const std::vector<ParamRef<double>>& tensors,
                                                   double eps = 1e-6, Index max_elements = 0) {
  std::vector<GradCheckResult> out;
  for (const auto& t : tensors) {
    GradCheckResult r;
    r.name = t.name;
    const Index n = t.value->numel();
    const Index step = (max_elements > 0 && n > max_elements) ? (n + max_elements - 1) / max_elements : 1;
    double aa = 0, nn = 0, ee = 0;
    for (Index i = 0; i < n; i += step) {
      double& v = (*t.value)[i];
      const double saved = v;
      v = saved + eps;
      const double lp = loss();
      v = saved - eps;
      const double lm = loss();
      v = saved;
      const double num = (lp - lm) / (2 * eps), ana = (*t.grad)[i];
      aa += ana * ana;
      nn += num * num;
      ee += (ana - num) * (ana - num);
      ++r.checked;
    }
    r.analytic_norm = std::sqrt(aa);
    r.numeric_norm = std::sqrt(nn);
    r.abs_error = std::sqrt(ee);
    out.push_back(r);
  }
  return out;
}

}  // namespace qanet::nn
