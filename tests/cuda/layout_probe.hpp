#pragma once
// sizeof of the CPU classes, computed in two translation units: one compiled with
// QANET_WITH_CUDA=1 and the CUDA host headers, one without (test_cuda_host.cpp compares them).
#include <cstddef>
#include <vector>

namespace qanet::testing {
std::vector<std::size_t> cpu_layout_with_cuda();
std::vector<std::size_t> cpu_layout_without_cuda();
}  // namespace qanet::testing

#define QANET_CPU_LAYOUT_LIST                                                                               \
  {                                                                                                         \
    sizeof(qanet::nn::Tensor<float>), sizeof(qanet::nn::TensorShape), sizeof(qanet::nn::Conv<float, 2>),   \
        sizeof(qanet::nn::Conv<float, 3>), sizeof(qanet::nn::BatchNorm<float>),                             \
        sizeof(qanet::nn::LeakyRelu<float>), sizeof(qanet::nn::MaxPool<float, 2>),                          \
        sizeof(qanet::nn::MaxPool<float, 3>), sizeof(qanet::nn::GlobalAvgPool<float, 3>),                   \
        sizeof(qanet::nn::Concat<float>), sizeof(qanet::nn::Linear<float>), sizeof(qanet::nn::Block<float, 2>), \
        sizeof(qanet::nn::Network<float, 2>), sizeof(qanet::nn::Network<float, 3>),                         \
        sizeof(qanet::nn::AdamW<float>), sizeof(qanet::nn::ModelConfig), sizeof(qanet::Image<float, 3>),    \
        sizeof(qanet::Shape<3>)                                                                             \
  }
