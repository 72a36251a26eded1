#pragma once
// qanet metrics: CTC SEG, boundary metrics (HD, MHD, MHD95, ASD, neMHD), regression statistics.
#include "qanet/metrics/boundary.hpp"
#include "qanet/metrics/distance_transform.hpp"
#include "qanet/metrics/evaluate.hpp"
#include "qanet/metrics/match.hpp"
#include "qanet/metrics/regression.hpp"
#include "qanet/metrics/seg.hpp"
