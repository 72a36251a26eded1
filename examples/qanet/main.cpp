// qanet: quality assessment of cell instance segmentations without ground truth.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>

#include <tbb/global_control.h>

#include "command.hpp"
#include "qanet/config.hpp"
#include "qanet/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"qanet " QANET_VERSION_STRING
               ": predicts the quality of a cell instance segmentation without ground truth"};
  app.set_version_flag("--version", std::string(QANET_VERSION_STRING));
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);

  for (int i = 0; i < argc; ++i)
    qanet::cli::invocation() += (i ? " " : "") + std::string(i ? argv[i] : "qanet");
  auto& registry = qanet::cli::command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<CLI::App*, qanet::cli::Runner> runners;
  for (const auto& spec : registry) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.help);
    runners[sub] = spec.setup(*sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  static_cast<std::size_t>(threads));
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const qanet::Error& e) {
    std::fprintf(stderr, "qanet: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qanet: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
