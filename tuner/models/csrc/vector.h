// Eight floats as one value (GCC/Clang vector extensions): one AVX register on x86, two NEON
// registers on ARM. The kernels spell their inner loops with it because the compiler does not
// vectorise float reductions from scalar code on its own, nor loops it can't prove alias-free.
#pragma once

#include <cstdint>
#include <cstring>

namespace tuner {

typedef float Floats __attribute__((vector_size(32)));
typedef int32_t Ints __attribute__((vector_size(32)));
constexpr int64_t kWidth = 8;

inline Floats load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Floats v) { std::memcpy(p, &v, sizeof v); }
inline Floats splat(float x) { return Floats{} + x; }

// exp(x) for x <= 0: Cephes' range reduction and polynomial, within 2 ulp of std::exp. Below -87
// the result would be denormal, and negligible where the kernels use it (beside a softmax row
// maximum's exp(0) = 1, or added to 1 in a sigmoid): it is 0. NaN stays NaN.
inline Floats exp_nonpositive(Floats x) {
  const Ints underflow = x < splat(-87.0f);
  x = underflow ? splat(-87.0f) : x;
  const Floats round = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const Floats n = (x * 1.44269504088896341f + round) - round;
  const Floats r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  Floats p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const Ints bits = (__builtin_convertvector(n, Ints) + 127) << 23;  // 2^n, n in [-126, 0]
  Floats scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return underflow ? splat(0.0f) : p * scale;
}

inline float exp_nonpositive(float x) {
  float lanes[kWidth] = {x};
  store(lanes, exp_nonpositive(load(lanes)));
  return lanes[0];
}

}  // namespace tuner
