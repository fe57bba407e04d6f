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
        __m256 v0_ = c0, v1_ = c1;                                      \
        if (alpha != 1.0f) { /* x * 1 == x: skip it (short k) */        \
            v0_ = _mm256_mul_ps(va, v0_);                               \
            v1_ = _mm256_mul_ps(va, v1_);                               \
        }                                                               \
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

/* ---- narrow n: dot-product form ------------------------------------------
 *
 * The AVX2 twin of fd_sgemm_dot_avx512 (see gemm_avx512.c and
 * gemm_internal.h): R rows x n columns of ymm accumulators summing 8 lanes
 * of k each, masked loads for the k tail, and per row one horizontal
 * reduction per 8 columns (hadd tree) feeding the epilogue.  With 16
 * registers R = 4, 3, 2, 1 for n <= 2, 3, 6, 16 (the FMAs take B from
 * memory, so R*n + R registers).
 */

/* Lane v of the result is the sum of the 8 lanes of x[v]. */
FD_INLINE __m256 fd_hsum8_avx2(const __m256 *x)
{
    const __m256 y0 = _mm256_hadd_ps(x[0], x[1]);
    const __m256 y1 = _mm256_hadd_ps(x[2], x[3]);
    const __m256 y2 = _mm256_hadd_ps(x[4], x[5]);
    const __m256 y3 = _mm256_hadd_ps(x[6], x[7]);
    const __m256 z0 = _mm256_hadd_ps(y0, y1); /* x0..x3, per 128-bit half */
    const __m256 z1 = _mm256_hadd_ps(y2, y3); /* x4..x7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(z0, z1, 0x20),
                         _mm256_permute2f128_ps(z0, z1, 0x31));
}

/* Lanes i < count set (count clamped to 0..8), as a maskload mask. */
FD_INLINE __m256i fd_mask8_avx2(fd_index count)
{
    const int cnt = count < 0 ? 0 : count > 8 ? 8 : (int)count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

FD_INLINE void fd_dot_body_avx2(const int R, const int N, fd_index k,
                                const float *const *a,
                                const float *restrict bt, fd_index ldbt,
                                float *restrict c, fd_index ldc,
                                float alpha, float beta,
                                const float *restrict bias, int relu)
{
    __m256 acc[4][16];
    fd_index p = 0;
    int r, j, h;

    FD_UNROLL
    for (r = 0; r < R; r++) {
        FD_UNROLL
        for (j = 0; j < 16; j++)
            acc[r][j] = _mm256_setzero_ps();
    }
    for (; p + 8 <= k; p += 8) {
        __m256 av[4];
        FD_UNROLL
        for (r = 0; r < R; r++)
            av[r] = _mm256_loadu_ps(a[r] + p);
        FD_UNROLL
        for (j = 0; j < N; j++) {
            const __m256 bj = _mm256_load_ps(bt + j * ldbt + p);
            FD_UNROLL
            for (r = 0; r < R; r++)
                acc[r][j] = _mm256_fmadd_ps(av[r], bj, acc[r][j]);
        }
    }
    if (p < k) {
        const __m256i mk = fd_mask8_avx2(k - p);
        __m256 av[4];
        FD_UNROLL
        for (r = 0; r < R; r++)
            av[r] = _mm256_maskload_ps(a[r] + p, mk);
        FD_UNROLL
        for (j = 0; j < N; j++) {
            const __m256 bj = _mm256_maskload_ps(bt + j * ldbt + p, mk);
            FD_UNROLL
            for (r = 0; r < R; r++)
                acc[r][j] = _mm256_fmadd_ps(av[r], bj, acc[r][j]);
        }
    }

    {
        const __m256 va = _mm256_set1_ps(alpha);
        const __m256 vb = _mm256_set1_ps(beta);
        const __m256 zero = _mm256_setzero_ps();
        FD_UNROLL
        for (h = 0; h < (N + 7) / 8; h++) {
            const __m256i mn = fd_mask8_avx2(N - 8 * h);
            const __m256 vbias = bias != NULL
                ? _mm256_maskload_ps(bias + 8 * h, mn) : zero;
            FD_UNROLL
            for (r = 0; r < R; r++) {
                float *cr = c + r * ldc + 8 * h;
                __m256 v = _mm256_mul_ps(va, fd_hsum8_avx2(acc[r] + 8 * h));
                if (beta != 0.0f)
                    v = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, mn), v);
                if (bias != NULL)
                    v = _mm256_add_ps(v, vbias);
                if (relu)
                    v = _mm256_max_ps(zero, v);
                _mm256_maskstore_ps(cr, mn, v);
            }
        }
    }
}

#define FD_DOT_ROWS(N) ((N) <= 2 ? 4 : (N) <= 3 ? 3 : (N) <= 6 ? 2 : 1)

#define FD_DOT_AVX2_N(N)                                                     \
    static void fd_dot_avx2_##N(fd_index mr, fd_index k,                     \
                                const float *const *a,                       \
                                const float *restrict bt, fd_index ldbt,     \
                                float *restrict c, fd_index ldc,             \
                                float alpha, float beta,                     \
                                const float *restrict bias, int relu)        \
    {                                                                        \
        fd_index i = 0;                                                      \
        for (; i + FD_DOT_ROWS(N) <= mr; i += FD_DOT_ROWS(N))                \
            fd_dot_body_avx2(FD_DOT_ROWS(N), N, k, a + i, bt, ldbt,          \
                             c + i * ldc, ldc, alpha, beta, bias, relu);     \
        for (; i < mr; i++)                                                  \
            fd_dot_body_avx2(1, N, k, a + i, bt, ldbt, c + i * ldc, ldc,     \
                             alpha, beta, bias, relu);                       \
    }
FD_DOT_AVX2_N(1)  FD_DOT_AVX2_N(2)  FD_DOT_AVX2_N(3)  FD_DOT_AVX2_N(4)
FD_DOT_AVX2_N(5)  FD_DOT_AVX2_N(6)  FD_DOT_AVX2_N(7)  FD_DOT_AVX2_N(8)
FD_DOT_AVX2_N(9)  FD_DOT_AVX2_N(10) FD_DOT_AVX2_N(11) FD_DOT_AVX2_N(12)
FD_DOT_AVX2_N(13) FD_DOT_AVX2_N(14) FD_DOT_AVX2_N(15) FD_DOT_AVX2_N(16)

void fd_sgemm_dot_avx2(fd_index mr, fd_index n, fd_index k,
                       const float *const *a, const float *restrict bt,
                       fd_index ldbt, float *restrict c, fd_index ldc,
                       float alpha, float beta, const float *restrict bias,
                       int relu)
{
    static void (*const fn[16])(fd_index, fd_index, const float *const *,
                                const float *restrict, fd_index,
                                float *restrict, fd_index, float, float,
                                const float *restrict, int) = {
        fd_dot_avx2_1,  fd_dot_avx2_2,  fd_dot_avx2_3,  fd_dot_avx2_4,
        fd_dot_avx2_5,  fd_dot_avx2_6,  fd_dot_avx2_7,  fd_dot_avx2_8,
        fd_dot_avx2_9,  fd_dot_avx2_10, fd_dot_avx2_11, fd_dot_avx2_12,
        fd_dot_avx2_13, fd_dot_avx2_14, fd_dot_avx2_15, fd_dot_avx2_16};
    fn[n - 1](mr, k, a, bt, ldbt, c, ldc, alpha, beta, bias, relu);
}
