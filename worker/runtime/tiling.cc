#include "worker/runtime/tiling.h"

#include <algorithm>

namespace genfarm::worker {

std::vector<int> PlanTileStarts(int length, int tile_size, int overlap) {
  if (tile_size <= 0 || length <= tile_size) return {0};
  const int stride = std::max(1, tile_size - overlap);
  std::vector<int> starts;
  for (int s = 0;; s += stride) {
    if (s + tile_size >= length) {
      starts.push_back(length - tile_size);  // last tile ends exactly at the frame edge
      break;
    }
    starts.push_back(s);
  }
  return starts;
}

std::vector<TileRect> PlanTiles(int width, int height, int tile_size, int overlap) {
  const std::vector<int> xs = PlanTileStarts(width, tile_size, overlap);
  const std::vector<int> ys = PlanTileStarts(height, tile_size, overlap);
  const int tw = std::min(width, tile_size > 0 ? tile_size : width);
  const int th = std::min(height, tile_size > 0 ? tile_size : height);
  std::vector<TileRect> tiles;
  tiles.reserve(xs.size() * ys.size());
  for (int y : ys) {
    for (int x : xs) tiles.push_back(TileRect{x, y, tw, th});
  }
  return tiles;
}

std::vector<float> FeatherWeights(int length, int start, int tile_length, int overlap, int scale) {
  const int n = tile_length * scale;
  std::vector<float> w(n, 1.0f);
  if (overlap <= 0) return w;
  // A margin of 3/8 overlap input pixels gets weight 0: tile borders see zero padding, so
  // near them outputs differ from a whole-frame run. Model converters size the overlap as
  // >= 2 x the receptive radius, so the ramp (the middle quarter of the overlap) sits where
  // outputs are exact or nearly so. The neighbour covers the margin with full weight.
  const float margin = static_cast<float>((3 * overlap / 8) * scale);
  const float ramp = static_cast<float>(overlap * scale) - 2.0f * margin;
  auto edge_weight = [&](int d) {  // d = output pixels from the tile edge
    return std::clamp((static_cast<float>(d) + 0.5f - margin) / ramp, 0.0f, 1.0f);
  };
  const bool ramp_start = start > 0;
  const bool ramp_end = start + tile_length < length;
  for (int i = 0; i < n; ++i) {
    if (ramp_start) w[i] = std::min(w[i], edge_weight(i));
    if (ramp_end) w[i] = std::min(w[i], edge_weight(n - 1 - i));
  }
  return w;
}

}  // namespace genfarm::worker
