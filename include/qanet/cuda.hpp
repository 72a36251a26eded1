#pragma once
// The CUDA/cuDNN backend (include from .cu files compiled by nvcc; never included by
// qanet.hpp): RAII handles and device buffers, cuDNN convolutions, own kernels for the other
// layers, the RibCage / Siamese / Naive networks on the GPU and a fused AdamW.
// Host-only parts (error.hpp, device.hpp, buffer.hpp, handles.hpp, conv_ops.hpp) also compile
// with a plain C++ compiler.
#if !defined(__CUDACC__)
#error "qanet/cuda.hpp needs nvcc; host-only code may include qanet/cuda/device.hpp, handles.hpp, buffer.hpp, conv_ops.hpp"
#endif

#include "qanet/cuda/buffer.hpp"
#include "qanet/cuda/conv_ops.hpp"
#include "qanet/cuda/device.hpp"
#include "qanet/cuda/error.hpp"
#include "qanet/cuda/handles.hpp"
#include "qanet/cuda/layers.hpp"
#include "qanet/cuda/network.hpp"
#include "qanet/cuda/ops.hpp"
#include "qanet/cuda/optim.hpp"
