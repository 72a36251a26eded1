#pragma once
// Fused BatchNorm -> LeakyReLU -> max-pool 2 (floor) over a convolution output z of shape
// [N, C, spatial]. See block.hpp for why the fusion is exact.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/detail/reduce.hpp"
#include "qanet/nn/batchnorm.hpp"

namespace qanet::detail {

// Per-channel statistics used by the last forward: mean and 1/sqrt(var + eps).
struct BnStats {
  std::vector<double> mean, invstd;
  std::vector<double> coef;  // backward scratch: 3 coefficients per channel
};

struct PoolGeom {
  Index d, h, w, od, oh, ow, kd;
  Index in_plane() const { return d * h * w; }
  Index out_plane() const { return od * oh * ow; }
};

template <int Dim>
PoolGeom pool_geom(const nn::TensorShape& s) {
  PoolGeom g;
  g.d = Dim == 3 ? s[2] : 1;
  g.h = s[Dim];
  g.w = s[Dim + 1];
  g.kd = Dim == 3 ? 2 : 1;
  g.od = Dim == 3 ? g.d / 2 : 1;
  g.oh = g.h / 2;
  g.ow = g.w / 2;
  return g;
}

template <typename T, int Dim>
void bn_act_pool_forward(const nn::Tensor<T>& z, bool train, nn::BatchNorm<T>& bn, T slope, BnStats& st,
                         nn::Tensor<T>& y, std::vector<std::int32_t>& arg) {
  const Index n = z.dim(0), C = z.dim(1);
  if (C != bn.channels()) throw InvalidArgument("Block: BatchNorm channels differ from the convolution's");
  const PoolGeom g = pool_geom<Dim>(z.shape());
  if (g.od < 1 || g.oh < 1 || g.ow < 1) throw InvalidArgument("Block: convolution output " + z.shape().str() + " is too small to pool");
  const Index S = g.in_plane(), P = g.out_plane(), M = n * S;
  if (train && M < 2) throw InvalidArgument("Block: BatchNorm training needs more than one value per channel");
  st.mean.resize(C);
  st.invstd.resize(C);
  const double mom = bn.momentum(), eps = bn.eps();
  parallel_for_each_index(C, 1, [&](Index c) {
    double mean, var;
    if (train) {
      // Per-plane sums in T (vectorised, alignment-independent), planes summed in double.
      double sum = 0;
      for (Index i = 0; i < n; ++i) sum += plain_sum(z.data() + (i * C + c) * S, S);
      mean = sum / M;
      const T m = static_cast<T>(mean);
      double q = 0;
      for (Index i = 0; i < n; ++i) q += squared_deviation_sum(z.data() + (i * C + c) * S, S, m);
      var = q / M;
      bn.running_mean[c] = static_cast<T>((1 - mom) * bn.running_mean[c] + mom * mean);
      bn.running_var[c] = static_cast<T>((1 - mom) * bn.running_var[c] + mom * q / static_cast<double>(M - 1));
    } else {
      mean = bn.running_mean[c];
      var = bn.running_var[c];
    }
    st.mean[c] = mean;
    st.invstd[c] = 1.0 / std::sqrt(var + eps);
  });
  nn::TensorShape ys = z.shape();
  if (Dim == 3) ys.dims[2] = g.od;
  ys.dims[Dim] = g.oh;
  ys.dims[Dim + 1] = g.ow;
  y.reshape(ys);
  arg.resize(static_cast<std::size_t>(y.numel()));
  parallel_for_each_index(n * C, 1, [&](Index pl) {
    const Index c = pl % C;
    const T a = static_cast<T>(bn.weight.value[c] * st.invstd[c]);
    const T b = static_cast<T>(bn.bias.value[c] - bn.weight.value[c] * st.mean[c] * st.invstd[c]);
    const T* src = z.data() + pl * S;
    T* dst = y.data() + pl * P;
    std::int32_t* am = arg.data() + pl * P;
    // Window order (depth, row, column) with strict '>' keeps the first maximum, as PyTorch.
    // Written branch-free per output row so the compiler vectorises it.
    for (Index oz = 0; oz < g.od; ++oz)
      for (Index oy = 0; oy < g.oh; ++oy) {
        T* out = dst + (oz * g.oh + oy) * g.ow;
        std::int32_t* aout = am + (oz * g.oh + oy) * g.ow;
        for (Index u = 0; u < g.kd; ++u) {
          const Index base0 = ((oz * g.kd + u) * g.h + 2 * oy) * g.w, base1 = base0 + g.w;
          const T* r0 = src + base0;
          const T* r1 = src + base1;
          for (Index ox = 0; ox < g.ow; ++ox) {
            const T v00 = a * r0[2 * ox] + b, v01 = a * r0[2 * ox + 1] + b;
            const T v10 = a * r1[2 * ox] + b, v11 = a * r1[2 * ox + 1] + b;
            T m = v00;
            std::int32_t i = static_cast<std::int32_t>(base0 + 2 * ox);
            if (u > 0) {  // compare with the best of the previous depth slice
              const bool keep = out[ox] >= v00;
              m = keep ? out[ox] : v00;
              i = keep ? aout[ox] : i;
            }
            const bool c1 = v01 > m;
            m = c1 ? v01 : m;
            i = c1 ? static_cast<std::int32_t>(base0 + 2 * ox + 1) : i;
            const bool c2 = v10 > m;
            m = c2 ? v10 : m;
            i = c2 ? static_cast<std::int32_t>(base1 + 2 * ox) : i;
            const bool c3 = v11 > m;
            m = c3 ? v11 : m;
            i = c3 ? static_cast<std::int32_t>(base1 + 2 * ox + 1) : i;
            out[ox] = m;
            aout[ox] = i;
          }
        }
        for (Index ox = 0; ox < g.ow; ++ox) out[ox] = out[ox] > T(0) ? out[ox] : slope * out[ox];
      }
  });
}

// The BatchNorm of inference as one affine map per channel, a * z + b, formed exactly as
// bn_act_pool_forward forms it from the running statistics.
template <typename T>
void inference_affine(const nn::BatchNorm<T>& bn, Index c, T& a, T& b) {
  const double mean = bn.running_mean[c], invstd = 1.0 / std::sqrt(static_cast<double>(bn.running_var[c]) + bn.eps());
  a = static_cast<T>(bn.weight.value[c] * invstd);
  b = static_cast<T>(bn.bias.value[c] - bn.weight.value[c] * mean * invstd);
}

// Inference only: the same output as bn_act_pool_forward with train = false, without the
// argmax that only a backward pass reads (so no state is kept and the loop is lighter).
template <typename T, int Dim>
void bn_act_pool_predict(const nn::Tensor<T>& z, const nn::BatchNorm<T>& bn, T slope, nn::Tensor<T>& y) {
  const Index n = z.dim(0), C = z.dim(1);
  if (C != bn.channels()) throw InvalidArgument("Block: BatchNorm channels differ from the convolution's");
  const PoolGeom g = pool_geom<Dim>(z.shape());
  if (g.od < 1 || g.oh < 1 || g.ow < 1) throw InvalidArgument("Block: convolution output " + z.shape().str() + " is too small to pool");
  const Index S = g.in_plane(), P = g.out_plane();
  nn::TensorShape ys = z.shape();
  if (Dim == 3) ys.dims[2] = g.od;
  ys.dims[Dim] = g.oh;
  ys.dims[Dim + 1] = g.ow;
  y.reshape(ys);
  parallel_for_each_index(n * C, 1, [&](Index pl) {
    const Index c = pl % C;
    T a, b;
    inference_affine(bn, c, a, b);
    const T* src = z.data() + pl * S;
    T* dst = y.data() + pl * P;
    for (Index oz = 0; oz < g.od; ++oz)
      for (Index oy = 0; oy < g.oh; ++oy) {
        T* out = dst + (oz * g.oh + oy) * g.ow;
        for (Index u = 0; u < g.kd; ++u) {
          const T* r0 = src + ((oz * g.kd + u) * g.h + 2 * oy) * g.w;
          const T* r1 = r0 + g.w;
          for (Index ox = 0; ox < g.ow; ++ox) {
            const T v00 = a * r0[2 * ox] + b, v01 = a * r0[2 * ox + 1] + b;
            const T v10 = a * r1[2 * ox] + b, v11 = a * r1[2 * ox + 1] + b;
            T m = u > 0 ? std::max(out[ox], v00) : v00;
            m = std::max(std::max(m, v01), std::max(v10, v11));
            out[ox] = m;
          }
        }
        for (Index ox = 0; ox < g.ow; ++ox) out[ox] = out[ox] > T(0) ? out[ox] : slope * out[ox];
      }
  });
}

template <typename T, int Dim>
void bn_act_pool_backward(const nn::Tensor<T>& z, const nn::Tensor<T>& dy, bool train, nn::BatchNorm<T>& bn, T slope,
                          BnStats& st, const std::vector<std::int32_t>& arg, nn::Tensor<T>& dz) {
  const Index n = z.dim(0), C = z.dim(1);
  const PoolGeom g = pool_geom<Dim>(z.shape());
  const Index S = g.in_plane(), P = g.out_plane(), M = n * S;
  // d(BN output) is non-zero only at the argmax positions: dbn = dy * lrelu'(bn output).
  std::vector<double>& k1 = st.coef;
  k1.resize(static_cast<std::size_t>(3 * C));
  parallel_for_each_index(C, 1, [&](Index c) {
    const double mean = st.mean[c], inv = st.invstd[c], gamma = bn.weight.value[c];
    const T a = static_cast<T>(gamma * inv), b = static_cast<T>(bn.bias.value[c] - gamma * mean * inv);
    double sdy = 0, sdyx = 0;
    for (Index i = 0; i < n; ++i) {
      const T* zp = z.data() + (i * C + c) * S;
      const T* gp = dy.data() + (i * C + c) * P;
      const std::int32_t* am = arg.data() + (i * C + c) * P;
      const T m = static_cast<T>(mean);
      T s1 = 0, s2 = 0;
      for (Index o = 0; o < P; ++o) {
        const T zv = zp[am[o]];
        const T d = (a * zv + b) > T(0) ? gp[o] : slope * gp[o];
        s1 += d;
        s2 += d * (zv - m);
      }
      sdy += s1;
      sdyx += s2;
    }
    sdyx *= inv;  // sum dbn * xhat
    bn.weight.grad[c] += static_cast<T>(sdyx);
    bn.bias.grad[c] += static_cast<T>(sdy);
    const double k = gamma * inv;
    const double mdy = train ? sdy / M : 0.0, mdyx = train ? sdyx / M : 0.0;
    k1[3 * c] = k;
    k1[3 * c + 1] = -k * mdyx * inv;                // coefficient of z
    k1[3 * c + 2] = -k * (mdy - mdyx * inv * mean);  // constant
  });
  dz.reshape(z.shape());
  parallel_for_each_index(n * C, 1, [&](Index pl) {
    const Index c = pl % C;
    const double mean = st.mean[c], inv = st.invstd[c], gamma = bn.weight.value[c];
    const T a = static_cast<T>(gamma * inv), b = static_cast<T>(bn.bias.value[c] - gamma * mean * inv);
    const T k = static_cast<T>(k1[3 * c]), kc = static_cast<T>(k1[3 * c + 1]), kb = static_cast<T>(k1[3 * c + 2]);
    const T* zp = z.data() + pl * S;
    T* d = dz.data() + pl * S;
    for (Index j = 0; j < S; ++j) d[j] = kc * zp[j] + kb;
    const T* gp = dy.data() + pl * P;
    const std::int32_t* am = arg.data() + pl * P;
    for (Index o = 0; o < P; ++o) {
      const T zv = zp[am[o]];
      d[am[o]] += k * ((a * zv + b) > T(0) ? gp[o] : slope * gp[o]);
    }
  });
}

}  // namespace qanet::detail
