#pragma once
// Tiling a whole image into patches (SPEC §9): start positions per axis so that patches of a
// given size and stride cover the image, the last one flush with the far edge or, with an
// alignment, at the next multiple of it (reaching past the edge: the caller pads).

#include <algorithm>
#include <array>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet {

// Starts along one axis of length n: 0, stride, 2 stride, ..., and last n - patch rounded up
// to a multiple of `align`. A patch larger than the axis gives the single start 0 (the caller
// pads).
inline std::vector<Index> tile_starts(Index n, Index patch, Index stride, Index align = 1) {
  if (patch < 1 || stride < 1 || align < 1) throw InvalidArgument("tiling: patch, stride and alignment must be positive");
  std::vector<Index> s;
  if (n <= patch) return {0};
  for (Index p = 0; p + patch < n; p += stride) s.push_back(p);
  const Index aligned = (n - patch + align - 1) / align * align;
  s.push_back(aligned <= s.back() + patch ? aligned : n - patch);  // never a gap before it
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

template <int Dim>
struct Tile {
  std::array<Index, Dim> origin{};  // first voxel, numpy order
  std::array<Index, Dim> index{};   // position in the tile grid
};

// Every tile of a grid covering `shape` with patches of `patch` voxels and `stride`, in
// row-major order of the grid.
template <int Dim>
std::vector<Tile<Dim>> make_tiles(const Shape<Dim>& shape, const std::array<Index, Dim>& patch,
                                  const std::array<Index, Dim>& stride, Index align = 1) {
  std::array<std::vector<Index>, Dim> starts;
  for (int a = 0; a < Dim; ++a) starts[a] = tile_starts(shape[a], patch[a], stride[a], align);
  std::vector<Tile<Dim>> tiles;
  std::array<Index, Dim> k{};
  while (true) {
    Tile<Dim> t;
    for (int a = 0; a < Dim; ++a) t.origin[a] = starts[a][k[a]], t.index[a] = k[a];
    tiles.push_back(t);
    int a = Dim - 1;
    while (a >= 0 && ++k[a] == static_cast<Index>(starts[a].size())) k[a--] = 0;
    if (a < 0) break;
  }
  return tiles;
}

}  // namespace qanet
