#pragma once
// Deterministic random numbers. Every random decision draws from an Rng derived from
// (seed, stream ids) rather than from a shared generator, so results depend on the seed only,
// never on the thread count or on the order in which parallel work runs.

#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace qanet {

// SplitMix64 finaliser: a strong 64-bit mixer (Steele, Lea, Flood 2014).
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// xoshiro256** seeded through SplitMix64; satisfies UniformRandomBitGenerator.
class Rng {
 public:
  using result_type = std::uint64_t;
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  // A generator for sub-stream `ids` of `seed` (e.g. derive(seed, {epoch, sample})).
  static Rng derive(std::uint64_t seed, std::initializer_list<std::uint64_t> ids) {
    std::uint64_t h = mix64(seed);
    for (std::uint64_t id : ids) h = mix64(h ^ mix64(id + 0x632be59bd9b4e019ULL));
    return Rng(h);
  }
  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      s = mix64(x);
    }
  }
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive), unbiased (Lemire's method).
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi) {
    const std::uint64_t range = static_cast<std::uint64_t>(hi - lo) + 1;
    if (range == 0) return static_cast<std::int64_t>((*this)());
    unsigned __int128 m = static_cast<unsigned __int128>((*this)()) * range;
    std::uint64_t l = static_cast<std::uint64_t>(m);
    if (l < range) {
      const std::uint64_t t = (0 - range) % range;
      while (l < t) {
        m = static_cast<unsigned __int128>((*this)()) * range;
        l = static_cast<std::uint64_t>(m);
      }
    }
    return lo + static_cast<std::int64_t>(m >> 64);
  }
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal (Box-Muller; no cached second value, so the stream stays simple).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double normal(double mean, double sd) { return mean + sd * normal(); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// A direction drawn uniformly from the unit sphere (normalised standard normals).
template <int Dim>
std::array<double, Dim> random_unit_vector(Rng& rng) {
  std::array<double, Dim> v{};
  double n = 0.0;
  while (n < 1e-12) {
    n = 0.0;
    for (double& c : v) {
      c = rng.normal();
      n += c * c;
    }
  }
  n = std::sqrt(n);
  for (double& c : v) c /= n;
  return v;
}

}  // namespace qanet
