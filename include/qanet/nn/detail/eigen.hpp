#pragma once
// Eigen/Core for qanet's kernels. GCC 12 reports -Wmaybe-uninitialized hundreds of times inside
// Eigen's AVX-512 packet code (the self-initialised _mm512_undefined_ps of its intrinsics
// header, GCC bug 105593), even though both headers are system headers. The warning is silenced
// for Eigen's code only, here where it is included; qanet's own code keeps every warning.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
