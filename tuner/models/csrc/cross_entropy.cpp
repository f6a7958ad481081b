// Full-softmax cross-entropy over every item, with both gradients, in cache-sized row blocks
// (see tuner/models/losses.py). Torch ops write the (B, n_items) score matrix to memory and read it
// back five times (scores, row max, softmax, one-hot subtraction, two products); here each thread
// takes a block of rows, and its scores are formed, turned into softmax - one_hot and multiplied
// out while they sit in its L2 cache.
//
// Threads get equal contiguous chunks of the batch and sum their item gradient in their own buffer,
// added in chunk order afterwards (chunks.h), so a given thread count always gives the same sums.

#include <torch/types.h>  // not torch/extension.h: only module.cpp needs pybind, and the lighter header halves the build
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "chunks.h"
#include "vector.h"

namespace {

using tuner::exp_nonpositive;
using tuner::Floats;
using tuner::Ints;
using tuner::kWidth;
using tuner::load;
using tuner::splat;
using tuner::store;

// Rows per block: 64 rows of ~2k items are 0.5 MB of scores, within a core's L2.
constexpr int64_t kRowBlock = 64;
// Item rows are padded to a multiple of this: MKL ran the score product for 1683 items at half
// the speed of 1688 (tuner/models/losses.py).
constexpr int64_t kItemAlignment = 8;

// One row of n scores (then zeros up to the row's padded length m) becomes softmax - one_hot(target)
// in place; returns -log softmax[target] = log(sum exp(s - max)) + max - s[target], which never
// underflows as log(softmax[target]) can. A NaN score may be skipped by the max, but its exp is
// NaN and so is the loss.
float softmax_minus_one_hot(float* __restrict__ s, int64_t n, int64_t m, int64_t target) {
  const int64_t full = n / kWidth * kWidth;
  const float lowest = -std::numeric_limits<float>::infinity();
  Floats lane_top = splat(lowest);
  for (int64_t j = 0; j < full; j += kWidth) {
    const Floats x = load(s + j);
    lane_top = x > lane_top ? x : lane_top;
  }
  float top = lowest;
  for (int64_t l = 0; l < kWidth; ++l) top = std::max(top, lane_top[l]);
  for (int64_t j = full; j < n; ++j) top = std::max(top, s[j]);
  const float target_score = s[target];
  Floats lane_sum = splat(0.0f);
  for (int64_t j = 0; j < full; j += kWidth) {
    const Floats e = exp_nonpositive(load(s + j) - top);
    store(s + j, e);
    lane_sum += e;
  }
  float sum = 0.0f;
  for (int64_t l = 0; l < kWidth; ++l) sum += lane_sum[l];
  for (int64_t j = full; j < n; ++j) {
    s[j] = exp_nonpositive(s[j] - top);
    sum += s[j];
  }
  const float inverse = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) s[j] *= inverse;
  for (int64_t j = n; j < m; ++j) s[j] = 0.0f;
  s[target] -= 1.0f;
  return std::log(sum) + top - target_score;
}

}  // namespace

// sequence (B, d) float32, items (n, d) float32, target (B,) int64 in [0, n) ->
// (loss (B,): -log softmax(sequence @ items.T)[b, target[b]];
//  grad_sequence (B, d) = G @ items; grad_items (n, d) = G.T @ sequence; with G = softmax - one_hot)
std::vector<torch::Tensor> softmax_cross_entropy(torch::Tensor sequence, torch::Tensor items, torch::Tensor target) {
  TORCH_CHECK(sequence.device().is_cpu() && sequence.dim() == 2 && items.dim() == 2 && sequence.size(1) == items.size(1),
              "softmax_cross_entropy: CPU tensors sequence (B, d), items (n, d)");
  TORCH_CHECK(sequence.scalar_type() == torch::kFloat32 && items.scalar_type() == torch::kFloat32,
              "softmax_cross_entropy: float32 only");
  TORCH_CHECK(target.scalar_type() == torch::kInt64 && target.dim() == 1 && target.size(0) == sequence.size(0),
              "softmax_cross_entropy: target (B,) int64");
  const int64_t B = sequence.size(0), n = items.size(0), d = items.size(1);
  const int64_t m = (n + kItemAlignment - 1) / kItemAlignment * kItemAlignment;
  sequence = sequence.detach().contiguous();  // mm_out refuses inputs that require grad
  target = target.contiguous();
  TORCH_CHECK(B == 0 || (target.min().item<int64_t>() >= 0 && target.max().item<int64_t>() < n),
              "softmax_cross_entropy: a target is outside [0, ", n, ")");
  auto padded = torch::zeros({m, d}, items.options());
  padded.narrow(0, 0, n).copy_(items.detach());
  auto loss = torch::empty({B}, sequence.options());
  auto grad_sequence = torch::empty({B, d}, sequence.options());
  auto grad_items = torch::zeros({m, d}, items.options());
  const int64_t* target_data = target.data_ptr<int64_t>();
  float* loss_data = loss.data_ptr<float>();
  const auto padded_t = padded.t();
  const auto options = items.options();
  // chunks of 64-row blocks; each sums its item gradient in its own (m, d) buffer (chunks.h)
  tuner::sum_over_chunks((B + kRowBlock - 1) / kRowBlock, m * d, grad_items.data_ptr<float>(),
                         [&](int64_t block_lo, int64_t block_hi, float* sums) {
    at::NoGradGuard no_grad;  // grad mode is per thread: the pool's threads don't inherit the caller's
    auto own_grad_items = torch::from_blob(sums, {m, d}, options);
    auto scores = torch::empty({kRowBlock, m}, options);
    for (int64_t row = block_lo * kRowBlock; row < std::min(B, block_hi * kRowBlock); row += kRowBlock) {
      const int64_t rows = std::min(kRowBlock, B - row);
      auto block = scores.narrow(0, 0, rows);
      auto seq = sequence.narrow(0, row, rows);
      at::mm_out(block, seq, padded_t);
      float* s = block.data_ptr<float>();
      for (int64_t i = 0; i < rows; ++i) {
        loss_data[row + i] = softmax_minus_one_hot(s + i * m, n, m, target_data[row + i]);
      }
      auto grad_rows = grad_sequence.narrow(0, row, rows);
      at::mm_out(grad_rows, block, padded);
      own_grad_items.addmm_(block.t(), seq);
    }
  });
  return {loss, grad_sequence, grad_items.narrow(0, 0, n)};
}
