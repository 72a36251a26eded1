#pragma once
// Element-wise activations: LeakyReLU (negative slope 0.01 by default) and ReLU (slope 0).
// Follows layer.hpp.

#include <string>
#include <vector>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/layer.hpp"

namespace qanet::nn {

template <typename T>
class LeakyRelu {
 public:
  explicit LeakyRelu(double negative_slope = 0.01) : slope_(static_cast<T>(negative_slope)) {}

  const Tensor<T>& forward(const Tensor<T>& x, Mode = Mode::train) {
    x_ = &x;
    y_.reshape(x.shape());
    const T s = slope_;
    parallel_chunks(x.numel(), 1 << 15, [&](Index b, Index e) {
      const T* p = x.data();
      T* q = y_.data();
      for (Index i = b; i < e; ++i) q[i] = p[i] > T(0) ? p[i] : s * p[i];
    });
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) {
    QANET_ASSERT(x_ != nullptr);
    require_shape(dy, y_.shape(), "LeakyRelu::backward dy");
    dx_.reshape(dy.shape());
    const T s = slope_;
    parallel_chunks(dy.numel(), 1 << 15, [&](Index b, Index e) {
      const T* p = x_->data();
      const T* g = dy.data();
      T* q = dx_.data();
      for (Index i = b; i < e; ++i) q[i] = p[i] > T(0) ? g[i] : s * g[i];
    });
    return dx_;
  }
  void params(const std::string&, std::vector<ParamRef<T>>&) {}
  void buffers(const std::string&, std::vector<BufferRef<T>>&) {}

 private:
  T slope_;
  const Tensor<T>* x_ = nullptr;
  Tensor<T> y_, dx_;
};

template <typename T>
class Relu : public LeakyRelu<T> {
 public:
  Relu() : LeakyRelu<T>(0.0) {}
};

}  // namespace qanet::nn
