#pragma once
// The layer contract, written once. Every layer in nn/ (Conv, BatchNorm, activations, pools,
// Concat, Linear, and the blocks and models built from them) follows it:
//
//   const Tensor<T>& forward(const Tensor<T>& x, Mode mode)
//     requires: x has a shape the layer accepts (otherwise InvalidArgument naming the layer).
//     ensures:  returns y, owned by the layer and valid until its next forward; the layer keeps
//               what backward needs (a pointer to x, which the caller must keep alive and
//               unchanged until backward, plus its own saved statistics / argmax).
//   const Tensor<T>& backward(const Tensor<T>& dy)
//     requires: forward was the last call, dy has y's shape.
//     ensures:  returns dx with x's shape (owned by the layer); the gradient of every parameter
//               is ADDED into its grad tensor, so zero_grad() must come first in a step.
//   void params(const std::string& prefix, std::vector<ParamRef<T>>& out)
//     appends (name, value, grad) of each learnable tensor, named as in the model file.
//   void buffers(const std::string& prefix, std::vector<BufferRef<T>>& out)
//     appends (name, value) of each non-learned state tensor (BatchNorm running statistics).
//
// Buffers are resized by forward on shape changes only, so repeated steps do not allocate.

#include <string>
#include <vector>

#include "qanet/nn/tensor.hpp"

namespace qanet::nn {

// Training uses batch statistics in BatchNorm (and updates the running ones); inference uses
// the running statistics.
enum class Mode { train, infer };

template <typename T>
struct ParamRef {
  std::string name;
  Tensor<T>* value;
  Tensor<T>* grad;
};

template <typename T>
struct BufferRef {
  std::string name;
  Tensor<T>* value;
};

// A learnable tensor with its gradient.
template <typename T>
struct Parameter {
  Tensor<T> value;
  Tensor<T> grad;
  void reshape(const TensorShape& s) {
    value.reshape(s, T(0));
    grad.reshape(s, T(0));
  }
};

// The learnable state of a layer with one weight and one bias (convolution, fully connected),
// named "{prefix}weight" and "{prefix}bias" as in PyTorch; no buffers.
template <typename T>
struct WeightAndBias {
  Parameter<T> weight, bias;

  void params(const std::string& prefix, std::vector<ParamRef<T>>& out) {
    out.push_back({prefix + "weight", &weight.value, &weight.grad});
    out.push_back({prefix + "bias", &bias.value, &bias.grad});
  }
  void buffers(const std::string&, std::vector<BufferRef<T>>&) {}
};

}  // namespace qanet::nn
