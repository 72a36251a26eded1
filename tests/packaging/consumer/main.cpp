// A minimal embedding program: the umbrella header compiles and SEG works on caller buffers.
#include <qanet/qanet.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<unsigned short> gt(16 * 16, 0), pred(16 * 16, 0);
  for (int y = 2; y < 10; ++y)
    for (int x = 2; x < 10; ++x) gt[y * 16 + x] = 1, pred[y * 16 + x + 1] = 7;
  const qanet::Shape<2> shape(16, 16);
  const auto seg = qanet::seg_score(qanet::make_view(gt.data(), shape), qanet::make_view(pred.data(), shape));
  // 8x8 squares shifted by one pixel: IoU = 56 / 72.
  const double expected = 56.0 / 72.0;
  std::printf("qanet %s consumer: SEG %.6f (expected %.6f)\n", QANET_VERSION_STRING, seg, expected);
  return (seg > expected - 1e-12 && seg < expected + 1e-12) ? 0 : 1;
}
