#pragma once
// Mean squared error over all elements (PyTorch's MSELoss with reduction 'mean').

#include "qanet/nn/tensor.hpp"

namespace qanet::nn {

template <typename T>
class MseLoss {
 public:
  // Returns mean((prediction - target)^2); keeps the gradient for backward().
  double forward(const Tensor<T>& prediction, const Tensor<T>& target) {
    if (prediction.numel() != target.numel() || prediction.numel() == 0)
      throw InvalidArgument("MseLoss: prediction " + prediction.shape().str() + " and target " +
                            target.shape().str() + " differ in size");
    grad_.reshape(prediction.shape());
    const Index n = prediction.numel();
    double s = 0;
    for (Index i = 0; i < n; ++i) {
      const double d = static_cast<double>(prediction[i]) - static_cast<double>(target[i]);
      s += d * d;
      grad_[i] = static_cast<T>(2.0 * d / n);
    }
    return s / n;
  }
  // d loss / d prediction.
  const Tensor<T>& backward() const { return grad_; }

 private:
  Tensor<T> grad_;
};

}  // namespace qanet::nn
