#pragma once
// Subcommand registry of the qanet program. Each cmd_<name>.cpp registers itself with a
// file-scope RegisterCommand, so adding a command never touches main.cpp:
//
//   static qanet::cli::RegisterCommand reg{"metrics", "Exact quality metrics",
//     [](CLI::App& app) {
//       auto opt = std::make_shared<Options>();
//       app.add_option("--gt", opt->gt, "...")->required();
//       return [opt] { return run(*opt); };   // exit status
//     }};

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qanet::cli {

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App&)>;

struct CommandSpec {
  std::string name;
  std::string help;
  Setup setup;
};

inline std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

// The whole command line of this run, as typed (for provenance in model files and reports).
inline std::string& invocation() {
  static std::string line;
  return line;
}

struct RegisterCommand {
  RegisterCommand(std::string name, std::string help, Setup setup) {
    command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

// The qanet program's command line: every registered subcommand with its runner, and the
// global options. Parsing it runs nothing (main runs the parsed subcommand; the command-line
// fuzzer only parses).
struct Program {
  CLI::App app;
  int threads = 0;
  std::map<CLI::App*, Runner> runners;
};

std::unique_ptr<Program> make_program();

}  // namespace qanet::cli
