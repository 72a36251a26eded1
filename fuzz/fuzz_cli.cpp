// libFuzzer harness: the qanet command line. The input is split at NUL and newline bytes into
// arguments after "qanet"; the program's parser (every subcommand and option) must accept or
// refuse them with a CLI11 error, never crash. Nothing is run.
#include <string>
#include <vector>

#include "../examples/qanet/command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"qanet"};
  std::string cur;
  for (std::size_t i = 0; i < size && args.size() < 64; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\0' || c == '\n') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) args.push_back(cur);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto program = qanet::cli::make_program();
  try {
    program->app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error&) {
  }
  return 0;
}
