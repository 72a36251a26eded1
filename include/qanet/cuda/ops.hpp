#pragma once
// Kernel launchers on device pointers, one per CPU op (the convolutions are in conv_ops.hpp).
// Every launch is on the context's stream and checked. nvcc only.

#include <string>

#include "qanet/cuda/conv_ops.hpp"
#include "qanet/cuda/kernels/elementwise.cuh"
#include "qanet/cuda/kernels/pool.cuh"
#include "qanet/cuda/kernels/reduce.cuh"
#include "qanet/cuda/kernels/train.cuh"

namespace qanet::cuda {

using detail::i64;

inline unsigned blocks_for_channels(i64 c) { return static_cast<unsigned>((c + 127) / 128); }

inline void leaky_relu_forward(Context& ctx, const float* x, float* y, i64 n, float slope) {
  if (n == 0) return;
  detail::leaky_relu_forward_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(x, y, n, slope);
  QANET_CUDA_CHECK_LAUNCH();
}
inline void leaky_relu_backward(Context& ctx, const float* x, const float* dy, float* dx, i64 n, float slope) {
  if (n == 0) return;
  detail::leaky_relu_backward_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(x, dy, dx, n, slope);
  QANET_CUDA_CHECK_LAUNCH();
}
inline void add_channel_bias(Context& ctx, float* y, const float* b, i64 n, i64 c, i64 s) {
  detail::add_channel_bias_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(y, b, n, c, s);
  QANET_CUDA_CHECK_LAUNCH();
}
inline void add(Context& ctx, const float* a, const float* b, float* out, i64 n) {
  if (n == 0) return;
  detail::add_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(a, b, out, n);
  QANET_CUDA_CHECK_LAUNCH();
}
inline void copy(Context& ctx, const float* src, float* dst, i64 n) {
  if (n > 0 && src != dst)
    QANET_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(float) * static_cast<std::size_t>(n), cudaMemcpyDeviceToDevice, ctx.stream()));
}

// Per-channel sums of a [N, C, S] tensor into sums[C] (see kernels/reduce.cuh); partial is
// grown as needed.
template <detail::ChannelSum M>
void channel_sums(Context& ctx, const float* x, const float* dy, const double* mean, i64 n, i64 c, i64 s,
                  DeviceBuffer<double2>& partial, double2* sums) {
  const int splits = detail::channel_splits(n, c, s);
  partial.reserve(static_cast<std::size_t>(splits * c), "channel reduction scratch");
  if (c > 65535) throw InvalidArgument("channel_sums: more than 65535 channels");
  detail::channel_partial_sums_kernel<M><<<dim3(splits, static_cast<unsigned>(c)), detail::threads_per_block, 0, ctx.stream()>>>(
      x, dy, mean, n, c, s, partial.data());
  QANET_CUDA_CHECK_LAUNCH();
  detail::channel_sums_finish_kernel<<<blocks_for_channels(c), 128, 0, ctx.stream()>>>(partial.data(), splits, c, sums);
  QANET_CUDA_CHECK_LAUNCH();
}

// Convolution bias gradient: db[c] += sum over N and S of dy.
inline void conv_backward_bias(Context& ctx, const float* dy, i64 n, i64 c, i64 s, DeviceBuffer<double2>& partial,
                               DeviceBuffer<double2>& sums, float* db) {
  sums.reserve(static_cast<std::size_t>(c), "bias gradient sums");
  channel_sums<detail::ChannelSum::sum>(ctx, nullptr, dy, nullptr, n, c, s, partial, sums.data());
  detail::add_channel_sums_kernel<<<blocks_for_channels(c), 128, 0, ctx.stream()>>>(sums.data(), c, db);
  QANET_CUDA_CHECK_LAUNCH();
}

// Max pooling on planes of d x h x w (d = 1 and kd = 1 in 2D).
inline void maxpool_forward(Context& ctx, const float* x, float* y, int* arg, i64 planes, i64 d, i64 h, i64 w, int kd) {
  const i64 od = d / kd, oh = h / 2, ow = w / 2, n = planes * od * oh * ow;
  detail::maxpool_forward_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(
      x, y, arg, planes, d, h, w, od, oh, ow, kd);
  QANET_CUDA_CHECK_LAUNCH();
}
inline void maxpool_backward(Context& ctx, const float* dy, const int* arg, float* dx, i64 planes, i64 d, i64 h, i64 w,
                             int kd) {
  const i64 od = d / kd, oh = h / 2, ow = w / 2, n = planes * d * h * w;
  detail::maxpool_backward_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(
      dy, arg, dx, planes, d, h, w, od, oh, ow, kd);
  QANET_CUDA_CHECK_LAUNCH();
}

inline void global_avg_pool_forward(Context& ctx, const float* x, float* y, i64 planes, i64 s) {
  if (planes > 0x7fffffff) throw InvalidArgument("global_avg_pool_forward: too many planes");
  detail::global_avg_pool_forward_kernel<<<static_cast<unsigned>(planes), detail::threads_per_block, 0, ctx.stream()>>>(x, y, s);
  QANET_CUDA_CHECK_LAUNCH();
}
inline void global_avg_pool_backward(Context& ctx, const float* dy, float* dx, i64 planes, i64 s) {
  const i64 n = planes * s;
  detail::global_avg_pool_backward_kernel<<<detail::grid_for(n), detail::threads_per_block, 0, ctx.stream()>>>(dy, dx, n, s);
  QANET_CUDA_CHECK_LAUNCH();
}

// Copies the `rows` x `width` block of src (row pitch src_pitch) into dst (row pitch
// dst_pitch), in floats: channel concatenation and splitting of [N, C, S] tensors.
inline void copy_rows(Context& ctx, const float* src, i64 src_pitch, float* dst, i64 dst_pitch, i64 width, i64 rows) {
  if (width == 0 || rows == 0) return;
  const std::size_t fs = sizeof(float);
  // cudaMemcpy2D limits pitches (cudaDevAttrMaxPitch, 2^31 - 1 bytes on current GPUs); wider
  // rows are copied one by one.
  if (static_cast<std::size_t>(std::max(src_pitch, dst_pitch)) * fs < (std::size_t{1} << 31)) {
    QANET_CUDA_CHECK(cudaMemcpy2DAsync(dst, fs * dst_pitch, src, fs * src_pitch, fs * width, static_cast<std::size_t>(rows),
                                       cudaMemcpyDeviceToDevice, ctx.stream()));
    return;
  }
  for (i64 r = 0; r < rows; ++r)
    QANET_CUDA_CHECK(cudaMemcpyAsync(dst + r * dst_pitch, src + r * src_pitch, fs * width, cudaMemcpyDeviceToDevice, ctx.stream()));
}

// Fully connected, row-major: y[n, out] = x[n, in] W[out, in]^T (+ b). cuBLAS is column-major,
// so a row-major [r, c] matrix is its column-major transpose [c, r].
inline void linear_forward(Context& ctx, const float* x, const float* w, const float* b, float* y, i64 n, i64 in, i64 out) {
  const float one = 1, zero = 0;
  QANET_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(out), int(n), int(in), &one, w, int(in), x,
                                 int(in), &zero, y, int(out)));
  if (b) {
    detail::add_row_bias_kernel<<<detail::grid_for(n * out), detail::threads_per_block, 0, ctx.stream()>>>(y, b, n * out, out);
    QANET_CUDA_CHECK_LAUNCH();
  }
}
// dW += dy^T x, db += column sums of dy, dx = dy W (dx may be null).
inline void linear_backward(Context& ctx, const float* x, const float* w, const float* dy, float* dw, float* db, float* dx,
                            i64 n, i64 in, i64 out) {
  const float one = 1, zero = 0;
  QANET_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, int(in), int(out), int(n), &one, x, int(in), dy,
                                 int(out), &one, dw, int(in)));
  detail::row_bias_grad_kernel<<<blocks_for_channels(out), 128, 0, ctx.stream()>>>(dy, db, n, out);
  QANET_CUDA_CHECK_LAUNCH();
  if (dx)
    QANET_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(in), int(n), int(out), &one, w, int(in), dy,
                                   int(out), &zero, dx, int(in)));
}

}  // namespace qanet::cuda
