#include "worker/runtime/tiling.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;

TEST(TilingTest, SmallFrameIsOneTile) {
  EXPECT_THAT(PlanTileStarts(100, 128, 16), ElementsAre(0));
  EXPECT_THAT(PlanTileStarts(128, 128, 16), ElementsAre(0));
  EXPECT_THAT(PlanTileStarts(500, 0, 0), ElementsAre(0));
  std::vector<TileRect> tiles = PlanTiles(100, 50, 128, 16);
  ASSERT_EQ(tiles.size(), 1u);
  EXPECT_EQ(tiles[0].width, 100);
  EXPECT_EQ(tiles[0].height, 50);
}

TEST(TilingTest, LastTileEndsAtTheEdge) {
  // stride 112: 0, 112, then 224 + 128 > 300 so the last one is pulled back to 172.
  EXPECT_THAT(PlanTileStarts(300, 128, 16), ElementsAre(0, 112, 172));
  EXPECT_THAT(PlanTileStarts(240, 128, 16), ElementsAre(0, 112));
  EXPECT_EQ(PlanTiles(300, 240, 128, 16).size(), 6u);
}

// For every pixel of an axis, the weights of the tiles covering it sum to 1 wherever
// neighbours overlap by exactly `overlap`, and every pixel has some positive weight.
TEST(TilingTest, FeatherWeightsPartitionUnityAndCoverEverything) {
  for (int length : {64, 100, 240, 300, 1000}) {
    for (int scale : {1, 2, 3}) {
      const int tile = 64, overlap = 16;
      std::vector<float> sum(length * scale, 0.0f);
      std::vector<int> starts = PlanTileStarts(length, tile, overlap);
      for (int s : starts) {
        const int tl = std::min(tile, length);
        std::vector<float> w = FeatherWeights(length, s, tl, overlap, scale);
        ASSERT_EQ(static_cast<int>(w.size()), tl * scale);
        for (int i = 0; i < tl * scale; ++i) sum[s * scale + i] += w[i];
      }
      // Left of the last tile (which may be pulled back into a bigger overlap) all
      // overlaps are regular, so the weights must sum to exactly 1 there.
      const int exact_end = starts.size() == 1 ? length : starts.back();
      for (int p = 0; p < length * scale; ++p) {
        ASSERT_GT(sum[p], 0.0f) << "length " << length << " scale " << scale << " p " << p;
        if (p < exact_end * scale) {
          ASSERT_NEAR(sum[p], 1.0f, 1e-5) << "length " << length << " p " << p;
        }
      }
    }
  }
}

TEST(TilingTest, WeightsAreOneAtFrameEdgesAndZeroAtInteriorTileEdges) {
  std::vector<float> first = FeatherWeights(300, 0, 128, 16, 1);
  EXPECT_FLOAT_EQ(first.front(), 1.0f);  // frame edge: no ramp
  EXPECT_FLOAT_EQ(first.back(), 0.0f);   // interior edge: hidden margin
  std::vector<float> last = FeatherWeights(300, 172, 128, 16, 1);
  EXPECT_FLOAT_EQ(last.front(), 0.0f);
  EXPECT_FLOAT_EQ(last.back(), 1.0f);
  // Monotone ramp, no jumps bigger than one ramp step.
  for (size_t i = 1; i < first.size(); ++i) {
    EXPECT_LE(first[i], first[i - 1] + 1e-6);
    EXPECT_LE(first[i - 1] - first[i], 0.26f);
  }
}

}  // namespace
}  // namespace genfarm::worker
