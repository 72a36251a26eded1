#pragma once
// qanet perturbation: realistic segmentation errors with exact scores (SPEC §6).
#include "qanet/perturb/boundary_shift.hpp"
#include "qanet/perturb/deformation.hpp"
#include "qanet/perturb/morphology.hpp"
#include "qanet/perturb/options.hpp"
#include "qanet/perturb/pipeline.hpp"
#include "qanet/perturb/topology.hpp"
#include "qanet/perturb/samples.hpp"
#include "qanet/perturb/segmenter_errors.hpp"
