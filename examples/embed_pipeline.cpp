// Embedding qanet in a segmentation pipeline: a toy segmenter (smoothing, threshold, connected
// components) produces label images, and a QANet model loaded once judges each of them
// without ground truth, rejecting masks of predicted quality below 0.7. Several images are
// scored from several threads on one Assessor, on the caller's own buffers (no copies).
//
//   qanet_embed_example MODEL [IMAGE.tif ...]
//   QANET_MODEL=MODEL qanet_embed_example
//
// Without images, four simulated frames are segmented (the second one badly, on purpose).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <tbb/global_control.h>

#include "qanet/qanet.hpp"  // the CPU umbrella: core, io, simulate, qa, ...

namespace {

// A frame as a pipeline holds it: its own std::vector buffers.
struct Frame {
  std::string name;
  qanet::Index height = 0, width = 0;
  std::vector<float> pixels;
  std::vector<std::uint32_t> labels;  // filled by the segmenter
};

// The toy segmenter: 3x3 box smoothing, a threshold halfway between the 5th and 95th
// percentiles (raised by `bias`: a deliberately poor setting shrinks every object), then
// 4-connected components labelled 1, 2, ...
void segment(Frame& f, double bias) {
  const qanet::Index h = f.height, w = f.width;
  std::vector<float> smooth(f.pixels.size());
  for (qanet::Index y = 0; y < h; ++y)
    for (qanet::Index x = 0; x < w; ++x) {
      double s = 0;
      int n = 0;
      for (qanet::Index dy = -1; dy <= 1; ++dy)
        for (qanet::Index dx = -1; dx <= 1; ++dx) {
          const qanet::Index yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w) s += f.pixels[yy * w + xx], ++n;
        }
      smooth[y * w + x] = static_cast<float>(s / n);
    }
  std::vector<float> sorted = smooth;
  const float lo = qanet::percentile_linear(sorted, 5), hi = qanet::percentile_linear(sorted, 95);
  const float threshold = lo + static_cast<float>(0.5 + bias) * (hi - lo);

  f.labels.assign(smooth.size(), 0);
  std::uint32_t next = 0;
  std::vector<qanet::Index> stack;
  for (qanet::Index start = 0; start < h * w; ++start) {
    if (smooth[start] <= threshold || f.labels[start]) continue;
    f.labels[start] = ++next;
    stack.assign(1, start);
    while (!stack.empty()) {
      const qanet::Index i = stack.back();
      stack.pop_back();
      const qanet::Index y = i / w, x = i % w;
      const qanet::Index nb[4] = {y > 0 ? i - w : -1, y + 1 < h ? i + w : -1, x > 0 ? i - 1 : -1, x + 1 < w ? i + 1 : -1};
      for (qanet::Index j : nb)
        if (j >= 0 && !f.labels[j] && smooth[j] > threshold) f.labels[j] = next, stack.push_back(j);
    }
  }
}

std::vector<Frame> simulated_frames() {
  qanet::SimulationOptions<2> so;
  so.shape = qanet::Shape<2>(256, 256);
  std::vector<Frame> frames;
  for (std::uint64_t i = 0; i < 4; ++i) {
    const auto sim = qanet::simulate_image(so, 2024, i);
    Frame f;
    f.name = "simulated frame " + std::to_string(i);
    f.height = sim.image.shape()[0], f.width = sim.image.shape()[1];
    f.pixels.assign(sim.image.begin(), sim.image.end());
    frames.push_back(std::move(f));
  }
  return frames;
}

Frame read_frame(const std::string& path) {
  const auto img = qanet::read_tiff_as<float, 2>(path);
  Frame f;
  f.name = path;
  f.height = img.shape()[0], f.width = img.shape()[1];
  f.pixels = img.vector();
  return f;
}

}  // namespace

int main(int argc, char** argv) try {
  const char* env = std::getenv("QANET_MODEL");
  const std::string model = argc > 1 ? argv[1] : (env ? env : "");
  if (model.empty()) {
    std::fprintf(stderr, "usage: %s MODEL [IMAGE.tif ...]   (or set QANET_MODEL)\n", argv[0]);
    return 2;
  }

  // qanet parallelises with oneTBB; a host application caps it like any TBB code (here from
  // $QANET_THREADS, as the qanet program does).
  std::unique_ptr<tbb::global_control> cap;
  if (const char* t = std::getenv("QANET_THREADS"); t && std::atoi(t) > 0)
    cap = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                static_cast<std::size_t>(std::atoi(t)));

  std::vector<Frame> frames;
  for (int i = 2; i < argc; ++i) frames.push_back(read_frame(argv[i]));
  if (frames.empty()) frames = simulated_frames();
  for (std::size_t i = 0; i < frames.size(); ++i) segment(frames[i], i == 1 ? 0.4 : 0.0);

  // Load the model once; assess() is const and may run on many threads at the same time.
  const qanet::Assessor<2> assessor(model);
  constexpr double min_quality = 0.7;

  std::vector<double> quality(frames.size(), -1);
  std::vector<qanet::Index> objects(frames.size(), 0);
  std::vector<std::string> problem(frames.size());
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < frames.size(); ++i)
    workers.emplace_back([&, i] {
      const Frame& f = frames[i];
      const qanet::Shape<2> shape(f.height, f.width);
      // Views over the pipeline's own buffers: nothing is copied on the way in.
      const qanet::ImageView<const float, 2> image(f.pixels.data(), shape);
      const qanet::ImageView<const std::uint32_t, 2> labels(f.labels.data(), shape);
      try {
        const qanet::Assessment<2> a = assessor.assess(image, labels);
        quality[i] = a.score;
        objects[i] = a.objects;
      } catch (const qanet::UndefinedValue&) {
        problem[i] = "no object segmented";
      } catch (const std::exception& e) {
        problem[i] = e.what();
      }
    });
  for (auto& t : workers) t.join();

  int accepted = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (!problem[i].empty()) {
      std::printf("%-28s rejected: %s\n", frames[i].name.c_str(), problem[i].c_str());
      continue;
    }
    const bool ok = quality[i] >= min_quality;  // "reject the mask if quality < 0.7"
    accepted += ok;
    std::printf("%-28s %4lld objects  predicted %s %.3f  %s\n", frames[i].name.c_str(),
                static_cast<long long>(objects[i]), assessor.info().metric.c_str(), quality[i],
                ok ? "accepted" : "REJECTED: re-segment or inspect");
  }
  std::printf("%d of %zu masks accepted (quality >= %.1f)\n", accepted, frames.size(), min_quality);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "qanet_embed_example: %s\n", e.what());
  return 1;
}
