#pragma once
// qanet qa: the user-facing layer. Assessor (score an image and mask without ground truth),
// preprocessing (normalisation, rescaling, tiling), training data and the training loop.
#include "qanet/qa/assessor.hpp"
#include "qanet/qa/datasets.hpp"
#include "qanet/qa/inputs.hpp"
#include "qanet/qa/interval.hpp"
#include "qanet/qa/normalize.hpp"
#include "qanet/qa/rescale.hpp"
#include "qanet/qa/scale.hpp"
#include "qanet/qa/split.hpp"
#include "qanet/qa/tiling.hpp"
#include "qanet/qa/trainer.hpp"
#include "qanet/qa/training_data.hpp"
