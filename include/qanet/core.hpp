#pragma once
// qanet core: shapes, images and views, labels and encodings, errors, parallel helpers, random.
#include "qanet/config.hpp"
#include "qanet/core/components.hpp"
#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/labels.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/core/percentile.hpp"
#include "qanet/core/random.hpp"
#include "qanet/core/shape.hpp"
