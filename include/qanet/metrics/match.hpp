#pragma once
// Cell Tracking Challenge matching (SPEC §7): ground-truth object R is matched to the predicted
// object S with |R ∩ S| > 0.5 |R| (at most one S qualifies); its Jaccard index is then
// |R ∩ S| / |R ∪ S|, else 0. Computed from one pass over the voxels.

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/metrics/detail/overlap.hpp"
#include "qanet/metrics/detail/views.hpp"

namespace qanet {

// One ground-truth object and its CTC partner.
struct ObjectMatch {
  Label gt_label = 0;
  Index gt_size = 0;
  Label pred_label = 0;  // 0: no prediction covers more than half of the object
  Index pred_size = 0;
  Index intersection = 0;
  Index union_size = 0;
  double jaccard = 0.0;
  bool matched() const { return pred_label != 0; }
};

struct MatchResult {
  std::vector<ObjectMatch> objects;  // one per ground-truth object, by increasing label
  Index gt_objects = 0;
  Index pred_objects = 0;
  Index matched = 0;         // matched ground-truth objects
  Index unmatched_gt = 0;    // missed ground-truth objects
  Index unmatched_pred = 0;  // predicted objects matched to no ground-truth object (false positives)
};

namespace detail {

template <int Dim>
struct MatchWithBoxes {
  MatchResult result;
  // For each record of result.objects: its box, and its partner's box (empty when unmatched).
  std::vector<std::pair<Box<Dim>, Box<Dim>>> boxes;
};

template <typename LG, typename LP, int Dim>
MatchWithBoxes<Dim> match_impl(const ImageView<const LG, Dim>& gt,
                               const ImageView<const LP, Dim>& pred) {
  const OverlapTable<Dim> t = overlap_table(gt, pred);
  std::vector<Label> labels;
  labels.reserve(t.gt.size());
  for (const auto& kv : t.gt) labels.push_back(kv.first);
  std::sort(labels.begin(), labels.end());

  // A qualifying overlap exceeds half of R, so at most one pair per R qualifies.
  std::unordered_map<Label, std::pair<Label, Index>> partner;
  for (const auto& [key, n] : t.pairs) {
    const Label g = static_cast<Label>(key >> 32);
    if (2 * n > t.gt.at(g).size) partner[g] = {static_cast<Label>(key & 0xffffffffu), n};
  }

  MatchWithBoxes<Dim> out;
  MatchResult& r = out.result;
  r.gt_objects = static_cast<Index>(labels.size());
  r.pred_objects = static_cast<Index>(t.pred.size());
  std::unordered_set<Label> used;
  for (Label g : labels) {
    const ObjectStats<Dim>& gs = t.gt.at(g);
    ObjectMatch m;
    m.gt_label = g;
    m.gt_size = gs.size;
    m.union_size = gs.size;
    Box<Dim> pbox;
    const auto it = partner.find(g);
    if (it != partner.end()) {
      const ObjectStats<Dim>& ps = t.pred.at(it->second.first);
      m.pred_label = it->second.first;
      m.pred_size = ps.size;
      m.intersection = it->second.second;
      m.union_size = gs.size + ps.size - m.intersection;
      m.jaccard = static_cast<double>(m.intersection) / static_cast<double>(m.union_size);
      pbox = ps.box;
      used.insert(m.pred_label);
      ++r.matched;
    }
    r.objects.push_back(m);
    out.boxes.emplace_back(gs.box, pbox);
  }
  r.unmatched_gt = r.gt_objects - r.matched;
  r.unmatched_pred = r.pred_objects - static_cast<Index>(used.size());
  return out;
}

}  // namespace detail

// gt, pred: ImageView<T, Dim> / Image<T, Dim> of any integer types (they may differ), same
// shape. Throws InvalidArgument for different shapes, negative labels or labels over 32 bits.
template <typename G, typename P>
MatchResult match_objects(const G& gt, const P& pred) {
  detail::static_check_pair<G, P>();
  return detail::match_impl(detail::const_label_view(gt), detail::const_label_view(pred)).result;
}

// One predicted object and its best ground-truth partner by intersection over union: the
// quality of that object on its own (per-object scores, qa/assessor.hpp assess_objects), where
// SEG judges ground-truth objects. A false positive touching no ground-truth object has IoU 0.
struct PredictedObjectIoU {
  Label pred_label = 0;
  Index pred_size = 0;
  Label gt_label = 0;  // 0: it touches no ground-truth object
  double iou = 0.0;
};

// The name of that quality as a model's metric: per-object models are trained on it
// (qa/training_data.hpp) and judge one object at a time (Assessor::assess_objects).
inline const std::string per_object_metric = "iou";

// Every predicted object of `pred` (by increasing label) with its best IoU against `gt`;
// ties go to the smaller ground-truth label. Same inputs as match_objects.
template <typename G, typename P>
std::vector<PredictedObjectIoU> predicted_object_ious(const G& gt, const P& pred) {
  detail::static_check_pair<G, P>();
  const auto t = detail::overlap_table(detail::const_label_view(gt), detail::const_label_view(pred));
  std::unordered_map<Label, PredictedObjectIoU> best;
  for (const auto& [label, s] : t.pred) best[label] = {label, s.size, 0, 0.0};
  for (const auto& [key, n] : t.pairs) {
    const Label g = static_cast<Label>(key >> 32), p = static_cast<Label>(key & 0xffffffffu);
    PredictedObjectIoU& b = best.at(p);
    const double iou = static_cast<double>(n) / static_cast<double>(t.gt.at(g).size + b.pred_size - n);
    if (iou > b.iou || (iou == b.iou && b.gt_label != 0 && g < b.gt_label)) b.gt_label = g, b.iou = iou;
  }
  std::vector<PredictedObjectIoU> out;
  out.reserve(best.size());
  for (const auto& kv : best) out.push_back(kv.second);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pred_label < b.pred_label; });
  return out;
}

}  // namespace qanet
