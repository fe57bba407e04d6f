/*
 * sparse_internal.h -- the per-ISA block kernel of fd_csrmm_f32 (sparse.c,
 * sparse_avx2.c, sparse_avx512.c).  Not public API.
 *
 * A block kernel computes one column block of C for a range of rows of the
 * CSR matrix A, with the whole epilogue applied while the block is still in
 * registers:
 *
 *     for i in [r0, r1):
 *         acc = sum over e in [indptr[i], indptr[i+1]) of values[e] * B[indices[e], 0:nb]
 *         C[i, 0:nb] = relu(acc + bias[0:nb])     (bias may be NULL, relu 0/1)
 *
 * b points at column 0 of the block of B (B[p, j] = b[p*rs_b + j], unit
 * column stride), c at C[r0, 0] of the block (row i at c + (i-r0)*rs_c,
 * unit column stride), bias at the block's first bias value (contiguous).
 * nb is at most the ISA's FD_CSRMM_*_NB; every element of C[r0:r1, 0:nb] is
 * written exactly once, and B is only read in columns [0, nb) (masked
 * vector loads for the tail).  Entries are added in their stored order,
 * spread over a fixed number of interleaved accumulator sets ("streams":
 * entry t of a row goes to stream t % S, then the streams are added in
 * order), so the result depends on the data only -- never on the thread
 * split or the block the rows were given in.
 *
 * The caller has checked that every row range lies inside
 * [indptr[0], indptr[m]]; the kernel checks each column index against k
 * (one compare per entry and block, free beside the vector work) and
 * returns FD_EINVAL at the first bad one (C then holds garbage), else FD_OK.
 */
#ifndef FD_SPARSE_INTERNAL_H
#define FD_SPARSE_INTERNAL_H

#include <stdint.h>

#include "fastdense.h"

typedef int (*fd_csrmm_block_fn)(fd_index r0, fd_index r1,
                                 const int64_t *indptr,
                                 const int32_t *indices,
                                 const float *values, fd_index k,
                                 const float *b, fd_index rs_b, fd_index nb,
                                 float *c, fd_index rs_c,
                                 const float *bias, int relu);

/* Widest block (floats) of each build: 8 accumulator vectors per stream. */
#ifndef FD_CSRMM_GENERIC_NB
#define FD_CSRMM_GENERIC_NB 32
#endif
#ifndef FD_CSRMM_AVX2_NB
#define FD_CSRMM_AVX2_NB 64
#endif
#ifndef FD_CSRMM_AVX512_NB
#define FD_CSRMM_AVX512_NB 128
#endif
#define FD_CSRMM_MAX_NB 128

int fd_csrmm_block_generic(fd_index r0, fd_index r1, const int64_t *indptr,
                           const int32_t *indices, const float *values,
                           fd_index k, const float *b, fd_index rs_b,
                           fd_index nb, float *c, fd_index rs_c,
                           const float *bias, int relu);
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
int fd_csrmm_block_avx2(fd_index r0, fd_index r1, const int64_t *indptr,
                        const int32_t *indices, const float *values,
                        fd_index k, const float *b, fd_index rs_b,
                        fd_index nb, float *c, fd_index rs_c,
                        const float *bias, int relu);
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
int fd_csrmm_block_avx512(fd_index r0, fd_index r1, const int64_t *indptr,
                          const int32_t *indices, const float *values,
                          fd_index k, const float *b, fd_index rs_b,
                          fd_index nb, float *c, fd_index rs_c,
                          const float *bias, int relu);
#endif

/* full unrolling of the loops over the (constant) vectors and streams, so
 * that the accumulators live in registers */
/*
 * The block kernel of fd_csrtmm_f32 (C = A^T @ B from the CSR of A): for the
 * rows r in [r0, r1) and their entries e,
 *
 *     acc[indices[e]*ld + 0:nb] += values[e] * B[r, 0:nb]
 *
 * (b points at column 0 of the block of B, unit column stride, row stride
 * rs_b; acc is k x ld, ld a multiple of 16 floats, 64-byte aligned).  B's
 * row is loaded once into registers and each entry is one read-modify-write
 * of its accumulator row.  Entries are added in row order, then stored
 * order.  FD_EINVAL at the first index outside [0, k).  nb <= FD_CSRTMM_NB.
 */
typedef int (*fd_csrtmm_block_fn)(fd_index r0, fd_index r1,
                                  const int64_t *indptr,
                                  const int32_t *indices,
                                  const float *values, fd_index k,
                                  const float *b, fd_index rs_b, fd_index nb,
                                  float *acc, fd_index ld);
#define FD_CSRTMM_NB 64
int fd_csrtmm_block_generic(fd_index r0, fd_index r1, const int64_t *indptr,
                            const int32_t *indices, const float *values,
                            fd_index k, const float *b, fd_index rs_b,
                            fd_index nb, float *acc, fd_index ld);
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
int fd_csrtmm_block_avx2(fd_index r0, fd_index r1, const int64_t *indptr,
                         const int32_t *indices, const float *values,
                         fd_index k, const float *b, fd_index rs_b,
                         fd_index nb, float *acc, fd_index ld);
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
int fd_csrtmm_block_avx512(fd_index r0, fd_index r1, const int64_t *indptr,
                           const int32_t *indices, const float *values,
                           fd_index k, const float *b, fd_index rs_b,
                           fd_index nb, float *acc, fd_index ld);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define FD_SP_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FD_SP_UNROLL _Pragma("clang loop unroll(full)")
#else
#define FD_SP_UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FD_SP_INLINE static inline __attribute__((always_inline))
#else
#define FD_SP_INLINE static inline
#endif

#endif
