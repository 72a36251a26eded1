#pragma once
// The CPU umbrella header: everything qanet offers without CUDA (never includes cuda/).
#include "qanet/core.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/nn.hpp"
#include "qanet/perturb.hpp"
#include "qanet/simulate.hpp"
#include "qanet/qa.hpp"
