// The kernels' reductions over a batch (weight gradients summed over examples): the items go to
// threads in equal contiguous chunks, each chunk sums into its own buffer, and the buffers are
// added in chunk order afterwards. A given thread count then always gives the same sums, whichever
// thread ran which chunk.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tuner {

// body(lo, hi, sums) handles items [lo, hi) and adds their share into sums[0 .. size). Chunk 0
// adds straight into out (zeros, or sums to add to); the others into zeroed buffers, which are
// then added into out in chunk order. A chunk may be empty (lo >= hi) when n is small.
template <typename T, typename Body>
void sum_over_chunks(int64_t n, int64_t size, T* out, const Body& body) {
  const int64_t n_chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n));
  const int64_t per_chunk = (n + n_chunks - 1) / n_chunks;
  std::vector<T> partial((n_chunks - 1) * size, T(0));
  at::parallel_for(0, n_chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* sums = chunk == 0 ? out : partial.data() + (chunk - 1) * size;
      body(std::min(n, chunk * per_chunk), std::min(n, (chunk + 1) * per_chunk), sums);
    }
  });
  for (int64_t chunk = 1; chunk < n_chunks; ++chunk) {
    const T* p = partial.data() + (chunk - 1) * size;
    for (int64_t i = 0; i < size; ++i) out[i] += p[i];
  }
}

}  // namespace tuner
