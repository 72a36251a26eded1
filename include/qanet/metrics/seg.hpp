#pragma once
// The SEG score alone (no boundary metrics), for callers that only need the number.

#include <string>

#include "qanet/core/error.hpp"
#include "qanet/metrics/match.hpp"

namespace qanet {

// CTC SEG of one frame: mean Jaccard over the ground-truth objects (unmatched ones score 0).
// gt, pred: ImageView<T, Dim> or Image<T, Dim>, any integer types. Throws UndefinedValue when
// the ground truth holds no object, InvalidArgument for different shapes or negative labels.
template <typename G, typename P>
double seg_score(const G& gt, const P& pred) {
  const MatchResult m = match_objects(gt, pred);
  if (m.gt_objects == 0)
    throw UndefinedValue("SEG is undefined: the ground truth holds no ground-truth object "
                         "(every voxel is background)");
  double sum = 0.0;
  for (const ObjectMatch& o : m.objects) sum += o.jaccard;
  return sum / static_cast<double>(m.gt_objects);
}

}  // namespace qanet
