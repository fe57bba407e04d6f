/*
 * gemm_avx512.c -- AVX-512F micro-kernel of fd_sgemm (compiled with
 * -mavx512f -mavx512vl -mavx512dq -mfma; only called after fd_simd_level()
 * reported AVX-512).
 *
 * Design: MR x 32 register tiles, MR = 12 or 8 (one inline body, two
 * instantiations).  2*MR zmm accumulators hold the tile of C (two vectors
 * per row); each step of k loads two vectors of the packed B row and
 * multiplies them by MR broadcast values of the packed A column: 12x32 is
 * 24 FMAs for 14 loads in 27 of the 32 zmm registers, 8x32 16 FMAs for 10
 * loads.  On Zen 5 two 512-bit FMA pipes with 4-cycle latency need >= 8
 * independent chains; both shapes hide the latency and run full tiles at
 * the same speed (~220-245 GFLOP/s on one core), so the driver picks the
 * one that pads fewer rows (8 for m = 128, 784, 10000; 12 for m = 10).
 * 14x32 measured 3-5% slower.
 *
 * The epilogue (alpha, beta with C unread when beta == 0, bias per column,
 * relu as max(0, x) so NaN stays NaN) runs on the registers before the one
 * store per row.  No state; safe from many threads.
 */
#include <immintrin.h>

#include "gemm_internal.h"

#if defined(__GNUC__) && !defined(__clang__)
#define FD_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FD_UNROLL _Pragma("clang loop unroll(full)")
#else
#define FD_UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FD_INLINE static inline __attribute__((always_inline))
#else
#define FD_INLINE static inline
#endif

FD_INLINE void fd_ukr_avx512_body(const int mr, fd_index kc,
                                   const float *restrict a,
                                   const float *restrict b,
                                   fd_index ldb,
                                   float *restrict c, fd_index ldc,
                                   float alpha, float beta,
                                   const float *restrict bias, int relu)
{
    __m512 acc0[FD_GEMM_MR_MAX], acc1[FD_GEMM_MR_MAX];
    fd_index p;
    int i;

    FD_UNROLL
    for (i = 0; i < mr; i++) {
        acc0[i] = _mm512_setzero_ps();
        acc1[i] = _mm512_setzero_ps();
    }
    for (p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b);
        const __m512 b1 = _mm512_loadu_ps(b + 16);
        FD_UNROLL
        for (i = 0; i < mr; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
        a += mr;
        b += ldb;
    }

    {
        const __m512 va = _mm512_set1_ps(alpha);
        const __m512 vb = _mm512_set1_ps(beta);
        const __m512 zero = _mm512_setzero_ps();
        __m512 bb0 = zero, bb1 = zero;
        if (bias != NULL) {
            bb0 = _mm512_loadu_ps(bias);
            bb1 = _mm512_loadu_ps(bias + 16);
        }
        FD_UNROLL
        for (i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            __m512 v0 = _mm512_mul_ps(va, acc0[i]);
            __m512 v1 = _mm512_mul_ps(va, acc1[i]);
            if (beta != 0.0f) {
                v0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), v0);
                v1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), v1);
            }
            if (bias != NULL) {
                v0 = _mm512_add_ps(v0, bb0);
                v1 = _mm512_add_ps(v1, bb1);
            }
            if (relu) {
                /* max(0, NaN) returns the second operand: NaN stays NaN */
                v0 = _mm512_max_ps(zero, v0);
                v1 = _mm512_max_ps(zero, v1);
            }
            _mm512_storeu_ps(ci, v0);
            _mm512_storeu_ps(ci + 16, v1);
        }
    }
}

void fd_sgemm_ukr_avx512_12x32(fd_index kc, const float *restrict a,
                               const float *restrict b, fd_index ldb,
                               float *restrict c,
                               fd_index ldc, float alpha, float beta,
                               const float *restrict bias, int relu)
{
    fd_ukr_avx512_body(12, kc, a, b, ldb, c, ldc, alpha, beta, bias, relu);
}

void fd_sgemm_ukr_avx512_8x32(fd_index kc, const float *restrict a,
                              const float *restrict b, fd_index ldb,
                              float *restrict c,
                              fd_index ldc, float alpha, float beta,
                              const float *restrict bias, int relu)
{
    fd_ukr_avx512_body(8, kc, a, b, ldb, c, ldc, alpha, beta, bias, relu);
}
