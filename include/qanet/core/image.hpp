#pragma once
// ImageView<T, Dim>: a non-owning view over caller memory (contiguous, row-major, x fastest),
// so software embedding qanet passes its own buffers without copies.
// Image<T, Dim>: the owning counterpart. Both carry a per-axis spacing in numpy order.

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet {

template <typename T, int Dim>
class ImageView {
 public:
  using value_type = std::remove_const_t<T>;
  static constexpr int dim = Dim;

  ImageView() = default;
  ImageView(T* data, const Shape<Dim>& shape, const Spacing<Dim>& spacing = unit_spacing<Dim>())
      : data_(data), shape_(shape), spacing_(spacing) {
    if (data == nullptr && shape.size() != 0)
      throw InvalidArgument("ImageView: null data pointer for a non-empty shape " + shape.str());
    for (Index e : shape.extent)
      if (e < 0) throw InvalidArgument("ImageView: negative extent in shape " + shape.str());
    for (double s : spacing)
      if (!(s > 0.0) || s != s || s > 1e300)
        throw InvalidArgument("ImageView: spacing must be positive and finite");
  }
  // A view of T converts to a view of const T.
  template <typename U, typename = std::enable_if_t<std::is_same_v<const U, T>>>
  ImageView(const ImageView<U, Dim>& other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), shape_(other.shape()), spacing_(other.spacing()) {}

  T* data() const { return data_; }
  const Shape<Dim>& shape() const { return shape_; }
  const Spacing<Dim>& spacing() const { return spacing_; }
  Index size() const { return shape_.size(); }
  bool empty() const { return size() == 0; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size(); }

  T& operator[](Index i) const { return data_[i]; }
  T& at(const std::array<Index, Dim>& p) const { return data_[shape_.offset(p)]; }
  template <typename... I, typename = std::enable_if_t<sizeof...(I) == Dim>>
  T& operator()(I... idx) const {
    return data_[shape_.offset({static_cast<Index>(idx)...})];
  }

 private:
  T* data_ = nullptr;
  Shape<Dim> shape_{};
  Spacing<Dim> spacing_ = unit_spacing<Dim>();
};

template <typename T, int Dim>
class Image {
 public:
  using value_type = T;
  static constexpr int dim = Dim;

  Image() = default;
  explicit Image(const Shape<Dim>& shape, T fill = T{},
                 const Spacing<Dim>& spacing = unit_spacing<Dim>())
      : data_(static_cast<std::size_t>(checked_size(shape)), fill),
        shape_(shape),
        spacing_(spacing) {
    view();  // validates the spacing
  }
  // Deep copy of any view whose element type converts to T.
  template <typename U>
  static Image from_view(const ImageView<U, Dim>& v) {
    Image img(v.shape(), T{}, v.spacing());
    std::transform(v.begin(), v.end(), img.data_.begin(), [](auto x) { return static_cast<T>(x); });
    return img;
  }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  const Shape<Dim>& shape() const { return shape_; }
  const Spacing<Dim>& spacing() const { return spacing_; }
  void set_spacing(const Spacing<Dim>& s) {
    ImageView<const T, Dim>(data(), shape_, s);  // validates
    spacing_ = s;
  }
  Index size() const { return shape_.size(); }
  bool empty() const { return size() == 0; }
  T* begin() { return data_.data(); }
  T* end() { return data_.data() + data_.size(); }
  const T* begin() const { return data_.data(); }
  const T* end() const { return data_.data() + data_.size(); }
  std::vector<T>& vector() { return data_; }
  const std::vector<T>& vector() const { return data_; }

  T& operator[](Index i) { return data_[static_cast<std::size_t>(i)]; }
  const T& operator[](Index i) const { return data_[static_cast<std::size_t>(i)]; }
  T& at(const std::array<Index, Dim>& p) { return data_[shape_.offset(p)]; }
  const T& at(const std::array<Index, Dim>& p) const { return data_[shape_.offset(p)]; }
  template <typename... I, typename = std::enable_if_t<sizeof...(I) == Dim>>
  T& operator()(I... idx) {
    return data_[shape_.offset({static_cast<Index>(idx)...})];
  }
  template <typename... I, typename = std::enable_if_t<sizeof...(I) == Dim>>
  const T& operator()(I... idx) const {
    return data_[shape_.offset({static_cast<Index>(idx)...})];
  }

  ImageView<T, Dim> view() { return {data_.data(), shape_, spacing_}; }
  ImageView<const T, Dim> view() const { return {data_.data(), shape_, spacing_}; }
  ImageView<const T, Dim> cview() const { return view(); }
  operator ImageView<const T, Dim>() const { return view(); }  // NOLINT

 private:
  static Index checked_size(const Shape<Dim>& s) {
    for (Index e : s.extent)
      if (e < 0) throw InvalidArgument("Image: negative extent in shape " + s.str());
    return s.size();
  }
  std::vector<T> data_;
  Shape<Dim> shape_{};
  Spacing<Dim> spacing_ = unit_spacing<Dim>();
};

// Instance labels: 0 = background, each object one positive integer (not necessarily
// consecutive). uint32 covers every label file qanet reads (uint8/16/32, non-negative int32).
using Label = std::uint32_t;
template <int Dim>
using LabelImage = Image<Label, Dim>;
template <int Dim>
using LabelView = ImageView<const Label, Dim>;

template <typename T, int Dim>
ImageView<const T, Dim> make_view(const T* data, const Shape<Dim>& shape,
                                  // non-deduced: Dim comes from the shape (std::array's size is size_t)
                                  const std::common_type_t<Spacing<Dim>>& spacing = unit_spacing<Dim>()) {
  return {data, shape, spacing};
}

// Copies the window of `src` at `origin` of dst's shape (which must lie inside src) into dst.
template <typename T, int Dim>
void copy_window(const Image<T, Dim>& src, const std::array<Index, Dim>& origin, Image<T, Dim>& dst) {
  if (dst.empty()) return;
  const Index nx = dst.shape()[Dim - 1], rows = dst.size() / nx;
  for (Index r = 0; r < rows; ++r) {
    auto p = dst.shape().coords(r * nx);
    for (int a = 0; a < Dim; ++a) p[a] += origin[a];
    std::copy_n(src.data() + src.shape().offset(p), nx, dst.data() + r * nx);
  }
}

}  // namespace qanet
