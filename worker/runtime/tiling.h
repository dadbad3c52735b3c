// Tile geometry for tiled inference: where tiles go and how much each output pixel of a
// tile counts when neighbouring tiles are blended. Torch-free so it can be tested alone.
//
// Tiles are tile_size square (smaller only when the frame is), step tile_size - overlap,
// and the last tile in each row/column is pulled back to end at the frame edge. Inside a
// tile, weights ramp linearly from 0 to 1 across the middle quarter of the overlap with a
// neighbour (the zero-weight margin of 3/8 overlap before it hides the model's border
// artefacts: converters choose overlap >= 2 x receptive radius), and are 1 at frame edges. Blending
// = sum(weight * tile) / sum(weight): no seams, and where two tiles overlap by exactly `overlap`
// the weights sum to 1.
//
//   for (const TileRect& t : PlanTiles(1920, 1080, 256, 32)) { ... t.x, t.y, t.width ... }
//   std::vector<float> wx = FeatherWeights(frame_w, t.x, t.width, 32, /*scale=*/2);
#ifndef GENFARM_WORKER_RUNTIME_TILING_H_
#define GENFARM_WORKER_RUNTIME_TILING_H_

#include <vector>

namespace genfarm::worker {

struct TileRect {
  int x = 0;  // input pixels
  int y = 0;
  int width = 0;
  int height = 0;
};

// Start offsets of tiles along one axis of length `length`. tile_size <= 0 or
// length <= tile_size gives a single tile at 0 covering everything.
std::vector<int> PlanTileStarts(int length, int tile_size, int overlap);

// Row-major tiles covering a width x height frame.
std::vector<TileRect> PlanTiles(int width, int height, int tile_size, int overlap);

// Weights for the `tile_length * scale` output pixels of a tile starting at input offset
// `start` on an axis of input length `length`.
std::vector<float> FeatherWeights(int length, int start, int tile_length, int overlap, int scale);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_TILING_H_
