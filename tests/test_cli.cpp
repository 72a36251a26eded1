// Tests of the qanet command line, run as a user would: exit codes, JSON, error messages.
#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "support.hpp"

using namespace qanet;
using qanet::testing::run_command;
using qanet::testing::TempDir;
using json = nlohmann::json;

namespace {

namespace fs = std::filesystem;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

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

TEST_CASE("QANET_THREADS sets the default of --threads; a bad value is one clear error") {
  TempDir dir;
  write_tiff(dir / "gt.tif", square(0, 1).cview());
  const std::string args = " metrics --json --seg-only --gt " + (dir / "gt.tif").string() + " --pred " + (dir / "gt.tif").string() + " 2>&1";
  int status = -1;
  const std::string ok = run_command("QANET_THREADS=1 " + std::string(QANET_CLI) + args, &status);
  CHECK(status == 0);
  CHECK(json::parse(ok)["seg"].get<double>() == 1.0);
  const std::string bad = run_command("QANET_THREADS=two " + std::string(QANET_CLI) + args, &status);
  CHECK(status == 2);
  CHECK(bad.find("QANET_THREADS must be a non-negative integer, got 'two'") != std::string::npos);
  CHECK(std::count(bad.begin(), bad.end(), '\n') == 1);
  // --threads given: the variable is not read at all.
  run_command("QANET_THREADS=two " + std::string(QANET_CLI) + " --threads 1" + args, &status);
  CHECK(status == 0);
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

TEST_CASE("compare: predicted, cross-method baseline and true pooled SEG of result folders (Table 3 protocol)") {
  TempDir dir;
  Result r = qanet_cli("simulate --quiet --frames 2 --perturbations 3 --size 192,192 --seed 8 --out " + q(dir / "sim"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const fs::path sim = dir / "sim";
  std::vector<fs::path> res{sim / "01_RES_p1", sim / "01_RES_p2", sim / "01_RES_p3"};
  const std::string results = q(res[0]) + " " + q(res[1]) + " " + q(res[2]);
  r = qanet_cli("compare --json --images " + q(sim / "01") + " --results " + results + " --gt " +
                q(sim / "01_GT" / "SEG") + " --csv " + q(dir / "t.csv"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json j = json::parse(r.out);
  REQUIRE(j["results"].size() == 3);
  // Pooled SEG by hand: the Jaccard of every reference object (0 when unmatched) summed over
  // both frames, over the number of reference objects.
  auto pooled = [&](const fs::path& reference, const char* ref_name, const fs::path& result) {
    double sum = 0, n = 0;
    for (const char* t : {"000", "001"}) {
      const auto m = evaluate_frame(read_labels<2>(reference / (std::string(ref_name) + t + ".tif")),
                                    read_labels<2>(result / ("mask" + std::string(t) + ".tif")));
      for (const auto& o : m.objects) sum += o.matched() ? o.jaccard : 0.0, n += 1;
    }
    return sum / n;
  };
  double qanet_err = 0, base_err = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const json& row = j["results"][i];
    CAPTURE(i);
    const double truth = pooled(sim / "01_GT" / "SEG", "man_seg", res[i]);
    double baseline = 0;
    for (std::size_t k = 0; k < 3; ++k)
      if (k != i) baseline += pooled(res[k], "mask", res[i]) / 2;
    Result s = qanet_cli("score --json --images " + q(sim / "01") + " --masks " + q(res[i]));
    REQUIRE_MESSAGE(s.status == 0, s.out);
    const double predicted = json::parse(s.out)["score"].get<double>();
    CHECK(row["true"].get<double>() == doctest::Approx(truth).epsilon(1e-9));
    CHECK(row["baseline"].get<double>() == doctest::Approx(baseline).epsilon(1e-9));
    CHECK(row["predicted"].get<double>() == doctest::Approx(predicted).epsilon(1e-9));
    CHECK(row["annotated_frames"] == 2);
    CHECK(row["qanet_relative_error"].get<double>() == doctest::Approx(std::abs(predicted - truth) / truth));
    CHECK(row["baseline_relative_error"].get<double>() == doctest::Approx(std::abs(baseline - truth) / truth));
    qanet_err += std::abs(predicted - truth) / truth / 3, base_err += std::abs(baseline - truth) / truth / 3;
  }
  CHECK(j["mean_qanet_relative_error"].get<double>() == doctest::Approx(qanet_err));
  CHECK(j["mean_baseline_relative_error"].get<double>() == doctest::Approx(base_err));
  std::ifstream csv(dir / "t.csv");
  std::string header, line;
  std::getline(csv, header);
  CHECK(header == "result,frames,predicted,baseline,true,qanet_relative_error,baseline_relative_error");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  CHECK(rows == 3);
  // One result folder has no other to judge it by.
  r = qanet_cli("compare --images " + q(sim / "01") + " --results " + q(res[0]));
  CHECK(r.status != 0);
  CHECK(r.out.find("at least two --results") != std::string::npos);
}
