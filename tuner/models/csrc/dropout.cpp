// Dropout's keep mask on the CPU (see tuner/models/dropout.py). Each 64-bit word is splitmix64's
// output for its own counter, seed + (i + 1) * golden ratio: words are independent of each other and
// of how threads split them, so a seed gives the same mask at any thread count. A word gives four
// elements a 15-bit uniform integer each (its four 16-bit lanes, low 15 bits), as the torch-op form.

#include <torch/types.h>  // not torch/extension.h: only module.cpp needs pybind, and the lighter header halves the build
#include <ATen/Parallel.h>

#include <cstdint>

namespace {

inline uint64_t splitmix64(uint64_t state) {
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Words first..first+count-1 into out[0 .. 4 * count). (Arguments by value: with the parallel
// lambda's captured references GCC kept reloading them, and the loop ran 6x slower.)
void fill_words(float* __restrict__ out, int64_t first, int64_t count, uint32_t threshold, float kept, uint64_t seed) {
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t word = splitmix64(seed + static_cast<uint64_t>(first + i + 1) * 0x9E3779B97F4A7C15ULL);
    for (int lane = 0; lane < 4; ++lane) {
      const uint32_t level = static_cast<uint32_t>(word >> (16 * lane)) & 0x7FFFu;
      out[4 * i + lane] = level >= threshold ? kept : 0.0f;
    }
  }
}

}  // namespace

// -> (n,) float32: scale where the element's 15-bit integer is >= threshold (kept), else 0.
torch::Tensor dropout_keep_mask(int64_t n, int64_t threshold, double scale, int64_t seed) {
  TORCH_CHECK(n >= 0 && threshold >= 0 && threshold <= (1 << 15), "dropout_keep_mask: n >= 0, threshold in [0, 2^15]");
  auto mask = torch::empty({n}, torch::dtype(torch::kFloat32));
  float* out = mask.data_ptr<float>();
  const float kept = static_cast<float>(scale);
  const uint64_t base = static_cast<uint64_t>(seed);
  const uint32_t level = static_cast<uint32_t>(threshold);
  const int64_t whole_words = n / 4;
  at::parallel_for(0, whole_words, 4096, [&](int64_t begin, int64_t end) {
    fill_words(out + 4 * begin, begin, end - begin, level, kept, base);
  });
  if (n % 4) {  // the last word's leading lanes
    float tail[4];
    fill_words(tail, whole_words, 1, level, kept, base);
    for (int64_t i = 4 * whole_words; i < n; ++i) out[i] = tail[i - 4 * whole_words];
  }
  return mask;
}
