#pragma once
// Shape<Dim>: extents in numpy order (z, y, x in 3D; y, x in 2D), row-major (x fastest).
// Spacing<Dim>: physical size of a voxel along each axis, same order.

#include <array>
#include <cstdint>
#include <sstream>
#include <string>

#include "qanet/config.hpp"

namespace qanet {

using Index = std::int64_t;

template <int Dim>
struct Shape {
  static_assert(Dim == 2 || Dim == 3, "qanet images are 2D or 3D");
  std::array<Index, Dim> extent{};

  Shape() = default;
  constexpr explicit Shape(const std::array<Index, Dim>& e) : extent(e) {}
  template <typename... I, typename = std::enable_if_t<sizeof...(I) == Dim>>
  constexpr Shape(I... e) : extent{static_cast<Index>(e)...} {}

  constexpr Index operator[](int axis) const { return extent[axis]; }
  constexpr Index& operator[](int axis) { return extent[axis]; }
  constexpr Index size() const {
    Index n = 1;
    for (Index e : extent) n *= e;
    return n;
  }
  constexpr bool empty() const { return size() == 0; }
  // Distance in elements between neighbours along an axis.
  constexpr Index stride(int axis) const {
    Index s = 1;
    for (int a = Dim - 1; a > axis; --a) s *= extent[a];
    return s;
  }
  constexpr Index offset(const std::array<Index, Dim>& p) const {
    Index o = 0;
    for (int a = 0; a < Dim; ++a) o = o * extent[a] + p[a];
    return o;
  }
  constexpr std::array<Index, Dim> coords(Index offset) const {
    std::array<Index, Dim> p{};
    for (int a = Dim - 1; a >= 0; --a) {
      p[a] = offset % extent[a];
      offset /= extent[a];
    }
    return p;
  }
  constexpr bool contains(const std::array<Index, Dim>& p) const {
    for (int a = 0; a < Dim; ++a)
      if (p[a] < 0 || p[a] >= extent[a]) return false;
    return true;
  }
  friend constexpr bool operator==(const Shape& a, const Shape& b) { return a.extent == b.extent; }
  friend constexpr bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  // "690x628" in numpy order, as printed in error messages.
  std::string str() const {
    std::ostringstream os;
    for (int a = 0; a < Dim; ++a) os << (a ? "x" : "") << extent[a];
    return os.str();
  }
};

// Index i (any integer) reflected into [0, n) with the edge sample repeated (numpy 'symmetric',
// scipy 'reflect': ... b a | a b c d | d c ...), for padding by mirroring.
inline Index reflect_index(Index i, Index n) {
  if (n == 1) return 0;
  const Index period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

template <int Dim>
using Spacing = std::array<double, Dim>;

template <int Dim>
constexpr Spacing<Dim> unit_spacing() {
  Spacing<Dim> s{};
  for (auto& v : s) v = 1.0;
  return s;
}

}  // namespace qanet
