/*
 * gemm_generic.c -- the portable micro-kernel of fd_sgemm (plain C99, built
 * with the baseline flags; the kernel of FD_SIMD_GENERIC and of CPUs or
 * compilers without the SIMD files).
 *
 * Design: one FD_GEMM_GENERIC_MR x FD_GEMM_GENERIC_NR (4x8) tile of C in a
 * local array the compiler keeps in registers, the same operand layout and
 * epilogue as the SIMD kernels (gemm_internal.h): alpha, beta with C unread
 * when beta == 0, bias per column, relu as x < 0 ? 0 : x (NaN stays NaN).
 * No fused multiply-add (-ffp-contract=off): each product is rounded, then
 * added, in k order.  It is correct everywhere and fast nowhere: ops.dot
 * hands products to NumPy's BLAS at this level (fastdense/ops.py,
 * _gemm_route).  No state; safe from many threads.
 */
#include "gemm_internal.h"

void fd_sgemm_ukr_generic(fd_index kc, const float *restrict a,
                          const float *restrict b, fd_index ldb,
                          float *restrict c,
                          fd_index ldc, float alpha, float beta,
                          const float *restrict bias, int relu)
{
    enum { MR = FD_GEMM_GENERIC_MR, NR = FD_GEMM_GENERIC_NR };
    float acc[MR][NR];
    fd_index p;
    int i, j;

    for (i = 0; i < MR; i++)
        for (j = 0; j < NR; j++)
            acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++) {
        for (i = 0; i < MR; i++) {
            const float ai = a[i];
            for (j = 0; j < NR; j++)
                acc[i][j] += ai * b[j];
        }
        a += MR;
        b += ldb;
    }
    for (i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        for (j = 0; j < NR; j++) {
            float v = alpha * acc[i][j];
            if (beta != 0.0f)
                v += beta * ci[j];
            if (bias != NULL)
                v += bias[j];
            if (relu)
                v = v < 0.0f ? 0.0f : v;
            ci[j] = v;
        }
    }
}
