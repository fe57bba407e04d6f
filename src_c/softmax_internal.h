/*
 * softmax_internal.h -- the per-ISA exp step of the softmax kernels
 * (softmax_avx2.c, softmax_avx512.c) and the portable one in softmax.c.
 * Not public API.
 *
 * fd_exp_sum_*(n, buf): buf[j] = exp(buf[j]) for j < n, in place, and the
 * sum of the results in double.  Vector versions use the Cephes expf
 * scheme (see softmax_exp.h): within 2 ulp of the exact value, exp(-inf) =
 * 0, exp(NaN) = NaN, overflow to inf and gradual underflow as IEEE.
 */
#ifndef FD_SOFTMAX_INTERNAL_H
#define FD_SOFTMAX_INTERNAL_H

#include "fastdense.h"

typedef double (*fd_exp_sum_fn)(fd_index n, float *buf);

double fd_exp_sum_avx2(fd_index n, float *buf);
double fd_exp_sum_avx512(fd_index n, float *buf);

#endif
