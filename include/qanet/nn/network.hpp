#pragma once
// Network<T, Dim>: RibCage, Siamese and Naive (config.hpp) with explicit backward passes.
//
// RibCage (SPEC §4): block k of the image rib takes the image rib's previous output, the same
// for the segmentation rib; the spine's block 0 takes concat(image, seg) and block k > 0
// concat(spine_{k-1}, image_rib_{k-1}, seg_rib_{k-1}); after block 3 each stream is globally
// average-pooled and the features [image_rib, spine, seg_rib] go through FC -> ReLU -> FC ->
// ReLU -> FC to cfg.outputs (1: the score; 2: and the objects in view, config.hpp). Siamese: image and seg ribs only, features [image_rib, seg_rib]. Naive: one
// stream "stream" on concat(image, seg).
//
// forward(image, seg, mode) -> [N, outputs] predictions; image and seg are [N, 1, spatial...].
// backward(dy) adds every parameter gradient and, when input gradients are enabled (the
// default), fills image_grad() and seg_grad(). Buffers are reused between steps.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "qanet/core/random.hpp"
#include "qanet/nn/activation.hpp"
#include "qanet/nn/block.hpp"
#include "qanet/nn/concat.hpp"
#include "qanet/nn/config.hpp"
#include "qanet/nn/init.hpp"
#include "qanet/nn/linear.hpp"
#include "qanet/nn/pool.hpp"

namespace qanet::nn {

template <typename T, int Dim>
class Network {
  static_assert(Dim == 2 || Dim == 3, "Network is 2D or 3D");

 public:
  static constexpr int blocks_per_stream = 4;

  explicit Network(const ModelConfig& cfg, std::uint64_t seed = 0) : cfg_(cfg) {
    if (cfg.dim != Dim)
      throw InvalidArgument("Network: config has dim " + std::to_string(cfg.dim) + ", network is " + std::to_string(Dim) + "D");
    if (cfg.widths.size() != 5) throw InvalidArgument("Network: widths must have 5 entries");
    if (cfg.outputs != 1 && cfg.outputs != 2) throw InvalidArgument("Network: outputs must be 1 or 2");
    for (Index w : cfg.widths)
      if (w < 1) throw InvalidArgument("Network: widths must be positive");
    const auto& w = cfg.widths;
    const Index p = cfg.padding;
    auto make_stream = [&](const std::string& name, Index in0, bool spine) {
      Stream s;
      s.name = name;
      for (int k = 0; k < blocks_per_stream; ++k) {
        const Index in = k == 0 ? in0 : (spine ? 3 * w[k] : w[k]);
        s.blocks.emplace_back(in, w[k + 1], p);
      }
      return s;
    };
    Index features = 0;
    switch (cfg.architecture) {
      case Architecture::ribcage:
        if (w[0] != 1) throw InvalidArgument("Network: ribcage streams take 1 input channel (widths[0] = 1)");
        streams_.push_back(make_stream("image_rib", 1, false));
        streams_.push_back(make_stream("seg_rib", 1, false));
        streams_.push_back(make_stream("spine", 2, true));
        features = 3 * w[4];
        break;
      case Architecture::siamese:
        if (w[0] != 1) throw InvalidArgument("Network: siamese streams take 1 input channel (widths[0] = 1)");
        streams_.push_back(make_stream("image_rib", 1, false));
        streams_.push_back(make_stream("seg_rib", 1, false));
        features = 2 * w[4];
        break;
      case Architecture::naive:
        if (w[0] != 2) throw InvalidArgument("Network: the naive stream takes 2 input channels (widths[0] = 2)");
        streams_.push_back(make_stream("stream", 2, false));
        features = w[4];
        break;
    }
    Index in = features;
    for (Index h : cfg.head) {
      if (h < 1) throw InvalidArgument("Network: head sizes must be positive");
      head_.emplace_back(in, h);
      in = h;
    }
    head_.emplace_back(in, cfg.outputs);
    relu_.resize(cfg.head.size());
    spine_concat_.resize(blocks_per_stream);
    gaps_.resize(streams_.size());
    grads_.resize(streams_.size());
    set_need_input_grad(true);
    init(seed);
  }

  const ModelConfig& config() const { return cfg_; }

  // PyTorch's default initialisation from `seed` (init.hpp); BatchNorm reset to 1 / 0 and
  // running statistics to 0 / 1.
  void init(std::uint64_t seed) {
    Rng rng(seed);
    for (Stream& s : streams_)
      for (Block<T, Dim>& b : s.blocks) {
        init_fan_in_uniform(b.conv.weight.value, b.conv.bias.value, rng);
        b.bn.configure(b.bn.channels());
      }
    for (Linear<T>& l : head_) init_fan_in_uniform(l.weight.value, l.bias.value, rng);
  }

  // False skips the data gradient of the first convolutions (training needs none).
  // Winograd F(2x2, 3x3) in the 2D blocks where it pays (default true; Block::set_winograd).
  void set_winograd(bool on) {
    for (Stream& s : streams_)
      for (auto& b : s.blocks) b.set_winograd(on);
  }

  void set_need_input_grad(bool v) {
    need_input_grad_ = v;
    for (Stream& s : streams_) s.blocks[0].conv.set_need_input_grad(v);
  }

  Index param_count() const {
    Index n = 0;
    for (const Stream& s : streams_)
      for (const auto& b : s.blocks) n += b.param_count();
    for (const auto& l : head_) n += l.param_count();
    return n;
  }

  std::vector<ParamRef<T>> params() {
    std::vector<ParamRef<T>> out;
    for (Stream& s : streams_)
      for (int k = 0; k < blocks_per_stream; ++k) s.blocks[k].params(s.name + "." + std::to_string(k) + ".", out);
    for (std::size_t i = 0; i < head_.size(); ++i) head_[i].params("head." + std::to_string(i) + ".", out);
    return out;
  }
  std::vector<BufferRef<T>> buffers() {
    std::vector<BufferRef<T>> out;
    for (Stream& s : streams_)
      for (int k = 0; k < blocks_per_stream; ++k) s.blocks[k].buffers(s.name + "." + std::to_string(k) + ".", out);
    return out;
  }
  // Read-only access to the same tensors (the pointers must not be written through).
  std::vector<ParamRef<T>> params() const { return const_cast<Network*>(this)->params(); }
  std::vector<BufferRef<T>> buffers() const { return const_cast<Network*>(this)->buffers(); }

  // Zeroes every parameter gradient (without building the named list: no allocation).
  void zero_grad() {
    for (Stream& s : streams_)
      for (Block<T, Dim>& b : s.blocks) {
        b.conv.weight.grad.zero();
        b.conv.bias.grad.zero();
        b.bn.weight.grad.zero();
        b.bn.bias.grad.zero();
      }
    for (Linear<T>& l : head_) {
      l.weight.grad.zero();
      l.bias.grad.zero();
    }
  }

  // Smallest accepted patch extent along each axis (every block must leave at least 1 voxel).
  Index min_input_extent() const {
    Index e = 1;
    for (int k = 0; k < blocks_per_stream; ++k) e = 2 * e + 2 - 2 * cfg_.padding;
    return e;
  }

  // Extent of the streams' last feature maps along an axis of `input` voxels (-1: too small).
  Index feature_extent(Index input) const {
    for (int k = 0; k < blocks_per_stream; ++k) {
      input = (input + 2 * cfg_.padding - 2) / 2;
      if (input < 1) return -1;
    }
    return input;
  }
  // Number of pooled features the head reads.
  Index feature_count() const { return static_cast<Index>(streams_.size()) * cfg_.widths[4]; }

  const Tensor<T>& forward(const Tensor<T>& image, const Tensor<T>& seg, Mode mode) {
    return pooled_head(feature_maps(image, seg, mode), mode);
  }
  // forward(image, seg, Mode::infer) through predict_feature_maps: the same predictions in less
  // memory; backward() must not follow.
  const Tensor<T>& predict(const Tensor<T>& image, const Tensor<T>& seg) {
    return pooled_head(predict_feature_maps(image, seg), Mode::infer);
  }

  // The streams' last feature maps ([N, C, spatial...]) in the order the head reads their means
  // (ribcage: image rib, spine, seg rib; siamese: image rib, seg rib). Any input of at least
  // min_input_extent() voxels per axis. With valid convolutions (padding 0) the maps of a large
  // input hold, as windows, exactly the maps of every patch inside it whose origin is a
  // multiple of 2^blocks_per_stream: the Assessor's shared trunk runs them once per image.
  const std::vector<const Tensor<T>*>& feature_maps(const Tensor<T>& image, const Tensor<T>& seg, Mode mode) {
    return run_streams(image, seg, [mode](Block<T, Dim>& b, Concat<T>* cat, std::initializer_list<const Tensor<T>*> xs) -> const Tensor<T>& {
      return b.forward(xs.size() == 1 ? **xs.begin() : cat->forward(xs), mode);
    });
  }

  // The same maps as feature_maps(image, seg, Mode::infer), keeping no state for a backward
  // pass (Block::predict: no pooling argmax, no whole convolution output, in 2D no copy of the
  // spine's concatenated inputs), so a large input (the Assessor's bands) needs less than half
  // the memory. backward() must not follow.
  const std::vector<const Tensor<T>*>& predict_feature_maps(const Tensor<T>& image, const Tensor<T>& seg) {
    return run_streams(image, seg, [this](Block<T, Dim>& b, Concat<T>*, std::initializer_list<const Tensor<T>*> xs) -> const Tensor<T>& {
      return b.predict(xs, conv_scratch_);
    });
  }

  // The fully connected head on pooled features [N, feature_count()] -> [N, outputs].
  const Tensor<T>& head(const Tensor<T>& features, Mode mode) {
    if (features.rank() != 2 || features.dim(1) != feature_count())
      throw InvalidArgument("Network: head expects [N, " + std::to_string(feature_count()) + "] features, got " +
                            features.shape().str());
    const Tensor<T>* h = &features;
    for (std::size_t i = 0; i < head_.size(); ++i) {
      h = &head_[i].forward(*h, mode);
      if (i < relu_.size()) h = &relu_[i].forward(*h, mode);
    }
    return *h;
  }

  void backward(const Tensor<T>& dy) {
    const Tensor<T>* g = &dy;
    for (std::size_t i = head_.size(); i-- > 0;) {
      if (i < relu_.size()) g = &relu_[i].backward(*g);
      g = &head_[i].backward(*g);
    }
    switch (cfg_.architecture) {
      case Architecture::ribcage: {
        const auto& parts = feature_concat_.backward(*g);
        copy_into(grads_[0], gaps_[0].backward(parts[0]));  // the gaps follow the maps' order
        copy_into(grads_[2], gaps_[1].backward(parts[1]));
        copy_into(grads_[1], gaps_[2].backward(parts[2]));
        Stream &im = streams_[0], &sg = streams_[1], &sp = streams_[2];
        for (int k = blocks_per_stream - 1; k >= 0; --k) {
          const Tensor<T>& dspine_in = sp.blocks[k].backward(grads_[2]);
          const Tensor<T>& dim = im.blocks[k].backward(grads_[0]);
          const Tensor<T>& dsg = sg.blocks[k].backward(grads_[1]);
          if (k == 0 && !need_input_grad_) break;
          const auto& split = spine_concat_[k].backward(dspine_in);
          if (k > 0) {
            copy_into(grads_[2], split[0]);
            add_into(grads_[0], dim, split[1]);
            add_into(grads_[1], dsg, split[2]);
          } else {
            add_into(image_grad_, dim, split[0]);
            add_into(seg_grad_, dsg, split[1]);
          }
        }
        break;
      }
      case Architecture::siamese: {
        const auto& parts = feature_concat_.backward(*g);
        copy_into(grads_[0], gaps_[0].backward(parts[0]));
        copy_into(grads_[1], gaps_[1].backward(parts[1]));
        for (int k = blocks_per_stream - 1; k >= 0; --k) {
          copy_into(k == 0 ? image_grad_ : grads_[0], streams_[0].blocks[k].backward(grads_[0]));
          copy_into(k == 0 ? seg_grad_ : grads_[1], streams_[1].blocks[k].backward(grads_[1]));
        }
        break;
      }
      case Architecture::naive: {
        copy_into(grads_[0], gaps_[0].backward(*g));
        for (int k = blocks_per_stream - 1; k >= 1; --k) copy_into(grads_[0], streams_[0].blocks[k].backward(grads_[0]));
        const Tensor<T>& d0 = streams_[0].blocks[0].backward(grads_[0]);
        if (need_input_grad_) {
          const auto& split = spine_concat_[0].backward(d0);
          copy_into(image_grad_, split[0]);
          copy_into(seg_grad_, split[1]);
        }
        break;
      }
    }
  }

  // d loss / d image and d loss / d seg of the last backward (when input gradients are on).
  const Tensor<T>& image_grad() const { return image_grad_; }
  const Tensor<T>& seg_grad() const { return seg_grad_; }

 private:
  // The head on the streams' maps, each globally average-pooled.
  const Tensor<T>& pooled_head(const std::vector<const Tensor<T>*>& maps, Mode mode) {
    const Tensor<T>* f[3] = {nullptr, nullptr, nullptr};
    for (std::size_t k = 0; k < maps.size(); ++k) f[k] = &gaps_[k].forward(*maps[k]);
    if (maps.size() == 3) features_ = &feature_concat_.forward({f[0], f[1], f[2]});
    else if (maps.size() == 2) features_ = &feature_concat_.forward({f[0], f[1]});
    else features_ = f[0];
    return head(*features_, mode);
  }

  struct Stream {
    std::string name;
    std::vector<Block<T, Dim>> blocks;
  };

  // The streams' wiring, once for every way of running a block: block(b, cat, {inputs}) -> b's
  // output, where b takes the channel concatenation of the inputs (cat: a Concat for them).
  template <typename RunBlock>
  const std::vector<const Tensor<T>*>& run_streams(const Tensor<T>& image, const Tensor<T>& seg, RunBlock&& block) {
    check_inputs(image, seg);
    maps_.clear();
    switch (cfg_.architecture) {
      case Architecture::ribcage: {
        Stream &im = streams_[0], &sg = streams_[1], &sp = streams_[2];
        const Tensor<T>*a = &image, *b = &seg, *c = nullptr;
        for (int k = 0; k < blocks_per_stream; ++k) {
          c = k == 0 ? &block(sp.blocks[k], &spine_concat_[0], {&image, &seg})
                     : &block(sp.blocks[k], &spine_concat_[k], {c, a, b});
          a = &block(im.blocks[k], nullptr, {a});
          b = &block(sg.blocks[k], nullptr, {b});
        }
        maps_ = {a, c, b};
        break;
      }
      case Architecture::siamese: {
        const Tensor<T>*a = &image, *b = &seg;
        for (int k = 0; k < blocks_per_stream; ++k) {
          a = &block(streams_[0].blocks[k], nullptr, {a});
          b = &block(streams_[1].blocks[k], nullptr, {b});
        }
        maps_ = {a, b};
        break;
      }
      case Architecture::naive: {
        const Tensor<T>* a = &block(streams_[0].blocks[0], &spine_concat_[0], {&image, &seg});
        for (int k = 1; k < blocks_per_stream; ++k) a = &block(streams_[0].blocks[k], nullptr, {a});
        maps_ = {a};
        break;
      }
    }
    return maps_;
  }

  void check_inputs(const Tensor<T>& image, const Tensor<T>& seg) const {
    if (image.rank() != 2 + Dim || image.dim(1) != 1)
      throw InvalidArgument("Network: image must be [N, 1, " + std::string(Dim == 2 ? "H, W" : "D, H, W") +
                            "], got " + image.shape().str());
    if (seg.shape() != image.shape())
      throw InvalidArgument("Network: segmentation " + seg.shape().str() + " and image " + image.shape().str() + " differ");
    const Index m = min_input_extent();
    for (int a = 0; a < Dim; ++a)
      if (image.dim(2 + a) < m)
        throw InvalidArgument("Network: input " + image.shape().str() + " is too small; every axis needs at least " +
                              std::to_string(m) + " voxels");
  }
  static void copy_into(Tensor<T>& dst, const Tensor<T>& src) {
    if (&dst == &src) return;
    dst.reshape(src.shape());
    std::copy(src.begin(), src.end(), dst.begin());
  }
  static void add_into(Tensor<T>& dst, const Tensor<T>& a, const Tensor<T>& b) {
    QANET_ASSERT(a.shape() == b.shape());
    dst.reshape(a.shape());
    for (Index i = 0; i < a.numel(); ++i) dst[i] = a[i] + b[i];
  }

  ModelConfig cfg_;
  std::vector<Stream> streams_;
  std::vector<Concat<T>> spine_concat_;
  std::vector<GlobalAvgPool<T, Dim>> gaps_;
  Concat<T> feature_concat_;
  std::vector<Linear<T>> head_;
  std::vector<Relu<T>> relu_;
  std::vector<const Tensor<T>*> maps_;
  Tensor<T> conv_scratch_;  // predict_feature_maps' convolution outputs (3D; 2D blocks fuse them away)
  const Tensor<T>* features_ = nullptr;
  bool need_input_grad_ = true;
  std::vector<Tensor<T>> grads_;
  Tensor<T> image_grad_, seg_grad_;
};

}  // namespace qanet::nn
