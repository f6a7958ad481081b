// One bias-free GRU layer, forward and backward over a whole sequence, on the CPU in float32 (see
// tuner/models/gru.py). torch's CPU GRU runs each time step's cell as a dozen separate tensor ops,
// each recorded for autograd, and its backward as their gradients plus a cat of the three gates'
// gradients per step. Here a step is two products (MKL) and one pass over the batch's rows that
// forms the gates and the new state; a backward step is one pass and four products, two of them
// accumulating the weight gradients.
//
// The cell is nn.GRU's (gate order r, z, n):
//   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
//   h = n + z * (h_prev - n),     with gi = x @ w_ih.T and gh = h_prev @ w_hh.T.
// Everything is per step, never (B, L, ...) at once besides the input and output: the products
// run faster on one step's (B, 3H) blocks (about 190 GFLOP/s on a 2-core EPYC) than on all steps'
// (130-170), the step's buffers stay in cache, and no scratch tensor grows past glibc's 32 MiB mmap
// threshold, above which every allocation is page-faulted in afresh (tuner/training/heap.py).

#include <torch/types.h>  // not torch/extension.h: only module.cpp needs pybind, and the lighter header halves the build
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "vector.h"

namespace {

using tuner::exp_nonpositive;
using tuner::Floats;
using tuner::Ints;
using tuner::kWidth;
using tuner::splat;

// Rows per parallel task: a row is H elements of a dozen vector operations each.
constexpr int64_t kRowGrain = 16;

inline Floats sigmoid(Floats x) {
  const Ints negative = x < splat(0.0f);
  const Floats e = exp_nonpositive(negative ? x : -x);  // exp(-|x|): never overflows
  const Floats positive_side = 1.0f / (1.0f + e);
  return negative ? e * positive_side : positive_side;
}

// Cephes' tanhf: an odd polynomial below |x| = 0.625, where (1 - e) / (1 + e) would cancel;
// (1 - exp(-2|x|)) / (1 + exp(-2|x|)) with x's sign above it.
inline Floats tanh(Floats x) {
  const Ints negative = x < splat(0.0f);
  const Floats a = negative ? -x : x;
  const Floats s = x * x;
  const Floats small =
      ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s + 1.33314422036e-1f) * s -
       3.33332819422e-1f) * s * x + x;
  const Floats e = exp_nonpositive(-2.0f * a);
  const Floats large = (1.0f - e) / (1.0f + e);
  return a < splat(0.625f) ? small : (negative ? -large : large);
}

// The first `count` (<= kWidth) floats at p, the rest of the lanes 0; and back.
inline Floats load_some(const float* p, int64_t count) {
  float lanes[kWidth] = {};
  std::copy(p, p + count, lanes);
  return tuner::load(lanes);
}
inline void store_some(float* p, Floats v, int64_t count) {
  float lanes[kWidth];
  tuner::store(lanes, v);
  std::copy(lanes, lanes + count, p);
}

// Loads and stores of `count` floats: a whole vector in the loop's body, fewer at a row's end.
struct Span {
  int64_t count;
  Floats load(const float* p) const { return count == kWidth ? tuner::load(p) : load_some(p, count); }
  void store(float* p, Floats v) const {
    if (count == kWidth) {
      tuner::store(p, v);
    } else {
      store_some(p, v, count);
    }
  }
};

// Rows [begin, end) of one forward step; h_prev and h_out rows are h_stride apart (steps of the
// (B, L, H) output). h_prev == nullptr: the first step, whose previous state is 0, so gh = 0 and is
// not read. saved == nullptr: nothing is kept (inference). Arguments by value: the kernels' loops
// run faster when GCC need not reload them through a lambda's captured references (see dropout.cpp).
void forward_rows(int64_t begin, int64_t end, int64_t H, const float* gi, const float* gh, const float* h_prev,
                  float* h_out, int64_t h_stride, float* saved) {
  for (int64_t b = begin; b < end; ++b) {
    const float* gi_row = gi + b * 3 * H;
    const float* gh_row = gh + b * 3 * H;
    const float* hp_row = h_prev == nullptr ? nullptr : h_prev + b * h_stride;
    float* h_row = h_out + b * h_stride;
    float* saved_row = saved == nullptr ? nullptr : saved + b * 4 * H;
    for (int64_t j = 0; j < H; j += kWidth) {
      const Span span{std::min(kWidth, H - j)};
      Floats xr = span.load(gi_row + j), xz = span.load(gi_row + H + j), xn = span.load(gi_row + 2 * H + j);
      Floats ghn = splat(0.0f), hp = splat(0.0f);
      if (hp_row != nullptr) {
        xr += span.load(gh_row + j);
        xz += span.load(gh_row + H + j);
        ghn = span.load(gh_row + 2 * H + j);
        hp = span.load(hp_row + j);
      }
      const Floats r = sigmoid(xr), z = sigmoid(xz);
      const Floats n = tanh(xn + r * ghn);
      span.store(h_row + j, n + z * (hp - n));
      if (saved_row != nullptr) {
        span.store(saved_row + j, r);
        span.store(saved_row + H + j, z);
        span.store(saved_row + 2 * H + j, n);
        span.store(saved_row + 3 * H + j, ghn);
      }
    }
  }
}

// Rows [begin, end) of one backward step. In: dh (the gradient reaching h_t through later steps),
// grad_out (the output's own gradient at t), the saved gates and h_prev (nullptr: 0). Out: the
// pre-activation gradients dgi (of gi) and dgh (of gh), and dh replaced by its direct share in
// h_prev's gradient, dh * z (the caller adds dgh @ w_hh).
void backward_rows(int64_t begin, int64_t end, int64_t H, float* dh, const float* grad_out, int64_t grad_out_stride,
                   const float* saved, const float* h_prev, int64_t h_stride, float* dgi, float* dgh) {
  for (int64_t b = begin; b < end; ++b) {
    float* dh_row = dh + b * H;
    const float* go_row = grad_out + b * grad_out_stride;
    const float* saved_row = saved + b * 4 * H;
    const float* hp_row = h_prev == nullptr ? nullptr : h_prev + b * h_stride;
    float* dgi_row = dgi + b * 3 * H;
    float* dgh_row = dgh + b * 3 * H;
    for (int64_t j = 0; j < H; j += kWidth) {
      const Span span{std::min(kWidth, H - j)};
      const Floats g = span.load(dh_row + j) + span.load(go_row + j);
      const Floats r = span.load(saved_row + j), z = span.load(saved_row + H + j);
      const Floats n = span.load(saved_row + 2 * H + j), ghn = span.load(saved_row + 3 * H + j);
      const Floats hp = hp_row == nullptr ? splat(0.0f) : span.load(hp_row + j);
      const Floats dn = g * (1.0f - z) * (1.0f - n * n);  // through tanh
      const Floats dz = g * (hp - n) * z * (1.0f - z);  // through sigmoid
      const Floats dr = dn * ghn * r * (1.0f - r);
      span.store(dh_row + j, g * z);
      span.store(dgi_row + j, dr);
      span.store(dgi_row + H + j, dz);
      span.store(dgi_row + 2 * H + j, dn);
      span.store(dgh_row + j, dr);
      span.store(dgh_row + H + j, dz);
      span.store(dgh_row + 2 * H + j, dn * r);
    }
  }
}

void check_layer(const torch::Tensor& x, const torch::Tensor& w_ih, const torch::Tensor& w_hh, const char* name) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && w_ih.scalar_type() == torch::kFloat32 &&
                  w_hh.scalar_type() == torch::kFloat32,
              name, ": CPU float32 tensors");
  TORCH_CHECK(x.dim() == 3 && w_ih.dim() == 2 && w_hh.dim() == 2 && w_hh.size(0) == 3 * w_hh.size(1) &&
                  w_ih.size(0) == w_hh.size(0) && w_ih.size(1) == x.size(2),
              name, ": x (B, L, I), w_ih (3H, I), w_hh (3H, H)");
}

}  // namespace

// x (B, L, I), w_ih (3H, I), w_hh (3H, H) -> {output (B, L, H), then, when keep is true, each
// step's saved gates (B, 4H): r, z, n and gh_n, for gru_backward}.
std::vector<torch::Tensor> gru_forward(torch::Tensor x, torch::Tensor w_ih, torch::Tensor w_hh, bool keep) {
  check_layer(x, w_ih, w_hh, "gru_forward");
  at::NoGradGuard no_grad;  // the products' outputs are written in place
  x = x.detach();
  const int64_t B = x.size(0), L = x.size(1), H = w_hh.size(1);
  const auto w_ih_t = w_ih.detach().t(), w_hh_t = w_hh.detach().t();
  auto output = torch::empty({B, L, H}, x.options());
  std::vector<torch::Tensor> result{output};
  auto gi = torch::empty({B, 3 * H}, x.options());
  auto gh = torch::empty({B, 3 * H}, x.options());
  float* out_data = output.data_ptr<float>();
  for (int64_t t = 0; t < L; ++t) {
    at::mm_out(gi, x.select(1, t), w_ih_t);
    if (t > 0) at::mm_out(gh, output.select(1, t - 1), w_hh_t);
    torch::Tensor saved = keep ? torch::empty({B, 4 * H}, x.options()) : torch::Tensor();
    if (keep) result.push_back(saved);
    const float* gi_data = gi.data_ptr<float>();
    const float* gh_data = gh.data_ptr<float>();
    const float* h_prev = t > 0 ? out_data + (t - 1) * H : nullptr;
    float* h_out = out_data + t * H;
    float* saved_data = keep ? saved.data_ptr<float>() : nullptr;
    at::parallel_for(0, B, kRowGrain, [=](int64_t begin, int64_t end) {
      forward_rows(begin, end, H, gi_data, gh_data, h_prev, h_out, L * H, saved_data);
    });
  }
  return result;
}

// The gradients of gru_forward's layer: grad_out (B, L, H) of the output, with the forward's x,
// weights, output and saved gates -> {grad_x (B, L, I) (undefined unless need_grad_x), grad_w_ih,
// grad_w_hh}.
std::vector<torch::Tensor> gru_backward(torch::Tensor grad_out, torch::Tensor x, torch::Tensor w_ih,
                                        torch::Tensor w_hh, torch::Tensor output, std::vector<torch::Tensor> saved,
                                        bool need_grad_x) {
  check_layer(x, w_ih, w_hh, "gru_backward");
  at::NoGradGuard no_grad;
  const int64_t B = x.size(0), L = x.size(1), I = x.size(2), H = w_hh.size(1);
  TORCH_CHECK(grad_out.sizes() == torch::IntArrayRef({B, L, H}) && grad_out.scalar_type() == torch::kFloat32,
              "gru_backward: grad_out (B, L, H) float32");
  TORCH_CHECK(output.sizes() == torch::IntArrayRef({B, L, H}) && output.is_contiguous() &&
                  static_cast<int64_t>(saved.size()) == L,
              "gru_backward: the output and saved gates as gru_forward returns them");
  for (const auto& gates : saved) {
    TORCH_CHECK(gates.sizes() == torch::IntArrayRef({B, 4 * H}) && gates.is_contiguous(),
                "gru_backward: saved gates (B, 4H) per step");
  }
  grad_out = grad_out.contiguous();
  x = x.detach();
  w_ih = w_ih.detach();
  w_hh = w_hh.detach();
  torch::Tensor grad_x = need_grad_x ? torch::empty({B, L, I}, x.options()) : torch::Tensor();
  auto grad_w_ih = torch::zeros_like(w_ih);
  auto grad_w_hh = torch::zeros_like(w_hh);
  auto dh = torch::zeros({B, H}, x.options());
  auto dgi = torch::empty({B, 3 * H}, x.options());
  auto dgh = torch::empty({B, 3 * H}, x.options());
  float* dh_data = dh.data_ptr<float>();
  const float* go_data = grad_out.data_ptr<float>();
  const float* out_data = output.data_ptr<float>();
  float* dgi_data = dgi.data_ptr<float>();
  float* dgh_data = dgh.data_ptr<float>();
  for (int64_t t = L - 1; t >= 0; --t) {
    const float* go_t = go_data + t * H;
    const float* saved_t = saved[t].data_ptr<float>();
    const float* h_prev = t > 0 ? out_data + (t - 1) * H : nullptr;
    at::parallel_for(0, B, kRowGrain, [=](int64_t begin, int64_t end) {
      backward_rows(begin, end, H, dh_data, go_t, L * H, saved_t, h_prev, L * H, dgi_data, dgh_data);
    });
    grad_w_ih.addmm_(dgi.t(), x.select(1, t));
    if (need_grad_x) {
      auto grad_x_t = grad_x.select(1, t);
      at::mm_out(grad_x_t, dgi, w_ih);
    }
    if (t > 0) {  // step 0's previous state is 0: no gradient to pass on, none for w_hh
      const auto h_prev_rows = output.select(1, t - 1);
      grad_w_hh.addmm_(dgh.t(), h_prev_rows);
      dh.addmm_(dgh, w_hh);  // h_prev's gradient through gh = h_prev @ w_hh.T
    }
  }
  return {grad_x, grad_w_ih, grad_w_hh};
}
