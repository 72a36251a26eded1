#pragma once
// MaxPool<T, Dim>: 2 (x2 (x2)) windows, stride 2, floor (trailing odd rows are dropped, as in
// PyTorch); the argmax is kept for backward (the first maximum wins ties).
// GlobalAvgPool<T, Dim>: [N, C, spatial...] -> [N, C]. Both follow layer.hpp.

#include <cstdint>
#include <string>
#include <vector>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/layer.hpp"

namespace qanet::nn {

template <typename T, int Dim>
class MaxPool {
  static_assert(Dim == 2 || Dim == 3, "MaxPool is 2D or 3D");

 public:
  const Tensor<T>& forward(const Tensor<T>& x, Mode = Mode::train) {
    if (x.rank() != 2 + Dim) throw InvalidArgument("MaxPool: expected [N, C, spatial], got " + x.shape().str());
    in_shape_ = x.shape();
    const Index d = Dim == 3 ? x.dim(2) : 1, h = x.dim(Dim), w = x.dim(Dim + 1);
    const Index od = Dim == 3 ? d / 2 : 1, oh = h / 2, ow = w / 2;
    if (od < 1 || oh < 1 || ow < 1) throw InvalidArgument("MaxPool: input " + x.shape().str() + " is smaller than 2");
    std::array<Index, Dim> so{};
    if constexpr (Dim == 3) so = {od, oh, ow};
    else so = {oh, ow};
    y_.reshape(activation_shape<Dim>(x.dim(0), x.dim(1), so));
    arg_.resize(static_cast<std::size_t>(y_.numel()));
    const Index planes = x.dim(0) * x.dim(1), in_plane = d * h * w, out_plane = od * oh * ow;
    const Index kd = Dim == 3 ? 2 : 1;
    parallel_for_each_index(planes, 1, [&](Index pl) {
      const T* src = x.data() + pl * in_plane;
      T* dst = y_.data() + pl * out_plane;
      std::int32_t* arg = arg_.data() + pl * out_plane;
      for (Index z = 0; z < od; ++z)
        for (Index yy = 0; yy < oh; ++yy)
          for (Index xx = 0; xx < ow; ++xx) {
            Index best = ((z * kd) * h + 2 * yy) * w + 2 * xx;
            T bv = src[best];
            for (Index a = 0; a < kd; ++a)
              for (Index b = 0; b < 2; ++b)
                for (Index c = 0; c < 2; ++c) {
                  const Index i = ((z * kd + a) * h + 2 * yy + b) * w + 2 * xx + c;
                  if (src[i] > bv) {
                    bv = src[i];
                    best = i;
                  }
                }
            const Index o = (z * oh + yy) * ow + xx;
            dst[o] = bv;
            arg[o] = static_cast<std::int32_t>(best);
          }
    });
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) {
    require_shape(dy, y_.shape(), "MaxPool::backward dy");
    dx_.reshape(in_shape_, T(0));
    const Index planes = in_shape_[0] * in_shape_[1], in_plane = in_shape_.tail(2),
                out_plane = y_.shape().tail(2);
    parallel_for_each_index(planes, 1, [&](Index pl) {
      T* d = dx_.data() + pl * in_plane;
      const T* g = dy.data() + pl * out_plane;
      const std::int32_t* arg = arg_.data() + pl * out_plane;
      for (Index o = 0; o < out_plane; ++o) d[arg[o]] += g[o];
    });
    return dx_;
  }
  void params(const std::string&, std::vector<ParamRef<T>>&) {}
  void buffers(const std::string&, std::vector<BufferRef<T>>&) {}

 private:
  TensorShape in_shape_;
  std::vector<std::int32_t> arg_;
  Tensor<T> y_, dx_;
};

template <typename T, int Dim>
class GlobalAvgPool {
 public:
  const Tensor<T>& forward(const Tensor<T>& x, Mode = Mode::train) {
    if (x.rank() != 2 + Dim) throw InvalidArgument("GlobalAvgPool: expected [N, C, spatial], got " + x.shape().str());
    in_shape_ = x.shape();
    const Index planes = x.dim(0) * x.dim(1), s = x.shape().tail(2);
    y_.reshape({x.dim(0), x.dim(1)});
    for (Index pl = 0; pl < planes; ++pl) {
      double acc = 0;
      const T* p = x.data() + pl * s;
      for (Index j = 0; j < s; ++j) acc += p[j];
      y_[pl] = static_cast<T>(acc / s);
    }
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) {
    require_shape(dy, y_.shape(), "GlobalAvgPool::backward dy");
    dx_.reshape(in_shape_);
    const Index planes = in_shape_[0] * in_shape_[1], s = in_shape_.tail(2);
    for (Index pl = 0; pl < planes; ++pl) {
      const T v = dy[pl] / static_cast<T>(s);
      std::fill(dx_.data() + pl * s, dx_.data() + (pl + 1) * s, v);
    }
    return dx_;
  }
  void params(const std::string&, std::vector<ParamRef<T>>&) {}
  void buffers(const std::string&, std::vector<BufferRef<T>>&) {}

 private:
  TensorShape in_shape_;
  Tensor<T> y_, dx_;
};

}  // namespace qanet::nn
