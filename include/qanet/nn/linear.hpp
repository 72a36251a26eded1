#pragma once
// Linear<T>: fully connected layer y = x W^T + b on [N, in] -> [N, out]; weight [out, in] as in
// PyTorch. Follows layer.hpp.

#include <string>
#include <vector>

#include "qanet/nn/detail/eigen.hpp"

#include "qanet/nn/layer.hpp"

namespace qanet::nn {

template <typename T>
class Linear : public WeightAndBias<T> {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

 public:
  using WeightAndBias<T>::weight;
  using WeightAndBias<T>::bias;
  Linear() = default;
  Linear(Index in_features, Index out_features) { configure(in_features, out_features); }
  void configure(Index in_features, Index out_features) {
    if (in_features < 1 || out_features < 1) throw InvalidArgument("Linear: sizes must be positive");
    in_ = in_features;
    out_ = out_features;
    weight.reshape({out_, in_});
    bias.reshape({out_});
  }
  Index in_features() const { return in_; }
  Index out_features() const { return out_; }
  Index param_count() const { return out_ * in_ + out_; }

  const Tensor<T>& forward(const Tensor<T>& x, Mode = Mode::train) {
    if (x.rank() != 2 || x.dim(1) != in_)
      throw InvalidArgument("Linear: expected input [N, " + std::to_string(in_) + "], got " + x.shape().str());
    x_ = &x;
    const Index n = x.dim(0);
    y_.reshape({n, out_});
    Eigen::Map<const Mat> X(x.data(), n, in_), W(weight.value.data(), out_, in_);
    Eigen::Map<Mat> Y(y_.data(), n, out_);
    Y.noalias() = X * W.transpose();
    Y.rowwise() += Eigen::Map<const Vec>(bias.value.data(), out_).transpose();
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) {
    QANET_ASSERT(x_ != nullptr);
    require_shape(dy, y_.shape(), "Linear::backward dy");
    const Index n = x_->dim(0);
    Eigen::Map<const Mat> X(x_->data(), n, in_), W(weight.value.data(), out_, in_), G(dy.data(), n, out_);
    Eigen::Map<Mat>(weight.grad.data(), out_, in_).noalias() += G.transpose() * X;
    // The bias gradient is summed over the batch in a fixed order. Eigen's colwise().sum() would
    // evaluate the destination's unaligned head coefficient by coefficient and the rest by
    // packets, which sum in another order: the bits would depend on where the allocator put
    // bias.grad (the cause of runs that differed with the heap's history).
    for (Index o = 0; o < out_; ++o) {
      T s = 0;
      for (Index i = 0; i < n; ++i) s += dy[i * out_ + o];
      bias.grad[o] += s;
    }
    dx_.reshape(x_->shape());
    Eigen::Map<Mat>(dx_.data(), n, in_).noalias() = G * W;
    return dx_;
  }

 private:
  Index in_ = 0, out_ = 0;
  const Tensor<T>* x_ = nullptr;
  Tensor<T> y_, dx_;
};

}  // namespace qanet::nn
