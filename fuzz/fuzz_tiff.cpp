// libFuzzer harness: TIFF reading (every pixel type, 2D and 3D, strips and tiles, compressions).
// A malformed file must end in a qanet::Error (IoError, InvalidArgument...), never a crash,
// a hang, a leak or an allocation beyond the reader's limits.
#include "fuzz_support.hpp"
#include "qanet/io/tiff.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = qanet_fuzz::write_scratch("input.tif", data, size);
  try {
    (void)qanet::tiff_info(path);
  } catch (const qanet::Error&) {
  }
  try {
    const qanet::AnyImage img = qanet::read_tiff(path);
    // The conversions every command applies after reading.
    try {
      if (img.dim() == 2) (void)img.as_labels<2>();
      else (void)img.as_labels<3>();
    } catch (const qanet::Error&) {
    }
    try {
      if (img.dim() == 2) (void)img.as<float, 2>();
      else (void)img.as<float, 3>();
    } catch (const qanet::Error&) {
    }
  } catch (const qanet::Error&) {
  }
  return 0;
}
