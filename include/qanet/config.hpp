#pragma once
// Version, assertion and host/device qualifiers shared by every qanet header.
// Plain g++ compiles everything here; nvcc adds the device qualifiers.

#include <cstdio>
#include <cstdlib>

#define QANET_VERSION_MAJOR 0
#define QANET_VERSION_MINOR 1
#define QANET_VERSION_PATCH 0
#define QANET_VERSION_STRING "0.1.0"

#if defined(__CUDACC__)
#define QANET_HOST_DEVICE __host__ __device__
#else
#define QANET_HOST_DEVICE
#endif

// Internal invariants only; user input errors throw qanet::Error (core/error.hpp) instead.
#ifndef QANET_ASSERT
#ifdef NDEBUG
#define QANET_ASSERT(cond) ((void)0)
#else
#define QANET_ASSERT(cond)                                                              \
  ((cond) ? (void)0                                                                     \
          : (std::fprintf(stderr, "qanet: assertion failed: %s (%s:%d)\n", #cond, __FILE__, \
                          __LINE__),                                                    \
             std::abort()))
#endif
#endif
