/*
 * gemm_avx2.c -- AVX2 + FMA pieces of fd_sgemm (compiled with -mavx2 -mfma;
 * only called after fd_simd_level() said the CPU has them).
 *
 * Design: the classic 6x16 register tile.  Twelve ymm accumulators hold the
 * 6x16 block of C; each step of k loads two vectors of the packed B row and
 * broadcasts six values of the packed A column (12 FMAs per 8 loads, 15 of
 * the 16 ymm registers in use).  The epilogue (alpha, beta, bias, relu) runs
 * on the registers before the single store of each row, so C is touched
 * once per K block.  relu is max(0, x) with 0 as the *first* operand: the
 * instruction returns the second operand when the compare is unordered, so
 * NaN stays NaN.
 *
 * fd_pack_t8_avx2 is the transposing copy the packers use when the packed
 * dimension is strided in memory (A in C order, B in Fortran order): 8x8
 * blocks are loaded as rows and written as columns with the usual
 * unpack/shuffle/permute transpose.
 */
#include <immintrin.h>

#include "gemm_internal.h"

#define FD_ROW_FMA(i, c0, c1)                                   \
    do {                                                        \
        __m256 t_ = _mm256_broadcast_ss(a + (i));               \
        c0 = _mm256_fmadd_ps(t_, b0, c0);                       \
        c1 = _mm256_fmadd_ps(t_, b1, c1);                       \
    } while (0)

#define FD_ROW_STORE(i, c0, c1)                                         \
    do {                                                                \
        float *ci_ = c + (i) * ldc;                                     \
        __m256 v0_ = _mm256_mul_ps(va, c0);                             \
        __m256 v1_ = _mm256_mul_ps(va, c1);                             \
        if (beta != 0.0f) {                                             \
            v0_ = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci_), v0_);       \
            v1_ = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci_ + 8), v1_);   \
        }                                                               \
        if (bias != NULL) {                                             \
            v0_ = _mm256_add_ps(v0_, bb0);                              \
            v1_ = _mm256_add_ps(v1_, bb1);                              \
        }                                                               \
        if (relu) {                                                     \
            v0_ = _mm256_max_ps(zero, v0_);                             \
            v1_ = _mm256_max_ps(zero, v1_);                             \
        }                                                               \
        _mm256_storeu_ps(ci_, v0_);                                     \
        _mm256_storeu_ps(ci_ + 8, v1_);                                 \
    } while (0)

void fd_sgemm_ukr_avx2_6x16(fd_index kc, const float *restrict a,
                            const float *restrict b, fd_index ldb,
                            float *restrict c,
                            fd_index ldc, float alpha, float beta,
                            const float *restrict bias, int relu)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    fd_index p;

    for (p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        FD_ROW_FMA(0, c00, c01);
        FD_ROW_FMA(1, c10, c11);
        FD_ROW_FMA(2, c20, c21);
        FD_ROW_FMA(3, c30, c31);
        FD_ROW_FMA(4, c40, c41);
        FD_ROW_FMA(5, c50, c51);
        a += 6;
        b += ldb;
    }

    {
        const __m256 va = _mm256_set1_ps(alpha);
        const __m256 vb = _mm256_set1_ps(beta);
        const __m256 zero = _mm256_setzero_ps();
        __m256 bb0 = zero, bb1 = zero;
        if (bias != NULL) {
            bb0 = _mm256_loadu_ps(bias);
            bb1 = _mm256_loadu_ps(bias + 8);
        }
        FD_ROW_STORE(0, c00, c01);
        FD_ROW_STORE(1, c10, c11);
        FD_ROW_STORE(2, c20, c21);
        FD_ROW_STORE(3, c30, c31);
        FD_ROW_STORE(4, c40, c41);
        FD_ROW_STORE(5, c50, c51);
    }
}

void fd_pack_t8_avx2(fd_index np8, const float *const *rows,
                     float *restrict dst, fd_index ld)
{
    const float *s0 = rows[0], *s1 = rows[1], *s2 = rows[2], *s3 = rows[3];
    const float *s4 = rows[4], *s5 = rows[5], *s6 = rows[6], *s7 = rows[7];
    fd_index q;
    for (q = 0; q < np8; q++) {
        const fd_index o = 8 * q;
        float *d = dst + o * ld;
        __m256 r0 = _mm256_loadu_ps(s0 + o);
        __m256 r1 = _mm256_loadu_ps(s1 + o);
        __m256 r2 = _mm256_loadu_ps(s2 + o);
        __m256 r3 = _mm256_loadu_ps(s3 + o);
        __m256 r4 = _mm256_loadu_ps(s4 + o);
        __m256 r5 = _mm256_loadu_ps(s5 + o);
        __m256 r6 = _mm256_loadu_ps(s6 + o);
        __m256 r7 = _mm256_loadu_ps(s7 + o);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1);
        __m256 t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3);
        __m256 t3 = _mm256_unpackhi_ps(r2, r3);
        __m256 t4 = _mm256_unpacklo_ps(r4, r5);
        __m256 t5 = _mm256_unpackhi_ps(r4, r5);
        __m256 t6 = _mm256_unpacklo_ps(r6, r7);
        __m256 t7 = _mm256_unpackhi_ps(r6, r7);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);
        __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);
        __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44);
        __m256 u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44);
        __m256 u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        _mm256_storeu_ps(d + 0 * ld, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(d + 1 * ld, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(d + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(d + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(d + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(d + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(d + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(d + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
}

void fd_pack_t4_avx2(fd_index np8, const float *const *rows,
                     float *restrict dst, fd_index ld)
{
    const float *s0 = rows[0], *s1 = rows[1], *s2 = rows[2], *s3 = rows[3];
    fd_index q;
    for (q = 0; q < np8; q++) {
        const fd_index o = 8 * q;
        float *d = dst + o * ld;
        __m256 r0 = _mm256_loadu_ps(s0 + o);
        __m256 r1 = _mm256_loadu_ps(s1 + o);
        __m256 r2 = _mm256_loadu_ps(s2 + o);
        __m256 r3 = _mm256_loadu_ps(s3 + o);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1);
        __m256 t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3);
        __m256 t3 = _mm256_unpackhi_ps(r2, r3);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);
        __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);
        __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        _mm_storeu_ps(d + 0 * ld, _mm256_castps256_ps128(u0));
        _mm_storeu_ps(d + 1 * ld, _mm256_castps256_ps128(u1));
        _mm_storeu_ps(d + 2 * ld, _mm256_castps256_ps128(u2));
        _mm_storeu_ps(d + 3 * ld, _mm256_castps256_ps128(u3));
        _mm_storeu_ps(d + 4 * ld, _mm256_extractf128_ps(u0, 1));
        _mm_storeu_ps(d + 5 * ld, _mm256_extractf128_ps(u1, 1));
        _mm_storeu_ps(d + 6 * ld, _mm256_extractf128_ps(u2, 1));
        _mm_storeu_ps(d + 7 * ld, _mm256_extractf128_ps(u3, 1));
    }
}
