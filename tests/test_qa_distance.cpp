// Models of the boundary metrics (MHD95, ASD, neMHD): distances given back in the caller's px
// (or physical units), neMHD's tau at the model's scale, and `qanet score|evaluate --metric`.
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qanet/io.hpp"
#include "qanet/metrics/evaluate.hpp"
#include "qanet/qa/assessor.hpp"
#include "qa_test_util.hpp"

using namespace qanet;
using namespace qanet::testing;
using json = nlohmann::json;

namespace {

// A tiny model of `metric` with a recalibration line (and residuals) in its file.
void write_calibrated(const fs::path& path, const std::string& metric, double intercept, double slope,
                      std::uint64_t seed = 11) {
  write_tiny_model<2>(path, 24.0, seed, nn::InputEncoding::trinary, false, 1, metric);
  nn::ModelInfo info;
  auto net = nn::load_model<float, 2>(path, &info);
  info.training["calibration"] = {{"intercept", intercept}, {"slope", slope}, {"residuals", {0.1, 0.2, 0.3, 0.4}}};
  nn::save_model(path, net, info);
}

}  // namespace

TEST_CASE("Assessor: a distance model's scores are its px of the rescaled image, back in the caller's px") {
  TempDir dir;
  write_calibrated(dir / "mhd95.safetensors", "mhd95", 0.0, 1.0);
  write_calibrated(dir / "seg.safetensors", "seg", 0.0, 1.0);  // the same weights, a unit metric
  write_calibrated(dir / "cal.safetensors", "mhd95", 0.3, 2.0);
  const Assessor<2> distance(dir / "mhd95.safetensors"), seg(dir / "seg.safetensors"), cal(dir / "cal.safetensors");
  CHECK_FALSE(distance.higher_is_better());
  const Scene<2> sc = scene_2d(7);
  AssessOptions opt;
  opt.scale = 2.0;
  // The second method: the frame resampled here and scored at its own scale (no division).
  const auto img2 = rescale_linear(sc.image.cview(), {2.0, 2.0});
  const auto lab2 = rescale_nearest(sc.labels.cview(), {2.0, 2.0});
  AssessOptions as_is;
  as_is.rescale = false;
  const auto ref = distance.assess(img2.cview(), lab2.cview(), as_is);
  const auto a = distance.assess(sc.image.cview(), sc.labels.cview(), opt);
  REQUIRE(a.patches.size() == ref.patches.size());
  for (std::size_t i = 0; i < a.patches.size(); ++i) {
    CAPTURE(i);
    REQUIRE(ref.patches[i].score > 0.0);  // unclamped, so the division is visible
    CHECK(a.patches[i].score == doctest::Approx(ref.patches[i].score / 2.0).epsilon(1e-9));
  }
  CHECK(a.score == doctest::Approx(ref.score / 2.0).epsilon(1e-9));
  // A unit-interval model with the same weights is not divided.
  CHECK(seg.assess(sc.image.cview(), sc.labels.cview(), opt).score == doctest::Approx(ref.score).epsilon(1e-9));
  // Physical units: times the pixel size, and so are the intervals (residuals in px).
  opt.pixel_size = 0.25;
  CHECK(distance.assess(sc.image.cview(), sc.labels.cview(), opt).score ==
        doctest::Approx(ref.score / 2.0 * 0.25).epsilon(1e-9));
  const auto i = distance.interval(4.0, 0.75, 0.25);  // ceil(5 * 0.75) = 4th residual: 0.4 px
  REQUIRE(i);
  CHECK(i->low == doctest::Approx(4.0 - 0.1));
  CHECK(i->high == doctest::Approx(4.0 + 0.1));
  // The recalibration is fitted on the caller's px (qanet calibrate on assess() scores), so it
  // maps the converted score: 0.3 + 2 x (raw / 2) px.
  opt.pixel_size = 1;
  CHECK(cal.assess(sc.image.cview(), sc.labels.cview(), opt).score ==
        doctest::Approx(0.3 + 2.0 * ref.score / 2.0).epsilon(1e-9));
  CHECK(Assessor<2>::nemhd_tau(2.0) == 5.0);  // tau 10 px at the model's scale = 5 px of an image enlarged 2x
}

#ifdef QANET_CLI
TEST_CASE("qanet score|evaluate --metric and --spacing: the matching model, units, tau, clear errors") {
  TempDir dir;
  write_calibrated(dir / "mhd95.safetensors", "mhd95", 0.0, 1.0);
  write_calibrated(dir / "nemhd.safetensors", "nemhd", 0.0, 1.0, 12);
  write_calibrated(dir / "seg.safetensors", "seg", 0.0, 1.0);
  const Scene<2> sc = scene_2d(8);
  Image<std::uint16_t, 2> img(sc.image.shape());
  for (Index i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint16_t>(std::lround(sc.image[i]));
  write_tiff(dir / "t000.tif", img.cview());
  write_tiff(dir / "mask000.tif", sc.labels.cview());
  const std::string frame = " --image " + q(dir / "t000.tif") + " --mask " + q(dir / "mask000.tif");

  CliResult r = qanet_cli("score --model " + q(dir / "mhd95.safetensors") + frame + " --coverage 0.75 --json 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json px = json::parse(r.out);
  CHECK(px["metric"] == "mhd95");
  CHECK(px["pixel_size"] == 1.0);
  r = qanet_cli("score --metric mhd95 --model " + q(dir / "mhd95.safetensors") + frame + " --spacing 0.5 --coverage 0.75 --json 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json um = json::parse(r.out);
  CHECK(um["pixel_size"] == 0.5);
  CHECK(um["score"].get<double>() == doctest::Approx(0.5 * px["score"].get<double>()).epsilon(1e-9));
  CHECK(um["interval"][1].get<double>() - um["score"].get<double>() ==
        doctest::Approx(0.5 * (px["interval"][1].get<double>() - px["score"].get<double>())).epsilon(1e-9));
  CHECK(qanet_cli("score --model " + q(dir / "mhd95.safetensors") + frame + " --spacing 0.5,0.5").status == 0);

  // neMHD: the JSON names the tau of the image's px, 10 px at the model's scale.
  r = qanet_cli("score --model " + q(dir / "nemhd.safetensors") + frame + " --json 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json ne = json::parse(r.out);
  CHECK(ne["tau"].get<double>() == doctest::Approx(10.0 / ne["scale"].get<double>()).epsilon(1e-12));
  CHECK(ne["scale"].get<double>() != 1.0);  // the model's 24 px cells: the frame is rescaled

  // Errors, one clear line each.
  r = qanet_cli("score --metric mhd95 --model " + q(dir / "seg.safetensors") + frame);
  CHECK(r.status != 0);
  CHECK(r.out.find("--metric mhd95: model") != std::string::npos);
  CHECK(r.out.find("predicts seg") != std::string::npos);
  r = qanet_cli("score --model " + q(dir / "seg.safetensors") + frame + " --spacing 0.5");
  CHECK(r.status != 0);
  CHECK(r.out.find("not a distance") != std::string::npos);
  for (const char* bad : {"0.5,0.25", "1,1,1", "-1", "a"}) {
    CAPTURE(bad);
    r = qanet_cli("score --model " + q(dir / "mhd95.safetensors") + frame + " --spacing " + bad);
    CHECK(r.status != 0);
    CHECK(r.out.find("--spacing") != std::string::npos);
  }
  r = qanet_cli("score --metric hd" + frame);
  CHECK(r.status != 0);
  // Without --model, the bundled model of the metric (a copy of the program has none next to it).
  fs::copy_file(QANET_CLI, dir / "qanet");
  int status = 0;
  r.out = run_command(q(dir / "qanet") + " score --metric asd" + frame + " 2>&1", &status);
  CHECK(status != 0);
  CHECK(r.out.find("qanet-asd-2d-small.safetensors") != std::string::npos);
  CHECK(r.out.find("QANET_MODEL") == std::string::npos);  // $QANET_MODEL names a SEG model

  // qanet evaluate: the true neMHD of each frame with the tau of its scale. Frames of a CTC
  // folder with ground truth: the truths must equal qanet metrics with --tau 10 / scale.
  const fs::path ctc = dir / "ctc";
  fs::create_directories(ctc / "01");
  fs::create_directories(ctc / "01_GT" / "SEG");
  fs::create_directories(ctc / "01_RES");
  for (int t = 0; t < 3; ++t) {
    const Scene<2> s = scene_2d(30 + static_cast<std::uint64_t>(t));
    for (Index i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint16_t>(std::lround(s.image[i]));
    LabelImage<2> mask = s.labels;
    for (Index i = 0; i < mask.size(); ++i)  // shift every object right by 1 + t px: MHD > 0
      mask[i] = (i % mask.shape()[1]) >= 1 + t ? s.labels[i - 1 - t] : 0;
    const std::string n = "00" + std::to_string(t);
    write_tiff(ctc / ("01/t" + n + ".tif"), img.cview());
    write_tiff(ctc / ("01_GT/SEG/man_seg" + n + ".tif"), s.labels.cview());
    write_tiff(ctc / ("01_RES/mask" + n + ".tif"), mask.cview());
  }
  r = qanet_cli("evaluate --metric nemhd --model " + q(dir / "nemhd.safetensors") + " --data " + q(ctc) +
                " --json 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json ev = json::parse(r.out);
  REQUIRE(ev["samples"].size() == 3);
  for (const auto& f : ev["samples"]) {
    CAPTURE(f.dump());
    const std::string mask = f["result"].get<std::string>();
    const std::string n = mask.substr(mask.size() - 7, 3);
    r = qanet_cli("score --model " + q(dir / "nemhd.safetensors") + " --image " + q(ctc / ("01/t" + n + ".tif")) +
                  " --mask " + q(mask) + " --json 2>/dev/null");
    REQUIRE(r.status == 0);
    const double tau = json::parse(r.out)["tau"].get<double>();
    std::ostringstream t;
    t.precision(17);
    t << tau;
    r = qanet_cli("metrics --gt " + q(ctc / ("01_GT/SEG/man_seg" + n + ".tif")) + " --pred " + q(mask) +
                  " --tau " + t.str() + " --json 2>/dev/null");
    REQUIRE_MESSAGE(r.status == 0, r.out);
    const double truth = json::parse(r.out)["nemhd"].get<double>();
    CHECK(truth > 0.0);
    CHECK(truth < 1.0);
    CHECK(f["true"].get<double>() == doctest::Approx(truth).epsilon(1e-9));
  }
}
#endif
