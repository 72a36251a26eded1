#pragma once
// Block<T, Dim>: conv 3x3(x3) with bias -> BatchNorm -> LeakyReLU(0.01) -> max-pool 2 (floor),
// the unit of every stream (SPEC §4). Follows layer.hpp; parameter names "{prefix}conv.weight",
// "{prefix}bn.running_mean", ... as in the model file.
//
// BatchNorm, LeakyReLU and max-pooling run fused (detail::bn_act_pool_*): one pass computes the
// pooled output and argmax straight from the convolution output z, and backward writes dz
// directly, so neither the normalised nor the activated tensor is ever stored. The result is
// the same as chaining BatchNorm, LeakyRelu and MaxPool (a test compares both): LeakyReLU is
// increasing, so pooling after it picks the same element as pooling before it.

#include <string>
#include <vector>

#include "qanet/nn/batchnorm.hpp"
#include "qanet/nn/conv.hpp"
#include "qanet/nn/detail/bn_act_pool.hpp"

namespace qanet::nn {

template <typename T, int Dim>
class Block {
 public:
  static constexpr double negative_slope = 0.01;
  Block() = default;
  Block(Index in_channels, Index out_channels, Index pad) : conv(in_channels, out_channels, pad), bn(out_channels) {}

  const Tensor<T>& forward(const Tensor<T>& x, Mode mode = Mode::train) {
    const Tensor<T>& z = conv.forward(x, mode);
    mode_ = mode;
    predicted_ = false;
    detail::bn_act_pool_forward<T, Dim>(z, mode == Mode::train, bn, static_cast<T>(negative_slope), stats_, y_, arg_);
    return y_;
  }
  // Inference keeping no state for a backward pass: the convolution output goes to `z`, a
  // buffer the caller shares between blocks, and no argmax is kept. The output is the same as
  // forward(x, Mode::infer) gives; backward() must not follow.
  const Tensor<T>& predict(const Tensor<T>& x, Tensor<T>& z) {
    conv.predict(x, z);
    predicted_ = true;
    detail::bn_act_pool_predict<T, Dim>(z, bn, static_cast<T>(negative_slope), y_);
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) {
    if (predicted_) throw InvalidArgument("Block::backward: the last pass was predict(), which keeps no state");
    require_shape(dy, y_.shape(), "Block::backward dy");
    const Tensor<T>& z = conv.output();
    detail::bn_act_pool_backward<T, Dim>(z, dy, mode_ == Mode::train, bn, static_cast<T>(negative_slope), stats_, arg_, dz_);
    return conv.backward(dz_);
  }
  void params(const std::string& prefix, std::vector<ParamRef<T>>& out) {
    conv.params(prefix + "conv.", out);
    bn.params(prefix + "bn.", out);
  }
  void buffers(const std::string& prefix, std::vector<BufferRef<T>>& out) { bn.buffers(prefix + "bn.", out); }
  Index param_count() const { return conv.param_count() + bn.param_count(); }

  Conv<T, Dim> conv;
  BatchNorm<T> bn;  // holds the parameters and running statistics; its own forward is not used

 private:
  Mode mode_ = Mode::train;
  bool predicted_ = false;
  detail::BnStats stats_;
  std::vector<std::int32_t> arg_;
  Tensor<T> y_, dz_;
};

}  // namespace qanet::nn
