// Tests of the qanet command line, run as a user would: exit codes, JSON, error messages.
#include <fstream>

#include <nlohmann/json.hpp>

#include "qanet/io.hpp"
#include "support.hpp"

using namespace qanet;
using qanet::testing::run_command;
using qanet::testing::TempDir;
using json = nlohmann::json;

namespace {

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

// Runs qanet; its stderr joins stdout unless the arguments redirect it.
Result qanet_cli(const std::string& args) {
  int status = 0;
  const bool redirected = args.find("2>") != std::string::npos;
  std::string out = run_command(std::string(QANET_CLI) + " " + args + (redirected ? "" : " 2>&1"), &status);
  return {status, out};
}

// An 8x8 square at (2,2) in a 16x16 image, optionally shifted right by dx, with a label.
LabelImage<2> square(int dx, Label label) {
  LabelImage<2> img(Shape<2>(16, 16));
  for (int y = 2; y < 10; ++y)
    for (int x = 2; x < 10; ++x) img(y, x + dx) = label;
  return img;
}

}  // namespace

TEST_CASE("metrics on two label images: JSON values of a square shifted by one pixel") {
  TempDir dir;
  write_tiff(dir / "gt.tif", square(0, 1).cview());
  write_tiff(dir / "pred.tif", square(1, 5).cview());
  const Result r = qanet_cli("metrics --json --gt " + (dir / "gt.tif").string() + " --pred " +
                             (dir / "pred.tif").string());
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  // IoU = 56 / 72. Boundaries: 28 voxels each. GT boundary: rows 2 and 9 lie on the result's
  // rows except their left corner (2 x 7 zeros, 2 ones); column 2 (6 voxels) is 1 px from the
  // result's column 3 and column 9 (6) 1 px from its column 10: 14 zeros, 14 ones. The result's
  // boundary is the mirror image. Directed means 0.5, HD 1.
  CHECK(j["seg"].get<double>() == doctest::Approx(56.0 / 72.0).epsilon(1e-12));
  CHECK(j["gt_objects"] == 1);
  CHECK(j["matched"] == 1);
  CHECK(j["hd"].get<double>() == doctest::Approx(1.0));
  CHECK(j["mhd"].get<double>() == doctest::Approx(0.5));
  CHECK(j["asd"].get<double>() == doctest::Approx(0.5));
  CHECK(j["nemhd"].get<double>() == doctest::Approx(std::exp(-0.5 / 10.0)));
  // 95th percentile of 14 zeros and 14 ones: pos = 0.95*27 = 25.65 -> between two ones = 1.
  CHECK(j["mhd95"].get<double>() == doctest::Approx(1.0));
  // Anisotropic spacing scales x distances.
  const Result r2 = qanet_cli("metrics --json --spacing 1,0.5 --gt " + (dir / "gt.tif").string() +
                              " --pred " + (dir / "pred.tif").string());
  REQUIRE(r2.status == 0);
  CHECK(json::parse(r2.out)["hd"].get<double>() == doctest::Approx(0.5));
}

TEST_CASE("metrics: an empty ground truth gives null SEG and says so") {
  TempDir dir;
  write_tiff(dir / "gt.tif", LabelImage<2>(Shape<2>(16, 16)).cview());
  write_tiff(dir / "pred.tif", square(0, 1).cview());
  const Result r = qanet_cli("metrics --json --gt " + (dir / "gt.tif").string() + " --pred " +
                             (dir / "pred.tif").string() + " 2>/dev/null");
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  CHECK(j["seg"].is_null());
  CHECK(j["hd"].is_null());
  CHECK(j["pred_objects"] == 1);
  const Result text = qanet_cli("metrics --gt " + (dir / "gt.tif").string() + " --pred " +
                                (dir / "pred.tif").string());
  CHECK(text.out.find("undefined") != std::string::npos);
}

TEST_CASE("metrics: bad input gets a clear error naming the file") {
  TempDir dir;
  write_tiff(dir / "gt.tif", square(0, 1).cview());
  LabelImage<2> small(Shape<2>(8, 16));
  write_tiff(dir / "small.tif", small.cview());
  Image<float, 2> frac(Shape<2>(16, 16), 0.5f);
  write_tiff(dir / "frac.tif", frac.cview());
  std::ofstream(dir / "garbage.tif") << "this is not a TIFF file at all";

  Result r = qanet_cli("metrics --gt " + (dir / "missing.tif").string() + " --pred " + (dir / "gt.tif").string());
  CHECK(r.status == 1);
  CHECK(r.out.find("missing.tif") != std::string::npos);

  r = qanet_cli("metrics --gt " + (dir / "gt.tif").string() + " --pred " + (dir / "small.tif").string());
  CHECK(r.status == 1);
  CHECK(r.out.find("small.tif") != std::string::npos);
  CHECK(r.out.find("16x16") != std::string::npos);

  r = qanet_cli("metrics --gt " + (dir / "gt.tif").string() + " --pred " + (dir / "frac.tif").string());
  CHECK(r.status == 1);
  CHECK(r.out.find("frac.tif") != std::string::npos);

  r = qanet_cli("metrics --gt " + (dir / "gt.tif").string() + " --pred " + (dir / "garbage.tif").string());
  CHECK(r.status == 1);
  CHECK(r.out.find("garbage.tif") != std::string::npos);

  r = qanet_cli("metrics --spacing 1,x --gt " + (dir / "gt.tif").string() + " --pred " + (dir / "gt.tif").string());
  CHECK(r.status == 1);
  CHECK(r.out.find("--spacing") != std::string::npos);
}

TEST_CASE("metrics on CTC folders: frames listed, pooled over all GT objects, missing results") {
  TempDir dir;
  std::filesystem::create_directories(dir / "01_GT/SEG");
  std::filesystem::create_directories(dir / "01_RES");
  // Frame 0: one square, perfectly segmented. Frame 3: two squares, one missed.
  write_tiff(dir / "01_GT/SEG/man_seg000.tif", square(0, 1).cview());
  write_tiff(dir / "01_RES/mask000.tif", square(0, 9).cview());
  LabelImage<2> two = square(0, 1);
  for (int y = 12; y < 15; ++y)
    for (int x = 12; x < 15; ++x) two(y, x) = 2;
  write_tiff(dir / "01_GT/SEG/man_seg003.tif", two.cview());
  write_tiff(dir / "01_RES/mask003.tif", square(0, 4).cview());
  write_tiff(dir / "01_RES/mask004.tif", square(0, 4).cview());  // no GT: ignored

  const Result r = qanet_cli("metrics --json --gt " + (dir / "01_GT").string() + " --pred " +
                             (dir / "01_RES").string());
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  // Pooled: (1 + 1 + 0) / 3 GT objects, not the mean of frame means (1 + 0.5) / 2.
  CHECK(j["seg"].get<double>() == doctest::Approx(2.0 / 3.0));
  CHECK(j["gt_objects"] == 3);
  REQUIRE(j["frames"].size() == 2);
  CHECK(j["frames"][0]["frame"] == 0);
  CHECK(j["frames"][1]["frame"] == 3);
  CHECK(j["frames"][1]["seg"].get<double>() == doctest::Approx(0.5));
  CHECK(j["nemhd"].get<double>() == doctest::Approx(2.0 / 3.0));

  std::filesystem::remove(dir / "01_RES/mask003.tif");
  Result missing = qanet_cli("metrics --gt " + (dir / "01_GT").string() + " --pred " + (dir / "01_RES").string());
  CHECK(missing.status == 1);
  CHECK(missing.out.find("mask003.tif") != std::string::npos);
  Result skip = qanet_cli("metrics --json --skip-missing --gt " + (dir / "01_GT").string() + " --pred " +
                          (dir / "01_RES").string() + " 2>/dev/null");
  REQUIRE(skip.status == 0);
  CHECK(json::parse(skip.out)["frames"].size() == 1);
}

TEST_CASE("metrics: a 2D annotation of one plane of a 3D result") {
  TempDir dir;
  LabelImage<3> vol(Shape<3>(3, 16, 16));
  for (int y = 2; y < 10; ++y)
    for (int x = 3; x < 11; ++x) vol(1, y, x) = 6;
  write_tiff(dir / "vol.tif", vol.cview());
  write_tiff(dir / "plane.tif", square(0, 1).cview());
  Result r = qanet_cli("metrics --json --plane 1 --gt " + (dir / "plane.tif").string() + " --pred " +
                       (dir / "vol.tif").string());
  REQUIRE(r.status == 0);
  CHECK(json::parse(r.out)["seg"].get<double>() == doctest::Approx(56.0 / 72.0));
  r = qanet_cli("metrics --gt " + (dir / "plane.tif").string() + " --pred " + (dir / "vol.tif").string());
  CHECK(r.status == 1);
  CHECK(r.out.find("--plane") != std::string::npos);
}

TEST_CASE("metrics reproduces the true SEG of the SIM+ method results") {
  const auto sim = qanet::testing::data_path("Fluo-N2DH-SIM+");
  QANET_REQUIRE_DATA(sim, "Fluo-N2DH-SIM+");
  const Result r = qanet_cli("metrics --json --seg-only --gt " + (sim / "02_GT/SEG/man_seg004.tif").string() +
                             " --pred " + (sim / "02_RES_TDG-evaldir2/mask004.tif").string());
  REQUIRE(r.status == 0);
  CHECK(std::abs(json::parse(r.out)["seg"].get<double>() - 0.7709) < 1e-4);
}
