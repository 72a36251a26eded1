#pragma once
// AnyImage: a 2D or 3D image whose pixel type is known only at run time (what a file holds),
// and its checked conversion to the statically typed Image<T, Dim> / LabelImage<Dim>.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/labels.hpp"

namespace qanet {

// Pixel types qanet reads. write_tiff writes u8, u16, u32, i32 and f32.
enum class PixelType { u8, i8, u16, i16, u32, i32, u64, i64, f32, f64 };

inline const char* pixel_type_name(PixelType t) {
  switch (t) {
    case PixelType::u8: return "uint8";
    case PixelType::i8: return "int8";
    case PixelType::u16: return "uint16";
    case PixelType::i16: return "int16";
    case PixelType::u32: return "uint32";
    case PixelType::i32: return "int32";
    case PixelType::u64: return "uint64";
    case PixelType::i64: return "int64";
    case PixelType::f32: return "float32";
    case PixelType::f64: return "float64";
  }
  return "unknown";
}

template <typename T>
struct PixelTypeOf;  // undefined for types qanet does not store
template <> struct PixelTypeOf<std::uint8_t> { static constexpr PixelType value = PixelType::u8; };
template <> struct PixelTypeOf<std::int8_t> { static constexpr PixelType value = PixelType::i8; };
template <> struct PixelTypeOf<std::uint16_t> { static constexpr PixelType value = PixelType::u16; };
template <> struct PixelTypeOf<std::int16_t> { static constexpr PixelType value = PixelType::i16; };
template <> struct PixelTypeOf<std::uint32_t> { static constexpr PixelType value = PixelType::u32; };
template <> struct PixelTypeOf<std::int32_t> { static constexpr PixelType value = PixelType::i32; };
template <> struct PixelTypeOf<std::uint64_t> { static constexpr PixelType value = PixelType::u64; };
template <> struct PixelTypeOf<std::int64_t> { static constexpr PixelType value = PixelType::i64; };
template <> struct PixelTypeOf<float> { static constexpr PixelType value = PixelType::f32; };
template <> struct PixelTypeOf<double> { static constexpr PixelType value = PixelType::f64; };

template <typename T>
constexpr PixelType pixel_type_of = PixelTypeOf<std::remove_const_t<T>>::value;

inline int pixel_type_bytes(PixelType t) {
  switch (t) {
    case PixelType::u8: case PixelType::i8: return 1;
    case PixelType::u16: case PixelType::i16: return 2;
    case PixelType::u32: case PixelType::i32: case PixelType::f32: return 4;
    case PixelType::u64: case PixelType::i64: case PixelType::f64: return 8;
  }
  return 0;
}

namespace detail {

// Value v of type S converted to T; false when T cannot hold it (out of range, NaN to integer).
// Float to integer keeps the integer part, like static_cast.
template <typename T, typename S>
inline bool convert_value(S v, T& out) {
  if constexpr (std::is_same_v<T, S>) {
    out = v;
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<T>(v);  // float64 -> float32 may round; overflow gives inf, as numpy does
    return true;
  } else if constexpr (std::is_floating_point_v<S>) {
    // Bounds as doubles: [min, max + 1) is exactly representable for every integer type here.
    const double lo = static_cast<double>(std::numeric_limits<T>::min());
    const double hi = static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
    const double d = static_cast<double>(v);
    if (!(d > lo - 1.0 && d < hi)) return false;
    out = static_cast<T>(d);
    return true;
  } else {
    // Integer to integer: only narrowing or sign changes can fail; compare without overflow.
    if constexpr (std::is_signed_v<S> && !std::is_signed_v<T>) {
      if (v < 0) return false;
      if constexpr (sizeof(S) > sizeof(T))
        if (static_cast<std::make_unsigned_t<S>>(v) > std::numeric_limits<T>::max()) return false;
    } else if constexpr (!std::is_signed_v<S> && std::is_signed_v<T>) {
      if constexpr (sizeof(S) >= sizeof(T))
        if (v > static_cast<std::make_unsigned_t<T>>(std::numeric_limits<T>::max())) return false;
    } else if constexpr (sizeof(S) > sizeof(T)) {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
    }
    out = static_cast<T>(v);
    return true;
  }
}

}  // namespace detail

class AnyImage {
 public:
  using Storage = std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>,
                               std::vector<std::uint16_t>, std::vector<std::int16_t>,
                               std::vector<std::uint32_t>, std::vector<std::int32_t>,
                               std::vector<std::uint64_t>, std::vector<std::int64_t>,
                               std::vector<float>, std::vector<double>>;

  AnyImage() = default;
  // Zero-filled image of the given type; shape in numpy order, 2 or 3 extents.
  AnyImage(PixelType type, std::vector<Index> shape, std::string source = {})
      : shape_(std::move(shape)), source_(std::move(source)) {
    if (shape_.size() != 2 && shape_.size() != 3)
      throw InvalidArgument("AnyImage: images are 2D or 3D, got " + std::to_string(shape_.size()) +
                            " axes");
    Index n = 1;
    for (Index e : shape_) {
      if (e < 0) throw InvalidArgument("AnyImage: negative extent");
      n *= e;
    }
    storage_ = make_storage(type, static_cast<std::size_t>(n));
  }
  template <typename T, int Dim>
  explicit AnyImage(const ImageView<T, Dim>& v, std::string source = {})
      : shape_(v.shape().extent.begin(), v.shape().extent.end()),
        storage_(std::vector<std::remove_const_t<T>>(v.begin(), v.end())),
        source_(std::move(source)) {}

  PixelType pixel_type() const { return static_cast<PixelType>(storage_.index()); }
  int dim() const { return static_cast<int>(shape_.size()); }
  // Extents in numpy order: (rows, cols) or (pages, rows, cols).
  const std::vector<Index>& shape() const { return shape_; }
  Index size() const {
    return std::visit([](const auto& v) { return static_cast<Index>(v.size()); }, storage_);
  }
  // The file the image came from, used in error messages ("" when built in memory).
  const std::string& source() const { return source_; }

  // Raw bytes, for decoders that fill the buffer.
  void* bytes() {
    return std::visit([](auto& v) -> void* { return v.data(); }, storage_);
  }
  const void* bytes() const {
    return std::visit([](const auto& v) -> const void* { return v.data(); }, storage_);
  }

  // The values as stored; throws InvalidArgument when T is not the stored type.
  template <typename T>
  const std::vector<T>& values() const {
    if (const auto* v = std::get_if<std::vector<T>>(&storage_)) return *v;
    throw InvalidArgument(what() + ": holds " + pixel_type_name(pixel_type()) + " pixels, not " +
                          pixel_type_name(pixel_type_of<T>));
  }
  template <typename T>
  std::vector<T>& values() {
    if (auto* v = std::get_if<std::vector<T>>(&storage_)) return *v;
    throw InvalidArgument(what() + ": holds " + pixel_type_name(pixel_type()) + " pixels, not " +
                          pixel_type_name(pixel_type_of<T>));
  }

  // f(const std::vector<T>&) with the stored T.
  template <typename F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), storage_);
  }

  // The Dim-dimensional shape. A 2D image asked for as 3D becomes 1 x H x W (one plane);
  // a 3D image asked for as 2D is an error (a file with a single page is always 2D).
  template <int Dim>
  Shape<Dim> shape_as() const {
    static_assert(Dim == 2 || Dim == 3, "qanet images are 2D or 3D");
    Shape<Dim> s;
    if (dim() == Dim) {
      for (int a = 0; a < Dim; ++a) s[a] = shape_[a];
    } else if (Dim == 3 && dim() == 2) {
      s[0] = 1;
      s[1] = shape_[0];
      s[Dim - 1] = shape_[1];
    } else {
      throw InvalidArgument(what() + ": expected a " + std::to_string(Dim) + "D image, got a " +
                            std::to_string(dim()) + "D image of shape " + shape_string());
    }
    return s;
  }

  // Numeric conversion to Image<T, Dim>. Values T cannot hold (negative to unsigned, too
  // large, NaN to integer) throw InvalidArgument naming the source; float to integer keeps the
  // integer part (like static_cast).
  template <typename T, int Dim>
  Image<T, Dim> as() const {
    Image<T, Dim> out(shape_as<Dim>());
    std::visit(
        [&](const auto& v) {
          using S = typename std::decay_t<decltype(v)>::value_type;
          T* dst = out.data();
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (!detail::convert_value<T, S>(v[i], dst[i]))
              throw InvalidArgument(what() + ": value " + std::to_string(v[i]) + " of a " +
                                    pixel_type_name(pixel_type_of<S>) + " image does not fit in " +
                                    pixel_type_name(pixel_type_of<T>));
          }
        },
        storage_);
    return out;
  }

  // Instance labels (core/labels.hpp's to_labels): negative, fractional or too large values
  // throw InvalidArgument naming the source.
  template <int Dim>
  LabelImage<Dim> as_labels() const {
    const Shape<Dim> s = shape_as<Dim>();
    return std::visit(
        [&](const auto& v) {
          using S = typename std::decay_t<decltype(v)>::value_type;
          return to_labels(ImageView<const S, Dim>(v.data(), s), what());
        },
        storage_);
  }

  // "690x628" in numpy order.
  std::string shape_string() const {
    std::string r;
    for (std::size_t a = 0; a < shape_.size(); ++a) r += (a ? "x" : "") + std::to_string(shape_[a]);
    return r;
  }

 private:
  std::string what() const { return source_.empty() ? std::string("image") : source_; }

  static Storage make_storage(PixelType t, std::size_t n) {
    switch (t) {
      case PixelType::u8: return std::vector<std::uint8_t>(n);
      case PixelType::i8: return std::vector<std::int8_t>(n);
      case PixelType::u16: return std::vector<std::uint16_t>(n);
      case PixelType::i16: return std::vector<std::int16_t>(n);
      case PixelType::u32: return std::vector<std::uint32_t>(n);
      case PixelType::i32: return std::vector<std::int32_t>(n);
      case PixelType::u64: return std::vector<std::uint64_t>(n);
      case PixelType::i64: return std::vector<std::int64_t>(n);
      case PixelType::f32: return std::vector<float>(n);
      case PixelType::f64: return std::vector<double>(n);
    }
    throw InvalidArgument("AnyImage: unknown pixel type");
  }

  std::vector<Index> shape_;
  Storage storage_;
  std::string source_;
};

}  // namespace qanet
