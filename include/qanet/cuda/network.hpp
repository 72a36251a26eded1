#pragma once
// cuda::Network<Dim>: the RibCage, Siamese and Naive models of nn::Network on the GPU, layer for
// layer the same graph, parameter order and tensor names, so one model file serves both devices
// (load_model / save_model below go through nn's own file code on the host).
// All parameters live in one flat value buffer and one flat gradient buffer (views per layer):
// zero_grad is one memset and AdamW one kernel. nvcc only.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "qanet/cuda/layers.hpp"
#include "qanet/nn/activation.hpp"  // nn::Relu, used inside nn::Network
#include "qanet/nn/model_file.hpp"
#include "qanet/nn/network.hpp"

namespace qanet::cuda {

template <int Dim>
class Network {
  static_assert(Dim == 2 || Dim == 3, "Network is 2D or 3D");

 public:
  static constexpr int blocks_per_stream = 4;

  // Initialised exactly as nn::Network<float, Dim>(cfg, seed).
  Network(Context& ctx, const nn::ModelConfig& cfg, std::uint64_t seed = 0) : Network(ctx, nn::Network<float, Dim>(cfg, seed)) {}

  // A copy of a CPU network (weights and BatchNorm statistics).
  Network(Context& ctx, const nn::Network<float, Dim>& host) : ctx_(&ctx), cfg_(host.config()) {
    const auto& w = cfg_.widths;
    const Index p = cfg_.padding;
    auto make_stream = [&](const std::string& name, Index in0, bool spine) {
      Stream s;
      s.name = name;
      for (int k = 0; k < blocks_per_stream; ++k) {
        const Index in = k == 0 ? in0 : (spine ? 3 * w[k] : w[k]);
        s.blocks.push_back(std::make_unique<Block<Dim>>(ctx, in, w[k + 1], p));
      }
      return s;
    };
    Index features = 0;
    switch (cfg_.architecture) {
      case nn::Architecture::ribcage:
        streams_.push_back(make_stream("image_rib", 1, false));
        streams_.push_back(make_stream("seg_rib", 1, false));
        streams_.push_back(make_stream("spine", 2, true));
        features = 3 * w[4];
        break;
      case nn::Architecture::siamese:
        streams_.push_back(make_stream("image_rib", 1, false));
        streams_.push_back(make_stream("seg_rib", 1, false));
        features = 2 * w[4];
        break;
      case nn::Architecture::naive:
        streams_.push_back(make_stream("stream", 2, false));
        features = w[4];
        break;
    }
    Index in = features;
    for (Index h : cfg_.head) {
      head_.push_back(std::make_unique<Linear>(ctx, in, h));
      in = h;
    }
    head_.push_back(std::make_unique<Linear>(ctx, in, cfg_.outputs));
    for (std::size_t i = 0; i < cfg_.head.size(); ++i) relu_.push_back(std::make_unique<Relu>(ctx));
    for (int k = 0; k < blocks_per_stream; ++k) spine_concat_.push_back(std::make_unique<Concat>(ctx));
    for (std::size_t i = 0; i < streams_.size(); ++i) gaps_.push_back(std::make_unique<GlobalAvgPool<Dim>>(ctx));
    feature_concat_ = std::make_unique<Concat>(ctx);
    grads_.resize(streams_.size());
    bind_flat();
    copy_from(host);
    set_need_input_grad(true);
  }

  const nn::ModelConfig& config() const { return cfg_; }
  Context& context() const { return *ctx_; }

  void set_need_input_grad(bool v) {
    need_input_grad_ = v;
    for (Stream& s : streams_) s.blocks[0]->conv.set_need_input_grad(v);
  }

  Index param_count() const { return param_count_; }

  std::vector<DeviceParamRef> params() {
    std::vector<DeviceParamRef> out;
    for (Stream& s : streams_)
      for (int k = 0; k < blocks_per_stream; ++k) s.blocks[k]->params(s.name + "." + std::to_string(k) + ".", out);
    for (std::size_t i = 0; i < head_.size(); ++i) head_[i]->params("head." + std::to_string(i) + ".", out);
    return out;
  }
  std::vector<DeviceBufferRef> buffers() {
    std::vector<DeviceBufferRef> out;
    for (Stream& s : streams_)
      for (int k = 0; k < blocks_per_stream; ++k) s.blocks[k]->buffers(s.name + "." + std::to_string(k) + ".", out);
    return out;
  }
  // Every parameter value / gradient in params() order (each aligned to 256 bytes, zero padding
  // between them).
  DTensor& flat_values() { return flat_values_; }
  DTensor& flat_grads() { return flat_grads_; }
  void zero_grad() { flat_grads_.zero(ctx_->stream()); }

  // Copies weights and statistics from / into a CPU network of the same configuration.
  void copy_from(const nn::Network<float, Dim>& host_const) {
    auto& host = const_cast<nn::Network<float, Dim>&>(host_const);  // params() is non-const; nothing is changed
    auto hp = host.params();
    auto hb = host.buffers();
    auto dp = params();
    auto db = buffers();
    check_names(hp, dp, hb, db);
    for (std::size_t i = 0; i < dp.size(); ++i) dp[i].value->upload(*hp[i].value, ctx_->stream());
    for (std::size_t i = 0; i < db.size(); ++i) db[i].value->upload(*hb[i].value, ctx_->stream());
  }
  void copy_to(nn::Network<float, Dim>& host) {
    auto hp = host.params();
    auto hb = host.buffers();
    auto dp = params();
    auto db = buffers();
    check_names(hp, dp, hb, db);
    for (std::size_t i = 0; i < dp.size(); ++i) dp[i].value->download(*hp[i].value, ctx_->stream());
    for (std::size_t i = 0; i < db.size(); ++i) db[i].value->download(*hb[i].value, ctx_->stream());
  }
  // Gradients into a CPU network's grad tensors (tests).
  void copy_grads_to(nn::Network<float, Dim>& host) {
    auto hp = host.params();
    auto dp = params();
    check_names(hp, dp, host.buffers(), buffers());
    for (std::size_t i = 0; i < dp.size(); ++i) dp[i].grad->download(*hp[i].grad, ctx_->stream());
  }
  nn::Network<float, Dim> to_host() {
    nn::Network<float, Dim> host(cfg_);
    copy_to(host);
    return host;
  }

  Index min_input_extent() const {
    Index e = 1;
    for (int k = 0; k < blocks_per_stream; ++k) e = 2 * e + 2 - 2 * cfg_.padding;
    return e;
  }

  // image, seg: [N, 1, spatial...] on the device; returns [N, 1].
  const DTensor& forward(const DTensor& image, const DTensor& seg, Mode mode) {
    check_inputs(image, seg);
    const DTensor* f[3] = {nullptr, nullptr, nullptr};
    switch (cfg_.architecture) {
      case nn::Architecture::ribcage: {
        Stream &im = streams_[0], &sg = streams_[1], &sp = streams_[2];
        const DTensor *a = &image, *b = &seg, *c = nullptr;
        for (int k = 0; k < blocks_per_stream; ++k) {
          const DTensor& spine_in = k == 0 ? spine_concat_[0]->forward({&image, &seg}) : spine_concat_[k]->forward({c, a, b});
          c = &sp.blocks[k]->forward(spine_in, mode);
          a = &im.blocks[k]->forward(*a, mode);
          b = &sg.blocks[k]->forward(*b, mode);
        }
        f[0] = &gaps_[0]->forward(*a);
        f[1] = &gaps_[2]->forward(*c);
        f[2] = &gaps_[1]->forward(*b);
        features_ = &feature_concat_->forward({f[0], f[1], f[2]});
        break;
      }
      case nn::Architecture::siamese: {
        const DTensor *a = &image, *b = &seg;
        for (int k = 0; k < blocks_per_stream; ++k) {
          a = &streams_[0].blocks[k]->forward(*a, mode);
          b = &streams_[1].blocks[k]->forward(*b, mode);
        }
        f[0] = &gaps_[0]->forward(*a);
        f[1] = &gaps_[1]->forward(*b);
        features_ = &feature_concat_->forward({f[0], f[1]});
        break;
      }
      case nn::Architecture::naive: {
        const DTensor* a = &spine_concat_[0]->forward({&image, &seg});
        for (int k = 0; k < blocks_per_stream; ++k) a = &streams_[0].blocks[k]->forward(*a, mode);
        features_ = &gaps_[0]->forward(*a);
        break;
      }
    }
    const DTensor* h = features_;
    for (std::size_t i = 0; i < head_.size(); ++i) {
      h = &head_[i]->forward(*h, mode);
      if (i < relu_.size()) h = &relu_[i]->forward(*h, mode);
    }
    return *h;
  }

  void backward(const DTensor& dy) {
    const DTensor* g = &dy;
    for (std::size_t i = head_.size(); i-- > 0;) {
      if (i < relu_.size()) g = &relu_[i]->backward(*g);
      g = &head_[i]->backward(*g);
    }
    switch (cfg_.architecture) {
      case nn::Architecture::ribcage: {
        const auto& parts = feature_concat_->backward(*g);
        copy_into(grads_[0], gaps_[0]->backward(parts[0]));
        copy_into(grads_[2], gaps_[2]->backward(parts[1]));
        copy_into(grads_[1], gaps_[1]->backward(parts[2]));
        Stream &im = streams_[0], &sg = streams_[1], &sp = streams_[2];
        for (int k = blocks_per_stream - 1; k >= 0; --k) {
          const DTensor& dspine_in = sp.blocks[k]->backward(grads_[2]);
          const DTensor& dim = im.blocks[k]->backward(grads_[0]);
          const DTensor& dsg = sg.blocks[k]->backward(grads_[1]);
          if (k == 0 && !need_input_grad_) break;
          const auto& split = spine_concat_[k]->backward(dspine_in);
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
      case nn::Architecture::siamese: {
        const auto& parts = feature_concat_->backward(*g);
        copy_into(grads_[0], gaps_[0]->backward(parts[0]));
        copy_into(grads_[1], gaps_[1]->backward(parts[1]));
        for (int k = blocks_per_stream - 1; k >= 0; --k) {
          copy_into(k == 0 ? image_grad_ : grads_[0], streams_[0].blocks[k]->backward(grads_[0]));
          copy_into(k == 0 ? seg_grad_ : grads_[1], streams_[1].blocks[k]->backward(grads_[1]));
        }
        break;
      }
      case nn::Architecture::naive: {
        copy_into(grads_[0], gaps_[0]->backward(*g));
        for (int k = blocks_per_stream - 1; k >= 1; --k) copy_into(grads_[0], streams_[0].blocks[k]->backward(grads_[0]));
        const DTensor& d0 = streams_[0].blocks[0]->backward(grads_[0]);
        if (need_input_grad_) {
          const auto& split = spine_concat_[0]->backward(d0);
          copy_into(image_grad_, split[0]);
          copy_into(seg_grad_, split[1]);
        }
        break;
      }
    }
  }

  // Inference on host tensors (scoring): uploads image and seg [N, 1, spatial...], runs the
  // forward pass with the running statistics and returns the [N, 1] predictions.
  nn::Tensor<float> predict(const nn::Tensor<float>& image, const nn::Tensor<float>& seg) {
    in_image_.upload(image, ctx_->stream());
    in_seg_.upload(seg, ctx_->stream());
    return forward(in_image_, in_seg_, Mode::infer).to_host(ctx_->stream());
  }

  const DTensor& image_grad() const { return image_grad_; }
  const DTensor& seg_grad() const { return seg_grad_; }

 private:
  struct Stream {
    std::string name;
    std::vector<std::unique_ptr<Block<Dim>>> blocks;
  };

  // Moves every parameter into the flat buffers (params() order) and zeroes them. Each tensor
  // starts on a 256-byte boundary: cuDNN's tensor-core algorithms and cuBLAS want aligned
  // pointers (Siamese widths such as 51 give odd sizes); the padding stays 0 and AdamW leaves
  // zeros with zero gradients unchanged.
  void bind_flat() {
    constexpr Index align = 64;  // floats
    auto ps = params();
    Index total = 0;
    param_count_ = 0;
    for (const auto& p : ps) {
      total += (p.value->numel() + align - 1) / align * align;
      param_count_ += p.value->numel();
    }
    flat_values_.reshape({total});
    flat_grads_.reshape({total});
    flat_values_.zero(ctx_->stream());
    flat_grads_.zero(ctx_->stream());
    Index off = 0;
    for (auto& p : ps) {
      const nn::TensorShape s = p.value->shape();
      *p.value = DTensor::view(flat_values_.data() + off, s);
      *p.grad = DTensor::view(flat_grads_.data() + off, s);
      off += (s.numel() + align - 1) / align * align;
    }
  }

  template <typename HP, typename DP, typename HB, typename DB>
  static void check_names(const HP& hp, const DP& dp, const HB& hb, const DB& db) {
    if (hp.size() != dp.size() || hb.size() != db.size())
      throw InvalidArgument("cuda::Network: the CPU network has a different number of tensors");
    for (std::size_t i = 0; i < hp.size(); ++i)
      if (hp[i].name != dp[i].name || hp[i].value->shape() != dp[i].value->shape())
        throw InvalidArgument("cuda::Network: tensor " + std::to_string(i) + " is '" + dp[i].name + "' " +
                              dp[i].value->shape().str() + " on the GPU but '" + hp[i].name + "' " +
                              hp[i].value->shape().str() + " on the CPU");
    for (std::size_t i = 0; i < hb.size(); ++i)
      if (hb[i].name != db[i].name) throw InvalidArgument("cuda::Network: buffer '" + db[i].name + "' vs '" + hb[i].name + "'");
  }

  void check_inputs(const DTensor& image, const DTensor& seg) const {
    if (image.rank() != 2 + Dim || image.dim(1) != 1)
      throw InvalidArgument("cuda::Network: image must be [N, 1, " + std::string(Dim == 2 ? "H, W" : "D, H, W") + "], got " +
                            image.shape().str());
    if (seg.shape() != image.shape())
      throw InvalidArgument("cuda::Network: segmentation " + seg.shape().str() + " and image " + image.shape().str() + " differ");
    const Index m = min_input_extent();
    for (int a = 0; a < Dim; ++a)
      if (image.dim(2 + a) < m)
        throw InvalidArgument("cuda::Network: input " + image.shape().str() + " is too small; every axis needs at least " +
                              std::to_string(m) + " voxels");
  }
  void copy_into(DTensor& dst, const DTensor& src) {
    if (&dst == &src) return;
    dst.reshape(src.shape());
    copy(*ctx_, src.data(), dst.data(), src.numel());
  }
  void add_into(DTensor& dst, const DTensor& a, const DTensor& b) {
    QANET_ASSERT(a.shape() == b.shape());
    dst.reshape(a.shape());
    add(*ctx_, a.data(), b.data(), dst.data(), a.numel());
  }

  Context* ctx_;
  nn::ModelConfig cfg_;
  std::vector<Stream> streams_;
  std::vector<std::unique_ptr<Concat>> spine_concat_;
  std::vector<std::unique_ptr<GlobalAvgPool<Dim>>> gaps_;
  std::unique_ptr<Concat> feature_concat_;
  std::vector<std::unique_ptr<Linear>> head_;
  std::vector<std::unique_ptr<Relu>> relu_;
  const DTensor* features_ = nullptr;
  bool need_input_grad_ = true;
  std::vector<DTensor> grads_;
  DTensor image_grad_, seg_grad_;
  DTensor flat_values_, flat_grads_;
  Index param_count_ = 0;
  DTensor in_image_, in_seg_;  // predict()'s device copies of its inputs
};

// Loads a model file written by nn::save_model or cuda::save_model.
template <int Dim>
std::unique_ptr<Network<Dim>> load_model(Context& ctx, const std::filesystem::path& path, nn::ModelInfo* info = nullptr) {
  nn::Network<float, Dim> host = nn::load_model<float, Dim>(path, info);
  return std::make_unique<Network<Dim>>(ctx, host);
}

// Writes the same file nn::save_model writes for the equivalent CPU network.
template <int Dim>
void save_model(const std::filesystem::path& path, Network<Dim>& net, nn::ModelInfo info = {}) {
  nn::Network<float, Dim> host = net.to_host();
  nn::save_model(path, host, std::move(info));
}

}  // namespace qanet::cuda
