#pragma once
// Fused AdamW on the GPU: the update of nn::AdamW (nn/optim.hpp), same float arithmetic, in one
// kernel over a flat parameter buffer (cuda::Network::flat_values / flat_grads). nvcc only.

#include <cmath>

#include "qanet/cuda/layers.hpp"
#include "qanet/nn/optim.hpp"

namespace qanet::cuda {

class AdamW {
 public:
  AdamW(Context& ctx, DTensor& values, DTensor& grads, nn::AdamWOptions opt = {})
      : ctx_(&ctx), p_(&values), g_(&grads), opt_(opt) {
    if (values.numel() != grads.numel()) throw InvalidArgument("cuda::AdamW: values and gradients differ in size");
    m_.reshape({values.numel()});
    v_.reshape({values.numel()});
    m_.zero(ctx.stream());
    v_.zero(ctx.stream());
  }
  void set_lr(double lr) { opt_.lr = lr; }
  double lr() const { return opt_.lr; }
  long step_count() const { return t_; }
  // Optimiser state for checkpoints (flat, in the layout of the parameter buffer).
  DTensor& first_moments() { return m_; }
  DTensor& second_moments() { return v_; }
  void set_step_count(long t) { t_ = t; }

  void step() {
    ++t_;
    const double bc1 = 1 - std::pow(opt_.beta1, static_cast<double>(t_));
    const double bc2 = 1 - std::pow(opt_.beta2, static_cast<double>(t_));
    const i64 n = p_->numel();
    if (n == 0) return;
    detail::adamw_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx_->stream()>>>(
        p_->data(), g_->data(), m_.data(), v_.data(), n, static_cast<float>(1 - opt_.lr * opt_.weight_decay),
        static_cast<float>(opt_.beta1), static_cast<float>(opt_.beta2), static_cast<float>(opt_.lr / bc1),
        static_cast<float>(std::sqrt(bc2)), static_cast<float>(opt_.eps));
    QANET_CUDA_CHECK_LAUNCH();
  }

 private:
  Context* ctx_;
  DTensor* p_;
  DTensor* g_;
  nn::AdamWOptions opt_;
  DTensor m_, v_;
  long t_ = 0;
};

}  // namespace qanet::cuda
