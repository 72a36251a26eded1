// libFuzzer harness: the safetensors container and the model loader (header JSON, dtypes,
// offsets, metadata, architecture and convention fields).
#include <string_view>

#include "fuzz_support.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = qanet::nn::decode_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "input");
    (void)qanet::nn::detail::model_info_from_metadata(f.metadata, "input");
  } catch (const qanet::Error&) {
  }
  const auto path = qanet_fuzz::write_scratch("input.safetensors", data, size);
  for (int dim : {2, 3}) {
    try {
      qanet::nn::ModelInfo info;
      if (dim == 2) (void)qanet::nn::load_model<float, 2>(path, &info);
      else (void)qanet::nn::load_model<float, 3>(path, &info);
      (void)qanet::InputConvention::of(info);
    } catch (const qanet::Error&) {
    }
  }
  return 0;
}
