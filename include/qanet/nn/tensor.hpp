#pragma once
// Tensor<T>: a dense N,C,(D),H,W array, row-major (the last axis fastest; cuDNN's packed NCHW /
// NCDHW layout), also used for parameters of any rank ([out, in, kh, kw], [out], ...).
// Buffers are reused: reshape() only allocates when the new size exceeds the capacity, so a
// training loop that repeats the same shapes allocates during the first step only.

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet::nn {

constexpr int max_rank = 5;

// Extents of a tensor of rank 1..5, in row-major order.
struct TensorShape {
  std::array<Index, max_rank> dims{};
  int rank = 0;

  TensorShape() = default;
  TensorShape(std::initializer_list<Index> d) {
    if (d.size() > max_rank) throw InvalidArgument("TensorShape: rank above 5");
    rank = static_cast<int>(d.size());
    std::copy(d.begin(), d.end(), dims.begin());
  }
  static TensorShape from(const std::vector<Index>& d) {
    if (d.size() > max_rank) throw InvalidArgument("TensorShape: rank above 5");
    TensorShape s;
    s.rank = static_cast<int>(d.size());
    std::copy(d.begin(), d.end(), s.dims.begin());
    return s;
  }
  Index operator[](int a) const { return dims[a]; }
  Index& operator[](int a) { return dims[a]; }
  Index numel() const {
    Index n = 1;
    for (int a = 0; a < rank; ++a) n *= dims[a];
    return n;
  }
  // Product of the extents from axis `a` on (the stride of axis a-1).
  Index tail(int a) const {
    Index n = 1;
    for (int i = a; i < rank; ++i) n *= dims[i];
    return n;
  }
  std::vector<Index> vec() const { return std::vector<Index>(dims.begin(), dims.begin() + rank); }
  friend bool operator==(const TensorShape& a, const TensorShape& b) {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[i] != b.dims[i]) return false;
    return true;
  }
  friend bool operator!=(const TensorShape& a, const TensorShape& b) { return !(a == b); }
  std::string str() const {
    std::ostringstream os;
    os << '[';
    for (int i = 0; i < rank; ++i) os << (i ? ", " : "") << dims[i];
    os << ']';
    return os.str();
  }
};

// The N,C,spatial... shape of an activation tensor of a Dim-dimensional network.
template <int Dim>
TensorShape activation_shape(Index n, Index c, const std::array<Index, Dim>& spatial) {
  TensorShape s;
  s.rank = 2 + Dim;
  s.dims[0] = n;
  s.dims[1] = c;
  for (int a = 0; a < Dim; ++a) s.dims[2 + a] = spatial[a];
  return s;
}

template <int Dim>
std::array<Index, Dim> spatial_of(const TensorShape& s) {
  std::array<Index, Dim> sp{};
  for (int a = 0; a < Dim; ++a) sp[a] = s.dims[2 + a];
  return sp;
}

template <typename T>
class Tensor {
 public:
  using value_type = T;
  Tensor() = default;
  explicit Tensor(const TensorShape& s, T fill = T(0)) { reshape(s, fill); }

  // Sets the shape; keeps the allocation when it is large enough. Contents are unspecified
  // after a size change unless `fill` is given through reshape(s, fill).
  void reshape(const TensorShape& s) {
    for (int a = 0; a < s.rank; ++a)
      if (s.dims[a] < 0) throw InvalidArgument("Tensor: negative extent in shape " + s.str());
    shape_ = s;
    data_.resize(static_cast<std::size_t>(s.numel()));
  }
  void reshape(const TensorShape& s, T fill) {
    reshape(s);
    std::fill(data_.begin(), data_.end(), fill);
  }
  void zero() { std::fill(data_.begin(), data_.end(), T(0)); }

  const TensorShape& shape() const { return shape_; }
  Index dim(int a) const { return shape_.dims[a]; }
  int rank() const { return shape_.rank; }
  Index numel() const { return static_cast<Index>(data_.size()); }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T& operator[](Index i) { return data_[static_cast<std::size_t>(i)]; }
  const T& operator[](Index i) const { return data_[static_cast<std::size_t>(i)]; }
  T* begin() { return data_.data(); }
  T* end() { return data_.data() + data_.size(); }
  const T* begin() const { return data_.data(); }
  const T* end() const { return data_.data() + data_.size(); }
  std::size_t capacity() const { return data_.capacity(); }

  // Copy with conversion (float <-> double for gradient checks and file I/O).
  template <typename U>
  void assign(const Tensor<U>& o) {
    reshape(o.shape());
    for (Index i = 0; i < numel(); ++i) data_[i] = static_cast<T>(o[i]);
  }

 private:
  TensorShape shape_;
  std::vector<T> data_;
};

// Throws InvalidArgument naming `what` unless `t` has shape `s`.
template <typename T>
void require_shape(const Tensor<T>& t, const TensorShape& s, const char* what) {
  if (t.shape() != s)
    throw InvalidArgument(std::string(what) + ": expected shape " + s.str() + ", got " +
                          t.shape().str());
}

}  // namespace qanet::nn
