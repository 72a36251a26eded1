#pragma once
// Sums that vectorise but do not depend on memory alignment: element j always goes to lane
// j % 16 and the lanes are added in a fixed order, so the same data gives the same bits at any
// address (Eigen's reductions start their packets at the first aligned element, which makes
// the rounding depend on where the allocator put the buffer; bit-exact training resumes need
// better).

#include "qanet/core/shape.hpp"

namespace qanet::detail {

template <typename T, typename F>
T lane_sum(Index n, F&& value) {
  constexpr int L = 16;
  T acc[L] = {};
  Index j = 0;
  for (; j + L <= n; j += L)
    for (int k = 0; k < L; ++k) acc[k] += value(j + k);
  for (int k = 0; j < n; ++j, ++k) acc[k] += value(j);
  T s = 0;
  for (int k = 0; k < L; ++k) s += acc[k];
  return s;
}

template <typename T>
T plain_sum(const T* p, Index n) {
  return lane_sum<T>(n, [p](Index j) { return p[j]; });
}

// sum (p[j] - m)^2
template <typename T>
T squared_deviation_sum(const T* p, Index n, T m) {
  return lane_sum<T>(n, [p, m](Index j) { return (p[j] - m) * (p[j] - m); });
}

}  // namespace qanet::detail
