/*
 * softmax_exp.h -- the constants of the vector expf (Cephes' expf,
 * S. L. Moshier), shared by softmax_avx2.c and softmax_avx512.c.
 *
 * exp(x) = 2^n * exp(r), n = round(x * log2(e)), r = x - n*ln(2) with ln(2)
 * split in two (C1 exact in float, so n*C1 is exact for |n| <= 2^15), and
 * exp(r) on |r| <= ln(2)/2 by the degree-7 polynomial 1 + r + r^2*P(r).
 * Cephes gives its peak relative error as ~1 ulp; the tests hold every
 * softmax output to the float32 bound of the NumPy expression.
 *
 * x is clamped to [FD_EXP_LO, FD_EXP_HI] first (NaN passes through): below
 * -104 the result rounds to 0 anyway, above 89 it overflows to inf.
 */
#ifndef FD_SOFTMAX_EXP_H
#define FD_SOFTMAX_EXP_H

#define FD_EXP_LO (-104.0f)
#define FD_EXP_HI 89.0f
#define FD_EXP_LOG2E 1.44269504088896341f
#define FD_EXP_C1 0.693359375f
#define FD_EXP_C2 (-2.12194440e-4f)
#define FD_EXP_P0 1.9875691500e-4f
#define FD_EXP_P1 1.3981999507e-3f
#define FD_EXP_P2 8.3334519073e-3f
#define FD_EXP_P3 4.1665795894e-2f
#define FD_EXP_P4 1.6666665459e-1f
#define FD_EXP_P5 5.0000001201e-1f

#endif
