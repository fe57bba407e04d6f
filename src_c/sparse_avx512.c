/*
 * sparse_avx512.c -- the AVX-512F block kernel of fd_csrmm_f32 (compiled
 * with the AVX-512 flags of setup.py; sparse.c calls it only after
 * fd_simd_level() reported AVX-512).  See sparse_internal.h for the contract.
 *
 * Design: a block is W <= 8 zmm vectors (16 floats each) of a row of C, held
 * in registers across all the entries of the row: per entry one index load,
 * one broadcast of the value and W loads of the B row, W FMAs.  With 4-cycle
 * FMA latency and two FMA pipes, 8 independent chains are needed, so narrow
 * blocks interleave S = ceil(8 / W) accumulator sets over the entries (entry
 * t of the row into set t % S, the sets added in order at the end).  The
 * last vector of a block is masked (loads and store), so B and C are never
 * touched outside the block's columns.  The epilogue (bias, relu as
 * max(0, x) so that NaN stays NaN) runs on the registers before the one
 * store per vector.
 */
#include <immintrin.h>

#include "sparse_internal.h"

FD_SP_INLINE int fd_csrmm_rows_avx512(const int W, const int S, fd_index r0,
                                      fd_index r1, const int64_t *indptr,
                                      const int32_t *indices,
                                      const float *values, fd_index k,
                                      const float *b, fd_index rs_b,
                                      fd_index nb, float *c, fd_index rs_c,
                                      const float *bias, int relu)
{
    const int tail = (int)(nb - 16 * (W - 1));
    const __mmask16 last = tail >= 16 ? (__mmask16)0xFFFF
                                      : (__mmask16)((1u << tail) - 1u);
    /* negative int32 indices become >= 2^31 and fail the test too */
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    const __m512 zero = _mm512_setzero_ps();
    __m512 bv[8];
    int w, s;

    FD_SP_UNROLL

    for (w = 0; w < W; w++)
        bv[w] = zero;
    if (bias != NULL) {
        FD_SP_UNROLL
        for (w = 0; w < W - 1; w++)
            bv[w] = _mm512_loadu_ps(bias + 16 * w);
        bv[W - 1] = _mm512_maskz_loadu_ps(last, bias + 16 * (W - 1));
    }
    for (fd_index i = r0; i < r1; i++) {
        __m512 acc[8][8];
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
                const __m512 v = _mm512_set1_ps(values[e + s]);
                FD_SP_UNROLL
                for (w = 0; w < W - 1; w++)
                    acc[s][w] = _mm512_fmadd_ps(v, _mm512_loadu_ps(bp + 16 * w),
                                                acc[s][w]);
                acc[s][W - 1] = _mm512_fmadd_ps(
                    v, _mm512_maskz_loadu_ps(last, bp + 16 * (W - 1)),
                    acc[s][W - 1]);
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
            const __m512 v = _mm512_set1_ps(values[e + s]);
            FD_SP_UNROLL
            for (w = 0; w < W - 1; w++)
                acc[s][w] = _mm512_fmadd_ps(v, _mm512_loadu_ps(bp + 16 * w),
                                            acc[s][w]);
            acc[s][W - 1] = _mm512_fmadd_ps(
                v, _mm512_maskz_loadu_ps(last, bp + 16 * (W - 1)),
                acc[s][W - 1]);
        }
        FD_SP_UNROLL
        for (s = 1; s < S; s++)
            FD_SP_UNROLL
            for (w = 0; w < W; w++)
                acc[0][w] = _mm512_add_ps(acc[0][w], acc[s][w]);
        FD_SP_UNROLL
        for (w = 0; w < W; w++) {
            __m512 x = acc[0][w];
            if (bias != NULL)
                x = _mm512_add_ps(x, bv[w]);
            if (relu)
                x = _mm512_max_ps(zero, x);   /* NaN in x: x */
            if (w < W - 1)
                _mm512_storeu_ps(ci + 16 * w, x);
            else
                _mm512_mask_storeu_ps(ci + 16 * w, last, x);
        }
    }
    return FD_OK;
}

#define FD_CSRMM_CASE(W, S)                                                   \
    case W:                                                                   \
        return fd_csrmm_rows_avx512(W, S, r0, r1, indptr, indices, values, k, \
                                    b, rs_b, nb, c, rs_c, bias, relu)

int fd_csrmm_block_avx512(fd_index r0, fd_index r1, const int64_t *indptr,
                          const int32_t *indices, const float *values,
                          fd_index k, const float *b, fd_index rs_b,
                          fd_index nb, float *c, fd_index rs_c,
                          const float *bias, int relu)
{
    switch ((nb + 15) / 16) {
    FD_CSRMM_CASE(1, 8);
    FD_CSRMM_CASE(2, 4);
    FD_CSRMM_CASE(3, 3);
    FD_CSRMM_CASE(4, 2);
    FD_CSRMM_CASE(5, 2);
    FD_CSRMM_CASE(6, 2);
    FD_CSRMM_CASE(7, 2);
    FD_CSRMM_CASE(8, 1);
    default:
        return nb <= 0 ? FD_OK : FD_EINVAL;
    }
}

/* ---- fd_csrtmm_f32: acc[c] += v * B[r] (see sparse_internal.h) ---------- */

FD_SP_INLINE int fd_csrtmm_rows_avx512(const int W, fd_index r0, fd_index r1,
                                       const int64_t *indptr,
                                       const int32_t *indices,
                                       const float *values, fd_index k,
                                       const float *b, fd_index rs_b,
                                       fd_index nb, float *acc, fd_index ld)
{
    const int tail = (int)(nb - 16 * (W - 1));
    const __mmask16 last = tail >= 16 ? (__mmask16)0xFFFF
                                      : (__mmask16)((1u << tail) - 1u);
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    int w;
    for (fd_index r = r0; r < r1; r++) {
        __m512 br[4];
        const float *bp = b + r * rs_b;
        FD_SP_UNROLL
        for (w = 0; w < W - 1; w++)
            br[w] = _mm512_loadu_ps(bp + 16 * w);
        br[W - 1] = _mm512_maskz_loadu_ps(last, bp + 16 * (W - 1));
        for (int64_t e = indptr[r]; e < indptr[r + 1]; e++) {
            const uint32_t col = (uint32_t)indices[e];
            if (col >= kk)
                return FD_EINVAL;
            float *ap = acc + (fd_index)col * ld;
            const __m512 v = _mm512_set1_ps(values[e]);
            /* acc rows are ld >= 16 W floats wide: whole vectors, aligned */
            FD_SP_UNROLL
            for (w = 0; w < W; w++)
                _mm512_store_ps(ap + 16 * w, _mm512_fmadd_ps(
                    v, br[w], _mm512_load_ps(ap + 16 * w)));
        }
    }
    return FD_OK;
}

int fd_csrtmm_block_avx512(fd_index r0, fd_index r1, const int64_t *indptr,
                           const int32_t *indices, const float *values,
                           fd_index k, const float *b, fd_index rs_b,
                           fd_index nb, float *acc, fd_index ld)
{
    switch ((nb + 15) / 16) {
    case 1: return fd_csrtmm_rows_avx512(1, r0, r1, indptr, indices, values, k, b,
                                         rs_b, nb, acc, ld);
    case 2: return fd_csrtmm_rows_avx512(2, r0, r1, indptr, indices, values, k, b,
                                         rs_b, nb, acc, ld);
    case 3: return fd_csrtmm_rows_avx512(3, r0, r1, indptr, indices, values, k, b,
                                         rs_b, nb, acc, ld);
    case 4: return fd_csrtmm_rows_avx512(4, r0, r1, indptr, indices, values, k, b,
                                         rs_b, nb, acc, ld);
    default:
        return nb <= 0 ? FD_OK : FD_EINVAL;
    }
}
