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
            __m512 v0 = acc0[i], v1 = acc1[i];
            if (alpha != 1.0f) { /* x * 1 == x; at k = 10 the 2*MR
                                    multiplies cost 7% of the call */
                v0 = _mm512_mul_ps(va, v0);
                v1 = _mm512_mul_ps(va, v1);
            }
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

/* ---- narrow n: dot-product form ------------------------------------------
 *
 * C[i, j] = A[i, :] . Bt[j, :] for n <= 16, A read straight from its rows
 * (contiguous along k) and Bt the n x k transpose of B packed by the driver
 * (row stride ldbt, a multiple of 16; 64-byte aligned).  R rows of A at a
 * time keep R x n zmm accumulators, each summing 16 lanes of k; every lane
 * is useful, so nothing is padded and nothing is transposed on the fly
 * (the C-order A of the logits layer otherwise needs an 8x8 transpose per
 * 64 floats of A).  The k tail uses masked loads (masked-off lanes read as
 * 0, and no byte past the end is touched).  At the end the n accumulators
 * of a row are reduced together by a shuffle tree into one vector whose
 * lane j is C[i, j], and the epilogue runs on it with masked loads/stores
 * of n lanes.  R = 4, 3, 2, 1 for n <= 5, 8, 12, 16 keeps R*n + R + 1 of
 * the 32 registers busy.
 */

/* Lane v of the result is the sum of the 16 lanes of x[v]. */
FD_INLINE __m512 fd_hsum16_avx512(const __m512 *x)
{
    __m512 y[8], z[4], u0, u1;
    int i;
    FD_UNROLL
    for (i = 0; i < 8; i++) /* 128-bit lane: x2i[0+2] x2i+1[0+2] x2i[1+3] .. */
        y[i] = _mm512_add_ps(_mm512_unpacklo_ps(x[2 * i], x[2 * i + 1]),
                             _mm512_unpackhi_ps(x[2 * i], x[2 * i + 1]));
    FD_UNROLL
    for (i = 0; i < 4; i++) { /* 128-bit lane L: x4i..x4i+3 summed over L */
        const __m512d a = _mm512_castps_pd(y[2 * i]);
        const __m512d b = _mm512_castps_pd(y[2 * i + 1]);
        z[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    /* fold the four 128-bit lanes: 2,0,2,0 picks a0 a2 b0 b2 */
    u0 = _mm512_add_ps(_mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
    u1 = _mm512_add_ps(_mm512_shuffle_f32x4(z[2], z[3], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(z[2], z[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* R rows x N columns; R, N compile-time constants after inlining. */
FD_INLINE void fd_dot_body_avx512(const int R, const int N, fd_index k,
                                  const float *const *a,
                                  const float *restrict bt, fd_index ldbt,
                                  float *restrict c, fd_index ldc,
                                  float alpha, float beta,
                                  const float *restrict bias, int relu)
{
    __m512 acc[4][16];
    fd_index p = 0;
    int r, j;

    FD_UNROLL
    for (r = 0; r < R; r++) {
        FD_UNROLL
        for (j = 0; j < 16; j++)
            acc[r][j] = _mm512_setzero_ps();
    }
    for (; p + 16 <= k; p += 16) {
        __m512 av[4];
        FD_UNROLL
        for (r = 0; r < R; r++)
            av[r] = _mm512_loadu_ps(a[r] + p);
        FD_UNROLL
        for (j = 0; j < N; j++) {
            const __m512 bj = _mm512_load_ps(bt + j * ldbt + p);
            FD_UNROLL
            for (r = 0; r < R; r++)
                acc[r][j] = _mm512_fmadd_ps(av[r], bj, acc[r][j]);
        }
    }
    if (p < k) {
        const __mmask16 mk = (__mmask16)((1u << (unsigned)(k - p)) - 1u);
        __m512 av[4];
        FD_UNROLL
        for (r = 0; r < R; r++)
            av[r] = _mm512_maskz_loadu_ps(mk, a[r] + p);
        FD_UNROLL
        for (j = 0; j < N; j++) {
            const __m512 bj = _mm512_maskz_loadu_ps(mk, bt + j * ldbt + p);
            FD_UNROLL
            for (r = 0; r < R; r++)
                acc[r][j] = _mm512_fmadd_ps(av[r], bj, acc[r][j]);
        }
    }

    {
        const __mmask16 mn = (__mmask16)((1u << N) - 1u);
        const __m512 va = _mm512_set1_ps(alpha);
        const __m512 vb = _mm512_set1_ps(beta);
        const __m512 zero = _mm512_setzero_ps();
        const __m512 vbias =
            bias != NULL ? _mm512_maskz_loadu_ps(mn, bias) : zero;
        FD_UNROLL
        for (r = 0; r < R; r++) {
            float *cr = c + r * ldc;
            __m512 v = _mm512_mul_ps(va, fd_hsum16_avx512(acc[r]));
            if (beta != 0.0f)
                v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mn, cr), v);
            if (bias != NULL)
                v = _mm512_add_ps(v, vbias);
            if (relu) /* max(0, NaN) returns the second operand */
                v = _mm512_max_ps(zero, v);
            _mm512_mask_storeu_ps(cr, mn, v);
        }
    }
}

#define FD_DOT_ROWS(N) ((N) <= 5 ? 4 : (N) <= 8 ? 3 : (N) <= 12 ? 2 : 1)

#define FD_DOT_AVX512_N(N)                                                   \
    static void fd_dot_avx512_##N(fd_index mr, fd_index k,                   \
                                  const float *const *a,                     \
                                  const float *restrict bt, fd_index ldbt,   \
                                  float *restrict c, fd_index ldc,           \
                                  float alpha, float beta,                   \
                                  const float *restrict bias, int relu)      \
    {                                                                        \
        fd_index i = 0;                                                      \
        for (; i + FD_DOT_ROWS(N) <= mr; i += FD_DOT_ROWS(N))                \
            fd_dot_body_avx512(FD_DOT_ROWS(N), N, k, a + i, bt, ldbt,        \
                               c + i * ldc, ldc, alpha, beta, bias, relu);   \
        for (; i < mr; i++)                                                  \
            fd_dot_body_avx512(1, N, k, a + i, bt, ldbt, c + i * ldc, ldc,   \
                               alpha, beta, bias, relu);                     \
    }
FD_DOT_AVX512_N(1)  FD_DOT_AVX512_N(2)  FD_DOT_AVX512_N(3)
FD_DOT_AVX512_N(4)  FD_DOT_AVX512_N(5)  FD_DOT_AVX512_N(6)
FD_DOT_AVX512_N(7)  FD_DOT_AVX512_N(8)  FD_DOT_AVX512_N(9)
FD_DOT_AVX512_N(10) FD_DOT_AVX512_N(11) FD_DOT_AVX512_N(12)
FD_DOT_AVX512_N(13) FD_DOT_AVX512_N(14) FD_DOT_AVX512_N(15)
FD_DOT_AVX512_N(16)

void fd_sgemm_dot_avx512(fd_index mr, fd_index n, fd_index k,
                         const float *const *a, const float *restrict bt,
                         fd_index ldbt, float *restrict c, fd_index ldc,
                         float alpha, float beta, const float *restrict bias,
                         int relu)
{
    static void (*const fn[16])(fd_index, fd_index, const float *const *,
                                const float *restrict, fd_index,
                                float *restrict, fd_index, float, float,
                                const float *restrict, int) = {
        fd_dot_avx512_1,  fd_dot_avx512_2,  fd_dot_avx512_3,
        fd_dot_avx512_4,  fd_dot_avx512_5,  fd_dot_avx512_6,
        fd_dot_avx512_7,  fd_dot_avx512_8,  fd_dot_avx512_9,
        fd_dot_avx512_10, fd_dot_avx512_11, fd_dot_avx512_12,
        fd_dot_avx512_13, fd_dot_avx512_14, fd_dot_avx512_15,
        fd_dot_avx512_16};
    fn[n - 1](mr, k, a, bt, ldbt, c, ldc, alpha, beta, bias, relu);
}

/* bt[j*ldbt + p] = b[p*rs_b + j] for j < n <= 16, p < ldbt (zero for
 * p >= k): 16 x 16 transposes of masked row loads (unpack ps, unpack pd,
 * two rounds of 128-bit lane shuffles). */
void fd_pack_bt_avx512(fd_index k, fd_index n, const float *b, fd_index rs_b,
                       float *restrict bt, fd_index ldbt)
{
    const __mmask16 mn = (__mmask16)((1u << (unsigned)n) - 1u);
    fd_index p0;
    int i, c;

    for (p0 = 0; p0 < ldbt; p0 += 16) {
        __m512 r[16], t[16], u[16];
        FD_UNROLL
        for (i = 0; i < 16; i++)
            r[i] = p0 + i < k ? _mm512_maskz_loadu_ps(mn, b + (p0 + i) * rs_b)
                              : _mm512_setzero_ps();
        FD_UNROLL
        for (i = 0; i < 8; i++) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        /* u[4g + c], 128-bit lane L: rows 4g..4g+3 of column 4L + c */
        FD_UNROLL
        for (i = 0; i < 4; i++) {
            const __m512d t0 = _mm512_castps_pd(t[4 * i]);
            const __m512d t1 = _mm512_castps_pd(t[4 * i + 1]);
            const __m512d t2 = _mm512_castps_pd(t[4 * i + 2]);
            const __m512d t3 = _mm512_castps_pd(t[4 * i + 3]);
            u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
            u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
            u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
            u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
        }
        FD_UNROLL
        for (c = 0; c < 4; c++) {
            const __m512 x0 = _mm512_shuffle_f32x4(u[c], u[4 + c],
                                                   _MM_SHUFFLE(1, 0, 1, 0));
            const __m512 x1 = _mm512_shuffle_f32x4(u[c], u[4 + c],
                                                   _MM_SHUFFLE(3, 2, 3, 2));
            const __m512 y0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c],
                                                   _MM_SHUFFLE(1, 0, 1, 0));
            const __m512 y1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c],
                                                   _MM_SHUFFLE(3, 2, 3, 2));
            float *d = bt + p0;
            if (c < n)
                _mm512_store_ps(d + c * ldbt, _mm512_shuffle_f32x4(
                                    x0, y0, _MM_SHUFFLE(2, 0, 2, 0)));
            if (4 + c < n)
                _mm512_store_ps(d + (4 + c) * ldbt, _mm512_shuffle_f32x4(
                                    x0, y0, _MM_SHUFFLE(3, 1, 3, 1)));
            if (8 + c < n)
                _mm512_store_ps(d + (8 + c) * ldbt, _mm512_shuffle_f32x4(
                                    x1, y1, _MM_SHUFFLE(2, 0, 2, 0)));
            if (12 + c < n)
                _mm512_store_ps(d + (12 + c) * ldbt, _mm512_shuffle_f32x4(
                                    x1, y1, _MM_SHUFFLE(3, 1, 3, 1)));
        }
    }
}
