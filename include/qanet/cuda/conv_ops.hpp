#pragma once
// cuDNN convolutions with the CPU engine's op names (nn/detail/conv_ops.hpp):
//   conv_forward          y  = x (*) W                  (bias is added by the Conv layer)
//   conv_backward_data    dx = dy (*)^T W               (overwrites dx)
//   conv_backward_filter  dW += x^T (*) dy              (ADDS, as every CPU backward does)
// A ConvPlan holds the descriptors and the algorithm of each pass for one input shape, one
// weight shape and one math mode; layers cache their plans per shape (ConvPlanCache).
// Uses cuDNN's legacy convolution API (deprecated but supported throughout cuDNN 9).
// Host-only.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <cudnn.h>

#include "qanet/cuda/handles.hpp"

namespace qanet::cuda {

namespace detail {

inline std::vector<int> int_dims(const nn::TensorShape& s) {
  std::vector<int> d(static_cast<std::size_t>(s.rank));
  for (int a = 0; a < s.rank; ++a) {
    if (s.dims[a] > 0x7fffffff) throw InvalidArgument("cuDNN: extent " + std::to_string(s.dims[a]) + " above 2^31");
    d[a] = static_cast<int>(s.dims[a]);
  }
  return d;
}

class TensorDesc {
 public:
  TensorDesc() { QANET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_)); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  // Packed row-major N,C,(D),H,W.
  void set(const nn::TensorShape& s, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
    const std::vector<int> d = int_dims(s);
    std::vector<int> st(d.size());
    long long acc = 1;
    for (int a = s.rank - 1; a >= 0; --a) {
      st[a] = static_cast<int>(acc);
      acc *= d[a];
    }
    QANET_CUDNN_CHECK(cudnnSetTensorNdDescriptor(d_, type, s.rank, d.data(), st.data()));
  }
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

class FilterDesc {
 public:
  FilterDesc() { QANET_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_)); }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d_); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  void set(const nn::TensorShape& s, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
    const std::vector<int> d = int_dims(s);
    QANET_CUDNN_CHECK(cudnnSetFilterNdDescriptor(d_, type, CUDNN_TENSOR_NCHW, s.rank, d.data()));
  }
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvDesc {
 public:
  ConvDesc() { QANET_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_)); }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d_); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  void set(int spatial_dims, int pad) {
    std::array<int, 3> pads{pad, pad, pad}, strides{1, 1, 1}, dil{1, 1, 1};
    QANET_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(d_, spatial_dims, pads.data(), strides.data(), dil.data(),
                                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  }
  void set_math(cudnnMathType_t m) { QANET_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, m)); }
  cudnnConvolutionDescriptor_t get() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

// Picks the first (best ranked or fastest) result that succeeded and fits the workspace limit,
// preferring, in strict fp32 mode, algorithms ranked without tensor-core math, and never one
// that converts fp32 data down to fp16 (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION).
template <typename Perf>
int pick_algo(const Perf* perf, int n, Math math, std::size_t limit, const char* pass) {
  for (int strict = 1; strict >= 0; --strict)
    for (int i = 0; i < n; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit) continue;
      if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      if (strict && math == Math::fp32 && perf[i].mathType == CUDNN_TENSOR_OP_MATH) continue;
      return i;
    }
  throw CudaError(std::string("cuDNN: no ") + pass + " convolution algorithm fits the workspace limit of " +
                  std::to_string(limit) + " bytes (" + std::to_string(n) + " candidates)");
}

}  // namespace detail

class ConvPlan {
 public:
  // x: [N, C, spatial], w: [K, C, 3, 3(, 3)], zero padding `pad`, stride 1.
  ConvPlan(Context& ctx, const nn::TensorShape& x, const nn::TensorShape& w, int pad)
      : x_shape_(x), w_shape_(w), pad_(pad), math_(ctx.math()) {
    const int sd = x.rank - 2;
    if ((sd != 2 && sd != 3) || w.rank != x.rank || w.dims[1] != x.dims[1])
      throw InvalidArgument("ConvPlan: input " + x.str() + " and weight " + w.str() + " do not match");
    xd_.set(x);
    wd_.set(w);
    cd_.set(sd, pad);
    std::vector<int> out(static_cast<std::size_t>(x.rank));
    QANET_CUDNN_CHECK(cudnnGetConvolutionNdForwardOutputDim(cd_.get(), xd_.get(), wd_.get(), x.rank, out.data()));
    y_shape_.rank = x.rank;
    for (int a = 0; a < x.rank; ++a) {
      if (out[a] < 1) throw InvalidArgument("ConvPlan: input " + x.str() + " is smaller than the kernel");
      y_shape_.dims[a] = out[a];
    }
    yd_.set(y_shape_);
    choose(ctx);
  }

  bool matches(const nn::TensorShape& x, const nn::TensorShape& w, int pad, Math math) const {
    return x == x_shape_ && w == w_shape_ && pad == pad_ && math == math_;
  }
  const nn::TensorShape& output_shape() const { return y_shape_; }

  void forward(Context& ctx, const float* x, const float* w, float* y) {
    const float one = 1, zero = 0;
    cd_.set_math(fwd_math_);
    QANET_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, xd_.get(), x, wd_.get(), w, cd_.get(), fwd_,
                                              ctx.workspace(fwd_ws_), fwd_ws_, &zero, yd_.get(), y));
  }
  void backward_data(Context& ctx, const float* w, const float* dy, float* dx) {
    const float one = 1, zero = 0;
    cd_.set_math(bwd_data_math_);
    QANET_CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, wd_.get(), w, yd_.get(), dy, cd_.get(),
                                                   bwd_data_, ctx.workspace(bwd_data_ws_), bwd_data_ws_, &zero,
                                                   xd_.get(), dx));
  }
  void backward_filter(Context& ctx, const float* x, const float* dy, float* dw) {
    const float one = 1;
    cd_.set_math(bwd_filter_math_);
    QANET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, xd_.get(), x, yd_.get(), dy, cd_.get(),
                                                     bwd_filter_, ctx.workspace(bwd_filter_ws_), bwd_filter_ws_,
                                                     &one, wd_.get(), dw));
  }

  // For reports: the chosen algorithm numbers (cudnnConvolution*Algo_t).
  std::array<int, 3> algorithms() const { return {int(fwd_), int(bwd_data_), int(bwd_filter_)}; }

 private:
  void choose(Context& ctx) {
    const std::size_t limit = ctx.workspace_limit();
    const bool bench = ctx.algo_search() == AlgoSearch::benchmark;
    cudnnHandle_t h = ctx.cudnn();
    // Ask in the mode we will run: FMA only for strict fp32, tensor ops allowed for tf32.
    cd_.set_math(math_ == Math::fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH);
    constexpr int max_algos = 16;
    int n = 0;
    {
      cudnnConvolutionFwdAlgoPerf_t p[max_algos];
      if (bench)
        QANET_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, xd_.get(), wd_.get(), cd_.get(), yd_.get(), max_algos, &n, p));
      else
        QANET_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, xd_.get(), wd_.get(), cd_.get(), yd_.get(), max_algos, &n, p));
      const int i = detail::pick_algo(p, n, math_, limit, "forward");
      fwd_ = p[i].algo;
      fwd_math_ = exec_math(p[i].mathType);
      cd_.set_math(fwd_math_);
      QANET_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, xd_.get(), wd_.get(), cd_.get(), yd_.get(), fwd_, &fwd_ws_));
    }
    cd_.set_math(math_ == Math::fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH);
    {
      cudnnConvolutionBwdDataAlgoPerf_t p[max_algos];
      if (bench)
        QANET_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(h, wd_.get(), yd_.get(), cd_.get(), xd_.get(), max_algos, &n, p));
      else
        QANET_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, wd_.get(), yd_.get(), cd_.get(), xd_.get(), max_algos, &n, p));
      const int i = detail::pick_algo(p, n, math_, limit, "backward-data");
      bwd_data_ = p[i].algo;
      bwd_data_math_ = exec_math(p[i].mathType);
      cd_.set_math(bwd_data_math_);
      QANET_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd_.get(), yd_.get(), cd_.get(), xd_.get(), bwd_data_, &bwd_data_ws_));
    }
    cd_.set_math(math_ == Math::fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH);
    {
      cudnnConvolutionBwdFilterAlgoPerf_t p[max_algos];
      if (bench)
        QANET_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(h, xd_.get(), yd_.get(), cd_.get(), wd_.get(), max_algos, &n, p));
      else
        QANET_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, xd_.get(), yd_.get(), cd_.get(), wd_.get(), max_algos, &n, p));
      const int i = detail::pick_algo(p, n, math_, limit, "backward-filter");
      bwd_filter_ = p[i].algo;
      bwd_filter_math_ = exec_math(p[i].mathType);
      cd_.set_math(bwd_filter_math_);
      QANET_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd_.get(), yd_.get(), cd_.get(), wd_.get(), bwd_filter_, &bwd_filter_ws_));
    }
  }

  // Strict fp32 runs with FMA only (as PyTorch with allow_tf32 off); tf32 runs in the math type
  // the algorithm was ranked with (CUDNN_DEFAULT_MATH allows TF32 for float data).
  cudnnMathType_t exec_math(cudnnMathType_t ranked) const {
    return math_ == Math::fp32 && ranked != CUDNN_TENSOR_OP_MATH ? CUDNN_FMA_MATH : ranked;
  }

  nn::TensorShape x_shape_, w_shape_, y_shape_;
  int pad_;
  Math math_;
  detail::TensorDesc xd_, yd_;
  detail::FilterDesc wd_;
  detail::ConvDesc cd_;
  cudnnConvolutionFwdAlgo_t fwd_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_{};
  cudnnMathType_t fwd_math_{}, bwd_data_math_{}, bwd_filter_math_{};
  std::size_t fwd_ws_ = 0, bwd_data_ws_ = 0, bwd_filter_ws_ = 0;
};

// Plans of one layer, one per (input shape, math mode) seen; the few shapes a training run and
// a scoring run use are searched linearly.
class ConvPlanCache {
 public:
  ConvPlan& get(Context& ctx, const nn::TensorShape& x, const nn::TensorShape& w, int pad) {
    for (auto& p : plans_)
      if (p->matches(x, w, pad, ctx.math())) return *p;
    plans_.push_back(std::make_unique<ConvPlan>(ctx, x, w, pad));
    return *plans_.back();
  }

 private:
  std::vector<std::unique_ptr<ConvPlan>> plans_;
};

// The CPU op names, on device pointers.
inline void conv_forward(Context& ctx, ConvPlan& plan, const float* x, const float* w, float* y) {
  plan.forward(ctx, x, w, y);
}
inline void conv_backward_data(Context& ctx, ConvPlan& plan, const float* w, const float* dy, float* dx) {
  plan.backward_data(ctx, w, dy, dx);
}
inline void conv_backward_filter(Context& ctx, ConvPlan& plan, const float* x, const float* dy, float* dw) {
  plan.backward_filter(ctx, x, dy, dw);
}

}  // namespace qanet::cuda
