// Stand-in for kernels/gemm.cpp and OpenBLAS in the fuzz build, so the model-file fuzzer needs no
// OpenBLAS: loading a model builds its layers but never multiplies. Not a gemm: it aborts when
// called, so a loader that starts computing shows up as a crash instead of silently wrong
// numbers. The thread count (kernels/threads.cpp, linked for the streams' steps) has nothing to set.
#include <cstdio>
#include <cstdlib>

#include "kernels/gemm.hpp"

namespace mosaic {

template <class F>
void gemm(Op, Op, int, int, int, F, const F*, int, const F*, int, F, F*, int) {
  std::fprintf(stderr, "fuzz: gemm called, but the fuzz build has no BLAS (support/gemm_stub.cpp)\n");
  std::abort();
}

template void gemm<float>(Op, Op, int, int, int, float, const float*, int, const float*, int, float, float*, int);
template void gemm<double>(Op, Op, int, int, int, double, const double*, int, const double*, int, double, double*,
                           int);

}  // namespace mosaic

extern "C" void openblas_set_num_threads(int) {}
