/*
 * gemm_internal.h -- private declarations shared by the files of fd_sgemm
 * (not part of the public interface):
 *
 *   gemm.c            the frame: kernel choice, planning (orientation,
 *                     blocks, thread grid), the five loops, the entry point
 *   gemm_config.h     every block size and threshold, with its measurement
 *   gemm_pack.c       packing of A and B panels, B^T for the dot path
 *   gemm_dot.c        the narrow-n dot-product path
 *   gemm_generic.c    the portable micro-kernel
 *   gemm_avx2.c       AVX2 + FMA micro-kernel, dot kernel, transposes
 *   gemm_avx512.c     AVX-512F micro-kernels, dot kernel, B^T transposes
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
 * C views with other strides go through a small temporary tile merged by
 * fd_merge_tile.  The kernels keep no state; they are safe to run from many
 * threads.
 */
#ifndef FASTDENSE_GEMM_INTERNAL_H
#define FASTDENSE_GEMM_INTERNAL_H

#include "fastdense.h"
#include "gemm_config.h"

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

#if defined(__GNUC__) || defined(__clang__)
#define FD_ALIGN64 __attribute__((aligned(64)))
#elif defined(_MSC_VER)
#define FD_ALIGN64 __declspec(align(64))
#else
#define FD_ALIGN64
#endif

/* Portable C kernel (gemm_generic.c), FD_GEMM_GENERIC_MR x _NR. */
void fd_sgemm_ukr_generic(fd_index kc, const float *restrict a,
                          const float *restrict b, fd_index ldb,
                          float *restrict c,
                          fd_index ldc, float alpha, float beta,
                          const float *restrict bias, int relu);

/* AVX2 + FMA kernel (gemm_avx2.c), built with -mavx2 -mfma. */
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
 * -mavx512dq -mfma: 12x32 and 8x32 (see gemm_config.h for which when). */
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

/* ---- shared by the frame, the packers and the dot path ------------------ */

static inline fd_index fd_cdiv(fd_index a, fd_index b) { return (a + b - 1) / b; }

/* Even split of [0, n) into parts; part t gets [*lo, *hi). */
static inline void fd_split(fd_index n, int parts, int t, fd_index *lo,
                            fd_index *hi)
{
    const fd_index q = n / parts, r = n % parts;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r ? 1 : 0);
}

/* 64-byte aligned buffers for the packed panels (gemm.c); bytes == 0 gives
 * a valid 64-byte block.  NULL when out of memory. */
void *fd_gemm_alloc(size_t bytes);
void fd_gemm_free(void *p);

/* C[0:mr, 0:nr] = alpha*T + beta*C (+bias)(relu), T row-major with ld ldt
 * (gemm.c).  The bias is per column (bias[j]) or, for the transposed
 * orientation, per row (bias[i]). */
void fd_merge_tile(const float *restrict t, fd_index ldt, fd_index mr,
                   fd_index nr, float *c, fd_index rs_c, fd_index cs_c,
                   float alpha, float beta, const float *bias, int bias_rows,
                   int relu);

/* ---- packing (gemm_pack.c) ----------------------------------------------
 *
 * level is the SIMD level (FD_SIMD_*) whose transposing copies may be used.
 * The vector index v is the row of A (nvec = MR) or the column of B
 * (nvec = NR); p runs along k.  Element (v, p) is base[V(v)*vs + P(p)*ps],
 * V(v) = vidx ? vidx[v0+v] : v0+v and P(p) = pidx ? pidx[p0+p] : p0+p. */

/* One panel: dst[p*nvec + v] = element (v, p) for v < nreal, p < kc, and 0
 * for nreal <= v < nvec. */
void fd_pack_panel(int level, int nvec, fd_index nreal, fd_index kc,
                   const float *base, fd_index vs, const int64_t *vidx,
                   fd_index v0, fd_index ps, const int64_t *pidx, fd_index p0,
                   float *restrict dst);

/* A whole block of nv vectors: ceil(nv / nvec) panels (the last one zero
 * padded), panel q at dst + q*nvec*kc. */
void fd_pack_block(int level, int nvec, fd_index nv, fd_index kc,
                   const float *base, fd_index vs, const int64_t *vidx,
                   fd_index v0, fd_index ps, const int64_t *pidx, fd_index p0,
                   float *restrict dst);

/* bt[j*ldbt + p] = B[p, j] for j < n, p < ldbt (zero for p >= k). */
void fd_pack_bt(int level, fd_index n, fd_index k, const float *b,
                fd_index rs_b, fd_index cs_b, float *restrict bt,
                fd_index ldbt);

/* ---- narrow n (gemm_dot.c) ----------------------------------------------
 *
 * C = alpha*A @ B + beta*C (+bias)(relu) for n <= FD_GEMM_NARROW_MAX_N and
 * A with contiguous rows (cs_a == 1, no a_cols), with the dot kernel `dot`
 * of SIMD level `level`: rows split over threads. */
int fd_gemm_dot(int level, fd_sgemm_dot_fn dot, fd_index m, fd_index n,
                fd_index k, float alpha, const float *a, fd_index rs_a,
                const int64_t *a_rows, const float *b, fd_index rs_b,
                fd_index cs_b, float beta, float *c, fd_index rs_c,
                fd_index cs_c, const float *bias, fd_index inc_bias,
                int relu, int nthreads);

#endif /* FASTDENSE_GEMM_INTERNAL_H */
