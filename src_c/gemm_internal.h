/*
 * gemm_internal.h -- private declarations shared by gemm.c, gemm_avx2.c and
 * gemm_avx512.c (not part of the public interface).
 *
 * Design: every micro-kernel computes one MR x NR tile of C from a packed A
 * micro-panel (MR x kc, stored column by column: a[p*MR + i]) and a B
 * micro-panel (kc x NR, row by row: b[p*ldb + j]; ldb = NR when packed and
 * zero padded, or B's own row stride when its rows are read in place), and
 * applies the whole epilogue while the tile is still in registers:
 *
 *     C = alpha * (A @ B) + beta * C      (C is not read when beta == 0)
 *     C += bias[0:NR]                     (when bias != NULL)
 *     C = C < 0 ? 0 : C                   (when relu != 0; NaN stays NaN)
 *
 * C is addressed as c[i*ldc + j] (unit column stride).  Partial tiles and
 * C views with other strides go through a small temporary tile in gemm.c.
 * The kernels keep no state; they are safe to run from many threads.
 */
#ifndef FASTDENSE_GEMM_INTERNAL_H
#define FASTDENSE_GEMM_INTERNAL_H

#include "fastdense.h"

/* For the SIMD kernel bodies: full unrolling of loops with constant trip
 * counts, and forced inlining of the templates they instantiate. */
#if defined(__GNUC__) && !defined(__clang__)
#define FD_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FD_UNROLL _Pragma("clang loop unroll(full)")
#else
#define FD_UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FD_INLINE static inline __attribute__((always_inline))
#else
#define FD_INLINE static inline
#endif

typedef void (*fd_sgemm_ukr_fn)(fd_index kc, const float *restrict a,
                                const float *restrict b, fd_index ldb,
                                float *restrict c,
                                fd_index ldc, float alpha, float beta,
                                const float *restrict bias, int relu);

/* Largest tile any kernel uses (sizes the temporary tile on the stack). */
#define FD_GEMM_MR_MAX 16
#define FD_GEMM_NR_MAX 32

/* Portable C kernel (gemm.c). */
#define FD_GEMM_GENERIC_MR 4
#define FD_GEMM_GENERIC_NR 8

/* AVX2 + FMA kernel (gemm_avx2.c), built with -mavx2 -mfma. */
#define FD_GEMM_AVX2_MR 6
#define FD_GEMM_AVX2_NR 16
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
void fd_sgemm_ukr_avx2_6x16(fd_index kc, const float *restrict a,
                            const float *restrict b, fd_index ldb,
                            float *restrict c,
                            fd_index ldc, float alpha, float beta,
                            const float *restrict bias, int relu);
/* Transposing pack helpers: dst[p*ld + i] = rows[i][p] for p < 8*np8 and
 * i < 8 (t8) or i < 4 (t4); each source row is contiguous in p. */
void fd_pack_t8_avx2(fd_index np8, const float *const *rows,
                     float *restrict dst, fd_index ld);
void fd_pack_t4_avx2(fd_index np8, const float *const *rows,
                     float *restrict dst, fd_index ld);
#endif

/* AVX-512F kernels (gemm_avx512.c), built with -mavx512f -mavx512vl
 * -mavx512dq -mfma: 8x32 when m is a multiple of 8 (128, 784, 10000: no
 * padded rows), 12x32 otherwise (e.g. the 10 rows of a transposed n = 10
 * product); full tiles run at the same speed. */
#define FD_GEMM_AVX512_NR 32
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
void fd_sgemm_ukr_avx512_12x32(fd_index kc, const float *restrict a,
                               const float *restrict b, fd_index ldb,
                               float *restrict c,
                               fd_index ldc, float alpha, float beta,
                               const float *restrict bias, int relu);
void fd_sgemm_ukr_avx512_8x32(fd_index kc, const float *restrict a,
                              const float *restrict b, fd_index ldb,
                              float *restrict c,
                              fd_index ldc, float alpha, float beta,
                              const float *restrict bias, int relu);
#endif

/* Narrow n, dot-product form: C[i, 0:n] = epilogue(a[i] . bt[0:n]) for
 * i < mr, where a[i] points at row i of A (contiguous along k) and bt is the
 * n x k transpose of B (row stride ldbt, a multiple of 16, 64-byte aligned).
 * n <= FD_GEMM_DOT_MAX_N; C has unit column stride and row stride ldc.  The
 * epilogue is the micro-kernels' one (alpha, beta, bias[0:n], relu). */
#define FD_GEMM_DOT_MAX_N 16
typedef void (*fd_sgemm_dot_fn)(fd_index mr, fd_index n, fd_index k,
                                const float *const *a,
                                const float *restrict bt, fd_index ldbt,
                                float *restrict c, fd_index ldc,
                                float alpha, float beta,
                                const float *restrict bias, int relu);
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
void fd_sgemm_dot_avx512(fd_index mr, fd_index n, fd_index k,
                         const float *const *a, const float *restrict bt,
                         fd_index ldbt, float *restrict c, fd_index ldc,
                         float alpha, float beta, const float *restrict bias,
                         int relu);
/* bt[j*ldbt + p] = b[p*rs_b + j] (B with unit column stride) for j < n <= 16
 * and p < ldbt (a multiple of 16), zero for p >= k; bt 64-byte aligned. */
void fd_pack_bt_avx512(fd_index k, fd_index n, const float *b, fd_index rs_b,
                       float *restrict bt, fd_index ldbt);
#endif
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
void fd_sgemm_dot_avx2(fd_index mr, fd_index n, fd_index k,
                       const float *const *a, const float *restrict bt,
                       fd_index ldbt, float *restrict c, fd_index ldc,
                       float alpha, float beta, const float *restrict bias,
                       int relu);
#endif

#endif /* FASTDENSE_GEMM_INTERNAL_H */
