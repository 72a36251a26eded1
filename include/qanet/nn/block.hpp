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
#include "qanet/nn/detail/conv_pool_predict.hpp"

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
  // Inference keeping no state for a backward pass: no argmax is kept, and the convolution
  // output is never stored whole (2D: fused with the pooling, a pair of rows at a time; 3D: in
  // `z`, a buffer the caller shares between blocks). The output is that of
  // forward(x, Mode::infer); backward() must not follow.
  const Tensor<T>& predict(const Tensor<T>& x, Tensor<T>& z) {
    predicted_ = true;
    if constexpr (Dim == 2) {
      const detail::ConvGeom g = conv.checked_geometry(x);
      if (g.oh() < 2 || g.ow() < 2)
        throw InvalidArgument("Block: convolution output of input " + x.shape().str() + " is too small to pool");
      if (bn.channels() != conv.out_channels()) throw InvalidArgument("Block: BatchNorm channels differ from the convolution's");
      y_.reshape(activation_shape<2>(x.dim(0), conv.out_channels(), {g.oh() / 2, g.ow() / 2}));
      detail::conv_bn_act_pool_predict_2d<T>(x.data(), x.dim(0), g, conv.weight.value.data(), conv.bias.value.data(),
                                             conv.out_channels(), bn, static_cast<T>(negative_slope), y_.data(), scratch_);
    } else {
      conv.predict(x, z);
      detail::bn_act_pool_predict<T, Dim>(z, bn, static_cast<T>(negative_slope), y_);
    }
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
  detail::ColScratch<T> scratch_;  // predict()'s im2col and row-pair buffers
};

}  // namespace qanet::nn
