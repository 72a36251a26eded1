#pragma once
// BatchNorm<T>: per-channel normalisation of [N, C, spatial...] tensors (any Dim), as PyTorch's
// BatchNorm2d/3d: training uses the batch mean and biased variance and updates the running
// statistics with momentum 0.1 (running_var takes the unbiased variance); inference uses the
// running statistics. eps = 1e-5. Follows layer.hpp. Sums are accumulated in double.

#include <cmath>
#include <string>
#include <vector>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/layer.hpp"

namespace qanet::nn {

template <typename T>
class BatchNorm {
 public:
  BatchNorm() = default;
  explicit BatchNorm(Index channels, double momentum = 0.1, double eps = 1e-5) {
    configure(channels, momentum, eps);
  }
  void configure(Index channels, double momentum = 0.1, double eps = 1e-5) {
    c_ = channels;
    momentum_ = momentum;
    eps_ = eps;
    weight.reshape({c_});
    bias.reshape({c_});
    std::fill(weight.value.begin(), weight.value.end(), T(1));
    running_mean.reshape({c_}, T(0));
    running_var.reshape({c_}, T(1));
    mean_.assign(c_, 0);
    invstd_.assign(c_, 0);
  }
  Index channels() const { return c_; }
  double momentum() const { return momentum_; }
  double eps() const { return eps_; }
  Index param_count() const { return 2 * c_; }

  const Tensor<T>& forward(const Tensor<T>& x, Mode mode = Mode::train) {
    if (x.rank() < 2 || x.dim(1) != c_)
      throw InvalidArgument("BatchNorm: expected input [N, " + std::to_string(c_) + ", ...], got " +
                            x.shape().str());
    x_ = &x;
    mode_ = mode;
    const Index n = x.dim(0), s = x.shape().tail(2), m = n * s;
    if (mode == Mode::train && m < 2)
      throw InvalidArgument("BatchNorm: training needs more than one value per channel");
    y_.reshape(x.shape());
    parallel_for_each_index(c_, 1, [&](Index c) {
      double mean, var;
      if (mode == Mode::train) {
        double sum = 0;
        for (Index i = 0; i < n; ++i) {
          const T* p = x.data() + (i * c_ + c) * s;
          for (Index j = 0; j < s; ++j) sum += p[j];
        }
        mean = sum / m;
        double sq = 0;
        for (Index i = 0; i < n; ++i) {
          const T* p = x.data() + (i * c_ + c) * s;
          for (Index j = 0; j < s; ++j) {
            const double d = p[j] - mean;
            sq += d * d;
          }
        }
        var = sq / m;
        running_mean[c] = static_cast<T>((1 - momentum_) * running_mean[c] + momentum_ * mean);
        running_var[c] = static_cast<T>((1 - momentum_) * running_var[c] +
                                        momentum_ * sq / static_cast<double>(m - 1));
      } else {
        mean = running_mean[c];
        var = running_var[c];
      }
      mean_[c] = mean;
      invstd_[c] = 1.0 / std::sqrt(var + eps_);
      const T a = static_cast<T>(weight.value[c] * invstd_[c]);
      const T b = static_cast<T>(bias.value[c] - weight.value[c] * mean * invstd_[c]);
      for (Index i = 0; i < n; ++i) {
        const T* p = x.data() + (i * c_ + c) * s;
        T* q = y_.data() + (i * c_ + c) * s;
        for (Index j = 0; j < s; ++j) q[j] = a * p[j] + b;
      }
    });
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) {
    QANET_ASSERT(x_ != nullptr);
    require_shape(dy, y_.shape(), "BatchNorm::backward dy");
    const Tensor<T>& x = *x_;
    const Index n = x.dim(0), s = x.shape().tail(2), m = n * s;
    dx_.reshape(x.shape());
    parallel_for_each_index(c_, 1, [&](Index c) {
      const double mean = mean_[c], inv = invstd_[c];
      double sdy = 0, sdyx = 0;  // sum dy, sum dy * xhat
      for (Index i = 0; i < n; ++i) {
        const T* p = x.data() + (i * c_ + c) * s;
        const T* g = dy.data() + (i * c_ + c) * s;
        double a = 0, b = 0;
        for (Index j = 0; j < s; ++j) {
          a += g[j];
          b += g[j] * (p[j] - mean);
        }
        sdy += a;
        sdyx += b * inv;
      }
      weight.grad[c] += static_cast<T>(sdyx);
      bias.grad[c] += static_cast<T>(sdy);
      const double gamma = weight.value[c];
      // Training: dx = gamma*inv * (dy - mean(dy) - xhat * mean(dy*xhat)); inference: the
      // statistics are constants, dx = gamma*inv*dy.
      const double k = gamma * inv;
      const double mdy = mode_ == Mode::train ? sdy / m : 0.0;
      const double mdyx = mode_ == Mode::train ? sdyx / m : 0.0;
      const T ka = static_cast<T>(k), kb = static_cast<T>(-k * (mdy - mdyx * inv * mean)),
              kc = static_cast<T>(-k * mdyx * inv);
      for (Index i = 0; i < n; ++i) {
        const T* p = x.data() + (i * c_ + c) * s;
        const T* g = dy.data() + (i * c_ + c) * s;
        T* q = dx_.data() + (i * c_ + c) * s;
        for (Index j = 0; j < s; ++j) q[j] = ka * g[j] + kc * p[j] + kb;
      }
    });
    return dx_;
  }

  void params(const std::string& prefix, std::vector<ParamRef<T>>& out) {
    out.push_back({prefix + "weight", &weight.value, &weight.grad});
    out.push_back({prefix + "bias", &bias.value, &bias.grad});
  }
  void buffers(const std::string& prefix, std::vector<BufferRef<T>>& out) {
    out.push_back({prefix + "running_mean", &running_mean});
    out.push_back({prefix + "running_var", &running_var});
  }

  Parameter<T> weight, bias;
  Tensor<T> running_mean, running_var;

 private:
  Index c_ = 0;
  double momentum_ = 0.1, eps_ = 1e-5;
  Mode mode_ = Mode::train;
  const Tensor<T>* x_ = nullptr;
  std::vector<double> mean_, invstd_;
  Tensor<T> y_, dx_;
};

}  // namespace qanet::nn
