/*
 * softmax_avx2.c -- the exp step of the softmax kernels with AVX2 + FMA
 * (compiled with the AVX2 flags of setup.py; softmax.c calls it when
 * fd_simd_level() allows): 8 floats per step, a masked tail, the sum in
 * double.  2^n is applied as two exact power-of-two factors 2^(n/2) and
 * 2^(n - n/2), both normal floats for every n the clamp allows, so the
 * second product rounds once (gradual underflow) or overflows to inf.
 */
#include <immintrin.h>

#include "softmax_exp.h"
#include "softmax_internal.h"

static inline __m256 fd_pow2i(__m256i e)   /* 2^e for -126 <= e <= 127 */
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
}

static inline __m256 fd_exp8(__m256 x)
{
    /* max/min return their second operand when one is NaN: NaN stays NaN */
    x = _mm256_min_ps(_mm256_set1_ps(FD_EXP_HI),
                      _mm256_max_ps(_mm256_set1_ps(FD_EXP_LO), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(FD_EXP_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(FD_EXP_C1), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(FD_EXP_C2), r);
    __m256 p = _mm256_set1_ps(FD_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FD_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FD_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FD_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FD_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FD_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    /* n in [-150, 129] (NaN: the integer is INT_MIN, the result stays NaN) */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    return _mm256_mul_ps(_mm256_mul_ps(p, fd_pow2i(n1)), fd_pow2i(n2));
}

static inline void fd_add8_pd(__m256d *acc0, __m256d *acc1, __m256 e)
{
    *acc0 = _mm256_add_pd(*acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    *acc1 = _mm256_add_pd(*acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

double fd_exp_sum_avx2(fd_index n, float *buf)
{
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    fd_index j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = fd_exp8(_mm256_loadu_ps(buf + j));
        _mm256_storeu_ps(buf + j, e);
        fd_add8_pd(&acc0, &acc1, e);
    }
    if (j < n) {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - j)), idx);
        /* masked-off lanes load 0, and exp(0) = 1 must not be summed */
        const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(k),
                                       fd_exp8(_mm256_maskload_ps(buf + j, k)));
        _mm256_maskstore_ps(buf + j, k, e);
        fd_add8_pd(&acc0, &acc1, e);
    }
    {
        const __m256d s = _mm256_add_pd(acc0, acc1);
        const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
        return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    }
}
