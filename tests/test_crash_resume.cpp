// Crash safety of `qanet train`, run as a user would meet it: the program is killed with SIGKILL
// at ten random moments and resumed from its checkpoint each time. The run must end with the
// model, last model, checkpoint and log of a run that was never interrupted, bit for bit, no
// output may ever be seen half written, and no temporary file may be left at the end.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "qanet/nn/safetensors.hpp"
#include "support.hpp"

using qanet::testing::run_command;
using qanet::testing::TempDir;
namespace fs = std::filesystem;

#ifdef QANET_CLI
namespace {

// Validation and a checkpoint at every step: the most files written, the most moments to die in.
const std::string train_args =
    "train --preset small --steps 14 --batch 2 --simulate 4 --val-samples 4 --validate-every 1 "
    "--checkpoint-minutes 0 --quiet";

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

// A log line without its timing fields (samples_per_s, seconds), which differ between runs.
std::string without_timing(const std::string& line) {
  std::size_t cut = line.size();
  for (int k = 0; k < 2 && cut != std::string::npos; ++k) cut = line.rfind(',', cut - 1);
  return line.substr(0, cut);
}

// The outputs of a run with --out dir/name.
struct Outputs {
  fs::path model, last, ckpt, log, curve;
  explicit Outputs(const fs::path& m)
      : model(m), last(m.string() + ".last.safetensors"), ckpt(m.string() + ".ckpt"), log(m.string() + ".log.csv"),
        curve(m.string() + ".curve.svg") {}
};

// Every output that exists now is whole: safetensors files parse, the log is complete lines of
// eight fields, the curve a whole SVG document.
void check_whole(const Outputs& o) {
  for (const fs::path& p : {o.model, o.last, o.ckpt})
    if (fs::exists(p)) CHECK_NOTHROW_MESSAGE(qanet::nn::read_safetensors(p), p.string());
  if (fs::exists(o.log)) {
    const std::string log = read_text(o.log);
    CHECK_MESSAGE((log.empty() || log.back() == '\n'), "the log ends inside a line");
    for (const auto& l : lines_of(log)) CHECK_MESSAGE(std::count(l.begin(), l.end(), ',') == 7, l);
  }
  if (fs::exists(o.curve)) {
    const std::string svg = read_text(o.curve);
    CHECK(svg.rfind("<svg", 0) == 0);
    CHECK(svg.size() >= 7);
    CHECK(svg.compare(svg.size() - 7, 7, "</svg>\n") == 0);
  }
}

int temporaries_in(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".qanet-tmp-") != std::string::npos;
  return n;
}

pid_t spawn(const std::string& command) {
  const std::string line = "exec " + command + " >/dev/null 2>&1";  // built before fork
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  REQUIRE(pid > 0);
  return pid;
}

std::size_t line_count(const fs::path& p) {
  const std::string t = fs::exists(p) ? read_text(p) : std::string();
  return static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n'));
}

// Tensors that differ between two safetensors files, or that one of them lacks.
std::vector<std::string> differing_tensors(const fs::path& a, const fs::path& b) {
  const auto ta = qanet::nn::read_safetensors(a).tensors, tb = qanet::nn::read_safetensors(b).tensors;
  std::vector<std::string> out;
  for (const auto& [name, t] : ta) {
    const auto it = tb.find(name);
    if (it == tb.end() || it->second.shape() != t.shape() || !std::equal(t.begin(), t.end(), it->second.begin()))
      out.push_back(name);
  }
  for (const auto& [name, t] : tb)
    if (!ta.count(name)) out.push_back(name);
  return out;
}

}  // namespace

TEST_CASE("qanet train killed with SIGKILL ten times and resumed ends bit for bit as a run never killed") {
  TempDir dir;
  const Outputs straight(dir / "straight.safetensors"), killed(dir / "killed.safetensors");
  const std::string cli = std::string(QANET_CLI) + " " + train_args + " --out ";
  int status = 0;
  const std::string out = run_command(cli + "'" + straight.model.string() + "' 2>&1", &status);
  REQUIRE_MESSAGE(status == 0, out);

  std::mt19937 rng(20261202);
  int resumed = 0, finished_before_kill = 0;
  for (int life = 0; life < 10; ++life) {
    CAPTURE(life);
    const bool resume = fs::exists(killed.ckpt);
    resumed += resume;
    const std::size_t logged = resume ? line_count(killed.log) : 0;
    const pid_t pid = spawn(cli + "'" + killed.model.string() + "'" +
                            (resume ? " --resume '" + killed.ckpt.string() + "'" : std::string()));
    // Half the lives die at a random moment of their start (reading, trimming the log, the
    // first steps), half at a random moment after a step of their own was logged (in the middle
    // of validating, saving the best model, the curve or the checkpoint).
    int wstatus = 0;
    bool exited = false;
    if (life % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 600)(rng)));
    } else {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(5);
      while (!exited && line_count(killed.log) <= std::max<std::size_t>(logged, 1) &&
             std::chrono::steady_clock::now() < give_up) {
        exited = ::waitpid(pid, &wstatus, WNOHANG) == pid;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 250)(rng)));
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
    }
    finished_before_kill += WIFEXITED(wstatus);
    check_whole(killed);
  }
  MESSAGE(resumed << " of 10 lives resumed a checkpoint; " << finished_before_kill << " ended before the kill");

  // The last life runs to the end.
  const bool resume = fs::exists(killed.ckpt);
  const std::string last = run_command(cli + "'" + killed.model.string() + "'" +
                                           (resume ? " --resume '" + killed.ckpt.string() + "'" : std::string()) + " 2>&1",
                                       &status);
  REQUIRE_MESSAGE(status == 0, last);
  check_whole(killed);
  CHECK(temporaries_in(dir.path()) == 0);  // a killed writer's temporary files are cleared
  for (const auto& [a, b] : {std::pair{straight.model, killed.model}, std::pair{straight.last, killed.last},
                             std::pair{straight.ckpt, killed.ckpt}}) {
    CAPTURE(b.string());
    CHECK(differing_tensors(a, b) == std::vector<std::string>{});
  }
  // Each step logged once, with the same loss, validation MSE, best MSE and learning rate.
  const auto la = lines_of(read_text(straight.log)), lb = lines_of(read_text(killed.log));
  REQUIRE(la.size() == 15);
  REQUIRE(lb.size() == la.size());
  for (std::size_t k = 0; k < la.size(); ++k) CHECK(without_timing(lb[k]) == without_timing(la[k]));
}
#endif
