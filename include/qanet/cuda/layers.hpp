#pragma once
// The GPU twins of the nn/ layers, with the same contract (nn/layer.hpp) on DeviceTensor<float>:
// forward(x, mode) returns y owned by the layer and keeps a pointer to x; backward(dy) returns
// dx and ADDS the parameter gradients; params()/buffers() name the tensors as in the model file.
// Parameters start as owned tensors; a Network rebinds them to views of its flat buffers.
// BatchNorm: momentum 0.1, eps 1e-5, biased batch variance for the normalisation, unbiased in
// running_var, as nn::BatchNorm. nvcc only.

#include <initializer_list>
#include <string>
#include <vector>

#include "qanet/cuda/kernels/block.cuh"
#include "qanet/cuda/ops.hpp"
#include "qanet/nn/layer.hpp"

namespace qanet::cuda {

using DTensor = DeviceTensor<float>;
using nn::Mode;

struct DeviceParam {
  DTensor value, grad;
  void reshape(const nn::TensorShape& s, cudaStream_t stream) {
    value.reshape(s);
    grad.reshape(s);
    value.zero(stream);
    grad.zero(stream);
  }
};

struct DeviceParamRef {
  std::string name;
  DTensor* value;
  DTensor* grad;
};
struct DeviceBufferRef {
  std::string name;
  DTensor* value;
};

namespace detail {
inline void fill(Context& ctx, DTensor& t, float v) {
  nn::Tensor<float> h(t.shape(), v);
  t.upload(h, ctx.stream());
}
inline std::string shape_error(const char* layer, const std::string& expected, const nn::TensorShape& got) {
  return std::string(layer) + ": expected input " + expected + ", got " + got.str();
}
}  // namespace detail

template <int Dim>
class Conv {
  static_assert(Dim == 2 || Dim == 3, "Conv is 2D or 3D");

 public:
  static constexpr Index kernel = 3;
  Conv(Context& ctx, Index in_channels, Index out_channels, Index pad = 0) : ctx_(&ctx), in_(in_channels), out_(out_channels), pad_(pad) {
    if (in_channels < 1 || out_channels < 1 || pad < 0 || pad > 2)
      throw InvalidArgument("cuda::Conv: channels must be positive and padding 0..2");
    nn::TensorShape ws;
    ws.rank = 2 + Dim;
    ws.dims[0] = out_;
    ws.dims[1] = in_;
    for (int a = 0; a < Dim; ++a) ws.dims[2 + a] = kernel;
    weight.reshape(ws, ctx.stream());
    bias.reshape({out_}, ctx.stream());
  }
  Index in_channels() const { return in_; }
  Index out_channels() const { return out_; }
  void set_need_input_grad(bool v) { need_dx_ = v; }

  const DTensor& forward(const DTensor& x, Mode = Mode::train) {
    if (x.rank() != 2 + Dim || x.dim(1) != in_)
      throw InvalidArgument(detail::shape_error("cuda::Conv", "[N, " + std::to_string(in_) + ", spatial x" + std::to_string(Dim) + "]", x.shape()));
    x_ = &x;
    plan_ = &plans_.get(*ctx_, x.shape(), weight.value.shape(), static_cast<int>(pad_));
    y_.reshape(plan_->output_shape());
    conv_forward(*ctx_, *plan_, x.data(), weight.value.data(), y_.data());
    add_channel_bias(*ctx_, y_.data(), bias.value.data(), y_.numel(), out_, y_.shape().tail(2));
    return y_;
  }
  const DTensor& backward(const DTensor& dy) {
    QANET_ASSERT(x_ != nullptr && plan_ != nullptr);
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::Conv::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    conv_backward_filter(*ctx_, *plan_, x_->data(), dy.data(), weight.grad.data());
    conv_backward_bias(*ctx_, dy.data(), dy.dim(0), out_, dy.shape().tail(2), partial_, sums_, bias.grad.data());
    if (!need_dx_) {
      dx_.reshape(nn::TensorShape{});
      return dx_;
    }
    dx_.reshape(x_->shape());
    conv_backward_data(*ctx_, *plan_, weight.value.data(), dy.data(), dx_.data());
    return dx_;
  }
  void params(const std::string& prefix, std::vector<DeviceParamRef>& out) {
    out.push_back({prefix + "weight", &weight.value, &weight.grad});
    out.push_back({prefix + "bias", &bias.value, &bias.grad});
  }
  void buffers(const std::string&, std::vector<DeviceBufferRef>&) {}
  // The algorithms chosen for the last forward's shape (reports).
  std::array<int, 3> algorithms() const { return plan_ ? plan_->algorithms() : std::array<int, 3>{-1, -1, -1}; }

  DeviceParam weight, bias;

 private:
  Context* ctx_;
  Index in_, out_, pad_;
  bool need_dx_ = true;
  const DTensor* x_ = nullptr;
  ConvPlanCache plans_;
  ConvPlan* plan_ = nullptr;
  DTensor y_, dx_;
  DeviceBuffer<double2> partial_, sums_;
};

class BatchNorm {
 public:
  BatchNorm(Context& ctx, Index channels, double momentum = 0.1, double eps = 1e-5)
      : ctx_(&ctx), c_(channels), momentum_(momentum), eps_(eps) {
    weight.reshape({c_}, ctx.stream());
    bias.reshape({c_}, ctx.stream());
    detail::fill(ctx, weight.value, 1.f);
    running_mean.reshape({c_});
    running_var.reshape({c_});
    running_mean.zero(ctx.stream());
    detail::fill(ctx, running_var, 1.f);
    saved_.reserve(static_cast<std::size_t>(2 * c_), "BatchNorm statistics");
    coef_.reserve(static_cast<std::size_t>(5 * c_), "BatchNorm coefficients");
    sums_.reserve(static_cast<std::size_t>(c_), "BatchNorm sums");
  }
  Index channels() const { return c_; }

  const DTensor& forward(const DTensor& x, Mode mode = Mode::train) {
    forward_coefficients(x, mode);
    y_.reshape(x.shape());
    detail::channel_affine_kernel<<<detail::grid_for(x.numel()), detail::threads_per_block, 0, ctx_->stream()>>>(
        x.data(), y_.data(), coef_a(), coef_b(), x.numel(), c_, x.shape().tail(2));
    QANET_CUDA_CHECK_LAUNCH();
    return y_;
  }

  const DTensor& backward(const DTensor& dy) {
    QANET_ASSERT(x_ != nullptr);
    if (dy.shape() != x_->shape()) throw InvalidArgument("cuda::BatchNorm::backward: dy " + dy.shape().str() + ", expected " + x_->shape().str());
    const DTensor& x = *x_;
    const i64 n = x.dim(0), s = x.shape().tail(2);
    channel_sums<detail::ChannelSum::bn_backward>(*ctx_, x.data(), dy.data(), saved_mean(), n, c_, s, partial_, sums_.data());
    finish_backward(n * s);
    dx_.reshape(x.shape());
    detail::bn_backward_apply_kernel<<<detail::grid_for(x.numel()), detail::threads_per_block, 0, ctx_->stream()>>>(
        x.data(), dy.data(), dx_.data(), coef_ka(), coef_kb(), coef_kc(), x.numel(), c_, s);
    QANET_CUDA_CHECK_LAUNCH();
    return dx_;
  }

  // The two halves used by forward/backward, public for fused users (Block):
  // forward_coefficients: statistics of x (training: batch statistics, running ones updated;
  // inference: the running ones), then y = coef_a()[c] x + coef_b()[c].
  void forward_coefficients(const DTensor& x, Mode mode) {
    if (x.rank() < 2 || x.dim(1) != c_) throw InvalidArgument(detail::shape_error("cuda::BatchNorm", "[N, " + std::to_string(c_) + ", ...]", x.shape()));
    x_ = &x;
    mode_ = mode;
    const i64 n = x.dim(0), s = x.shape().tail(2), m = n * s;
    if (mode == Mode::train && m < 2) throw InvalidArgument("cuda::BatchNorm: training needs more than one value per channel");
    double* mean = saved_.data();
    double* inv = saved_.data() + c_;
    if (mode == Mode::train) {
      channel_sums<detail::ChannelSum::stats>(*ctx_, x.data(), nullptr, nullptr, n, c_, s, partial_, sums_.data());
      detail::bn_train_finish_kernel<<<blocks_for_channels(c_), 128, 0, ctx_->stream()>>>(
          sums_.data(), x.data(), c_, s, static_cast<double>(m), momentum_, eps_, weight.value.data(), bias.value.data(),
          running_mean.data(), running_var.data(), mean, inv, coef_a(), coef_b());
    } else {
      detail::bn_infer_finish_kernel<<<blocks_for_channels(c_), 128, 0, ctx_->stream()>>>(
          c_, eps_, weight.value.data(), bias.value.data(), running_mean.data(), running_var.data(), mean, inv, coef_a(),
          coef_b());
    }
    QANET_CUDA_CHECK_LAUNCH();
  }
  // finish_backward: from sums() = per channel (sum du, sum du (x - mean)) over m values, adds
  // the weight and bias gradients and sets dx = coef_ka() du + coef_kc() x + coef_kb().
  void finish_backward(i64 m) {
    detail::bn_backward_finish_kernel<<<blocks_for_channels(c_), 128, 0, ctx_->stream()>>>(
        sums_.data(), c_, static_cast<double>(m), mode_ == Mode::train ? 1 : 0, weight.value.data(), saved_mean(),
        saved_.data() + c_, weight.grad.data(), bias.grad.data(), coef_ka(), coef_kb(), coef_kc());
    QANET_CUDA_CHECK_LAUNCH();
  }
  float* coef_a() { return coef_.data(); }
  float* coef_b() { return coef_.data() + c_; }
  float* coef_ka() { return coef_.data() + 2 * c_; }
  float* coef_kb() { return coef_.data() + 3 * c_; }
  float* coef_kc() { return coef_.data() + 4 * c_; }
  const double* saved_mean() const { return saved_.data(); }
  double2* sums() { return sums_.data(); }
  DeviceBuffer<double2>& partial() { return partial_; }
  Mode mode() const { return mode_; }

  void params(const std::string& prefix, std::vector<DeviceParamRef>& out) {
    out.push_back({prefix + "weight", &weight.value, &weight.grad});
    out.push_back({prefix + "bias", &bias.value, &bias.grad});
  }
  void buffers(const std::string& prefix, std::vector<DeviceBufferRef>& out) {
    out.push_back({prefix + "running_mean", &running_mean});
    out.push_back({prefix + "running_var", &running_var});
  }

  DeviceParam weight, bias;
  DTensor running_mean, running_var;

 private:
  Context* ctx_;
  Index c_;
  double momentum_, eps_;
  Mode mode_ = Mode::train;
  const DTensor* x_ = nullptr;
  DTensor y_, dx_;
  DeviceBuffer<double2> partial_, sums_;
  DeviceBuffer<double> saved_;  // mean[C], invstd[C]
  DeviceBuffer<float> coef_;    // a, b (forward), ka, kb, kc (backward)
};

class LeakyRelu {
 public:
  explicit LeakyRelu(Context& ctx, double negative_slope = 0.01) : ctx_(&ctx), slope_(static_cast<float>(negative_slope)) {}
  const DTensor& forward(const DTensor& x, Mode = Mode::train) {
    x_ = &x;
    y_.reshape(x.shape());
    leaky_relu_forward(*ctx_, x.data(), y_.data(), x.numel(), slope_);
    return y_;
  }
  const DTensor& backward(const DTensor& dy) {
    QANET_ASSERT(x_ != nullptr);
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::LeakyRelu::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    dx_.reshape(dy.shape());
    leaky_relu_backward(*ctx_, x_->data(), dy.data(), dx_.data(), dy.numel(), slope_);
    return dx_;
  }
  void params(const std::string&, std::vector<DeviceParamRef>&) {}
  void buffers(const std::string&, std::vector<DeviceBufferRef>&) {}

 private:
  Context* ctx_;
  float slope_;
  const DTensor* x_ = nullptr;
  DTensor y_, dx_;
};

class Relu : public LeakyRelu {
 public:
  explicit Relu(Context& ctx) : LeakyRelu(ctx, 0.0) {}
};

template <int Dim>
class MaxPool {
  static_assert(Dim == 2 || Dim == 3, "MaxPool is 2D or 3D");

 public:
  explicit MaxPool(Context& ctx) : ctx_(&ctx) {}
  const DTensor& forward(const DTensor& x, Mode = Mode::train) {
    if (x.rank() != 2 + Dim) throw InvalidArgument(detail::shape_error("cuda::MaxPool", "[N, C, spatial]", x.shape()));
    in_shape_ = x.shape();
    const i64 d = Dim == 3 ? x.dim(2) : 1, h = x.dim(Dim), w = x.dim(Dim + 1);
    const i64 od = Dim == 3 ? d / 2 : 1, oh = h / 2, ow = w / 2;
    if (od < 1 || oh < 1 || ow < 1) throw InvalidArgument("cuda::MaxPool: input " + x.shape().str() + " is smaller than 2");
    if (d * h * w > 0x7fffffff) throw InvalidArgument("cuda::MaxPool: planes above 2^31 elements");
    std::array<Index, Dim> so{};
    if constexpr (Dim == 3) so = {od, oh, ow};
    else so = {oh, ow};
    y_.reshape(nn::activation_shape<Dim>(x.dim(0), x.dim(1), so));
    arg_.reserve(static_cast<std::size_t>(y_.numel()), "MaxPool argmax");
    maxpool_forward(*ctx_, x.data(), y_.data(), arg_.data(), x.dim(0) * x.dim(1), d, h, w, Dim == 3 ? 2 : 1);
    return y_;
  }
  const DTensor& backward(const DTensor& dy) {
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::MaxPool::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    dx_.reshape(in_shape_);
    const i64 d = Dim == 3 ? in_shape_[2] : 1, h = in_shape_[Dim], w = in_shape_[Dim + 1];
    maxpool_backward(*ctx_, dy.data(), arg_.data(), dx_.data(), in_shape_[0] * in_shape_[1], d, h, w, Dim == 3 ? 2 : 1);
    return dx_;
  }
  void params(const std::string&, std::vector<DeviceParamRef>&) {}
  void buffers(const std::string&, std::vector<DeviceBufferRef>&) {}

 private:
  Context* ctx_;
  nn::TensorShape in_shape_;
  DeviceBuffer<int> arg_;
  DTensor y_, dx_;
};

template <int Dim>
class GlobalAvgPool {
 public:
  explicit GlobalAvgPool(Context& ctx) : ctx_(&ctx) {}
  const DTensor& forward(const DTensor& x, Mode = Mode::train) {
    if (x.rank() != 2 + Dim) throw InvalidArgument(detail::shape_error("cuda::GlobalAvgPool", "[N, C, spatial]", x.shape()));
    in_shape_ = x.shape();
    y_.reshape({x.dim(0), x.dim(1)});
    global_avg_pool_forward(*ctx_, x.data(), y_.data(), x.dim(0) * x.dim(1), x.shape().tail(2));
    return y_;
  }
  const DTensor& backward(const DTensor& dy) {
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::GlobalAvgPool::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    dx_.reshape(in_shape_);
    global_avg_pool_backward(*ctx_, dy.data(), dx_.data(), in_shape_[0] * in_shape_[1], in_shape_.tail(2));
    return dx_;
  }
  void params(const std::string&, std::vector<DeviceParamRef>&) {}
  void buffers(const std::string&, std::vector<DeviceBufferRef>&) {}

 private:
  Context* ctx_;
  nn::TensorShape in_shape_;
  DTensor y_, dx_;
};

class Concat {
 public:
  explicit Concat(Context& ctx) : ctx_(&ctx) {}
  const DTensor& forward(std::initializer_list<const DTensor*> xs) {
    if (xs.size() == 0) throw InvalidArgument("cuda::Concat: no inputs");
    const nn::TensorShape& s0 = (*xs.begin())->shape();
    nn::TensorShape s = s0;
    s.dims[1] = 0;
    shapes_.clear();
    for (const DTensor* x : xs) {
      nn::TensorShape a = x->shape(), b = s0;
      a.dims[1] = b.dims[1] = 0;
      if (a != b) throw InvalidArgument("cuda::Concat: inputs " + s0.str() + " and " + x->shape().str() + " differ outside the channel axis");
      s.dims[1] += x->dim(1);
      shapes_.push_back(x->shape());
    }
    y_.reshape(s);
    const i64 n = s[0], sp = s.tail(2), row = s[1] * sp;
    i64 off = 0;
    for (const DTensor* x : xs) {
      const i64 block = x->dim(1) * sp;
      copy_rows(*ctx_, x->data(), block, y_.data() + off, row, block, n);
      off += block;
    }
    return y_;
  }
  // dx[k] has the shape of input k.
  const std::vector<DTensor>& backward(const DTensor& dy) {
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::Concat::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    if (dx_.size() != shapes_.size()) dx_.resize(shapes_.size());
    const i64 n = y_.dim(0), sp = y_.shape().tail(2), row = y_.dim(1) * sp;
    i64 off = 0;
    for (std::size_t k = 0; k < shapes_.size(); ++k) {
      dx_[k].reshape(shapes_[k]);
      const i64 block = shapes_[k][1] * sp;
      copy_rows(*ctx_, dy.data() + off, row, dx_[k].data(), block, block, n);
      off += block;
    }
    return dx_;
  }

 private:
  Context* ctx_;
  std::vector<nn::TensorShape> shapes_;
  DTensor y_;
  std::vector<DTensor> dx_;
};

class Linear {
 public:
  Linear(Context& ctx, Index in_features, Index out_features) : ctx_(&ctx), in_(in_features), out_(out_features) {
    if (in_features < 1 || out_features < 1) throw InvalidArgument("cuda::Linear: sizes must be positive");
    weight.reshape({out_, in_}, ctx.stream());
    bias.reshape({out_}, ctx.stream());
  }
  Index in_features() const { return in_; }
  Index out_features() const { return out_; }

  const DTensor& forward(const DTensor& x, Mode = Mode::train) {
    if (x.rank() != 2 || x.dim(1) != in_) throw InvalidArgument(detail::shape_error("cuda::Linear", "[N, " + std::to_string(in_) + "]", x.shape()));
    if (x.numel() > 0x7fffffff) throw InvalidArgument("cuda::Linear: input above 2^31 elements");
    x_ = &x;
    y_.reshape({x.dim(0), out_});
    linear_forward(*ctx_, x.data(), weight.value.data(), bias.value.data(), y_.data(), x.dim(0), in_, out_);
    return y_;
  }
  const DTensor& backward(const DTensor& dy) {
    QANET_ASSERT(x_ != nullptr);
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::Linear::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    dx_.reshape(x_->shape());
    linear_backward(*ctx_, x_->data(), weight.value.data(), dy.data(), weight.grad.data(), bias.grad.data(), dx_.data(),
                    x_->dim(0), in_, out_);
    return dx_;
  }
  void params(const std::string& prefix, std::vector<DeviceParamRef>& out) {
    out.push_back({prefix + "weight", &weight.value, &weight.grad});
    out.push_back({prefix + "bias", &bias.value, &bias.grad});
  }
  void buffers(const std::string&, std::vector<DeviceBufferRef>&) {}

  DeviceParam weight, bias;

 private:
  Context* ctx_;
  Index in_, out_;
  const DTensor* x_ = nullptr;
  DTensor y_, dx_;
};

// conv -> BatchNorm -> LeakyReLU(0.01) -> max-pool 2, as nn::Block, with BatchNorm, activation
// and pooling fused (kernels/block.cuh): the normalised and activated tensors are never stored.
template <int Dim>
class Block {
 public:
  static constexpr float negative_slope = 0.01f;
  Block(Context& ctx, Index in_channels, Index out_channels, Index pad)
      : conv(ctx, in_channels, out_channels, pad), bn(ctx, out_channels), ctx_(&ctx) {}

  const DTensor& forward(const DTensor& x, Mode mode = Mode::train) {
    const DTensor& z = conv.forward(x, mode);
    z_ = &z;
    bn.forward_coefficients(z, mode);
    geom_ = geometry(z.shape());
    std::array<Index, Dim> so{};
    if constexpr (Dim == 3) so = {geom_.od, geom_.oh, geom_.ow};
    else so = {geom_.oh, geom_.ow};
    y_.reshape(nn::activation_shape<Dim>(z.dim(0), z.dim(1), so));
    arg_.reserve(static_cast<std::size_t>(y_.numel()), "Block argmax");
    detail::bn_act_pool_forward_kernel<<<detail::grid_for(y_.numel()), detail::threads_per_block, 0, ctx_->stream()>>>(
        z.data(), bn.coef_a(), bn.coef_b(), negative_slope, y_.data(), arg_.data(), z.dim(0) * z.dim(1), z.dim(1), geom_);
    QANET_CUDA_CHECK_LAUNCH();
    return y_;
  }
  const DTensor& backward(const DTensor& dy) {
    QANET_ASSERT(z_ != nullptr);
    if (dy.shape() != y_.shape()) throw InvalidArgument("cuda::Block::backward: dy " + dy.shape().str() + ", expected " + y_.shape().str());
    const DTensor& z = *z_;
    const i64 n = z.dim(0), c = z.dim(1), s = z.shape().tail(2);
    const int splits = detail::channel_splits(n, c, s);
    bn.partial().reserve(static_cast<std::size_t>(splits * c), "channel reduction scratch");
    detail::block_backward_sums_kernel<<<dim3(splits, static_cast<unsigned>(c)), detail::threads_per_block, 0, ctx_->stream()>>>(
        z.data(), dy.data(), arg_.data(), bn.coef_a(), bn.coef_b(), bn.saved_mean(), negative_slope, n, c, geom_,
        bn.partial().data());
    QANET_CUDA_CHECK_LAUNCH();
    detail::channel_sums_finish_kernel<<<blocks_for_channels(c), 128, 0, ctx_->stream()>>>(bn.partial().data(), splits, c, bn.sums());
    QANET_CUDA_CHECK_LAUNCH();
    bn.finish_backward(n * s);
    dz_.reshape(z.shape());
    detail::block_backward_apply_kernel<<<detail::grid_for(z.numel()), detail::threads_per_block, 0, ctx_->stream()>>>(
        z.data(), dy.data(), arg_.data(), bn.coef_a(), bn.coef_b(), bn.coef_ka(), bn.coef_kb(), bn.coef_kc(), negative_slope,
        n * c, c, geom_, dz_.data());
    QANET_CUDA_CHECK_LAUNCH();
    return conv.backward(dz_);
  }
  void params(const std::string& prefix, std::vector<DeviceParamRef>& out) {
    conv.params(prefix + "conv.", out);
    bn.params(prefix + "bn.", out);
  }
  void buffers(const std::string& prefix, std::vector<DeviceBufferRef>& out) { bn.buffers(prefix + "bn.", out); }

  Conv<Dim> conv;
  BatchNorm bn;  // parameters, running statistics and the statistics kernels; its forward is not used

 private:
  detail::PoolGeom geometry(const nn::TensorShape& s) const {
    detail::PoolGeom g{};
    g.kd = Dim == 3 ? 2 : 1;
    g.d = Dim == 3 ? s[2] : 1;
    g.h = s[Dim];
    g.w = s[Dim + 1];
    g.od = g.d / g.kd;
    g.oh = g.h / 2;
    g.ow = g.w / 2;
    if (g.od < 1 || g.oh < 1 || g.ow < 1) throw InvalidArgument("cuda::Block: convolution output " + s.str() + " is smaller than the pooling window");
    if (g.d * g.h * g.w > 0x7fffffff) throw InvalidArgument("cuda::Block: planes above 2^31 elements");
    return g;
  }

  Context* ctx_;
  const DTensor* z_ = nullptr;
  detail::PoolGeom geom_{};
  DTensor y_, dz_;
  DeviceBuffer<int> arg_;
};

// Mean squared error (PyTorch's MSELoss, reduction 'mean').
class MseLoss {
 public:
  explicit MseLoss(Context& ctx) : ctx_(&ctx), loss_(1, "MSE loss") {}
  // Returns the loss (waits for the stream); keeps the gradient for backward().
  double forward(const DTensor& prediction, const DTensor& target) {
    if (prediction.numel() != target.numel() || prediction.numel() == 0)
      throw InvalidArgument("cuda::MseLoss: prediction " + prediction.shape().str() + " and target " + target.shape().str() + " differ in size");
    grad_.reshape(prediction.shape());
    detail::mse_kernel<<<1, detail::threads_per_block, 0, ctx_->stream()>>>(prediction.data(), target.data(), grad_.data(),
                                                                           prediction.numel(), loss_.data());
    QANET_CUDA_CHECK_LAUNCH();
    double h = 0;
    QANET_CUDA_CHECK(cudaMemcpyAsync(&h, loss_.data(), sizeof h, cudaMemcpyDeviceToHost, ctx_->stream()));
    QANET_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream()));
    return h;
  }
  const DTensor& backward() const { return grad_; }

 private:
  Context* ctx_;
  DeviceBuffer<double> loss_;
  DTensor grad_;
};

}  // namespace qanet::cuda
