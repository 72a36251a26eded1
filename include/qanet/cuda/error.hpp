#pragma once
// Errors of the CUDA backend. Every CUDA runtime, cuDNN and cuBLAS call is checked; a failure
// throws CudaError naming the call, file:line and the library's own message. An allocation the
// device cannot satisfy throws OutOfMemory with the requested and the free byte counts.
// Host-only: compiles with plain g++ given the CUDA include directories.

#include <cstddef>
#include <cstdlib>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "qanet/core/error.hpp"

namespace qanet::cuda {

class CudaError : public Error {
 public:
  using Error::Error;
};

class OutOfMemory : public CudaError {
 public:
  OutOfMemory(const std::string& what, std::size_t requested) : CudaError(what), requested_(requested) {}
  std::size_t requested_bytes() const { return requested_; }

 private:
  std::size_t requested_;
};

namespace detail {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED (no usable device or driver)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED (out of device memory)";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}

inline std::string where(const char* call, const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: ";
}

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  // Clear a non-sticky error so that the next call does not report it again.
  (void)cudaGetLastError();
  const std::string msg = where(call, file, line) + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) throw OutOfMemory(msg, 0);
  throw CudaError(msg);
}

inline void check_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  std::string msg = where(call, file, line) + cudnnGetErrorString(s);
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);
  if (detail[0]) msg += std::string(" (") + detail + ")";
  if (s == CUDNN_STATUS_ALLOC_FAILED) throw OutOfMemory(msg, 0);
  throw CudaError(msg);
}

inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  const std::string msg = where(call, file, line) + cublas_status_name(s);
  if (s == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemory(msg, 0);
  throw CudaError(msg);
}

// QANET_CUDA_SYNC=1 in the environment makes every kernel launch wait for its kernel, so that
// an asynchronous fault (illegal address, ...) is reported at the launch that caused it rather
// than at the next synchronising call. For debugging only: it serialises host and device.
inline bool sync_after_launch() {
  static const bool on = [] {
    const char* e = std::getenv("QANET_CUDA_SYNC");
    return e && *e && *e != '0';
  }();
  return on;
}

inline void check_launch(const char* file, int line) {
  check_cuda(cudaGetLastError(), "kernel launch", file, line);
  if (sync_after_launch()) check_cuda(cudaDeviceSynchronize(), "kernel (QANET_CUDA_SYNC)", file, line);
}

}  // namespace detail
}  // namespace qanet::cuda

#define QANET_CUDA_CHECK(call) ::qanet::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define QANET_CUDNN_CHECK(call) ::qanet::cuda::detail::check_cudnn((call), #call, __FILE__, __LINE__)
#define QANET_CUBLAS_CHECK(call) ::qanet::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports launch-configuration errors at the launch site (and, with
// QANET_CUDA_SYNC=1, the kernel's own faults).
#define QANET_CUDA_CHECK_LAUNCH() ::qanet::cuda::detail::check_launch(__FILE__, __LINE__)
