// The gradient of an embedding lookup on the CPU (see tuner/models/embedding.py): the looked-up rows'
// gradients added into a zeroed table gradient, serially in index order. torch's
// embedding_dense_backward sorts the indices first; for a few thousand table rows and tens of
// thousands of lookups a straight pass is several times faster, and its sums are repeatable.

#include <torch/types.h>  // not torch/extension.h: only module.cpp needs pybind, and the lighter header halves the build

#include <algorithm>

#include "vector.h"

// grad (N, d) float32, index (N,) int64 in [0, n_rows) -> (n_rows, d): row r = sum of grad[i] with
// index[i] == r, in index order; row padding_idx (when >= 0) stays zero, as nn.Embedding's.
torch::Tensor embedding_backward(torch::Tensor grad, torch::Tensor index, int64_t n_rows, int64_t padding_idx) {
  TORCH_CHECK(grad.device().is_cpu() && grad.dim() == 2 && grad.scalar_type() == torch::kFloat32,
              "embedding_backward: a CPU float32 grad (N, d)");
  TORCH_CHECK(index.scalar_type() == torch::kInt64 && index.dim() == 1 && index.size(0) == grad.size(0),
              "embedding_backward: index (N,) int64");
  grad = grad.contiguous();
  index = index.contiguous();
  const int64_t n = grad.size(0), d = grad.size(1);
  auto out = torch::zeros({n_rows, d}, grad.options());
  const float* g = grad.data_ptr<float>();
  const int64_t* idx = index.data_ptr<int64_t>();
  float* o = out.data_ptr<float>();
  const int64_t vector_end = d - d % tuner::kWidth;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = idx[i];
    TORCH_CHECK(row >= 0 && row < n_rows, "embedding_backward: index ", row, " out of range [0, ", n_rows, ")");
    if (row == padding_idx) continue;
    float* dst = o + row * d;
    const float* src = g + i * d;
    int64_t j = 0;
    for (; j < vector_end; j += tuner::kWidth) tuner::store(dst + j, tuner::load(dst + j) + tuner::load(src + j));
    for (; j < d; ++j) dst[j] += src[j];
  }
  return out;
}
