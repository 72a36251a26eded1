#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include <tbb/global_control.h>

// QANET_THREADS=N caps oneTBB's workers for the whole run, as it does for the qanet program and
// the embedding example that the tests start. The tsan preset sets it to 1: Debian's oneTBB is not built with ThreadSanitizer, so TSan cannot see the ordering its
// scheduler provides and reports races between a task and its spawner that do not exist; with
// one TBB thread the only concurrency left is the tests' own std::threads (an Assessor shared
// by several threads), which TSan follows exactly.
int main(int argc, char** argv) {
  std::unique_ptr<tbb::global_control> cap;
  if (const char* env = std::getenv("QANET_THREADS"); env && std::atoi(env) > 0)
    cap = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                static_cast<std::size_t>(std::atoi(env)));
  doctest::Context context(argc, argv);
  return context.run();
}
