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

}  // namespace tuner
