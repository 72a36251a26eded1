#pragma once
// Thin helpers over oneTBB. The thread count is the application's business
// (tbb::global_control in main); library code only expresses parallelism.

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "qanet/core/shape.hpp"

namespace qanet {

// Calls body(begin, end) on disjoint chunks of [0, n). `grain` is the smallest chunk.
template <typename Body>
void parallel_chunks(Index n, Index grain, Body&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain) {
    body(Index{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<Index>(0, n, grain),
                    [&](const tbb::blocked_range<Index>& r) { body(r.begin(), r.end()); });
}

// Calls body(i) for every i in [0, n).
template <typename Body>
void parallel_for_each_index(Index n, Index grain, Body&& body) {
  parallel_chunks(n, grain, [&](Index b, Index e) {
    for (Index i = b; i < e; ++i) body(i);
  });
}

}  // namespace qanet
