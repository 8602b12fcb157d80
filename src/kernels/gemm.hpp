// The single matrix-product entry point: row-major C = alpha * op(A) op(B) + beta * C over
// OpenBLAS (sgemm for float, dgemm for the float64 gradient tests). No other file multiplies
// through BLAS; kernels/threads.hpp sets its thread count.
#pragma once

namespace mosaic {

enum class Op { N, T };  // use the matrix as stored, or its transpose

// op(A): m x k, op(B): k x n, C: m x n; lda/ldb/ldc are row strides of the stored matrices.
template <class F>
void gemm(Op op_a, Op op_b, int m, int n, int k, F alpha, const F* a, int lda, const F* b, int ldb,
          F beta, F* c, int ldc);

// The CPU core OpenBLAS chose its kernels for (e.g. "Haswell", "SkylakeX", "Zen").
const char* blas_core_name();

}  // namespace mosaic
