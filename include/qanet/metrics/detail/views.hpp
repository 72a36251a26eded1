#pragma once
// Lets the metric entry points take ImageView<T, Dim>, ImageView<const T, Dim> or Image<T, Dim>
// alike, with the label type of ground truth and prediction chosen independently.

#include <type_traits>

#include "qanet/core/image.hpp"

namespace qanet::detail {

template <typename V>
struct LabelViewTraits {
  static constexpr bool valid = false;
};
template <typename T, int Dim>
struct LabelViewTraits<ImageView<T, Dim>> {
  static constexpr bool valid = std::is_integral_v<std::remove_const_t<T>>;
  static constexpr int dim = Dim;
  using type = ImageView<const std::remove_const_t<T>, Dim>;
  static type view(const ImageView<T, Dim>& v) { return v; }
};
template <typename T, int Dim>
struct LabelViewTraits<Image<T, Dim>> {
  static constexpr bool valid = std::is_integral_v<T>;
  static constexpr int dim = Dim;
  using type = ImageView<const T, Dim>;
  static type view(const Image<T, Dim>& v) { return v.view(); }
};

template <typename V>
auto const_label_view(const V& v) {
  using Tr = LabelViewTraits<std::decay_t<V>>;
  static_assert(Tr::valid,
                "qanet metrics take label images as ImageView<T, Dim> or Image<T, Dim> with an "
                "integer element type T");
  return Tr::view(v);
}

template <typename G, typename P>
constexpr void static_check_pair() {
  using TG = LabelViewTraits<std::decay_t<G>>;
  using TP = LabelViewTraits<std::decay_t<P>>;
  static_assert(TG::valid && TP::valid,
                "qanet metrics take label images as ImageView<T, Dim> or Image<T, Dim> with an "
                "integer element type T");
  if constexpr (TG::valid && TP::valid)
    static_assert(TG::dim == TP::dim, "ground truth and prediction must have the same dimension");
}

}  // namespace qanet::detail
