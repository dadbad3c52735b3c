#include "worker/frames/frame_io.h"

#include <OpenImageIO/imageio.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/frame_test_util.h"

namespace genfarm::worker {
namespace {

using ::testing::HasSubstr;
using testing_util::HasTempFiles;
using testing_util::ListDir;
using testing_util::Ramp;
using testing_util::ScopedTempDir;

// Writes a fixture with OIIO directly, independent of the code under test.
void WriteRaw(const std::string& path, int w, int h, int nch, OIIO::TypeDesc type,
              const std::vector<float>& data, int bits = 0) {
  auto out = OIIO::ImageOutput::create(path);
  ASSERT_TRUE(out) << OIIO::geterror();
  OIIO::ImageSpec spec(w, h, nch, type);
  if (nch == 4) spec.alpha_channel = 3;
  if (bits) spec.attribute("oiio:BitsPerSample", bits);
  ASSERT_TRUE(out->open(path, spec)) << out->geterror();
  ASSERT_TRUE(out->write_image(OIIO::TypeDesc::FLOAT, data.data())) << out->geterror();
  ASSERT_TRUE(out->close());
}

std::vector<float> Gradient(int w, int h, int nch) {
  std::vector<float> v(size_t(w) * h * nch);
  // Smooth, so JPEG's loss stays small.
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < nch; ++c) {
        v[(size_t(y) * w + x) * nch + c] = 0.1f + 0.8f * float(x + y + c) / float(w + h + nch);
      }
    }
  }
  return v;
}

TEST(FrameIoTest, ExrHalfRoundTripKeepsValuesAboveOne) {
  ScopedTempDir dir;
  Image img = Ramp(16, 8, -1.f, 0.75f);  // -0.75 .. 10.5
  const std::string path = dir.File("plate.1001.exr");
  ASSERT_TRUE(WriteFrame(path, img).ok());
  absl::StatusOr<Frame> back = ReadFrame(path, 1001);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->metadata.format_name, "openexr");
  EXPECT_EQ(back->metadata.pixel_type, "half");
  EXPECT_EQ(back->metadata.bits_per_sample, 16);
  EXPECT_EQ(FrameColorSpace(back->metadata), ColorSpace::kLinear);
  ASSERT_EQ(back->image.width, 16);
  ASSERT_EQ(back->image.height, 8);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    EXPECT_NEAR(back->image.pixels[i], img.pixels[i],
                1e-3 * std::max(1.f, std::abs(img.pixels[i])));
  }
  EXPECT_NEAR(back->image.at(15, 7, 0), 10.5f, 0.01);
}

TEST(FrameIoTest, ExrFloatRoundTripIsExact) {
  ScopedTempDir dir;
  Image img = Ramp(5, 3, 0.f, 1.37f);
  const std::string path = dir.File("f.exr");
  WriteOptions options;
  options.sample_type = SampleType::kFloat;
  ASSERT_TRUE(WriteFrame(path, img, options).ok());
  absl::StatusOr<Frame> back = ReadFrame(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->metadata.pixel_type, "float");
  EXPECT_EQ(back->image.pixels, img.pixels);
}

TEST(FrameIoTest, ReadsPngTiffJpegDpx) {
  ScopedTempDir dir;
  const int w = 12, h = 10;
  const std::vector<float> rgb = Gradient(w, h, 3);
  struct Case {
    std::string name;
    OIIO::TypeDesc type;
    int bits;
    std::string format;
    float tolerance;
  };
  const std::vector<Case> cases = {{"a.png", OIIO::TypeDesc::UINT8, 0, "png", 1.f / 255},
                                   {"a.tif", OIIO::TypeDesc::UINT16, 0, "tiff", 1e-4f},
                                   {"a.jpg", OIIO::TypeDesc::UINT8, 0, "jpeg", 0.08f},
                                   {"a.dpx", OIIO::TypeDesc::UINT16, 10, "dpx", 1.f / 1023}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WriteRaw(dir.File(c.name), w, h, 3, c.type, rgb, c.bits);
    absl::StatusOr<Frame> frame = ReadFrame(dir.File(c.name), 7);
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->metadata.format_name, c.format);
    EXPECT_EQ(frame->image.width, w);
    EXPECT_EQ(frame->image.height, h);
    EXPECT_EQ(frame->image.channels, 3);
    if (c.bits) {
      EXPECT_EQ(frame->metadata.bits_per_sample, c.bits);
    }
    double err = 0;
    for (size_t i = 0; i < rgb.size(); ++i)
      err = std::max(err, double(std::abs(frame->image.pixels[i] - rgb[i])));
    EXPECT_LE(err, c.tolerance);
  }
}

TEST(FrameIoTest, GreyIsReplicatedAndAlphaIsDroppedAndNoted) {
  ScopedTempDir dir;
  const std::vector<float> grey = {0.f, 0.5f, 1.f, 0.25f};
  WriteRaw(dir.File("grey.png"), 2, 2, 1, OIIO::TypeDesc::UINT8, grey);
  absl::StatusOr<Frame> g = ReadFrame(dir.File("grey.png"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->metadata.was_grey);
  EXPECT_FALSE(g->metadata.dropped_alpha);
  EXPECT_EQ(g->metadata.source_channels, 1);
  EXPECT_NEAR(g->image.at(1, 0, 0), 0.5f, 1.f / 255);
  EXPECT_EQ(g->image.at(1, 0, 0), g->image.at(1, 0, 1));
  EXPECT_EQ(g->image.at(1, 0, 0), g->image.at(1, 0, 2));

  std::vector<float> rgba = {0.1f, 0.2f, 0.3f, 0.5f};
  WriteRaw(dir.File("rgba.exr"), 1, 1, 4, OIIO::TypeDesc::FLOAT, rgba);
  absl::StatusOr<Frame> a = ReadFrame(dir.File("rgba.exr"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->metadata.dropped_alpha);
  EXPECT_FALSE(a->metadata.was_grey);
  EXPECT_THAT(a->image.pixels, testing::ElementsAre(0.1f, 0.2f, 0.3f));

  std::vector<float> grey_alpha = {0.4f, 1.f};
  {
    auto out = OIIO::ImageOutput::create(dir.File("ya.png"));
    OIIO::ImageSpec spec(1, 1, 2, OIIO::TypeDesc::UINT8);
    spec.alpha_channel = 1;
    ASSERT_TRUE(out->open(dir.File("ya.png"), spec));
    ASSERT_TRUE(out->write_image(OIIO::TypeDesc::FLOAT, grey_alpha.data()));
    out->close();
  }
  absl::StatusOr<Frame> ya = ReadFrame(dir.File("ya.png"));
  ASSERT_TRUE(ya.ok()) << ya.status();
  EXPECT_TRUE(ya->metadata.was_grey);
  EXPECT_TRUE(ya->metadata.dropped_alpha);
  EXPECT_NEAR(ya->image.at(0, 0, 2), 0.4f, 1.f / 255);
}

TEST(FrameIoTest, MissingFileIsNotFoundNamingFrameAndPath) {
  ScopedTempDir dir;
  const std::string path = dir.File("plate.1042.exr");
  absl::StatusOr<Frame> frame = ReadFrame(path, 1042);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(frame.status().message(), "frame 1042: input file " + path + " not found");
}

TEST(FrameIoTest, CorruptFileIsAClearDataLossError) {
  ScopedTempDir dir;
  const std::string path = dir.File("foo.exr");
  std::ofstream(path) << "this is not an OpenEXR file, just some garbage bytes\x01\x02";
  absl::StatusOr<Frame> frame = ReadFrame(path, 5);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(frame.status().message()),
              testing::StartsWith("frame 5: input file " + path + " is not a readable image: "));
}

TEST(FrameIoTest, TruncatedExrIsDataLoss) {
  ScopedTempDir dir;
  const std::string good = dir.File("good.exr");
  WriteOptions options;
  options.compression = "none";
  ASSERT_TRUE(WriteFrame(good, Ramp(64, 64, 0.f, 0.01f), options).ok());
  const auto size = std::filesystem::file_size(good);
  std::filesystem::resize_file(good, size / 2);
  absl::StatusOr<Frame> frame = ReadFrame(good, 9);
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDataLoss) << frame.status();
  EXPECT_THAT(std::string(frame.status().message()), HasSubstr(good));
}

TEST(FrameIoTest, WriteCreatesFoldersAndLeavesNoTempFile) {
  ScopedTempDir dir;
  const std::string path = dir.File("out/sh010/up.0001.png");
  ASSERT_TRUE(WriteFrame(path, Ramp(4, 4, 0.f, 0.1f)).ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(HasTempFiles(dir.path()));
  // Overwriting an existing frame also goes through the temporary name.
  ASSERT_TRUE(WriteFrame(path, Ramp(4, 4, 1.f, 0.1f)).ok());
  EXPECT_THAT(ListDir(dir.File("out/sh010")), testing::ElementsAre("up.0001.png"));
}

TEST(FrameIoTest, FailedRenameRemovesTheTempFile) {
  ScopedTempDir dir;
  // The target is a non-empty folder: the temp file is written, the rename fails.
  const std::string path = dir.File("frame.0001.exr");
  std::filesystem::create_directories(path + "/blocker");
  WriteOptions options;
  options.provenance = Provenance{};
  options.provenance->frame = 1;
  absl::Status status = WriteFrame(path, Ramp(4, 4, 0.f, 0.1f), options);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), testing::StartsWith("frame 1: output file " + path));
  EXPECT_FALSE(HasTempFiles(dir.path()));
}

TEST(FrameIoTest, UnwritableFolderFailsWithoutTempFile) {
  ScopedTempDir dir;
  std::ofstream(dir.File("not_a_folder")) << "x";
  const std::string path = dir.File("not_a_folder/frame.0001.exr");
  absl::Status status = WriteFrame(path, Ramp(4, 4, 0.f, 0.1f));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot create folder"));
  EXPECT_FALSE(HasTempFiles(dir.path()));
  // An output fault, never a model error or out-of-memory (docs/failures.md).
  absl::optional<absl::Cord> reason = status.GetPayload(kFailureReasonPayload);
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(std::string(*reason), "output_write");
}

TEST(FrameIoTest, AFenceThatRefusesTheRenameLeavesTheOldFrameAndNoTempFile) {
  ScopedTempDir dir;
  const std::string path = dir.File("up.0001.exr");
  ASSERT_TRUE(WriteFrame(path, Ramp(4, 4, 0.f, 0.1f)).ok());
  const auto before = std::filesystem::last_write_time(path);
  WriteOptions options;
  int checks = 0;
  options.before_rename = [&]() -> absl::Status {
    // Asked before the temporary is created, then once it is complete, right before the
    // rename: the lease runs out in between.
    if (++checks == 1) {
      EXPECT_FALSE(HasTempFiles(dir.path()));
      return absl::OkStatus();
    }
    EXPECT_TRUE(HasTempFiles(dir.path()));
    return absl::AbortedError("attempt 9: lease ran out");
  };
  absl::Status status = WriteFrame(path, Ramp(4, 4, 1.f, 0.1f), options);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("lease ran out"));
  EXPECT_FALSE(status.GetPayload(kFailureReasonPayload).has_value());  // the fence's, not I/O
  EXPECT_EQ(checks, 2);
  EXPECT_EQ(std::filesystem::last_write_time(path), before);
  EXPECT_FALSE(HasTempFiles(dir.path()));
}

TEST(FrameIoTest, UnknownExtensionIsInvalidArgument) {
  ScopedTempDir dir;
  absl::Status status = WriteFrame(dir.File("frame.nope"), Ramp(2, 2, 0.f, 0.1f));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(HasTempFiles(dir.path()));
}

TEST(FrameIoTest, WrongImageShapeIsInvalidArgument) {
  ScopedTempDir dir;
  Image bad(4, 4);
  bad.pixels.resize(5);
  EXPECT_EQ(WriteFrame(dir.File("x.exr"), bad).code(), absl::StatusCode::kInvalidArgument);
}

Provenance SampleProvenance() {
  Provenance p;
  p.model = "esrgan-slim-x2";
  p.model_version = "1.0.0";
  p.model_sha256 = "ab12cd34";
  p.params_json = R"({"factor":2,"strength":0.5})";
  p.seed = 9'007'199'254'740'993;  // > 2^53: must survive as text
  p.job = "42";
  p.task = "42/3";
  p.attempt = "7";
  p.frame = 1042;
  return p;
}

TEST(FrameIoTest, ProvenanceIsReadableBackFromEveryFormat) {
  ScopedTempDir dir;
  for (const std::string name :
       {"p.1042.exr", "p.1042.png", "p.1042.tif", "p.1042.jpg", "p.1042.dpx"}) {
    SCOPED_TRACE(name);
    WriteOptions options;
    options.provenance = SampleProvenance();
    ASSERT_TRUE(WriteFrame(dir.File(name), Ramp(4, 4, 0.f, 0.2f), options).ok());
    absl::StatusOr<Provenance> p = ReadProvenance(dir.File(name));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->model, "esrgan-slim-x2");
    EXPECT_EQ(p->model_version, "1.0.0");
    EXPECT_EQ(p->model_sha256, "ab12cd34");
    EXPECT_EQ(p->params_json, R"({"factor":2,"strength":0.5})");
    EXPECT_EQ(p->seed, 9'007'199'254'740'993);
    EXPECT_EQ(p->job, "42");
    EXPECT_EQ(p->task, "42/3");
    EXPECT_EQ(p->attempt, "7");
    EXPECT_EQ(p->frame, 1042);
    EXPECT_THAT(p->software, testing::StartsWith("GenFarm"));
  }
}

TEST(FrameIoTest, ExrProvenanceUsesGenfarmAttributes) {
  ScopedTempDir dir;
  WriteOptions options;
  options.provenance = SampleProvenance();
  ASSERT_TRUE(WriteFrame(dir.File("a.exr"), Ramp(2, 2, 0.f, 0.2f), options).ok());
  auto in = OIIO::ImageInput::open(dir.File("a.exr"));
  ASSERT_TRUE(in);
  EXPECT_EQ(in->spec().get_string_attribute("genfarm:model"), "esrgan-slim-x2");
  EXPECT_EQ(in->spec().get_int_attribute("genfarm:frame"), 1042);
  EXPECT_EQ(in->spec().get_string_attribute("genfarm:seed"), "9007199254740993");
}

TEST(FrameIoTest, NoProvenanceIsNotFound) {
  ScopedTempDir dir;
  ASSERT_TRUE(WriteFrame(dir.File("a.exr"), Ramp(2, 2, 0.f, 0.2f)).ok());
  EXPECT_EQ(ReadProvenance(dir.File("a.exr")).status().code(), absl::StatusCode::kNotFound);
}

TEST(FrameIoTest, DefaultSampleTypesFollowTheFormat) {
  ScopedTempDir dir;
  const Image img = Ramp(3, 3, 0.f, 0.1f);
  struct Case {
    std::string name;
    std::string pixel_type;
    int bits;
  };
  for (const Case& c : std::vector<Case>{{"d.exr", "half", 16},
                                         {"d.png", "uint16", 16},
                                         {"d.tif", "uint16", 16},
                                         {"d.jpg", "uint8", 8},
                                         {"d.dpx", "uint16", 10}}) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(WriteFrame(dir.File(c.name), img).ok());
    absl::StatusOr<Frame> f = ReadFrame(dir.File(c.name));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->metadata.pixel_type, c.pixel_type);
    EXPECT_EQ(f->metadata.bits_per_sample, c.bits);
  }
  WriteOptions eight;
  eight.sample_type = SampleType::kUint8;
  ASSERT_TRUE(WriteFrame(dir.File("e.png"), img, eight).ok());
  EXPECT_EQ(ReadFrame(dir.File("e.png"))->metadata.pixel_type, "uint8");
}

TEST(FrameIoTest, ColourSpaceTagIsWrittenAndReadBack) {
  ScopedTempDir dir;
  ASSERT_TRUE(WriteFrame(dir.File("lin.exr"), Ramp(2, 2, 0.f, 0.1f)).ok());
  ASSERT_TRUE(WriteFrame(dir.File("s.png"), Ramp(2, 2, 0.f, 0.1f)).ok());
  EXPECT_EQ(FrameColorSpace(ReadFrame(dir.File("lin.exr"))->metadata), ColorSpace::kLinear);
  EXPECT_EQ(FrameColorSpace(ReadFrame(dir.File("s.png"))->metadata), ColorSpace::kSrgb);
  WriteOptions srgb_exr;
  srgb_exr.color_space = ColorSpace::kSrgb;
  ASSERT_TRUE(WriteFrame(dir.File("s.exr"), Ramp(2, 2, 0.f, 0.1f), srgb_exr).ok());
  absl::StatusOr<Frame> f = ReadFrame(dir.File("s.exr"));
  EXPECT_EQ(f->metadata.color_space, "srgb");
  EXPECT_EQ(FrameColorSpace(f->metadata), ColorSpace::kSrgb);
}

}  // namespace
}  // namespace genfarm::worker
