// Compiled with QANET_WITH_CUDA=1 (the qanet::cuda target) and the host-only CUDA headers.
#ifndef QANET_WITH_CUDA
#error "this file must be compiled with QANET_WITH_CUDA (link qanet::cuda)"
#endif
#include "qanet/cuda/conv_ops.hpp"
#include "qanet/cuda/device.hpp"
#include "qanet/core.hpp"
#include "qanet/nn.hpp"
#include "layout_probe.hpp"

std::vector<std::size_t> qanet::testing::cpu_layout_with_cuda() { return QANET_CPU_LAYOUT_LIST; }
