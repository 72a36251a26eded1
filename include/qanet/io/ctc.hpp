#pragma once
// Cell Tracking Challenge (CTC) folder layout:
//   images        NN/tTTT.tif                      (TTT: 3 or 4 digits)
//   ground truth  NN_GT/SEG/man_segTTT.tif         (whole frame)
//                 NN_GT/SEG/man_seg_TTT_ZZZ.tif    (one plane Z of a 3D frame; also man_segTTT_ZZZ.tif)
//   results       NN_RES*/maskTTT.tif
// Files are matched by frame number, not by name, so 3- and 4-digit names pair up.
// Ground truth may be sparse: frames without a GT file are not evaluated, but a GT frame
// without a result is an error (the CTC scores it as a complete miss, never silently skips it).

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"

namespace qanet {

enum class CtcFileKind { image, gt_seg, result_mask };

// What a CTC file name says.
struct CtcFileName {
  CtcFileKind kind = CtcFileKind::image;
  int frame = 0;
  int plane = -1;   // Z of a single-plane GT file, -1 for a whole frame
  int digits = 3;   // width of the frame number in the name
};

// A ground-truth file: a whole frame, or one plane of a 3D frame.
struct CtcGtFile {
  int frame = 0;
  int plane = -1;
  int digits = 3;
  std::filesystem::path path;
};

// A ground-truth file and the result mask of the same frame.
struct CtcPair {
  int frame = 0;
  int plane = -1;  // compare the GT with this plane of the (3D) result when >= 0
  std::filesystem::path gt;
  std::filesystem::path result;
};

enum class CtcPathKind {
  file,                // a regular file (a single label image)
  gt_seg_folder,       // NN_GT/SEG: man_seg*.tif
  gt_sequence_folder,  // NN_GT: holds SEG/
  result_folder,       // NN_RES*: mask*.tif
  image_folder,        // NN: t*.tif
  unknown              // a folder with none of these
};

inline const char* ctc_path_kind_name(CtcPathKind k) {
  switch (k) {
    case CtcPathKind::file: return "file";
    case CtcPathKind::gt_seg_folder: return "ground-truth SEG folder";
    case CtcPathKind::gt_sequence_folder: return "ground-truth sequence folder";
    case CtcPathKind::result_folder: return "result folder";
    case CtcPathKind::image_folder: return "image folder";
    case CtcPathKind::unknown: return "unknown";
  }
  return "unknown";
}

namespace detail {

// Parses 3 or 4 decimal digits at s[pos..]; returns the number of digits read (0 on failure).
inline int parse_ctc_number(const std::string& s, std::size_t pos, std::size_t end, int& value) {
  const std::size_t n = end - pos;
  if (end > s.size() || pos > end || n < 3 || n > 4) return 0;
  value = 0;
  for (std::size_t i = pos; i < end; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return 0;
    value = value * 10 + (s[i] - '0');
  }
  return static_cast<int>(n);
}

// The name without a .tif/.tiff extension (any case), or nullopt.
inline std::optional<std::string> tiff_stem(const std::string& name) {
  for (const char* ext : {".tif", ".tiff"}) {
    const std::string e(ext);
    if (name.size() > e.size()) {
      std::string tail = name.substr(name.size() - e.size());
      std::transform(tail.begin(), tail.end(), tail.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (tail == e) return name.substr(0, name.size() - e.size());
    }
  }
  return std::nullopt;
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace detail

// Recognises tTTT.tif, maskTTT.tif, man_segTTT.tif, man_seg_TTT_ZZZ.tif and man_segTTT_ZZZ.tif.
inline std::optional<CtcFileName> parse_ctc_file_name(const std::string& file_name) {
  const auto stem = detail::tiff_stem(file_name);
  if (!stem) return std::nullopt;
  const std::string& s = *stem;
  CtcFileName r;
  auto whole = [&](std::size_t pos, CtcFileKind kind) -> std::optional<CtcFileName> {
    r.kind = kind;
    r.digits = detail::parse_ctc_number(s, pos, s.size(), r.frame);
    return r.digits ? std::optional<CtcFileName>(r) : std::nullopt;
  };
  if (detail::starts_with(s, "man_seg")) {
    r.kind = CtcFileKind::gt_seg;
    std::size_t pos = 7;
    const bool underscore = s.size() > pos && s[pos] == '_';
    if (underscore) ++pos;  // man_seg_TTT_ZZZ
    const std::size_t sep = s.find('_', pos);
    if (sep == std::string::npos) {
      if (underscore) return std::nullopt;  // man_seg_TTT without a plane is not a CTC name
      return whole(pos, CtcFileKind::gt_seg);
    }
    r.digits = detail::parse_ctc_number(s, pos, sep, r.frame);
    int plane = 0;
    if (!r.digits || !detail::parse_ctc_number(s, sep + 1, s.size(), plane)) return std::nullopt;
    r.plane = plane;
    return r;
  }
  if (detail::starts_with(s, "mask")) return whole(4, CtcFileKind::result_mask);
  if (detail::starts_with(s, "t")) return whole(1, CtcFileKind::image);
  return std::nullopt;
}

namespace detail {

inline void require_folder(const std::filesystem::path& folder, const char* what) {
  std::error_code ec;
  if (!std::filesystem::exists(folder, ec))
    throw IoError(std::string("cannot read ") + what + " " + folder.string() + ": no such folder");
  if (!std::filesystem::is_directory(folder, ec))
    throw IoError(std::string("cannot read ") + what + " " + folder.string() + ": not a folder");
}

// Files of `kind` in `folder`, in name order.
inline std::vector<std::pair<CtcFileName, std::filesystem::path>> ctc_files(
    const std::filesystem::path& folder, CtcFileKind kind) {
  std::vector<std::pair<CtcFileName, std::filesystem::path>> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto name = parse_ctc_file_name(it->path().filename().string());
    if (name && name->kind == kind) out.emplace_back(*name, it->path());
  }
  if (ec) throw IoError("cannot list " + folder.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

// frame -> path; two files for one frame (t000.tif and t0000.tif) are an error.
inline std::map<int, std::filesystem::path> ctc_frame_map(const std::filesystem::path& folder,
                                                          CtcFileKind kind, const char* what) {
  require_folder(folder, what);
  std::map<int, std::filesystem::path> frames;
  for (const auto& [name, path] : ctc_files(folder, kind)) {
    if (name.plane >= 0) continue;  // single-plane GT files: see list_ctc_gt
    const auto [it, fresh] = frames.emplace(name.frame, path);
    if (!fresh)
      throw IoError("ambiguous " + std::string(what) + " " + folder.string() + ": " +
                    it->second.filename().string() + " and " + path.filename().string() +
                    " are both frame " + std::to_string(name.frame));
  }
  return frames;
}

inline std::string frame_number(int frame, int digits) {
  std::string s = std::to_string(frame);
  return std::string(s.size() < static_cast<std::size_t>(digits) ? digits - s.size() : 0, '0') + s;
}

}  // namespace detail

// Images tTTT.tif of a sequence folder (NN), by frame number.
inline std::map<int, std::filesystem::path> list_ctc_images(const std::filesystem::path& folder) {
  return detail::ctc_frame_map(folder, CtcFileKind::image, "image folder");
}

// Result masks maskTTT.tif of a result folder (NN_RES*), by frame number.
inline std::map<int, std::filesystem::path> list_ctc_results(const std::filesystem::path& folder) {
  return detail::ctc_frame_map(folder, CtcFileKind::result_mask, "result folder");
}

// Whole-frame GT files man_segTTT.tif of a SEG folder, by frame number. Single-plane files
// (man_seg_TTT_ZZZ.tif) are not listed here: use list_ctc_gt, which returns both.
inline std::map<int, std::filesystem::path> list_ctc_gt_frames(const std::filesystem::path& seg_folder) {
  return detail::ctc_frame_map(seg_folder, CtcFileKind::gt_seg, "ground-truth SEG folder");
}

// Every GT file of a SEG folder, whole frames and single planes, ordered by (frame, plane).
// A frame given both as a whole file and as planes, or twice, is an error.
inline std::vector<CtcGtFile> list_ctc_gt(const std::filesystem::path& seg_folder) {
  detail::require_folder(seg_folder, "ground-truth SEG folder");
  std::map<std::pair<int, int>, CtcGtFile> files;
  for (const auto& [name, path] : detail::ctc_files(seg_folder, CtcFileKind::gt_seg)) {
    CtcGtFile f{name.frame, name.plane, name.digits, path};
    const auto [it, fresh] = files.emplace(std::make_pair(name.frame, name.plane), f);
    if (!fresh)
      throw IoError("ambiguous ground-truth SEG folder " + seg_folder.string() + ": " +
                    it->second.path.filename().string() + " and " + path.filename().string() +
                    " are the same frame" + (name.plane >= 0 ? " and plane" : ""));
  }
  std::vector<CtcGtFile> out;
  for (auto& [key, f] : files) {
    if (f.plane >= 0 && files.count({f.frame, -1}))
      throw IoError("ambiguous ground-truth SEG folder " + seg_folder.string() + ": frame " +
                    std::to_string(f.frame) + " has both a whole-frame file and plane files");
    out.push_back(f);
  }
  return out;
}

// The SEG folder of a ground-truth path: NN_GT/SEG itself, or NN_GT (which holds SEG/).
inline std::filesystem::path ctc_seg_folder(const std::filesystem::path& gt) {
  std::error_code ec;
  if (std::filesystem::is_directory(gt / "SEG", ec)) return gt / "SEG";
  detail::require_folder(gt, "ground-truth SEG folder");
  return gt;
}

// Each GT file with the result mask of its frame. GT frames whose result is missing throw
// IoError naming the expected file; result frames without GT are ignored (sparse GT).
inline std::vector<CtcPair> pair_ctc_frames(const std::filesystem::path& gt_folder,
                                            const std::filesystem::path& result_folder) {
  const std::filesystem::path seg = ctc_seg_folder(gt_folder);
  const auto gt = list_ctc_gt(seg);
  if (gt.empty())
    throw IoError("ground-truth SEG folder " + seg.string() +
                  " holds no man_segTTT.tif or man_seg_TTT_ZZZ.tif file");
  const auto results = list_ctc_results(result_folder);
  std::vector<CtcPair> pairs;
  for (const CtcGtFile& g : gt) {
    const auto r = results.find(g.frame);
    if (r == results.end())
      throw IoError("missing result " +
                    (result_folder / ("mask" + detail::frame_number(g.frame, g.digits) + ".tif")).string() +
                    " for ground truth " + g.path.string() +
                    " (every annotated frame needs a result mask)");
    pairs.push_back({g.frame, g.plane, g.path, r->second});
  }
  return pairs;
}

// What a path is in the CTC layout, judged by content first (so renamed folders work), then by
// name for empty folders. Throws IoError when the path does not exist.
inline CtcPathKind classify_ctc_path(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError("cannot read " + path.string() + ": no such file or folder");
  if (!fs::is_directory(path, ec)) return CtcPathKind::file;
  bool gt = false, mask = false, image = false;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = parse_ctc_file_name(it->path().filename().string());
    if (!name || !it->is_regular_file(ec)) continue;
    gt |= name->kind == CtcFileKind::gt_seg;
    mask |= name->kind == CtcFileKind::result_mask;
    image |= name->kind == CtcFileKind::image;
  }
  if (gt) return CtcPathKind::gt_seg_folder;
  if (fs::is_directory(path / "SEG", ec)) return CtcPathKind::gt_sequence_folder;
  if (mask) return CtcPathKind::result_folder;
  if (image) return CtcPathKind::image_folder;
  // Empty folders: the CTC names.
  std::string name = path.filename().string();
  if (name.empty()) name = path.parent_path().filename().string();  // "NN_RES/"
  if (name == "SEG") return CtcPathKind::gt_seg_folder;
  if (name.size() >= 6 && name.compare(2, 4, "_RES") == 0) return CtcPathKind::result_folder;
  return CtcPathKind::unknown;
}

}  // namespace qanet
