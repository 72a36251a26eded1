#pragma once
// qanet simulation: synthetic fluorescence microscopy of nuclei with exact instance labels.
#include "qanet/simulate/cells.hpp"
#include "qanet/simulate/optics.hpp"
#include "qanet/simulate/options.hpp"
#include "qanet/simulate/simulator.hpp"
