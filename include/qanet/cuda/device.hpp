#pragma once
// Whether a CUDA device really works. Any error from the runtime (no driver, "insufficient
// driver" on a build host with nvcc but no GPU, no device, a device too old for the compiled
// architectures, a failing context) means "no GPU"; the reason is kept for messages such as the
// test suites' "skipped: no usable CUDA device (...)". Host-only.

#include <string>

#include <cuda_runtime_api.h>

namespace qanet::cuda {

// The code is compiled for sm_80 and sm_90 (plus PTX for newer devices): older devices fail.
constexpr int min_compute_capability_major = 8;

struct DeviceProbe {
  bool ok = false;
  std::string reason;  // why not, when !ok
  std::string name;    // device 0, when ok
  int major = 0, minor = 0;
  std::size_t total_memory = 0;
};

namespace detail {

inline DeviceProbe probe_device() {
  DeviceProbe p;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  auto fail = [&](cudaError_t err, const char* what) {
    (void)cudaGetLastError();
    p.reason = std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return p;
  };
  if (e != cudaSuccess) return fail(e, "cudaGetDeviceCount");
  if (count < 1) {
    p.reason = "cudaGetDeviceCount: no CUDA device";
    return p;
  }
  cudaDeviceProp prop{};
  if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) return fail(e, "cudaGetDeviceProperties");
  if (prop.major < min_compute_capability_major) {
    p.reason = std::string(prop.name) + " has compute capability " + std::to_string(prop.major) + "." +
               std::to_string(prop.minor) + "; qanet's kernels need 8.0 or newer";
    return p;
  }
  if ((e = cudaSetDevice(0)) != cudaSuccess) return fail(e, "cudaSetDevice");
  // Creates the context: fails on broken drivers or devices in exclusive use elsewhere.
  if ((e = cudaFree(nullptr)) != cudaSuccess) return fail(e, "cudaFree(nullptr) (context creation)");
  p.ok = true;
  p.name = prop.name;
  p.major = prop.major;
  p.minor = prop.minor;
  p.total_memory = prop.totalGlobalMem;
  return p;
}

}  // namespace detail

// Probed once per process.
inline const DeviceProbe& device_probe() {
  static const DeviceProbe p = detail::probe_device();
  return p;
}

// True only when device 0 exists, is sm_80 or newer and a context can be created on it.
inline bool available() { return device_probe().ok; }

// Why available() is false (empty when it is true).
inline std::string unavailable_reason() { return device_probe().reason; }

}  // namespace qanet::cuda
