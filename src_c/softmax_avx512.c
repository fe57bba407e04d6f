/*
 * softmax_avx512.c -- the exp step of the softmax kernels with AVX-512F
 * (compiled with the AVX-512 flags of setup.py; softmax.c calls it when
 * fd_simd_level() allows): 16 floats per step, a masked tail, the sum
 * accumulated in double.  2^n is applied by vscalefps, which handles
 * overflow to inf and gradual underflow with one rounding.
 */
#include <immintrin.h>

#include "softmax_exp.h"
#include "softmax_internal.h"

static inline __m512 fd_exp16(__m512 x)
{
    /* max/min return their second operand when one is NaN: NaN stays NaN */
    x = _mm512_min_ps(_mm512_set1_ps(FD_EXP_HI),
                      _mm512_max_ps(_mm512_set1_ps(FD_EXP_LO), x));
    const __m512 n = _mm512_roundscale_ps(
        _mm512_mul_ps(x, _mm512_set1_ps(FD_EXP_LOG2E)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(FD_EXP_C1), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(FD_EXP_C2), r);
    __m512 p = _mm512_set1_ps(FD_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FD_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FD_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FD_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FD_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FD_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

double fd_exp_sum_avx512(fd_index n, float *buf)
{
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    fd_index j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = fd_exp16(_mm512_loadu_ps(buf + j));
        _mm512_storeu_ps(buf + j, e);
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (j < n) {
        const __mmask16 k = (__mmask16)((1u << (n - j)) - 1u);
        /* masked-off lanes load 0, and exp(0) = 1 must not be summed */
        const __m512 e = _mm512_maskz_mov_ps(k, fd_exp16(_mm512_maskz_loadu_ps(k, buf + j)));
        _mm512_mask_storeu_ps(buf + j, k, e);
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
}
