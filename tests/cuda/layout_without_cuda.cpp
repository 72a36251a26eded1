// The same classes as a build without the CUDA switch sees them.
#undef QANET_WITH_CUDA
#include "qanet/core.hpp"
#include "qanet/nn.hpp"
#include "layout_probe.hpp"

std::vector<std::size_t> qanet::testing::cpu_layout_without_cuda() { return QANET_CPU_LAYOUT_LIST; }
