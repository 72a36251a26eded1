// Per-object quality: Assessor::assess_objects against each object's window put through the
// network alone (written out here), the per-object training samples, and `qanet score --per-object`.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qanet/io.hpp"
#include "qanet/perturb/samples.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/qa/training_data.hpp"
#include "png_read.hpp"
#include "qa_test_util.hpp"

using namespace qanet;
using namespace qanet::testing;
using json = nlohmann::json;

namespace {

// Mirror with the edge sample repeated (... b a | a b c | c b ...), written out.
Index mirror(Index i, Index n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i;
  return i;
}

struct Expected {
  Index voxels = 0;
  std::array<double, 2> centroid{};
  double score = 0;
};

// Every object of `labels` judged as assess_objects promises, for an unscaled 2D frame: the image
// normalised whole; a window of max(48, extent + 12) px per axis centred on the object's box,
// mirrored past the edges; the mask channel that object alone; with `hide`, the other objects'
// pixels set to the median of the window's background; one network pass per object.
std::map<Label, Expected> brute_force_objects(const fs::path& model, const Scene<2>& sc, bool hide) {
  auto net = nn::load_model<float, 2>(model);
  const auto img = normalize_percentile(sc.image.cview());
  const Index H = sc.labels.shape()[0], W = sc.labels.shape()[1];
  std::map<Label, std::array<Index, 4>> box;  // y0, y1, x0, x1 inclusive
  std::map<Label, Expected> out;
  for (Index y = 0; y < H; ++y)
    for (Index x = 0; x < W; ++x)
      if (const Label l = sc.labels[y * W + x]) {
        auto [it, fresh] = box.try_emplace(l, std::array<Index, 4>{y, y, x, x});
        auto& b = it->second;
        b = {std::min(b[0], y), std::max(b[1], y), std::min(b[2], x), std::max(b[3], x)};
        Expected& e = out[l];
        ++e.voxels, e.centroid[0] += static_cast<double>(y), e.centroid[1] += static_cast<double>(x);
      }
  for (auto& [l, e] : out) {
    e.centroid[0] /= static_cast<double>(e.voxels), e.centroid[1] /= static_cast<double>(e.voxels);
    const auto& b = box[l];
    const Index h = std::max<Index>(48, b[1] - b[0] + 1 + 12), w = std::max<Index>(48, b[3] - b[2] + 1 + 12);
    const Index oy = (b[0] + b[1] + 1) / 2 - h / 2, ox = (b[2] + b[3] + 1) / 2 - w / 2;
    Image<float, 2> pi{Shape<2>(h, w)};
    LabelImage<2> pl{Shape<2>(h, w)};
    std::vector<float> background;
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x) {
        const Index src = mirror(oy + y, H) * W + mirror(ox + x, W);
        pi[y * w + x] = img[src];
        pl[y * w + x] = sc.labels[src];
        if (sc.labels[src] == 0) background.push_back(img[src]);
      }
    std::sort(background.begin(), background.end());
    for (Index i = 0; i < pl.size(); ++i) {
      if (hide && pl[i] != 0 && pl[i] != l) pi[i] = background[background.size() / 2];
      pl[i] = pl[i] == l ? 1 : 0;
    }
    const auto pe = nn::encode_segmentation<float>(pl.cview(), nn::InputEncoding::trinary);
    nn::Tensor<float> xi(nn::activation_shape<2>(1, 1, {h, w})), xs(xi.shape());
    std::copy_n(pi.data(), pi.size(), xi.data());
    std::copy_n(pe.data(), pe.size(), xs.data());
    e.score = std::clamp(static_cast<double>(net.forward(xi, xs, nn::Mode::infer)[0]), 0.0, 1.0);
  }
  return out;
}

// Discs of varied sizes: one past the top-left corner (its window mirrored), one larger than the
// 48 px patch (its window grown), touching pairs.
Scene<2> object_scene() {
  return make_scene<2>(Shape<2>(90, 110),
                       {{{0, 4, 5}, 6, 3},
                        {{0, 45, 55}, 30, 7},
                        {{0, 82, 100}, 7, 12},
                        {{0, 80, 12}, 6, 20},
                        {{0, 80, 24}, 6, 21},
                        {{0, 10, 95}, 2, 30}},
                       4);
}

void check_objects(const std::vector<ObjectScore<2>>& got, const std::map<Label, Expected>& expect) {
  REQUIRE(got.size() == expect.size());
  auto it = expect.begin();
  for (const auto& o : got) {
    CHECK(o.label == it->first);
    CHECK(o.voxels == it->second.voxels);
    CHECK(o.centroid[0] == doctest::Approx(it->second.centroid[0]).epsilon(1e-12));
    CHECK(o.centroid[1] == doctest::Approx(it->second.centroid[1]).epsilon(1e-12));
    CHECK(o.score == doctest::Approx(it->second.score).epsilon(1e-5));
    ++it;
  }
}

}  // namespace

TEST_CASE("assess_objects: a per-object model judges each object's window with that object alone") {
  TempDir dir;
  write_tiny_model<2>(dir / "iou.safetensors", 0, 11, nn::InputEncoding::trinary, true, 1, "iou");
  const Assessor<2> assessor(dir / "iou.safetensors");
  CHECK(assessor.per_object());
  CHECK(assessor.higher_is_better());
  const Scene<2> sc = object_scene();
  AssessOptions opt;
  opt.rescale = false;
  const auto expect = brute_force_objects(dir / "iou.safetensors", sc, false);
  const auto got = assessor.assess_objects(sc.image.cview(), sc.labels.cview(), opt);
  check_objects(got, expect);
  // The scores differ between objects (the check is not passed by a constant).
  std::set<double> distinct;
  for (const auto& o : got) distinct.insert(o.score);
  CHECK(distinct.size() > 3);
  // Batches of one give the same.
  opt.batch = 1;
  check_objects(assessor.assess_objects(sc.image.cview(), sc.labels.cview(), opt), expect);
}

TEST_CASE("assess_objects: a frame model judges each object with the other objects hidden") {
  TempDir dir;
  write_tiny_model<2>(dir / "seg.safetensors", 0, 11, nn::InputEncoding::trinary, true);
  const Assessor<2> assessor(dir / "seg.safetensors");
  CHECK_FALSE(assessor.per_object());
  const Scene<2> sc = object_scene();
  AssessOptions opt;
  opt.rescale = false;
  const auto got = assessor.assess_objects(sc.image.cview(), sc.labels.cview(), opt);
  check_objects(got, brute_force_objects(dir / "seg.safetensors", sc, true));
  // Hiding matters: without it the neighbours show and the touching pair scores otherwise.
  const auto shown = brute_force_objects(dir / "seg.safetensors", sc, false);
  bool differs = false;
  for (const auto& o : got) differs = differs || std::abs(o.score - shown.at(o.label).score) > 1e-6;
  CHECK(differs);
}

TEST_CASE("assess_objects: objects that shrinking would lose are still judged, in the caller's coordinates") {
  TempDir dir;
  write_tiny_model<2>(dir / "iou.safetensors", 0, 11, nn::InputEncoding::trinary, true, 1, "iou");
  const Assessor<2> assessor(dir / "iou.safetensors");
  Scene<2> sc = object_scene();
  sc.labels[60 * 110 + 100] = 40;  // single pixels, gone at a quarter of the size, side by side
  sc.labels[60 * 110 + 101] = 41;  // (both fall on one voxel of the shrunk frame)
  AssessOptions opt;
  opt.scale = 0.25;
  const auto got = assessor.assess_objects(sc.image.cview(), sc.labels.cview(), opt);
  REQUIRE(got.size() == 8);
  CHECK(got[6].label == 40);
  CHECK(got[6].voxels == 1);
  CHECK(got[6].centroid == std::array<double, 2>{60.0, 100.0});
  CHECK(got[7].label == 41);
  CHECK(got[7].score == doctest::Approx(got[6].score).epsilon(1e-6));  // the same one-voxel view
  for (const auto& o : got) CHECK((o.score >= 0 && o.score <= 1));
  // Errors as assess() gives them.
  LabelImage<2> empty(sc.labels.shape());
  CHECK_THROWS_AS(assessor.assess_objects(sc.image.cview(), empty.cview()), UndefinedValue);
  LabelImage<2> other{Shape<2>(10, 10)};
  CHECK_THROWS_AS(assessor.assess_objects(sc.image.cview(), other.cview()), InvalidArgument);
}

TEST_CASE("SampleGenerator: per-object samples hold one object of the mask and its IoU with the truth") {
  SimulationOptions<2> sim;
  sim.shape = Shape<2>(64, 64);
  sim.radius_median = 8;
  sim.coverage = 0.3;
  SampleOptions<2> so;
  so.patch = Shape<2>(64, 64);
  so.boundary_metrics = false;
  so.object_target = true;
  so.judged_diameter = [](const ImageView<const float, 2>& image, const LabelView<2>& labels) {
    return measured_diameter(image, labels, ScaleMeasure::foreground_thickness);
  };
  so.segmenter_error_probability = 0.5;
  SUBCASE("perturbed masks") {
    const SampleGenerator<2> g(sim, so);
    std::set<double> targets;
    for (std::uint64_t i = 0; i < 16; ++i) {
      const auto s = g.sample(3, i);
      REQUIRE(s.object_iou);
      CHECK((*s.object_iou >= 0 && *s.object_iou <= 1));
      targets.insert(*s.object_iou);
      Label top = 0;
      for (Label v : s.mask) top = std::max(top, v);
      CHECK(top == 1);  // one object, label 1
    }
    CHECK(targets.size() > 4);
  }
  SUBCASE("a mask that is the truth: IoU 1, and the object is one ground-truth cell exactly") {
    so.clean_probability = 1;
    const SampleGenerator<2> g(sim, so);
    for (std::uint64_t i = 0; i < 8; ++i) {
      const auto s = g.sample(4, i);
      REQUIRE(s.object_iou);
      CHECK(*s.object_iou == 1.0);
      std::set<Label> under;
      for (Index k = 0; k < s.mask.size(); ++k)
        if (s.mask[k]) under.insert(s.gt[k]);
      REQUIRE(under.size() == 1);
      const Label cell = *under.begin();
      CHECK(cell != 0);
      for (Index k = 0; k < s.mask.size(); ++k) CHECK((s.gt[k] == cell) == (s.mask[k] == 1));
    }
  }
  SUBCASE("without a judged scale it is refused") {
    so.judged_diameter = nullptr;
    CHECK_THROWS_AS(SampleGenerator<2>(sim, so), InvalidArgument);
  }
}

#ifdef QANET_CLI
TEST_CASE("qanet score --per-object: the table, the JSON, the object heat map and errors") {
  TempDir dir;
  write_tiny_model<2>(dir / "seg.safetensors", 0, 11, nn::InputEncoding::trinary, true);
  write_tiny_model<2>(dir / "iou.safetensors", 0, 12, nn::InputEncoding::trinary, true, 1, "iou");
  const Scene<2> sc = scene_2d(6);
  Image<std::uint16_t, 2> img(sc.image.shape());
  for (Index i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint16_t>(std::lround(sc.image[i]));
  write_tiff(dir / "t000.tif", img.cview());
  write_tiff(dir / "mask000.tif", sc.labels.cview());
  const Assessor<2> objects(dir / "iou.safetensors");
  const auto expect = objects.assess_objects(Image<float, 2>::from_view(img.cview()).cview(), sc.labels.cview());

  const std::string base = "score --model " + q(dir / "seg.safetensors") + " --object-model " +
                           q(dir / "iou.safetensors") + " --image " + q(dir / "t000.tif") + " --mask " +
                           q(dir / "mask000.tif") + " --per-object " + q(dir / "objects.csv");
  CliResult r = qanet_cli(base + " --json --heatmap " + q(dir / "heat"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json j = json::parse(r.out);
  REQUIRE(j["objects_scored"].size() == expect.size());
  for (std::size_t k = 0; k < expect.size(); ++k) {
    CHECK(j["objects_scored"][k]["label"] == expect[k].label);
    CHECK(j["objects_scored"][k]["voxels"] == expect[k].voxels);
    CHECK(j["objects_scored"][k]["score"].get<double>() == doctest::Approx(expect[k].score).epsilon(1e-6));
  }
  CHECK(is_png(dir / "heat" / "mask000_objects.png"));
  CHECK(is_png(dir / "heat" / "mask000_quality.png"));
  std::istringstream csv(read_text(dir / "objects.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line == "frame,mask,label,y,x,voxels,predicted_iou");
  std::size_t rows = 0;
  while (std::getline(csv, line)) {
    REQUIRE(rows < expect.size());
    std::ostringstream want;
    want << "," << expect[rows].label << ",";
    CHECK(line.find(want.str()) != std::string::npos);
    ++rows;
  }
  CHECK(rows == expect.size());
  // Text output: the per-object summary line; flagged objects under --flag-below.
  r = qanet_cli(base + " --flag-below 2");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(r.out.find("per object (predicted IoU") != std::string::npos);
  CHECK(r.out.find("object " + std::to_string(expect[0].label) + " at") != std::string::npos);
  // A missing object model is named.
  r = qanet_cli("score --model " + q(dir / "seg.safetensors") + " --object-model " + q(dir / "none.safetensors") +
                " --image " + q(dir / "t000.tif") + " --mask " + q(dir / "mask000.tif") + " --per-object " +
                q(dir / "o2.csv"));
  CHECK(r.status != 0);
  CHECK(r.out.find("none.safetensors") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "o2.csv"));
}

TEST_CASE("qanet score --report: one page ranking frames, patches and objects, with pictures; seen by a browser") {
  TempDir dir;
  write_tiny_model<2>(dir / "seg.safetensors", 0, 11, nn::InputEncoding::trinary, true);
  write_tiny_model<2>(dir / "iou.safetensors", 0, 12, nn::InputEncoding::trinary, true, 1, "iou");
  fs::create_directories(dir / "01");
  fs::create_directories(dir / "01_RES");
  for (int t = 0; t < 4; ++t) {
    const Scene<2> sc = scene_2d(60 + static_cast<std::uint64_t>(t));
    Image<std::uint16_t, 2> img(sc.image.shape());
    for (Index i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint16_t>(std::lround(sc.image[i]));
    LabelImage<2> mask = sc.labels;
    for (auto& v : mask)  // frames with fewer, merged or no objects: varied scores
      if ((t == 1 && v == 4) || (t == 2 && v > 5)) v = t == 1 ? 9 : 0;
    if (t == 3) mask = LabelImage<2>(mask.shape());  // an empty mask: listed, not scored
    write_tiff(dir / ("01/t00" + std::to_string(t) + ".tif"), img.cview());
    write_tiff(dir / ("01_RES/mask00" + std::to_string(t) + ".tif"), mask.cview());
  }
  const std::string args = "score --model " + q(dir / "seg.safetensors") + " --object-model " +
                           q(dir / "iou.safetensors") + " --images " + q(dir / "01") + " --masks " + q(dir / "01_RES") +
                           " --per-object " + q(dir / "o.csv") + " --flag-below 2 --report " + q(dir / "report");
  CliResult r = qanet_cli(args + " --json 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json j = json::parse(r.out);
  const std::string html = read_text(dir / "report" / "index.html");
  REQUIRE_FALSE(html.empty());
  // Frames in the table from worst to best: their frame numbers in the order of the JSON scores.
  std::vector<std::pair<double, int>> by_score;
  for (const auto& f : j["frames"])
    if (!f["score"].is_null()) by_score.emplace_back(f["score"].get<double>(), f["frame"].get<int>());
  REQUIRE(by_score.size() == 3);
  std::stable_sort(by_score.begin(), by_score.end(), [](auto& a, auto& b) { return a.first < b.first; });
  const auto table = html.substr(html.find("<table id=\"frames\">"));
  std::size_t at = 0;
  for (std::size_t k = 0; k < by_score.size(); ++k) {
    const std::string row = "<td>" + std::to_string(k + 1) + "</td><td>" + std::to_string(by_score[k].second) + "</td>";
    const std::size_t found = table.find(row, at);
    CHECK_MESSAGE(found != std::string::npos, row);
    at = found;
  }
  CHECK(table.find("mask003.tif: ") != std::string::npos);  // the empty mask, with its reason
  // Every frame scored is flagged below 2; every object too.
  CHECK(html.find("<b>3 frames</b>") != std::string::npos);
  CHECK(html.find("<table id=\"objects\">") != std::string::npos);
  CHECK(html.find("<table id=\"patches\">") != std::string::npos);
  // Six pictures: patches and objects of the three scored frames, embedded PNGs that decode.
  std::size_t pictures = 0;
  for (std::size_t p = html.find("data:image/png;base64,"); p != std::string::npos;
       p = html.find("data:image/png;base64,", p + 1)) {
    ++pictures;
    const std::size_t b = p + 22, e = html.find('"', b);
    std::string bytes;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = b; i < e && html[i] != '='; ++i) {  // base64, decoded here
      const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      acc = (acc << 6) | static_cast<std::uint32_t>(digits.find(html[i]));
      if ((bits += 6) >= 8) bytes += static_cast<char>((acc >> (bits -= 8)) & 0xff);
    }
    const auto d = decode_png(bytes);
    CHECK(d.ok);
    CHECK(d.width == 90);
    CHECK(d.height == 100);
  }
  CHECK(pictures == 6);
  // A browser renders it: headless Chromium's screenshot is a picture that is not blank.
  const std::string chromium = run_command("command -v chromium chromium-browser 2>/dev/null | head -n 1");
  if (chromium.empty()) {
    MESSAGE("chromium not installed: the page was not checked in a browser (apt-get install chromium)");
  } else {
    const std::string exe = chromium.substr(0, chromium.find('\n'));
    run_command(exe + " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --window-size=1000,1400 --screenshot=" +
                q(dir / "shot.png") + " " + q("file://" + (dir / "report" / "index.html").string()) + " >/dev/null 2>&1");
    const auto shot = decode_png(read_text(dir / "shot.png"));
    REQUIRE(shot.ok);
    CHECK(shot.width == 1000);
    std::size_t coloured = 0;  // tinted pixels of the embedded overlays (neither grey nor white)
    for (std::size_t i = 0; i + 2 < shot.rgb.size(); i += 3)
      coloured += std::abs(int(shot.rgb[i]) - int(shot.rgb[i + 2])) > 40;
    CHECK(coloured > 1000);
  }
  // No report when scoring fails.
  r = qanet_cli("score --model " + q(dir / "none.safetensors") + " --images " + q(dir / "01") + " --masks " +
                q(dir / "01_RES") + " --report " + q(dir / "report2"));
  CHECK(r.status != 0);
  CHECK_FALSE(fs::exists(dir / "report2"));
}

TEST_CASE("qanet calibrate fits a per-object model on its objects; score then gives each object an interval") {
  TempDir dir;
  const fs::path model = fs::path(QANET_SOURCE_DIR) / "models/qanet-iou-2d-small.safetensors";
  if (!fs::exists(model)) {
    MESSAGE("no bundled per-object model: skipped");
    return;
  }
  const fs::path cal = dir / "cal.safetensors";
  CliResult r = qanet_cli("simulate --quiet --frames 2 --perturbations 2 --size 160,160 --seed 5 --out " + q(dir / "sim"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  // Every object of every result against its best ground-truth partner, the raw model output.
  const Assessor<2> raw(model);
  AssessOptions opt;
  opt.calibrated = false;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const std::string res : {"01_RES_p1", "01_RES_p2"})
    for (const std::string t : {"000", "001"}) {
      const auto image = read_tiff_as<float, 2>(dir / "sim/01" / ("t" + t + ".tif"));
      const auto gt = read_labels<2>(dir / "sim/01_GT/SEG" / ("man_seg" + t + ".tif"));
      const auto mask = read_labels<2>(dir / "sim" / res / ("mask" + t + ".tif"));
      const auto truth = predicted_object_ious(gt, mask);
      const auto pred = raw.assess_objects(image.cview(), mask.cview(), opt);
      REQUIRE(truth.size() == pred.size());
      for (std::size_t k = 0; k < pred.size(); ++k) {
        const double x = pred[k].score, y = truth[k].iou;
        n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
      }
    }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), intercept = (sy - slope * sx) / n;
  r = qanet_cli("calibrate --model " + q(model) + " --data " + q(dir / "sim") + " --out " + q(cal) + " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(r.out.find("fitted on " + std::to_string(static_cast<long>(n)) + " objects") != std::string::npos);
  const auto c = nn::read_model_info(cal).training["calibration"];
  CHECK(c["objects"].get<double>() == n);
  CHECK(c["slope"].get<double>() == doctest::Approx(slope).epsilon(1e-6));
  CHECK(c["intercept"].get<double>() == doctest::Approx(intercept).epsilon(1e-6));
  // Scores of the calibrated model: the line applied; intervals in the JSON and the table.
  const Assessor<2> calibrated(cal);
  const auto image = read_tiff_as<float, 2>(dir / "sim/01/t000.tif");
  const auto mask = read_labels<2>(dir / "sim/01_RES_p1/mask000.tif");
  const auto a = raw.assess_objects(image.cview(), mask.cview(), opt), b = calibrated.assess_objects(image.cview(), mask.cview());
  for (std::size_t k = 0; k < a.size(); ++k)
    CHECK(b[k].score == doctest::Approx(std::clamp(intercept + slope * a[k].score, 0.0, 1.0)).epsilon(1e-5));
  if (!calibrated.has_intervals()) return;  // too few objects for five folds
  r = qanet_cli("score --json --object-model " + q(cal) + " --image " + q(dir / "sim/01/t000.tif") + " --mask " +
                q(dir / "sim/01_RES_p1/mask000.tif") + " --per-object " + q(dir / "o.csv"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json j = json::parse(r.out);
  for (const auto& o : j["objects_scored"]) {
    REQUIRE(o.contains("interval"));
    CHECK(o["interval"][0].get<double>() <= o["score"].get<double>());
    CHECK(o["interval"][1].get<double>() >= o["score"].get<double>());
  }
  CHECK(read_text(dir / "o.csv").find("predicted_iou,low,high") != std::string::npos);
}
#endif
