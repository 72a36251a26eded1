// qanet: quality assessment of cell instance segmentations without ground truth.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>

#include <tbb/global_control.h>

#include "command.hpp"
#include "qanet/config.hpp"
#include "qanet/core/error.hpp"

namespace qanet::cli {

std::unique_ptr<Program> make_program() {
  auto p = std::make_unique<Program>();
  CLI::App& app = p->app;
  app.description("qanet " QANET_VERSION_STRING
                  ": predicts the quality of a cell instance segmentation without ground truth");
  app.set_version_flag("--version", std::string(QANET_VERSION_STRING));
  app.require_subcommand(1);
  app.add_option("--threads", p->threads, "Worker threads (default: $QANET_THREADS, or all cores)")
      ->check(CLI::NonNegativeNumber);
  auto registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& spec : registry) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.help);
    p->runners[sub] = spec.setup(*sub);
  }
  return p;
}

}  // namespace qanet::cli

#ifndef QANET_NO_MAIN
int main(int argc, char** argv) {
  for (int i = 0; i < argc; ++i)
    qanet::cli::invocation() += (i ? " " : "") + std::string(i ? argv[i] : "qanet");
  auto program = qanet::cli::make_program();
  CLI::App& app = program->app;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line, as every other error: CLI11's own "Run with --help" line would make it two.
    std::fprintf(stderr, "qanet: error: %s (see qanet --help)\n", e.what());
    return e.get_exit_code();
  }
  // $QANET_THREADS: a default for batch systems that grant a job fewer cores than the machine has.
  if (program->threads == 0)
    if (const char* env = std::getenv("QANET_THREADS"); env && *env) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (*end != '\0' || v < 0) {
        std::fprintf(stderr, "qanet: error: QANET_THREADS must be a non-negative integer, got '%s'\n", env);
        return 2;
      }
      program->threads = static_cast<decltype(program->threads)>(v);
    }
  std::unique_ptr<tbb::global_control> limit;
  if (program->threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  static_cast<std::size_t>(program->threads));
  try {
    for (auto& [sub, run] : program->runners)
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
#endif  // QANET_NO_MAIN
