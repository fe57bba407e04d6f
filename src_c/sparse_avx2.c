/*
 * sparse_avx2.c -- the AVX2+FMA block kernel of fd_csrmm_f32 (compiled with
 * -mavx2 -mfma; sparse.c calls it only after fd_simd_level() reported AVX2).
 * See sparse_internal.h for the contract.
 *
 * Design: as sparse_avx512.c with 8-float ymm vectors: a block is W <= 8
 * vectors of a row of C held in registers over the row's entries, narrow
 * blocks interleaving S accumulator sets (8 chains hide the FMA latency;
 * only 16 ymm registers, so S = 1 from W = 5 up).  The tail vector is read
 * and written with vmaskmov, which never touches the masked-off lanes.
 */
#include <immintrin.h>

#include "sparse_internal.h"

FD_SP_INLINE int fd_csrmm_rows_avx2(const int W, const int S, fd_index r0,
                                    fd_index r1, const int64_t *indptr,
                                    const int32_t *indices,
                                    const float *values, fd_index k,
                                    const float *b, fd_index rs_b,
                                    fd_index nb, float *c, fd_index rs_c,
                                    const float *bias, int relu)
{
    const int tail = (int)(nb - 8 * (W - 1));
    const __m256i last = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    const __m256 zero = _mm256_setzero_ps();
    __m256 bv[8];
    int w, s;

    FD_SP_UNROLL

    for (w = 0; w < W; w++)
        bv[w] = zero;
    if (bias != NULL) {
        FD_SP_UNROLL
        for (w = 0; w < W - 1; w++)
            bv[w] = _mm256_loadu_ps(bias + 8 * w);
        bv[W - 1] = _mm256_maskload_ps(bias + 8 * (W - 1), last);
    }
    for (fd_index i = r0; i < r1; i++) {
        __m256 acc[8][8];
        fd_index e = indptr[i];
        const fd_index hi = indptr[i + 1];
        float *ci = c + (i - r0) * rs_c;

        FD_SP_UNROLL

        for (s = 0; s < S; s++)
            FD_SP_UNROLL
            for (w = 0; w < W; w++)
                acc[s][w] = zero;
        for (; e + S <= hi; e += S) {
            FD_SP_UNROLL
            for (s = 0; s < S; s++) {
                const uint32_t col = (uint32_t)indices[e + s];
                if (col >= kk)
                    return FD_EINVAL;
                const float *bp = b + (fd_index)col * rs_b;
                const __m256 v = _mm256_broadcast_ss(values + e + s);
                FD_SP_UNROLL
                for (w = 0; w < W - 1; w++)
                    acc[s][w] = _mm256_fmadd_ps(v, _mm256_loadu_ps(bp + 8 * w),
                                                acc[s][w]);
                acc[s][W - 1] = _mm256_fmadd_ps(
                    v, _mm256_maskload_ps(bp + 8 * (W - 1), last), acc[s][W - 1]);
            }
        }
        FD_SP_UNROLL
        for (s = 0; s < S - 1; s++) {   /* the last < S entries: set t % S */
            if (e + s >= hi)
                break;
            const uint32_t col = (uint32_t)indices[e + s];
            if (col >= kk)
                return FD_EINVAL;
            const float *bp = b + (fd_index)col * rs_b;
            const __m256 v = _mm256_broadcast_ss(values + e + s);
            FD_SP_UNROLL
            for (w = 0; w < W - 1; w++)
                acc[s][w] = _mm256_fmadd_ps(v, _mm256_loadu_ps(bp + 8 * w),
                                            acc[s][w]);
            acc[s][W - 1] = _mm256_fmadd_ps(
                v, _mm256_maskload_ps(bp + 8 * (W - 1), last), acc[s][W - 1]);
        }
        FD_SP_UNROLL
        for (s = 1; s < S; s++)
            FD_SP_UNROLL
            for (w = 0; w < W; w++)
                acc[0][w] = _mm256_add_ps(acc[0][w], acc[s][w]);
        FD_SP_UNROLL
        for (w = 0; w < W; w++) {
            __m256 x = acc[0][w];
            if (bias != NULL)
                x = _mm256_add_ps(x, bv[w]);
            if (relu)
                x = _mm256_max_ps(zero, x);   /* NaN in x: x */
            if (w < W - 1)
                _mm256_storeu_ps(ci + 8 * w, x);
            else
                _mm256_maskstore_ps(ci + 8 * w, last, x);
        }
    }
    return FD_OK;
}

#define FD_CSRMM_CASE(W, S)                                                   \
    case W:                                                                   \
        return fd_csrmm_rows_avx2(W, S, r0, r1, indptr, indices, values, k,   \
                                  b, rs_b, nb, c, rs_c, bias, relu)

int fd_csrmm_block_avx2(fd_index r0, fd_index r1, const int64_t *indptr,
                        const int32_t *indices, const float *values,
                        fd_index k, const float *b, fd_index rs_b,
                        fd_index nb, float *c, fd_index rs_c,
                        const float *bias, int relu)
{
    switch ((nb + 7) / 8) {
    FD_CSRMM_CASE(1, 8);
    FD_CSRMM_CASE(2, 4);
    FD_CSRMM_CASE(3, 3);
    FD_CSRMM_CASE(4, 2);
    FD_CSRMM_CASE(5, 1);
    FD_CSRMM_CASE(6, 1);
    FD_CSRMM_CASE(7, 1);
    FD_CSRMM_CASE(8, 1);
    default:
        return nb <= 0 ? FD_OK : FD_EINVAL;
    }
}

/* ---- fd_csrtmm_f32: acc[c] += v * B[r] (see sparse_internal.h) ---------- */

FD_SP_INLINE int fd_csrtmm_rows_avx2(const int W, fd_index r0, fd_index r1,
                                     const int64_t *indptr,
                                     const int32_t *indices,
                                     const float *values, fd_index k,
                                     const float *b, fd_index rs_b,
                                     fd_index nb, float *acc, fd_index ld)
{
    const int tail = (int)(nb - 8 * (W - 1));
    const __m256i last = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    int w;
    for (fd_index r = r0; r < r1; r++) {
        __m256 br[8];
        const float *bp = b + r * rs_b;
        FD_SP_UNROLL
        for (w = 0; w < W - 1; w++)
            br[w] = _mm256_loadu_ps(bp + 8 * w);
        br[W - 1] = _mm256_maskload_ps(bp + 8 * (W - 1), last);
        for (int64_t e = indptr[r]; e < indptr[r + 1]; e++) {
            const uint32_t col = (uint32_t)indices[e];
            if (col >= kk)
                return FD_EINVAL;
            float *ap = acc + (fd_index)col * ld;
            const __m256 v = _mm256_broadcast_ss(values + e);
            FD_SP_UNROLL
            for (w = 0; w < W; w++)
                _mm256_store_ps(ap + 8 * w, _mm256_fmadd_ps(
                    v, br[w], _mm256_load_ps(ap + 8 * w)));
        }
    }
    return FD_OK;
}

#define FD_CSRTMM_CASE(W)                                                     \
    case W:                                                                   \
        return fd_csrtmm_rows_avx2(W, r0, r1, indptr, indices, values, k, b,  \
                                   rs_b, nb, acc, ld)

int fd_csrtmm_block_avx2(fd_index r0, fd_index r1, const int64_t *indptr,
                         const int32_t *indices, const float *values,
                         fd_index k, const float *b, fd_index rs_b,
                         fd_index nb, float *acc, fd_index ld)
{
    switch ((nb + 7) / 8) {
    FD_CSRTMM_CASE(1);
    FD_CSRTMM_CASE(2);
    FD_CSRTMM_CASE(3);
    FD_CSRTMM_CASE(4);
    FD_CSRTMM_CASE(5);
    FD_CSRTMM_CASE(6);
    FD_CSRTMM_CASE(7);
    FD_CSRTMM_CASE(8);
    default:
        return nb <= 0 ? FD_OK : FD_EINVAL;
    }
}
