// Caser's vertical convolution on the CPU (see tuner/models/vertical.py): nv weightings of the L
// embedding rows of each example. As a batched product (bmm) it is thousands of (nv x L) @ (L x d)
// products of a few thousand multiply-adds each, where the call overhead dominates; here each
// example is a few vector passes over its rows.

#include <torch/types.h>  // not torch/extension.h: only module.cpp needs pybind, and the lighter header halves the build
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "chunks.h"
#include "vector.h"

namespace {

using tuner::Floats;
using tuner::kWidth;
using tuner::load;
using tuner::store;

// sum_j a[j] * b[j] over d = a multiple of 8
inline float dot(const float* a, const float* b, int64_t d) {
  Floats sum{};
  for (int64_t j = 0; j < d; j += kWidth) sum += load(a + j) * load(b + j);
  float total = 0.0f;
  for (int64_t lane = 0; lane < kWidth; ++lane) total += sum[lane];
  return total;
}

// sum_j a[j] over d = a multiple of 8
inline float sum_of(const float* a, int64_t d) {
  Floats sum{};
  for (int64_t j = 0; j < d; j += kWidth) sum += load(a + j);
  float total = 0.0f;
  for (int64_t lane = 0; lane < kWidth; ++lane) total += sum[lane];
  return total;
}

// out[v, :] += c * row for d = a multiple of 8
inline void add_scaled(float* out, const float* row, float c, int64_t d) {
  for (int64_t j = 0; j < d; j += kWidth) store(out + j, load(out + j) + c * load(row + j));
}

void check(const torch::Tensor& E, const torch::Tensor& weight) {
  TORCH_CHECK(E.device().is_cpu() && E.dim() == 3 && weight.dim() == 2 && weight.size(1) == E.size(1),
              "vertical: CPU tensors E (B, L, d), weight (nv, L)");
  TORCH_CHECK(E.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32, "vertical: float32 only");
  TORCH_CHECK(E.size(2) % kWidth == 0, "vertical: d must be a multiple of ", kWidth);
}

}  // namespace

// E (B, L, d), weight (nv, L), bias (nv,) -> (B, nv, d): out[b, v] = bias[v] + sum_l weight[v, l] * E[b, l]
torch::Tensor vertical_forward(torch::Tensor E, torch::Tensor weight, torch::Tensor bias) {
  check(E, weight);
  E = E.contiguous();
  weight = weight.contiguous();
  bias = bias.to(torch::kFloat32).contiguous();
  const int64_t B = E.size(0), L = E.size(1), d = E.size(2), nv = weight.size(0);
  auto out = torch::empty({B, nv, d}, E.options());
  const float *e = E.data_ptr<float>(), *w = weight.data_ptr<float>(), *c = bias.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, B, 64, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t v = 0; v < nv; ++v) {
        float* row = o + (b * nv + v) * d;
        std::fill(row, row + d, c[v]);
        for (int64_t l = 0; l < L; ++l) add_scaled(row, e + (b * L + l) * d, w[v * L + l], d);
      }
    }
  });
  return out;
}

// -> (grad_E (B, L, d), grad_weight (nv, L), grad_bias (nv,)) for grad (B, nv, d), which may be a
// column slice of a wider matrix (rows of d contiguous floats; read in place).
// Threads get equal contiguous chunks of examples and their own weight- and bias-gradient buffer,
// added in chunk order, so a given thread count always gives the same sums.
std::vector<torch::Tensor> vertical_backward(torch::Tensor E, torch::Tensor weight, torch::Tensor grad) {
  check(E, weight);
  E = E.contiguous();
  weight = weight.contiguous();
  grad = grad.to(torch::kFloat32);
  const int64_t B = E.size(0), L = E.size(1), d = E.size(2), nv = weight.size(0);
  TORCH_CHECK(grad.dim() == 3 && grad.size(0) == B && grad.size(1) == nv && grad.size(2) == d, "vertical: grad (B, nv, d)");
  if (grad.stride(2) != 1 || grad.stride(1) != d) grad = grad.contiguous();
  const int64_t grad_stride = grad.stride(0);
  auto grad_E = torch::empty_like(E);
  auto grad_weight = torch::zeros({nv, L}, E.options());
  auto grad_bias = torch::zeros({nv}, E.options());
  const int64_t sums = nv * L + nv;  // the weight gradient, then the bias gradient
  std::vector<float> total(sums, 0.0f);
  const float *e = E.data_ptr<float>(), *w = weight.data_ptr<float>(), *g = grad.data_ptr<float>();
  float* ge = grad_E.data_ptr<float>();
  tuner::sum_over_chunks(B, sums, total.data(), [&](int64_t lo, int64_t hi, float* own) {
    for (int64_t b = lo; b < hi; ++b) {
      for (int64_t v = 0; v < nv; ++v) own[nv * L + v] += sum_of(g + b * grad_stride + v * d, d);
      for (int64_t l = 0; l < L; ++l) {
        const float* e_row = e + (b * L + l) * d;
        float* ge_row = ge + (b * L + l) * d;
        std::fill(ge_row, ge_row + d, 0.0f);
        for (int64_t v = 0; v < nv; ++v) {
          const float* g_row = g + b * grad_stride + v * d;
          add_scaled(ge_row, g_row, w[v * L + l], d);
          own[v * L + l] += dot(g_row, e_row, d);
        }
      }
    }
  });
  std::copy(total.begin(), total.begin() + nv * L, grad_weight.data_ptr<float>());
  std::copy(total.begin() + nv * L, total.end(), grad_bias.data_ptr<float>());
  return {grad_E, grad_weight, grad_bias};
}
