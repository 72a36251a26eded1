// libFuzzer harness: CTC folder discovery and pairing, and the images/ + masks/ layout. The
// input is a list of lines "<folder digit> <file name>"; each names an empty file created in a
// fresh scratch tree (folders 0-5: 01, 01_GT/SEG, 01_RES, images, masks, 01_GT/TRA), then every
// discovery function runs over the tree. Names are also parsed directly.
#include <sstream>

#include "fuzz_support.hpp"
#include "qanet/io/ctc.hpp"
#include "qanet/qa/datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const fs::path root = qanet_fuzz::scratch_dir() / "tree";
  std::error_code ec;
  fs::remove_all(root, ec);
  static const char* folders[] = {"01", "01_GT/SEG", "01_RES", "images", "masks", "01_GT/TRA"};
  for (const char* f : folders) fs::create_directories(root / f);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::string line;
  int files = 0;
  while (std::getline(in, line) && files < 64) {
    if (line.size() < 3 || line[1] != ' ' || line[0] < '0' || line[0] > '5') continue;
    const std::string name = line.substr(2);
    (void)qanet::parse_ctc_file_name(name);
    if (name.empty() || name == "." || name == ".." || name.size() > 200 ||
        name.find_first_of(std::string("/\0", 2)) != std::string::npos)
      continue;
    std::ofstream(root / folders[line[0] - '0'] / name).put('x');
    ++files;
  }
  auto guarded = [](auto&& f) {
    try {
      f();
    } catch (const qanet::Error&) {
    }
  };
  guarded([&] { (void)qanet::list_ctc_images(root / "01"); });
  guarded([&] { (void)qanet::list_ctc_results(root / "01_RES"); });
  guarded([&] { (void)qanet::list_ctc_gt(root / "01_GT/SEG"); });
  guarded([&] { (void)qanet::pair_ctc_frames(root / "01_GT", root / "01_RES"); });
  for (const char* f : {"01", "01_GT", "01_GT/SEG", "01_RES", "images", ""})
    guarded([&] { (void)qanet::classify_ctc_path(root / f); });
  guarded([&] { (void)qanet::find_annotated_files(root); });
  return 0;
}
