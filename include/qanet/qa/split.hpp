#pragma once
// Reproducible data splits. Sequences are assigned to a part by a stable hash of their name
// (FNV-1a, the same on every machine and compiler, unlike std::hash), so training, calibration
// and the benchmarks agree on which images each may use without sharing a list:
// hash % 100 < 70: training, < 85: calibration (and validation), else: test.

#include <cstdint>
#include <string>

#include "qanet/core/error.hpp"

namespace qanet {

// FNV-1a, 64 bit, of the bytes of `s`.
inline std::uint64_t stable_hash(const std::string& s, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

enum class DataPart { all, train, calibration, test };

inline DataPart parse_data_part(const std::string& s) {
  if (s == "all") return DataPart::all;
  if (s == "train") return DataPart::train;
  if (s == "calibration") return DataPart::calibration;
  if (s == "test") return DataPart::test;
  throw InvalidArgument("unknown data part '" + s + "' (all, train, calibration or test)");
}

// The part a sequence (e.g. "DSB2018-stage1-train/00071198d059") belongs to.
inline DataPart data_part_of(const std::string& sequence) {
  const std::uint64_t bucket = stable_hash(sequence) % 100;
  return bucket < 70 ? DataPart::train : bucket < 85 ? DataPart::calibration : DataPart::test;
}

inline bool in_part(const std::string& sequence, DataPart part) {
  return part == DataPart::all || data_part_of(sequence) == part;
}

}  // namespace qanet
