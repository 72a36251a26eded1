#pragma once
// RAII owners of a CUDA stream, a cuDNN handle and a cuBLAS handle, and the Context that ties
// them together with the shared convolution workspace and the math mode. Every GPU layer keeps
// a pointer to its Context; all work is ordered on the context's stream. Host-only.

#include <algorithm>
#include <cstddef>
#include <utility>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "qanet/cuda/buffer.hpp"
#include "qanet/cuda/device.hpp"
#include "qanet/cuda/error.hpp"

namespace qanet::cuda {

class Stream {
 public:
  Stream() { QANET_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { QANET_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t s) {
    QANET_CUDNN_CHECK(cudnnCreate(&h_));
    QANET_CUDNN_CHECK(cudnnSetStream(h_, s));
  }
  ~CudnnHandle() {
    if (h_) cudnnDestroy(h_);
  }
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnnHandle_t get() const { return h_; }

 private:
  cudnnHandle_t h_ = nullptr;
};

class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t s) {
    QANET_CUBLAS_CHECK(cublasCreate(&h_));
    QANET_CUBLAS_CHECK(cublasSetStream(h_, s));
    QANET_CUBLAS_CHECK(cublasSetPointerMode(h_, CUBLAS_POINTER_MODE_HOST));
  }
  ~CublasHandle() {
    if (h_) cublasDestroy(h_);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

// fp32: exact fp32 arithmetic (parity tests). tf32: tensor cores with TF32 inputs for
// convolutions and GEMMs (PyTorch's default for cuDNN convolutions), fp32 everywhere else.
enum class Math { fp32, tf32 };

// How convolution algorithms are chosen, once per layer and shape: heuristic (cuDNN's ranking,
// no trial runs) or benchmark (cudnnFind*: runs every algorithm once, like
// torch.backends.cudnn.benchmark).
enum class AlgoSearch { heuristic, benchmark };

class Context {
 public:
  // Throws CudaError (with the reason) when no usable device exists.
  Context() : Context(check_device()) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  cudaStream_t stream() const { return stream_.get(); }
  cudnnHandle_t cudnn() const { return cudnn_.get(); }
  cublasHandle_t cublas() const { return cublas_.get(); }

  Math math() const { return math_; }
  void set_math(Math m) {
    math_ = m;
    QANET_CUBLAS_CHECK(cublasSetMathMode(cublas(), m == Math::tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  AlgoSearch algo_search() const { return search_; }
  void set_algo_search(AlgoSearch s) { search_ = s; }

  // Largest workspace a convolution algorithm may use: 1/16 of the device memory, at least
  // 1 GiB (5 GiB on an 80 GB H100: room for the fast 3D algorithms).
  std::size_t workspace_limit() const { return ws_limit_; }
  void set_workspace_limit(std::size_t bytes) { ws_limit_ = bytes; }
  // A workspace of at least `bytes`, shared by all convolutions of this context (they run one
  // after another on the stream).
  void* workspace(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    ws_.reserve(bytes, "convolution workspace");
    return ws_.data();
  }

  void synchronize() const { stream_.synchronize(); }

 private:
  struct Checked {};
  static Checked check_device() {
    if (!available()) throw CudaError("qanet::cuda::Context: no usable CUDA device (" + unavailable_reason() + ")");
    return {};
  }
  explicit Context(Checked) : cudnn_(stream_.get()), cublas_(stream_.get()) {
    set_math(Math::fp32);
    ws_limit_ = std::max<std::size_t>(std::size_t{1} << 30, device_probe().total_memory / 16);
  }

  Stream stream_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  Math math_ = Math::fp32;
  AlgoSearch search_ = AlgoSearch::heuristic;
  std::size_t ws_limit_ = std::size_t{1} << 30;
  DeviceBuffer<unsigned char> ws_;
};

}  // namespace qanet::cuda
