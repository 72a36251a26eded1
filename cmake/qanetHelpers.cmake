# Helpers for qanet's own programs: warnings, optimisation for this CPU, test and benchmark targets.

function(qanet_program_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(QANET_NATIVE_ARCH)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  if(QANET_SANITIZE)
    # Every finding fails the run: UBSan does not recover, frames stay for the reports.
    target_compile_options(${target} PRIVATE -fsanitize=${QANET_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all -g)
    target_link_options(${target} PRIVATE -fsanitize=${QANET_SANITIZE})
  endif()
endfunction()

# Where tests and benchmarks look for ../shared/data (overridden at run time by QANET_DATA).
set(QANET_DATA_DIR "${PROJECT_SOURCE_DIR}/../shared/data" CACHE PATH "Real test data (optional)")
set(QANET_TOOLS_DIR "${PROJECT_SOURCE_DIR}/../shared/tools" CACHE PATH "Reference tools (optional)")

# qanet_add_test(NAME SOURCES...): one doctest executable per module, registered with ctest.
function(qanet_add_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE qanet::qanet qanet_test_main)
  qanet_program_options(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 900)
endfunction()

# qanet_add_benchmark(NAME SOURCES...): a Google Benchmark executable.
function(qanet_add_benchmark name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE qanet::qanet benchmark::benchmark)
  target_compile_definitions(${name} PRIVATE QANET_DATA_DIR="${QANET_DATA_DIR}" QANET_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)  # tests/npy.hpp
  qanet_program_options(${name})
endfunction()
