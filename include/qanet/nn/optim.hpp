#pragma once
// AdamW in PyTorch's decoupled form, a cosine learning-rate schedule with linear warm-up and a
// floor, and gradient clipping by global norm.
//
// AdamW step t (1-based), for every parameter p with gradient g:
//   p <- p * (1 - lr * wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

#include <cmath>
#include <string>
#include <vector>

#include "qanet/nn/layer.hpp"

namespace qanet::nn {

struct AdamWOptions {
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
};

template <typename T>
class AdamW {
 public:
  AdamW(std::vector<ParamRef<T>> params, AdamWOptions opt = {}) : params_(std::move(params)), opt_(opt) {
    m_.resize(params_.size());
    v_.resize(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      m_[i].assign(static_cast<std::size_t>(params_[i].value->numel()), T(0));
      v_[i].assign(static_cast<std::size_t>(params_[i].value->numel()), T(0));
    }
  }
  void set_lr(double lr) { opt_.lr = lr; }
  double lr() const { return opt_.lr; }
  long step_count() const { return t_; }
  const AdamWOptions& options() const { return opt_; }
  // Optimiser state, for checkpoints that resume exactly: moments per parameter (in the
  // order of the parameter list) and the step count.
  std::vector<std::vector<T>>& first_moments() { return m_; }
  std::vector<std::vector<T>>& second_moments() { return v_; }
  const std::vector<std::vector<T>>& first_moments() const { return m_; }
  const std::vector<std::vector<T>>& second_moments() const { return v_; }
  void set_step_count(long t) { t_ = t; }

  void step() {
    ++t_;
    const double bc1 = 1 - std::pow(opt_.beta1, static_cast<double>(t_));
    const double bc2 = 1 - std::pow(opt_.beta2, static_cast<double>(t_));
    const T decay = static_cast<T>(1 - opt_.lr * opt_.weight_decay);
    const T b1 = static_cast<T>(opt_.beta1), b2 = static_cast<T>(opt_.beta2);
    const T step = static_cast<T>(opt_.lr / bc1), sbc2 = static_cast<T>(std::sqrt(bc2)), eps = static_cast<T>(opt_.eps);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      T* p = params_[k].value->data();
      const T* g = params_[k].grad->data();
      T* m = m_[k].data();
      T* v = v_[k].data();
      const Index n = params_[k].value->numel();
      for (Index i = 0; i < n; ++i) {
        p[i] *= decay;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (std::sqrt(v[i]) / sbc2 + eps);
      }
    }
  }

 private:
  std::vector<ParamRef<T>> params_;
  AdamWOptions opt_;
  std::vector<std::vector<T>> m_, v_;
  long t_ = 0;
};

// Learning rate at `step` (0-based) of `total` steps: linear warm-up from base/warmup to base
// over `warmup` steps, then cosine decay from base to `floor` at the last step.
inline double cosine_lr(long step, long total, long warmup, double base, double floor = 2e-8) {
  if (warmup > 0 && step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const long span = total - warmup;
  if (span <= 1) return base;
  const double t = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(span - 1));
  return floor + (base - floor) * 0.5 * (1 + std::cos(3.14159265358979323846 * t));
}

// Scales all gradients so that their global L2 norm is at most max_norm (as PyTorch's
// clip_grad_norm_). Returns the norm before clipping.
template <typename T>
double clip_grad_norm(const std::vector<ParamRef<T>>& params, double max_norm) {
  double s = 0;
  for (const auto& p : params)
    for (const T& g : *p.grad) s += static_cast<double>(g) * g;
  const double norm = std::sqrt(s);
  if (max_norm > 0 && norm > max_norm) {
    const T k = static_cast<T>(max_norm / (norm + 1e-6));
    for (const auto& p : params)
      for (T& g : *p.grad) g *= k;
  }
  return norm;
}

}  // namespace qanet::nn
