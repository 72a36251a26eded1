#pragma once
// DeviceBuffer<T>: RAII device memory that only grows (like nn::Tensor's capacity rule, so a
// training loop with fixed shapes allocates during its first step only).
// DeviceTensor<T>: nn::TensorShape + device data, owning or a view into a larger buffer (the
// network keeps all parameters in one flat buffer so AdamW and zero_grad are one launch each).
// Host-only.

#include <cstddef>
#include <string>
#include <utility>

#include <cuda_runtime_api.h>

#include "qanet/cuda/error.hpp"
#include "qanet/nn/tensor.hpp"

namespace qanet::cuda {

namespace detail {
inline std::string mib(std::size_t bytes) {
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}
}  // namespace detail

// Allocates `bytes` of device memory; throws OutOfMemory naming the request and the free
// memory, CudaError for any other failure.
inline void* device_malloc(std::size_t bytes, const char* what) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    std::size_t free_b = 0, total_b = 0;
    const bool info = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
    (void)cudaGetLastError();
    throw OutOfMemory(std::string("out of device memory: ") + what + " requested " + std::to_string(bytes) +
                          " bytes (" + detail::mib(bytes) + ")" +
                          (info ? ", " + detail::mib(free_b) + " free of " + detail::mib(total_b) : std::string()),
                      bytes);
  }
  detail::check_cuda(e, "cudaMalloc", __FILE__, __LINE__);
  return p;
}

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n, const char* what = "DeviceBuffer") { reserve(n, what); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), cap_(std::exchange(o.cap_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }

  // Ensures room for n elements; the contents are lost when it grows. cudaFree synchronises the
  // device, so no kernel still uses the old memory.
  void reserve(std::size_t n, const char* what = "DeviceBuffer") {
    if (n <= cap_) return;
    release();
    data_ = static_cast<T*>(device_malloc(n * sizeof(T), what));
    cap_ = n;
  }
  void release() noexcept {
    if (data_) cudaFree(data_);  // a failure here cannot be reported from a destructor
    data_ = nullptr;
    cap_ = 0;
  }
  T* data() const { return data_; }
  std::size_t capacity() const { return cap_; }

 private:
  T* data_ = nullptr;
  std::size_t cap_ = 0;
};

template <typename T>
class DeviceTensor {
 public:
  DeviceTensor() = default;
  explicit DeviceTensor(const nn::TensorShape& s) { reshape(s); }
  DeviceTensor(DeviceTensor&&) noexcept = default;
  DeviceTensor& operator=(DeviceTensor&&) noexcept = default;

  // A non-owning view of `s.numel()` elements at `data`.
  static DeviceTensor view(T* data, const nn::TensorShape& s) {
    DeviceTensor t;
    t.shape_ = s;
    t.data_ = data;
    t.is_view_ = true;
    return t;
  }

  // Sets the shape; allocates only when the size exceeds the capacity. Contents unspecified.
  void reshape(const nn::TensorShape& s) {
    if (is_view_ && s.numel() != shape_.numel())
      throw InvalidArgument("DeviceTensor: cannot resize a view from " + shape_.str() + " to " + s.str());
    shape_ = s;
    if (!is_view_) {
      own_.reserve(static_cast<std::size_t>(s.numel()), "DeviceTensor");
      data_ = own_.data();
    }
  }
  void zero(cudaStream_t stream) {
    if (numel() > 0) QANET_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), stream));
  }

  const nn::TensorShape& shape() const { return shape_; }
  Index dim(int a) const { return shape_.dims[a]; }
  int rank() const { return shape_.rank; }
  Index numel() const { return shape_.rank == 0 ? 0 : shape_.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * sizeof(T); }
  T* data() { return data_; }
  const T* data() const { return data_; }

  // Host <-> device copies, ordered on `stream`; download waits for the copy.
  void upload(const nn::Tensor<T>& h, cudaStream_t stream) {
    reshape(h.shape());
    if (numel() > 0) QANET_CUDA_CHECK(cudaMemcpyAsync(data_, h.data(), bytes(), cudaMemcpyHostToDevice, stream));
    // Pageable host memory: the copy is staged, but wait so `h` may change right after.
    QANET_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  void download(nn::Tensor<T>& h, cudaStream_t stream) const {
    h.reshape(shape_);
    if (numel() > 0) QANET_CUDA_CHECK(cudaMemcpyAsync(h.data(), data_, bytes(), cudaMemcpyDeviceToHost, stream));
    QANET_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  nn::Tensor<T> to_host(cudaStream_t stream) const {
    nn::Tensor<T> h;
    download(h, stream);
    return h;
  }

 private:
  nn::TensorShape shape_;
  DeviceBuffer<T> own_;
  T* data_ = nullptr;
  bool is_view_ = false;
};

}  // namespace qanet::cuda
