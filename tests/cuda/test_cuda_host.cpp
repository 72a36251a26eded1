// Host-side checks of the CUDA backend, compiled by the plain C++ compiler: the host-only
// headers compile without nvcc, available() agrees with the runtime, errors carry file:line and
// the library message, and no CPU class changes layout with QANET_WITH_CUDA.

#include <doctest/doctest.h>

#include <cuda_runtime_api.h>

#include "layout_probe.hpp"
#include "qanet/cuda/buffer.hpp"
#include "qanet/cuda/conv_ops.hpp"
#include "qanet/cuda/device.hpp"
#include "qanet/cuda/error.hpp"
#include "qanet/cuda/handles.hpp"

using namespace qanet;

TEST_CASE("cuda host: available() agrees with an independent query of the runtime") {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  (void)cudaGetLastError();
  if (e != cudaSuccess || count == 0) {
    CHECK_FALSE(cuda::available());
    const std::string why = cuda::unavailable_reason();
    MESSAGE("no usable CUDA device here: " << why);
    CHECK(!why.empty());
    if (e != cudaSuccess) CHECK(why.find(cudaGetErrorName(e)) != std::string::npos);
    // Creating a context fails with the reason, as a qanet::Error.
    CHECK_THROWS_WITH_AS(cuda::Context(), doctest::Contains("no usable CUDA device"), cuda::CudaError);
    CHECK_THROWS_AS(cuda::Context(), Error);
  } else {
    cudaDeviceProp p{};
    REQUIRE(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
    CHECK(cuda::available() == (p.major >= cuda::min_compute_capability_major));
    if (cuda::available()) {
      MESSAGE("CUDA device: " << cuda::device_probe().name << " sm_" << p.major << p.minor);
      CHECK(cuda::unavailable_reason().empty());
      cuda::Context ctx;  // handles are created and destroyed without error
      CHECK(ctx.stream() != nullptr);
      ctx.synchronize();
    }
  }
}

TEST_CASE("cuda host: errors name the call, file:line and the library message") {
  try {
    QANET_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL("no exception");
  } catch (const cuda::CudaError& e) {
    const std::string m = e.what();
    CHECK(m.find("test_cuda_host.cpp:") != std::string::npos);
    CHECK(m.find("cudaErrorInvalidValue") != std::string::npos);
    CHECK(m.find(cudaGetErrorString(cudaErrorInvalidValue)) != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(QANET_CUDA_CHECK(cudaErrorMemoryAllocation), doctest::Contains("cudaErrorMemoryAllocation"),
                       cuda::OutOfMemory);
  CHECK_THROWS_WITH_AS(QANET_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM), doctest::Contains("CUDNN_STATUS_BAD_PARAM"),
                       cuda::CudaError);
  CHECK_THROWS_WITH_AS(QANET_CUBLAS_CHECK(CUBLAS_STATUS_ALLOC_FAILED), doctest::Contains("out of device memory"),
                       cuda::OutOfMemory);
  CHECK_NOTHROW(QANET_CUDA_CHECK(cudaSuccess));
}

TEST_CASE("cuda host: device allocation failures are reported, not crashed on") {
  // Without a device the runtime refuses; with one, four times its memory is out of memory.
  // Either way: a CudaError that names the call or the buffer.
  const std::size_t bytes = cuda::available() ? 4 * cuda::device_probe().total_memory : std::size_t{1} << 30;
  try {
    cuda::DeviceBuffer<float> b(bytes / sizeof(float), "huge test buffer");
    FAIL("the allocation succeeded");
  } catch (const cuda::CudaError& e) {
    MESSAGE("allocation error: " << std::string(e.what()));
    CHECK(std::string(e.what()).find(cuda::available() ? "huge test buffer" : "cudaMalloc") != std::string::npos);
  }
}

TEST_CASE("cuda host: no CPU class changes layout with QANET_WITH_CUDA") {
  const auto a = testing::cpu_layout_with_cuda(), b = testing::cpu_layout_without_cuda();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("class #" << i << " of QANET_CPU_LAYOUT_LIST");
    CHECK(a[i] == b[i]);
  }
}
