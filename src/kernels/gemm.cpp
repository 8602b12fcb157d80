// OpenBLAS binding of gemm<F> and the name of its kernels' core (its thread count is set in
// kernels/threads.cpp). Shapes are asserted, not checked: callers own the shapes.
#include "kernels/gemm.hpp"

#include <cblas.h>

#include <cassert>

namespace mosaic {

static CBLAS_TRANSPOSE cblas_op(Op op) { return op == Op::N ? CblasNoTrans : CblasTrans; }

template <>
void gemm<float>(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
  assert(m >= 0 && n >= 0 && k >= 0);
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, cblas_op(op_a), cblas_op(op_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <>
void gemm<double>(Op op_a, Op op_b, int m, int n, int k, double alpha, const double* a, int lda,
                  const double* b, int ldb, double beta, double* c, int ldc) {
  assert(m >= 0 && n >= 0 && k >= 0);
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, cblas_op(op_a), cblas_op(op_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* blas_core_name() { return openblas_get_corename(); }

}  // namespace mosaic
