#pragma once
// Conv<T, Dim>: 3x3 (2D) or 3x3x3 (3D) convolution, stride 1, zero padding `pad` (0 = valid,
// 1 = same), with bias. Weight shape [out, in, 3, 3(, 3)] as in PyTorch. Follows layer.hpp.

#include <string>
#include <vector>

#include "qanet/nn/detail/conv_ops.hpp"
#include "qanet/nn/detail/winograd.hpp"
#include "qanet/nn/layer.hpp"

namespace qanet::nn {

template <typename T, int Dim>
class Conv : public WeightAndBias<T> {
  static_assert(Dim == 2 || Dim == 3, "Conv is 2D or 3D");

 public:
  using WeightAndBias<T>::weight;
  using WeightAndBias<T>::bias;
  static constexpr Index kernel = 3;
  Conv() = default;
  Conv(Index in_channels, Index out_channels, Index pad = 0) { configure(in_channels, out_channels, pad); }

  void configure(Index in_channels, Index out_channels, Index pad) {
    if (in_channels < 1 || out_channels < 1 || pad < 0 || pad > 2)
      throw InvalidArgument("Conv: channels must be positive and padding 0..2");
    in_ = in_channels;
    out_ = out_channels;
    pad_ = pad;
    TensorShape ws;
    ws.rank = 2 + Dim;
    ws.dims[0] = out_;
    ws.dims[1] = in_;
    for (int a = 0; a < Dim; ++a) ws.dims[2 + a] = kernel;
    weight.reshape(ws);
    bias.reshape({out_});
  }

  Index in_channels() const { return in_; }
  Index out_channels() const { return out_; }
  Index padding() const { return pad_; }
  Index param_count() const { return weight.value.numel() + bias.value.numel(); }

  // When false, backward computes parameter gradients only and returns an empty dx (the first
  // layers of a network, whose input gradient nobody needs).
  void set_need_input_grad(bool v) { need_dx_ = v; }
  // 2D 3 x 3 convolutions with enough channels run their forward and data-gradient passes
  // through Winograd F(2x2, 3x3) (detail/winograd.hpp; the default); false: im2col + GEMM.
  void set_winograd(bool on) { winograd_ = on; }
  bool winograd() const { return winograd_; }

  const Tensor<T>& forward(const Tensor<T>& x, Mode = Mode::train) {
    geom_ = convolve(x, y_);
    x_ = &x;
    return y_;
  }

  // The same convolution into `y` (reshaped), keeping no state: no backward may follow. Lets
  // inference share one output buffer between layers (Network::predict_feature_maps).
  void predict(const Tensor<T>& x, Tensor<T>& y) {
    convolve(x, y);
    x_ = nullptr;
  }

  // The output of the last forward.
  const Tensor<T>& output() const { return y_; }

  const Tensor<T>& backward(const Tensor<T>& dy) {
    QANET_ASSERT(x_ != nullptr);
    require_shape(dy, y_.shape(), "Conv::backward dy");
    const Index n = x_->dim(0);
    if (use_winograd(geom_, out_))
      detail::winograd_conv_backward_filter_2d<T>(x_->data(), dy.data(), n, geom_, out_, weight.grad.data(),
                                                  bias.grad.data(), partial_, scratch_);
    else
      detail::conv_backward_filter<T>(x_->data(), dy.data(), n, geom_, out_, weight.grad.data(),
                                      bias.grad.data(), partial_, scratch_);
    if (!need_dx_) {
      dx_.reshape(TensorShape{});
      return dx_;
    }
    const Index K = geom_.kd * geom_.kh * geom_.kw;
    flipped_.resize(static_cast<std::size_t>(out_ * in_ * K));
    detail::flip_kernel(weight.value.data(), out_, in_, K, flipped_.data());
    dx_.reshape(x_->shape());
    const detail::ConvGeom gb = detail::backward_data_geometry(geom_, out_);
    if (use_winograd(gb, in_))
      detail::winograd_conv_forward_2d<T>(dy.data(), n, gb, flipped_.data(), nullptr, in_, dx_.data(), winograd_kernel_, scratch_);
    else
      detail::conv_backward_data<T>(dy.data(), n, geom_, flipped_.data(), out_, dx_.data(), scratch_);
    return dx_;
  }

  // The geometry of this convolution on an input of shape s, which it checks.
  detail::ConvGeom checked_geometry(const TensorShape& s) const {
    if (s.rank != 2 + Dim || s[1] != in_)
      throw InvalidArgument("Conv: expected input [N, " + std::to_string(in_) + ", spatial x" +
                            std::to_string(Dim) + "], got " + s.str());
    const detail::ConvGeom g = geometry(s);
    if (g.od() < 1 || g.oh() < 1 || g.ow() < 1)
      throw InvalidArgument("Conv: input " + s.str() + " is smaller than the kernel");
    return g;
  }

 private:
  detail::ConvGeom convolve(const Tensor<T>& x, Tensor<T>& y) {
    const detail::ConvGeom g = checked_geometry(x.shape());
    std::array<Index, Dim> so{};
    if constexpr (Dim == 3) so = {g.od(), g.oh(), g.ow()};
    else so = {g.oh(), g.ow()};
    y.reshape(activation_shape<Dim>(x.dim(0), out_, so));
    if (use_winograd(g, out_))
      detail::winograd_conv_forward_2d<T>(x.data(), x.dim(0), g, weight.value.data(), bias.value.data(), out_, y.data(),
                                          winograd_kernel_, scratch_);
    else
      detail::conv_forward<T>(x.data(), x.dim(0), g, weight.value.data(), bias.value.data(), out_, y.data(), scratch_);
    return g;
  }
  bool use_winograd(const detail::ConvGeom& g, Index cout) const {
    return Dim == 2 && winograd_ && detail::winograd_pays(g, cout, detail::winograd_min_channels_training);
  }

  detail::ConvGeom geometry(const TensorShape& s) const {
    detail::ConvGeom g;
    g.c = in_;
    if constexpr (Dim == 3) {
      g.d = s[2];
      g.h = s[3];
      g.w = s[4];
      g.kd = kernel;
      g.pd = pad_;
    } else {
      g.h = s[2];
      g.w = s[3];
    }
    g.kh = g.kw = kernel;
    g.ph = g.pw = pad_;
    return g;
  }

  Index in_ = 0, out_ = 0, pad_ = 0;
  bool need_dx_ = true;
  const Tensor<T>* x_ = nullptr;
  detail::ConvGeom geom_;
  Tensor<T> y_, dx_;
  std::vector<T> flipped_, partial_;
  std::vector<T> winograd_kernel_;  // the transformed kernel of the last Winograd pass
  bool winograd_ = true;
  detail::ColScratch<T> scratch_;
};

}  // namespace qanet::nn
