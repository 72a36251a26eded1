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

#include <initializer_list>
#include <string>
#include <vector>

#include "qanet/nn/batchnorm.hpp"
#include "qanet/nn/concat.hpp"
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
  // `z`, a buffer the caller shares between blocks). The input is the channel concatenation of
  // `xs` (2D: read in place, never copied). The output is that of forward(concat(xs),
  // Mode::infer); backward() must not follow.
  const Tensor<T>& predict(std::initializer_list<const Tensor<T>*> xs, Tensor<T>& z) {
    predicted_ = true;
    if (xs.size() == 0 || xs.size() > 3) throw InvalidArgument("Block::predict: one to three inputs");
    const Tensor<T>& x0 = **xs.begin();
    if constexpr (Dim == 2) {
      detail::ChannelSources<T> src;
      TensorShape s = x0.shape();
      for (const Tensor<T>* x : xs) {
        TensorShape a = x->shape(), b = s;
        a.dims[1] = b.dims[1] = 0;
        if (x->rank() != 4 || a != b)
          throw InvalidArgument("Block::predict: inputs " + s.str() + " and " + x->shape().str() + " differ outside the channel axis");
        src.add(x->data(), x->dim(1));
      }
      s.dims[1] = src.total_channels();
      src.plane = s[2] * s[3];
      const detail::ConvGeom g = conv.checked_geometry(s);
      if (g.oh() < 2 || g.ow() < 2)
        throw InvalidArgument("Block: convolution output of input " + s.str() + " is too small to pool");
      if (bn.channels() != conv.out_channels()) throw InvalidArgument("Block: BatchNorm channels differ from the convolution's");
      y_.reshape(activation_shape<2>(s[0], conv.out_channels(), {g.oh() / 2, g.ow() / 2}));
      detail::conv_bn_act_pool_predict_2d<T>(src, s[0], g, conv.weight.value.data(), conv.bias.value.data(),
                                             conv.out_channels(), bn, static_cast<T>(negative_slope), y_.data(), scratch_,
                                             winograd_kernel_, conv.winograd());
    } else {
      conv.predict(xs.size() == 1 ? x0 : concat_.forward(xs), z);
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
  // 2D: predict() and the convolution's passes take Winograd F(2x2, 3x3) where it pays (the
  // default; winograd.hpp); false: im2col + GEMM everywhere (the reference it is tested against).
  // The switch is the convolution's, so the block and its layer never disagree.
  void set_winograd(bool on) { conv.set_winograd(on); }

  Conv<T, Dim> conv;
  BatchNorm<T> bn;  // holds the parameters and running statistics; its own forward is not used

 private:
  Mode mode_ = Mode::train;
  bool predicted_ = false;
  detail::BnStats stats_;
  std::vector<std::int32_t> arg_;
  Tensor<T> y_, dz_;
  detail::ColScratch<T> scratch_;  // predict()'s im2col and row-pair buffers (2D)
  std::vector<T> winograd_kernel_;  // predict()'s transformed kernel (2D, Winograd)
  Concat<T> concat_;                // predict()'s input of several tensors (3D)
};

}  // namespace qanet::nn
