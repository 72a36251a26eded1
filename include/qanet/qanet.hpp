#pragma once
// The CPU umbrella header: everything qanet offers without CUDA (never includes cuda/).
#include "qanet/core.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
