#pragma once
// Concat<T>: channel concatenation of tensors with equal N and spatial extents; backward splits
// dy into one gradient per input. Same contract as layer.hpp with several inputs.

#include <initializer_list>
#include <string>
#include <vector>

#include "qanet/nn/layer.hpp"

namespace qanet::nn {

template <typename T>
class Concat {
 public:
  // An initializer list, so that calls do not allocate.
  const Tensor<T>& forward(std::initializer_list<const Tensor<T>*> xs) {
    if (xs.size() == 0) throw InvalidArgument("Concat: no inputs");
    const TensorShape& s0 = (*xs.begin())->shape();
    TensorShape s = s0;
    s.dims[1] = 0;
    shapes_.clear();
    for (const Tensor<T>* x : xs) {
      TensorShape a = x->shape(), b = s0;
      a.dims[1] = b.dims[1] = 0;
      if (a != b) throw InvalidArgument("Concat: inputs " + s0.str() + " and " + x->shape().str() + " differ outside the channel axis");
      s.dims[1] += x->dim(1);
      shapes_.push_back(x->shape());
    }
    y_.reshape(s);
    const Index n = s[0], sp = s.tail(2);
    for (Index i = 0; i < n; ++i) {
      T* dst = y_.data() + i * s[1] * sp;
      for (const Tensor<T>* x : xs) {
        const Index block = x->dim(1) * sp;
        std::copy(x->data() + i * block, x->data() + (i + 1) * block, dst);
        dst += block;
      }
    }
    return y_;
  }
  // dx[k] has the shape of input k.
  const std::vector<Tensor<T>>& backward(const Tensor<T>& dy) {
    require_shape(dy, y_.shape(), "Concat::backward dy");
    dx_.resize(shapes_.size());
    const Index n = y_.dim(0), sp = y_.shape().tail(2);
    for (std::size_t k = 0; k < shapes_.size(); ++k) dx_[k].reshape(shapes_[k]);
    for (Index i = 0; i < n; ++i) {
      const T* src = dy.data() + i * y_.dim(1) * sp;
      for (std::size_t k = 0; k < shapes_.size(); ++k) {
        const Index block = shapes_[k][1] * sp;
        std::copy(src, src + block, dx_[k].data() + i * block);
        src += block;
      }
    }
    return dx_;
  }

 private:
  std::vector<TensorShape> shapes_;
  Tensor<T> y_;
  std::vector<Tensor<T>> dx_;
};

}  // namespace qanet::nn
