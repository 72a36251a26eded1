#pragma once
// Annotated images for training and evaluation, found in the layouts microscopists have:
//  - a Cell Tracking Challenge dataset (NN/tTTT.tif with NN_GT/SEG/man_segTTT.tif), each NN
//    one sequence, or one sequence folder NN itself; only whole-frame annotations are used (single-plane files are skipped);
//  - a StarDist-style folder: images/NAME.tif with masks/NAME.tif, each file its own sequence.
// Sequences keep their name so that splits never put frames of one sequence on both sides.

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/io/ctc.hpp"
#include "qanet/io/tiff.hpp"
#include "qanet/qa/split.hpp"

namespace qanet {

template <int Dim>
struct AnnotatedFrame {
  Image<float, Dim> image;
  LabelImage<Dim> labels;
  std::string sequence;  // e.g. "Fluo-N2DH-SIM+/01"
  std::filesystem::path image_path, labels_path;
};

struct AnnotatedFile {
  std::filesystem::path image, labels;
  std::string sequence;
  bool single_image = false;  // images/ + masks/ layout: the image is a sequence of its own
};

// The (image, ground truth) files under `root`, by sequence; throws IoError when none is found.
inline std::vector<AnnotatedFile> find_annotated_files(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw IoError("annotated data " + root.string() + ": not a folder");
  // Names come from the absolute, normalised path: "01", "01/" and "." (inside 01) name the
  // same sequence ("DS/01"), which --val-sequence and the split rely on.
  fs::path named = fs::absolute(root, ec).lexically_normal();
  if (named.filename().empty()) named = named.parent_path();  // a trailing separator
  const std::string base = named.filename().string();
  std::vector<AnnotatedFile> out;
  // StarDist layout.
  if (fs::is_directory(root / "images", ec) && fs::is_directory(root / "masks", ec)) {
    for (const auto& e : fs::directory_iterator(root / "images")) {
      const fs::path mask = root / "masks" / e.path().filename();
      if (e.is_regular_file() && fs::exists(mask, ec))
        out.push_back({e.path(), mask, base + "/" + e.path().stem().string(), true});
    }
  }
  // CTC layout: `root` is one sequence NN (next to NN_GT/SEG), or holds sequences NN.
  const std::string& own = base;
  const fs::path parent = named.parent_path();
  if (own.size() == 2 && std::isdigit(static_cast<unsigned char>(own[0])) &&
      std::isdigit(static_cast<unsigned char>(own[1])) && fs::is_directory(parent / (own + "_GT") / "SEG", ec)) {
    const auto images = list_ctc_images(root);
    const std::string seq = parent.filename().string() + "/" + own;
    for (const auto& [frame, gt] : list_ctc_gt_frames(parent / (own + "_GT") / "SEG")) {
      const auto it = images.find(frame);
      if (it != images.end()) out.push_back({it->second, gt, seq});
    }
  }
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.size() != 2 || !std::isdigit(static_cast<unsigned char>(name[0])) ||
        !std::isdigit(static_cast<unsigned char>(name[1])))
      continue;
    const fs::path seg = root / (name + "_GT") / "SEG";
    if (!fs::is_directory(seg, ec)) continue;
    const auto images = list_ctc_images(e.path());
    for (const auto& [frame, gt] : list_ctc_gt_frames(seg)) {
      const auto it = images.find(frame);
      if (it != images.end()) out.push_back({it->second, gt, base + "/" + name});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.labels < b.labels; });
  if (out.empty())
    throw IoError("annotated data " + root.string() +
                  ": no annotated image found (want NN/tTTT.tif with NN_GT/SEG/man_segTTT.tif, "
                  "or images/ and masks/ with the same file names)");
  return out;
}

// The files of `files` that a split part may use: images of the images/ + masks/ layout by the
// hash split of qa/split.hpp; CTC sequences are kept whole (choose them by folder: 01, 02).
inline std::vector<AnnotatedFile> files_in_part(std::vector<AnnotatedFile> files, DataPart part) {
  files.erase(std::remove_if(files.begin(), files.end(),
                             [&](const AnnotatedFile& f) { return f.single_image && !in_part(f.sequence, part); }),
              files.end());
  return files;
}

// Reads an annotated frame; image and labels must have the same shape.
template <int Dim>
AnnotatedFrame<Dim> read_annotated_frame(const AnnotatedFile& f) {
  AnnotatedFrame<Dim> a;
  a.image = read_tiff_as<float, Dim>(f.image);
  a.labels = read_labels<Dim>(f.labels);
  if (a.image.shape() != a.labels.shape())
    throw InvalidArgument(f.image.string() + " (" + a.image.shape().str() + ") and its ground truth " +
                          f.labels.string() + " (" + a.labels.shape().str() + ") differ in shape");
  a.sequence = f.sequence;
  a.image_path = f.image;
  a.labels_path = f.labels;
  return a;
}

}  // namespace qanet
