#pragma once
// qanet I/O: TIFF (libtiff), Cell Tracking Challenge folders, atomic file writes.
#include "qanet/io/any_image.hpp"
#include "qanet/io/atomic_file.hpp"
#include "qanet/io/ctc.hpp"
#include "qanet/io/tiff.hpp"
