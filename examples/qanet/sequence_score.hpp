#pragma once
// Shared by `qanet score` and `qanet compare`: the frames of a result folder paired with their
// images, scored in parallel, and pooled into the sequence score (the object-weighted mean of
// the frame scores, weights `Assessment::weight_objects`).

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <tbb/parallel_for.h>

#include "heatmap.hpp"
#include "qanet/io.hpp"
#include "qanet/qa/assessor.hpp"

namespace qanet::cli {

struct FrameScore {
  int frame = -1;
  std::filesystem::path image, mask;
  std::optional<Assessment<2>> a2;
  std::optional<Assessment<3>> a3;
  std::vector<ObjectScore<2>> objects2;  // per-object scores, when asked for
  std::vector<ObjectScore<3>> objects3;
  std::string error;  // frames that cannot be scored (e.g. an empty mask) say why
  double score() const { return a2 ? a2->score : a3->score; }
  Index objects() const { return a2 ? a2->objects : (a3 ? a3->objects : 0); }
  double weight() const { return a2 ? a2->weight_objects : (a3 ? a3->weight_objects : 0.0); }  // in a sequence
  bool ok() const { return a2 || a3; }
};

// The masks maskTTT.tif of `masks` with their images tTTT.tif of `images`, by frame number;
// a mask without its image is an error naming both.
inline std::vector<FrameScore> pair_result_frames(const std::filesystem::path& images,
                                                  const std::filesystem::path& masks) {
  const auto by_frame = list_ctc_images(images);
  const auto results = list_ctc_results(masks);
  if (results.empty()) throw IoError("no maskTTT.tif file in " + masks.string());
  std::vector<FrameScore> frames;
  for (const auto& [t, m] : results) {
    const auto it = by_frame.find(t);
    if (it == by_frame.end())
      throw IoError("mask " + m.string() + " has no image t" + std::to_string(t) + " in " + images.string());
    FrameScore f;
    f.frame = t, f.image = it->second, f.mask = m;
    frames.push_back(f);
  }
  return frames;
}

// Scores one frame; with `objects` (a per-object or frame model) also every object of its mask
// (Assessor::assess_objects). Heat maps: the patches' scores, and with objects each object's.
template <int Dim>
void score_frame(const Assessor<Dim>& assessor, FrameScore& f, const AssessOptions& opt,
                 const std::string& heatmap_dir = "", const Assessor<Dim>* objects = nullptr) {
  // A 2D file reads as a one-plane volume; a 3D model cannot judge a volume of one plane.
  if (Dim == 3 && tiff_info(f.image).dim == 2)
    throw InvalidArgument("image " + f.image.string() + " is 2D but the model " + assessor.path().string() +
                          " is a 3D model (give a 2D model or a multi-page TIFF)");
  const auto image = read_tiff_as<float, Dim>(f.image);
  const auto mask = read_labels<Dim>(f.mask);
  if (image.shape() != mask.shape())
    throw InvalidArgument("image " + f.image.string() + " (" + image.shape().str() + ") and mask " +
                          f.mask.string() + " (" + mask.shape().str() + ") differ in shape");
  try {
    auto a = assessor.assess(image.cview(), mask.cview(), opt);
    std::vector<ObjectScore<Dim>> scored;
    if (objects) {
      // The object scale is measured once per frame: an object model of the frame model's scale
      // convention and diameter takes the frame's measured scale (the same value, not again).
      AssessOptions object_opt = opt;
      if (objects->target_diameter() == assessor.target_diameter() &&
          objects->convention().scale == assessor.convention().scale)
        object_opt.scale = a.scale;
      scored = objects->assess_objects(image.cview(), mask.cview(), object_opt);
    }
    const std::filesystem::path dir(heatmap_dir);
    if (!heatmap_dir.empty()) {
      write_picture(dir / (f.mask.stem().string() + "_quality.png"),
                    patch_overlay(image, mask, a, assessor.higher_is_better()));
      if (objects) write_picture(dir / (f.mask.stem().string() + "_objects.png"), object_overlay(image, mask, scored));
    }
    if constexpr (Dim == 2) f.a2 = std::move(a), f.objects2 = std::move(scored);
    else f.a3 = std::move(a), f.objects3 = std::move(scored);
  } catch (const UndefinedValue& e) {
    f.error = e.what();
  } catch (const InvalidArgument& e) {  // bad values in the pixels (NaN, Inf): name the frame
    throw InvalidArgument(f.image.string() + " with " + f.mask.string() + ": " + e.what());
  }
}

// Scores every frame in parallel, with a progress line on a terminal.
template <int Dim>
void score_frames(const Assessor<Dim>& assessor, std::vector<FrameScore>& frames, const AssessOptions& opt,
                  const std::string& heatmap_dir, const char* command, const Assessor<Dim>* objects = nullptr) {
  std::atomic<std::size_t> done{0};
  const bool progress = frames.size() > 1 && isatty(fileno(stderr));
  tbb::parallel_for(std::size_t{0}, frames.size(), [&](std::size_t i) {
    score_frame<Dim>(assessor, frames[i], opt, heatmap_dir, objects);
    if (progress) std::fprintf(stderr, "\r%s: %zu/%zu frames", command, ++done, frames.size());
  });
  if (progress) std::fprintf(stderr, "\n");
}

struct SequenceScore {
  double score = 0, weight = 0;  // weight 0: no frame could be scored
  Index objects = 0;
};

// The object-weighted mean over the frames that could be scored (the objects of each mask, or
// the ground-truth objects a model with an object-count output predicts).
inline SequenceScore pool_frame_scores(const std::vector<FrameScore>& frames) {
  SequenceScore s;
  double sum = 0;
  for (const auto& f : frames)
    if (f.ok()) s.weight += f.weight(), sum += f.score() * f.weight(), s.objects += f.objects();
  if (s.weight > 0) s.score = sum / s.weight;
  return s;
}

}  // namespace qanet::cli
