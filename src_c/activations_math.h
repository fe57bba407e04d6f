/*
 * activations_math.h -- float32 exp, expm1, log1p, the normal CDF and PDF,
 * written so that the compiler vectorises loops over them (not public API).
 *
 * Design: every function is straight-line float arithmetic, selects
 * (c ? a : b), and bit casts: no branches, no calls into libm, no integer
 * conversion of floats (undefined for NaN).  activations_rows.h calls them
 * in unit-stride loops that GCC and clang vectorise at -O3 for whatever ISA
 * the file is built with (SSE2 for the portable build, AVX2, AVX-512): one
 * source, and, as floating-point contraction is off (-ffp-contract=off in
 * setup.py), the same bits at every SIMD level.
 *
 * exp is Cephes' expf (S. L. Moshier), the scheme and constants of
 * softmax_exp.h (included, not copied): x = n ln2 + r, |r| <= ln2/2, with
 * ln2 split in C1 + C2 (C1 has 9 bits, so n*C1 is exact), and
 * exp(r) = 1 + r + r^2 P(r).  n is rounded with the 1.5*2^23 trick and 2^n
 * built from the bits of n + 1.5*2^23 + 127, in two normal factors so that
 * gradual underflow rounds once.  expm1 (x <= 0) keeps q = exp(r) - 1 apart:
 * expm1(x) = 2^n q + (2^n - 1), exact at n = 0 and with no cancellation for
 * n < 0.  log1p on [0, 1] is Cephes' logf on w = 1 + t plus the rounding
 * correction (t - (w - 1)) / w.  The normal CDF uses the Chebyshev fit of
 * erfc of Numerical Recipes (erfcc, fractional error < 1.2e-7 everywhere)
 * with exp(-x^2/2) taken from the exact split x^2 = hi + lo (Veltkamp; no
 * FMA needed), so large |x| loses nothing to the rounding of x^2.
 * Measured against double libm over the float32 range (tests/test_activations.py
 * states the bounds): exp, expm1, log1p <= 2 ulp; Phi <= 8 ulp.
 */
#ifndef FD_ACTIVATIONS_MATH_H
#define FD_ACTIVATIONS_MATH_H

#include <stdint.h>
#include <string.h>

#include "softmax_exp.h"

#define FD_M_MAGIC 12582912.0f          /* 1.5 * 2^23 */
#define FD_M_INF (1.0f / 0.0f)

static inline float fd_m_bits2f(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline uint32_t fd_m_f2bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* x rounded to an integer, ties to even, for |x| < 2^22 (NaN stays NaN) */
static inline float fd_m_round(float x) { return (x + FD_M_MAGIC) - FD_M_MAGIC; }

/* 2^n for an integer-valued n in [-126, 127]: the low bits of
 * n + 1.5*2^23 + 127 are n + 127, shifted into the exponent field. */
static inline float fd_m_pow2i(float n)
{
    return fd_m_bits2f(fd_m_f2bits(n + (FD_M_MAGIC + 127.0f)) << 23);
}

static inline float fd_m_abs(float x) { return fd_m_bits2f(fd_m_f2bits(x) & 0x7fffffffu); }

/* |mag| with the sign of s */
static inline float fd_m_copysign(float mag, float s)
{
    return fd_m_bits2f((fd_m_f2bits(mag) & 0x7fffffffu) | (fd_m_f2bits(s) & 0x80000000u));
}

/* clamp that keeps NaN (both compares are false for NaN) */
static inline float fd_m_clamp(float x, float lo, float hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* exp(r) - 1 for |r| <= ln2/2: r + r^2 P(r) */
static inline float fd_m_expm1_reduced(float r)
{
    float p = FD_EXP_P0;
    p = p * r + FD_EXP_P1;
    p = p * r + FD_EXP_P2;
    p = p * r + FD_EXP_P3;
    p = p * r + FD_EXP_P4;
    p = p * r + FD_EXP_P5;
    return p * (r * r) + r;
}

/* exp(hi + lo) with lo's bits kept, |lo| <= 2: n comes from hi + lo, and lo
 * is added after the exact reduction hi - n*C1 (Sterbenz), so the rounding
 * of hi + lo (hi = -x^2/2 is large in the normal PDF) costs nothing.  hi is
 * clamped to [FD_EXP_LO, FD_EXP_HI] (so n stays in [-153, 131] and both
 * factors of 2^n are normal numbers). */
static inline float fd_m_exp_hl(float hi, float lo)
{
    const float h = fd_m_clamp(hi, FD_EXP_LO, FD_EXP_HI);
    const float n = fd_m_round((h + lo) * FD_EXP_LOG2E);
    const float r = ((h - n * FD_EXP_C1) - n * FD_EXP_C2) + lo;
    const float p = fd_m_expm1_reduced(r) + 1.0f;
    const float n1 = fd_m_round(n * 0.5f);
    return (p * fd_m_pow2i(n1)) * fd_m_pow2i(n - n1);
}

/* exp(x): overflow to inf above 88.72, gradual underflow, exp(-inf) = 0 */
static inline float fd_m_exp(float x) { return fd_m_exp_hl(x, 0.0f); }

/* expm1(x) for x <= 0 (or NaN): 2^n q + (2^n - 1) */
static inline float fd_m_expm1n(float x)
{
    const float xc = x < -30.0f ? -30.0f : x;   /* expm1(-30) = -1 in float */
    const float n = fd_m_round(xc * FD_EXP_LOG2E);  /* [-43, 0] */
    const float r = (xc - n * FD_EXP_C1) - n * FD_EXP_C2;
    const float q = fd_m_expm1_reduced(r);
    const float s = fd_m_pow2i(n);
    return s * q + (s - 1.0f);
}

/* log(w) for w in [1, 2] (Cephes logf without the frexp) */
static inline float fd_m_log12(float w)
{
    const int big = w > 1.41421356f;
    const float x = big ? w * 0.5f - 1.0f : w - 1.0f;   /* exact */
    const float e = big ? 1.0f : 0.0f;
    const float z = x * x;
    float y = 7.0376836292e-2f;
    y = y * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * z;
    y = y + e * FD_EXP_C2;
    y = y - 0.5f * z;
    return (x + y) + e * FD_EXP_C1;
}

/* log1p(t) for t in [0, 1] (or NaN) */
static inline float fd_m_log1p01(float t)
{
    const float w = 1.0f + t;
    const float c = t - (w - 1.0f);     /* exact: the part of t lost in w */
    return fd_m_log12(w) + c / w;
}

/* x^2 = *hi + *lo exactly (Veltkamp split; |x| <= 2^60) */
static inline void fd_m_square2(float x, float *hi, float *lo)
{
    const float c = 4097.0f * x;
    const float xh = c - (c - x);
    const float xl = x - xh;
    *hi = x * x;
    *lo = ((xh * xh - *hi) + 2.0f * xh * xl) + xl * xl;
}

/* The standard normal CDF Phi(x) and PDF phi(x) of x clamped to [-15, 15]
 * (outside, Phi is 0 or 1 and phi 0 in float32). */
static inline void fd_m_normal(float x, float *cdf, float *pdf)
{
    const float xc = fd_m_clamp(x, -15.0f, 15.0f);
    float hi, lo;
    fd_m_square2(xc, &hi, &lo);
    /* the fit in double: its ten-term Horner sum would cost ~5 ulp in float */
    const double z = (double)fd_m_abs(xc) * 0.70710678118654752440;
    const double t = 1.0 / (1.0 + 0.5 * z);
    double pd = 0.17087277;
    pd = pd * t - 0.82215223;
    pd = pd * t + 1.48851587;
    pd = pd * t - 1.13520398;
    pd = pd * t + 0.27886807;
    pd = pd * t - 0.18628806;
    pd = pd * t + 0.09678418;
    pd = pd * t + 0.37409196;
    pd = pd * t + 1.00002368;
    pd = pd * t - 1.26551223;
    const float p = (float)pd;
    /* erfc(z) = t exp(-z^2 + p), -z^2 = -(hi + lo)/2 */
    const float half_erfc = (float)(0.5 * t) * fd_m_exp_hl(-0.5f * hi, p - 0.5f * lo);
    *cdf = xc < 0.0f ? half_erfc : 1.0f - half_erfc;
    *pdf = 0.398942280401432678f * fd_m_exp_hl(-0.5f * hi, -0.5f * lo);
}

/* the logistic function s(t) and s(t)(1 - s(t)), without overflow:
 * e = exp(-|t|) in [0, 1], a = 1/(1 + e); s = a or e*a, s(1 - s) = e a^2 */
static inline float fd_m_sigmoid2(float t, float *ds)
{
    const float e = fd_m_exp(-fd_m_abs(t));
    const float a = 1.0f / (1.0f + e);
    *ds = e * a * a;
    return t < 0.0f ? e * a : a;
}

static inline float fd_m_sigmoid(float t)
{
    float ds;
    return fd_m_sigmoid2(t, &ds);
}

/* ---- the activations, one element --------------------------------------
 * fd_a_NAME(z[, param]) is the forward value; fd_a_NAME_d(src[, param]) the
 * derivative dy/dz from src = y (the output) or z (the pre-activation), as
 * fastdense.h says per kernel.  Limits are exact: +-inf give the limits of
 * the function and of its derivative (never inf * 0 = NaN); NaN stays NaN.
 */

/* SELU (Klambauer et al. 2017), Keras's constants; SA = scale * alpha */
#define FD_SELU_ALPHA 1.6732632423543772848170429916717f
#define FD_SELU_SCALE 1.0507009873554804934193349852946f
#define FD_SELU_SA 1.7580993408473768599402175208123f
/* the tanh form of GELU: 0.5 z (1 + tanh(u)) = z s(2u), 2u = K2 (z + K1 z^3) */
#define FD_GELU_K2 1.5957691216057307117597842397375f   /* 2 sqrt(2/pi) */
#define FD_GELU_K1 0.044715f

/* elu: z > 0 ? z : alpha expm1(z); from y: 1 or y + alpha (alpha >= 0) */
static inline float fd_a_elu(float z, float alpha)
{
    const float zn = z > 0.0f ? 0.0f : z;
    return z > 0.0f ? z : alpha * fd_m_expm1n(zn);
}
static inline float fd_a_elu_d(float y, float alpha) { return y > 0.0f ? 1.0f : y + alpha; }

static inline float fd_a_selu(float z)
{
    const float zn = z > 0.0f ? 0.0f : z;
    return z > 0.0f ? FD_SELU_SCALE * z : FD_SELU_SA * fd_m_expm1n(zn);
}
static inline float fd_a_selu_d(float y) { return y > 0.0f ? FD_SELU_SCALE : y + FD_SELU_SA; }

/* gelu: z Phi(z); from z: Phi(z) + z phi(z) */
static inline float fd_a_gelu(float z)
{
    float c, p;
    fd_m_normal(z, &c, &p);
    return c == 0.0f ? -0.0f : z * c;       /* z = -inf: the limit -0 */
}
static inline float fd_a_gelu_d(float z)
{
    float c, p;
    fd_m_normal(z, &c, &p);
    return p == 0.0f ? c : c + z * p;       /* z = +-inf: 1 or 0 */
}

/* gelu, tanh form: z s(2u); from z: s + z (2u)' s (1 - s).  Beyond |z| = 20
 * s is 0 or 1 and s(1 - s) 0 in float32, so z is clamped there first. */
static inline float fd_a_gelu_tanh(float z)
{
    const float x = fd_m_clamp(z, -20.0f, 20.0f);
    const float s = fd_m_sigmoid(FD_GELU_K2 * (x + FD_GELU_K1 * (x * x * x)));
    return s == 0.0f ? -0.0f : z * s;
}
static inline float fd_a_gelu_tanh_d(float z)
{
    const float x = fd_m_clamp(z, -20.0f, 20.0f);
    float ds;
    const float s = fd_m_sigmoid2(FD_GELU_K2 * (x + FD_GELU_K1 * (x * x * x)), &ds);
    const float du = FD_GELU_K2 * (1.0f + (3.0f * FD_GELU_K1) * (x * x));
    return s + x * (du * ds);
}

/* leaky_relu: z > 0 ? z : alpha z; from y: 1 or alpha (alpha >= 0) */
static inline float fd_a_leaky_relu(float z, float alpha) { return z > 0.0f ? z : alpha * z; }
static inline float fd_a_leaky_relu_d(float y, float alpha) { return y > 0.0f ? 1.0f : alpha; }

/* softplus: max(z, 0) + log1p(exp(-|z|)); from y: s(z) = 1 - exp(-y) */
static inline float fd_a_softplus(float z)
{
    const float m = z < 0.0f ? 0.0f : z;    /* NaN stays */
    return m + fd_m_log1p01(fd_m_exp(-fd_m_abs(z)));
}
static inline float fd_a_softplus_d(float y) { return -fd_m_expm1n(-y); }

/* swish = silu: z s(z); from z: s + z s (1 - s) */
static inline float fd_a_swish(float z)
{
    const float s = fd_m_sigmoid(z);
    return s == 0.0f ? -0.0f : z * s;
}
static inline float fd_a_swish_d(float z)
{
    float ds;
    const float s = fd_m_sigmoid2(z, &ds);
    return ds == 0.0f ? s : s + z * ds;
}

/* exponential: exp(z); from y: y */
static inline float fd_a_exponential(float z) { return fd_m_exp(z); }

/* hard_sigmoid: clip(slope z + 0.5, 0, 1); from y: slope inside (0, 1) */
static inline float fd_a_hard_sigmoid(float z, float slope)
{
    return fd_m_clamp(slope * z + 0.5f, 0.0f, 1.0f);
}
static inline float fd_a_hard_sigmoid_d(float y, float slope)
{
    return (y <= 0.0f || y >= 1.0f) ? 0.0f : slope;
}

/* softsign: z / (1 + |z|); from z: 1 / (1 + |z|)^2 */
static inline float fd_a_softsign(float z)
{
    const float a = fd_m_abs(z);
    return a == FD_M_INF ? fd_m_copysign(1.0f, z) : z / (1.0f + a);
}
static inline float fd_a_softsign_d(float z)
{
    const float a = 1.0f / (1.0f + fd_m_abs(z));
    return a * a;
}

/* sigmoid; from y: y (1 - y) */
static inline float fd_a_sigmoid(float z) { return fd_m_sigmoid(z); }
static inline float fd_a_sigmoid_d(float y) { return y * (1.0f - y); }

/* tanh: sign(z) (-e) / (2 + e), e = expm1(-2|z|); from y: 1 - y^2 */
static inline float fd_a_tanh(float z)
{
    const float e = fd_m_expm1n(-2.0f * fd_m_abs(z));
    return fd_m_copysign(-e / (2.0f + e), z);
}
static inline float fd_a_tanh_d(float y) { return 1.0f - y * y; }

#endif
