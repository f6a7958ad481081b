// Caser's horizontal convolutions on the CPU: the max over window starts, and the backward
// (see tuner/models/horizontal.py and native.py). The window products themselves stay with torch.
//
// Backward: max-pooling keeps one window per (example, height, filter): its start. Only that window gets
// gradient, so for every column (h, f) and offset k < h of the winning window:
//   grad_E[b, start + k]        += g[b, col] * W[row(h, k), f]
//   grad_W[row(h, k), f]        += g[b, col] * E[b, start + k]
// Torch ops can only express this as gathers of index tables built per step; here it is one pass.
// Examples go to threads in equal contiguous chunks, each summing its filter gradient in its own
// buffer (chunks.h), so a given thread count always gives the same sums.
// float32 with d a multiple of 8 (the models' case) runs the two gradients as separate passes
// with vector accumulators; other cases run one scalar pass.
#include <torch/types.h>  // not torch/extension.h: only module.cpp needs pybind, and the lighter header halves the build
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "chunks.h"
#include "vector.h"

namespace {

constexpr int64_t kExampleBlock = 16;

// Any dtype and d, one pass. Blocks of a few examples share each filter row.
// D > 0: the embedding size known at compile time.
template <typename scalar_t, int64_t D>
void horizontal_backward_kernel(const scalar_t* E, const scalar_t* W, const int32_t* start, const scalar_t* grad,
                                scalar_t* grad_E, scalar_t* grad_W, int64_t B, int64_t L, int64_t nh,
                                int64_t runtime_d) {
  const int64_t d = D > 0 ? D : runtime_d;
  const int64_t columns = L * nh, weight_size = L * (L + 1) / 2 * nh * d;
  tuner::sum_over_chunks(B, weight_size, grad_W, [&](int64_t lo, int64_t hi, scalar_t* own_grad_W) {
    std::vector<scalar_t> row_sum_storage(d);
    alignas(64) scalar_t row_sum_fixed[D > 0 ? D : 1];
    scalar_t* __restrict__ row_sum = D > 0 ? row_sum_fixed : row_sum_storage.data();
    for (int64_t b0 = lo; b0 < hi; b0 += kExampleBlock) {
      const int64_t b1 = std::min(hi, b0 + kExampleBlock);
      for (int64_t h = 1; h <= L; ++h) {
        for (int64_t f = 0; f < nh; ++f) {
          const int64_t col = (h - 1) * nh + f;
          for (int64_t k = 0; k < h; ++k) {
            const int64_t filter_row = (h * (h - 1) / 2 + k) * nh + f;
            const scalar_t* __restrict__ w = W + filter_row * d;
            for (int64_t j = 0; j < d; ++j) row_sum[j] = 0;
            for (int64_t b = b0; b < b1; ++b) {
              const scalar_t g = grad[b * columns + col];
              // clamped to the last start where height h fits: a NaN response leaves no valid argmax
              const int64_t window = std::min<int64_t>(std::max<int32_t>(start[b * columns + col], 0), L - h);
              const int64_t position = b * L + window + k;
              const scalar_t* __restrict__ e = E + position * d;
              scalar_t* __restrict__ ge = grad_E + position * d;
              for (int64_t j = 0; j < d; ++j) {
                ge[j] += g * w[j];
                row_sum[j] += g * e[j];
              }
            }
            scalar_t* __restrict__ gw = own_grad_W + filter_row * d;
            for (int64_t j = 0; j < d; ++j) gw[j] += row_sum[j];
          }
        }
      }
    }
  });
}

// --- The float32 backward, d a multiple of 8, as two passes that each keep their sums in registers. ---
// One fused pass (above) reads E and read-modify-writes grad_E for every (example, column, k): its
// loads and stores, not its arithmetic, set its pace. Here:
//  * filter gradient: for each (h, f, k), a block of examples' rows E[b, start + k] are summed,
//    scaled by g, in V vector registers; the filter row is written once per block;
//  * input gradient: for each example, g * W[row(h, k), f] is added to its window rows, which sit
//    in L1 (an example's grad_E is L*d floats).
// 2.0x faster than the fused pass in a standalone single-thread benchmark (L=10, nh=8, d=64).

using tuner::Floats;
using tuner::kWidth;

constexpr int64_t kBackwardBlock = 16;

// V > 0: d / 8 known at compile time (the accumulators then live in registers); 0: runtime d.
template <int64_t V>
void filter_gradient_pass(const float* E, const int32_t* start, const float* grad, int64_t grad_stride,
                          float* grad_W, int64_t lo, int64_t hi, int64_t L, int64_t nh, int64_t runtime_d) {
  const int64_t d = V > 0 ? V * kWidth : runtime_d, n_vectors = d / kWidth, columns = L * nh;
  int64_t window_row[kBackwardBlock];  // offset in E of each block example's window
  float g[kBackwardBlock];
  std::vector<Floats> runtime_sum(V > 0 ? 0 : n_vectors);
  Floats fixed_sum[V > 0 ? V : 1];
  Floats* sum = V > 0 ? fixed_sum : runtime_sum.data();
  for (int64_t b0 = lo; b0 < hi; b0 += kBackwardBlock) {
    const int64_t n = std::min(hi - b0, kBackwardBlock);
    for (int64_t h = 1; h <= L; ++h) {
      for (int64_t f = 0; f < nh; ++f) {
        const int64_t col = (h - 1) * nh + f;
        for (int64_t i = 0; i < n; ++i) {
          const int64_t b = b0 + i;
          g[i] = grad[b * grad_stride + col];
          // clamped to the last start where height h fits: a NaN response leaves no valid argmax
          const int64_t window = std::min<int64_t>(std::max<int32_t>(start[b * columns + col], 0), L - h);
          window_row[i] = (b * L + window) * d;
        }
        for (int64_t k = 0; k < h; ++k) {
          for (int64_t v = 0; v < n_vectors; ++v) sum[v] = Floats{};
          for (int64_t i = 0; i < n; ++i) {
            const float* e = E + window_row[i] + k * d;
            const Floats gi = tuner::splat(g[i]);
            for (int64_t v = 0; v < n_vectors; ++v) sum[v] += gi * tuner::load(e + v * kWidth);
          }
          float* gw = grad_W + ((h * (h - 1) / 2 + k) * nh + f) * d;
          for (int64_t v = 0; v < n_vectors; ++v) tuner::store(gw + v * kWidth, tuner::load(gw + v * kWidth) + sum[v]);
        }
      }
    }
  }
}

// accumulate: add to grad_E's rows; otherwise overwrite them (zeroed here, not in a separate pass over memory).
void input_gradient_pass(const float* W, const int32_t* start, const float* grad, int64_t grad_stride, float* grad_E,
                         bool accumulate, int64_t lo, int64_t hi, int64_t L, int64_t nh, int64_t d) {
  const int64_t columns = L * nh;
  for (int64_t b = lo; b < hi; ++b) {
    if (!accumulate) std::fill(grad_E + b * L * d, grad_E + (b + 1) * L * d, 0.0f);
    for (int64_t h = 1; h <= L; ++h) {
      for (int64_t f = 0; f < nh; ++f) {
        const int64_t col = (h - 1) * nh + f;
        const Floats g = tuner::splat(grad[b * grad_stride + col]);
        const int64_t window = std::min<int64_t>(std::max<int32_t>(start[b * columns + col], 0), L - h);
        float* out = grad_E + (b * L + window) * d;
        const float* w = W + (h * (h - 1) / 2 * nh + f) * d;  // row k of filter f: w + k * nh * d
        for (int64_t k = 0; k < h; ++k)
          for (int64_t j = 0; j < d; j += kWidth)
            tuner::store(out + k * d + j, tuner::load(out + k * d + j) + g * tuner::load(w + k * nh * d + j));
      }
    }
  }
}

void horizontal_backward_float(const float* E, const float* W, const int32_t* start, const float* grad,
                               int64_t grad_stride, float* grad_E, bool accumulate, float* grad_W, int64_t B,
                               int64_t L, int64_t nh, int64_t d) {
  const int64_t weight_size = L * (L + 1) / 2 * nh * d;
  tuner::sum_over_chunks(B, weight_size, grad_W, [&](int64_t lo, int64_t hi, float* own_grad_W) {
    if (d == 64) {
      filter_gradient_pass<8>(E, start, grad, grad_stride, own_grad_W, lo, hi, L, nh, d);
    } else if (d == 32) {
      filter_gradient_pass<4>(E, start, grad, grad_stride, own_grad_W, lo, hi, L, nh, d);
    } else {
      filter_gradient_pass<0>(E, start, grad, grad_stride, own_grad_W, lo, hi, L, nh, d);
    }
    input_gradient_pass(W, start, grad, grad_stride, grad_E, accumulate, lo, hi, L, nh, d);
  });
}

// values (B, C), start (B, C): per (example, column), the max of R[t, b, c] over t < n_starts[c]
// and the first t reaching it (max_pool1d's choice among ties). A NaN response wins, as torch's
// amax lets it; its start is then meaningless (the backward clamps it).
template <typename scalar_t>
void max_over_starts_kernel(const scalar_t* R, const int32_t* n_starts, scalar_t* values, int32_t* start,
                            int64_t T, int64_t B, int64_t C) {
  at::parallel_for(0, B, 64, [&](int64_t b_begin, int64_t b_end) {
    for (int64_t b = b_begin; b < b_end; ++b) {
      scalar_t* __restrict__ best = values + b * C;
      int32_t* __restrict__ first = start + b * C;
      const scalar_t* __restrict__ r0 = R + b * C;
      for (int64_t c = 0; c < C; ++c) {
        best[c] = r0[c];
        first[c] = 0;
      }
      for (int64_t t = 1; t < T; ++t) {
        const scalar_t* __restrict__ r = R + (t * B + b) * C;
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t x = r[c];
          const bool wins = t < n_starts[c] && (x > best[c] || x != x);
          best[c] = wins ? x : best[c];
          first[c] = wins ? static_cast<int32_t>(t) : first[c];
        }
      }
    }
  });
}

// --- The float32 forward, without products of zero filter rows and without a response tensor. ---
// Eight examples go side by side in the vector lanes: their embeddings are laid out as
// (position, j, lane), so a window response for eight examples is a sum of vector-times-scalar
// terms, E[lanes, t+k, j] * W[h, k, f, j]. A tile of NT starts x NF filters keeps its NT * NF
// responses in registers while k and j run (NT + NF loads per NT * NF multiply-adds), and the max
// over starts is taken as tiles finish: no (starts, B, columns) tensor is written.

using tuner::Ints;

// Responses of starts t0..t0+NT-1 and filters f0..f0+NF-1 of height h, for the eight lanes of Et.
template <int NT, int NF>
void window_tile(const float* Et, const float* W, int64_t d, int64_t nh, int64_t h, int64_t t0, int64_t f0,
                 Floats (&acc)[NT][NF]) {
  for (int t = 0; t < NT; ++t)
    for (int f = 0; f < NF; ++f) acc[t][f] = Floats{};
  const int64_t first_row = h * (h - 1) / 2;
  for (int64_t k = 0; k < h; ++k) {
    const float* w = W + ((first_row + k) * nh + f0) * d;  // filter f's row k: w[f * d + j]
    const float* e = Et + (t0 + k) * d * kWidth;  // position t0 + t + k: e + t * d * kWidth
    for (int64_t j = 0; j < d; ++j) {
      Floats x[NT];
      for (int t = 0; t < NT; ++t) x[t] = tuner::load(e + (t * d + j) * kWidth);
      for (int f = 0; f < NF; ++f) {
        const Floats wf = tuner::splat(w[f * d + j]);
        for (int t = 0; t < NT; ++t) acc[t][f] += x[t] * wf;
      }
    }
  }
}

// Folds a tile into the running max and first start of each of its filters (a NaN wins, as amax lets it).
template <int NT, int NF>
void tile_into_max(const float* Et, const float* W, int64_t d, int64_t nh, int64_t h, int64_t t0, int64_t f0,
                   Floats* best, Ints* first) {
  Floats acc[NT][NF];
  window_tile<NT, NF>(Et, W, d, nh, h, t0, f0, acc);
  for (int t = 0; t < NT; ++t) {
    for (int f = 0; f < NF; ++f) {
      const Floats v = acc[t][f];
      const Ints wins = (v > best[f0 + f]) | (v != v);
      best[f0 + f] = wins ? v : best[f0 + f];
      first[f0 + f] = wins ? Ints{} + static_cast<int32_t>(t0 + t) : first[f0 + f];
    }
  }
}

template <int NT>
void tile_filters(int64_t nf, const float* Et, const float* W, int64_t d, int64_t nh, int64_t h, int64_t t0,
                  int64_t f0, Floats* best, Ints* first) {
  switch (nf) {
    case 1: return tile_into_max<NT, 1>(Et, W, d, nh, h, t0, f0, best, first);
    case 2: return tile_into_max<NT, 2>(Et, W, d, nh, h, t0, f0, best, first);
    case 3: return tile_into_max<NT, 3>(Et, W, d, nh, h, t0, f0, best, first);
    default: return tile_into_max<NT, 4>(Et, W, d, nh, h, t0, f0, best, first);
  }
}

constexpr int64_t kTileStarts = 3, kTileFilters = 4;

// One block of eight examples (lanes past the batch are zeros and are not written back).
void forward_block(const float* Et, const float* W, int64_t L, int64_t d, int64_t nh, int64_t b0, int64_t lanes,
                   float* values, int32_t* start, std::vector<Floats>& best, std::vector<Ints>& first) {
  const int64_t columns = L * nh;
  for (int64_t h = 1; h <= L; ++h) {
    const int64_t n_starts = L - h + 1;
    for (int64_t f = 0; f < nh; ++f) {
      best[f] = tuner::splat(-std::numeric_limits<float>::infinity());
      first[f] = Ints{};
    }
    for (int64_t t0 = 0; t0 < n_starts; t0 += kTileStarts) {
      const int64_t nt = std::min(kTileStarts, n_starts - t0);
      for (int64_t f0 = 0; f0 < nh; f0 += kTileFilters) {
        const int64_t nf = std::min(kTileFilters, nh - f0);
        if (nt == 3) tile_filters<3>(nf, Et, W, d, nh, h, t0, f0, best.data(), first.data());
        if (nt == 2) tile_filters<2>(nf, Et, W, d, nh, h, t0, f0, best.data(), first.data());
        if (nt == 1) tile_filters<1>(nf, Et, W, d, nh, h, t0, f0, best.data(), first.data());
      }
    }
    for (int64_t f = 0; f < nh; ++f) {
      const int64_t col = (h - 1) * nh + f;
      for (int64_t lane = 0; lane < lanes; ++lane) {
        values[(b0 + lane) * columns + col] = best[f][lane];
        start[(b0 + lane) * columns + col] = first[f][lane];
      }
    }
  }
}

}  // namespace

// R (T, B, C) window responses, n_starts (C,) int32 >= 1: how many leading starts are real windows
// for each column (the rest of R may hold anything) -> (values (B, C), start (B, C) int32)
std::vector<torch::Tensor> max_over_starts(torch::Tensor R, torch::Tensor n_starts) {
  TORCH_CHECK(R.device().is_cpu() && R.dim() == 3, "max_over_starts: a CPU tensor R (T, B, C)");
  TORCH_CHECK(n_starts.scalar_type() == torch::kInt32 && n_starts.numel() == R.size(2), "max_over_starts: n_starts (C,) int32");
  R = R.contiguous();
  n_starts = n_starts.contiguous();
  const int64_t T = R.size(0), B = R.size(1), C = R.size(2);
  TORCH_CHECK(T >= 1, "max_over_starts: no starts");
  auto values = torch::empty({B, C}, R.options());
  auto start = torch::empty({B, C}, R.options().dtype(torch::kInt32));
  AT_DISPATCH_FLOATING_TYPES(R.scalar_type(), "max_over_starts", [&] {
    max_over_starts_kernel<scalar_t>(R.data_ptr<scalar_t>(), n_starts.data_ptr<int32_t>(), values.data_ptr<scalar_t>(),
                                     start.data_ptr<int32_t>(), T, B, C);
  });
  return {values, start};
}

// E (B, L, d), weight (L(L+1)/2, nh, d), start (B, L*nh) int32, grad (B, L*nh) -> (grad_E, grad_weight).
// With grad_E_into (B, L, d) of E's dtype, the input gradient is added to it and it is returned as
// grad_E. grad may be a column slice of a wider matrix (float32 reads it in place).
std::vector<torch::Tensor> horizontal_backward(torch::Tensor E, torch::Tensor weight, torch::Tensor start,
                                               torch::Tensor grad, c10::optional<torch::Tensor> grad_E_into) {
  TORCH_CHECK(E.device().is_cpu() && E.dim() == 3 && weight.dim() == 3, "horizontal_backward: CPU tensors E (B, L, d), weight (S, nh, d)");
  TORCH_CHECK(start.scalar_type() == torch::kInt32, "horizontal_backward: start must be int32");
  E = E.contiguous();
  weight = weight.to(E.scalar_type()).contiguous();
  grad = grad.to(E.scalar_type());
  start = start.contiguous();
  const int64_t B = E.size(0), L = E.size(1), d = E.size(2), nh = weight.size(1);
  TORCH_CHECK(weight.size(0) == L * (L + 1) / 2 && weight.size(2) == d, "horizontal_backward: weight shape");
  TORCH_CHECK(start.size(0) == B && start.size(1) == L * nh && grad.sizes() == start.sizes(), "horizontal_backward: start/grad shape");
  if (grad_E_into) {
    TORCH_CHECK(grad_E_into->sizes() == E.sizes() && grad_E_into->scalar_type() == E.scalar_type() &&
                grad_E_into->is_contiguous(), "horizontal_backward: grad_E_into must be a contiguous tensor like E");
  }
  auto grad_weight = torch::zeros_like(weight);
  if (E.scalar_type() == torch::kFloat32 && d % kWidth == 0) {
    if (grad.stride(1) != 1) grad = grad.contiguous();
    // written in place: each example's rows are zeroed by the pass that adds to them, unless accumulating
    auto grad_E = grad_E_into ? *grad_E_into : torch::empty_like(E);
    horizontal_backward_float(E.data_ptr<float>(), weight.data_ptr<float>(), start.data_ptr<int32_t>(),
                              grad.data_ptr<float>(), grad.stride(0), grad_E.data_ptr<float>(), grad_E_into.has_value(),
                              grad_weight.data_ptr<float>(), B, L, nh, d);
    return {grad_E, grad_weight};
  }
  grad = grad.contiguous();
  auto grad_E = torch::zeros_like(E);
  AT_DISPATCH_FLOATING_TYPES(E.scalar_type(), "horizontal_backward", [&] {
    auto run = [&](auto kernel) {
      kernel(E.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), start.data_ptr<int32_t>(), grad.data_ptr<scalar_t>(),
             grad_E.data_ptr<scalar_t>(), grad_weight.data_ptr<scalar_t>(), B, L, nh, d);
    };
    if (d == 64) {
      run(horizontal_backward_kernel<scalar_t, 64>);
    } else {
      run(horizontal_backward_kernel<scalar_t, 0>);
    }
  });
  if (grad_E_into) return {grad_E_into->add_(grad_E), grad_weight};
  return {grad_E, grad_weight};
}

// E (B, L, d), weight (L(L+1)/2, nh, d), float32 -> (values (B, L*nh), start (B, L*nh) int32): for
// column (h-1)*nh + f, the max over starts t <= L-h of sum_k <E[b, t+k], weight[h(h-1)/2 + k, f]>
// (bias excluded) and the first start reaching it (max_pool1d's choice among ties).
std::vector<torch::Tensor> horizontal_forward(torch::Tensor E, torch::Tensor weight) {
  TORCH_CHECK(E.device().is_cpu() && E.dim() == 3 && weight.dim() == 3, "horizontal_forward: CPU tensors E (B, L, d), weight (S, nh, d)");
  TORCH_CHECK(E.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32, "horizontal_forward: float32 only");
  E = E.contiguous();
  weight = weight.contiguous();
  const int64_t B = E.size(0), L = E.size(1), d = E.size(2), nh = weight.size(1);
  TORCH_CHECK(weight.size(0) == L * (L + 1) / 2 && weight.size(2) == d, "horizontal_forward: weight shape");
  auto values = torch::empty({B, L * nh}, E.options());
  auto start = torch::empty({B, L * nh}, E.options().dtype(torch::kInt32));
  const float* e_data = E.data_ptr<float>();
  const float* w_data = weight.data_ptr<float>();
  float* value_data = values.data_ptr<float>();
  int32_t* start_data = start.data_ptr<int32_t>();
  const int64_t n_blocks = (B + kWidth - 1) / kWidth;
  at::parallel_for(0, n_blocks, 4, [&](int64_t block_begin, int64_t block_end) {
    std::vector<float> Et(L * d * kWidth);
    std::vector<Floats> best(nh);
    std::vector<Ints> first(nh);
    for (int64_t block = block_begin; block < block_end; ++block) {
      const int64_t b0 = block * kWidth, lanes = std::min(kWidth, B - b0);
      for (int64_t lane = 0; lane < kWidth; ++lane) {
        const float* row = e_data + (b0 + lane) * L * d;
        for (int64_t i = 0; i < L * d; ++i) Et[i * kWidth + lane] = lane < lanes ? row[i] : 0.0f;
      }
      forward_block(Et.data(), w_data, L, d, nh, b0, lanes, value_data, start_data, best, first);
    }
  });
  return {values, start};
}
