/*
 * fastdense.h -- the C kernel interface of fastdense.
 *
 * Design: plain C99, no Python headers.  Every kernel works on float32 data
 * described by a base pointer, sizes and *element* strides (which may be zero
 * or negative), so C-order, Fortran-order, transposed, strided and broadcast
 * (stride 0) views all go through the same code without copies.  Outputs are
 * owned by the caller.  Every kernel returns an int status (FD_OK or a
 * negative FD_E* code) and takes the number of OpenMP threads to use for this
 * call; nothing is kept between calls (no global mutable state), so kernels
 * may run concurrently from many threads with the GIL released.
 *
 * 2-D elementwise kernels see an m x n matrix: element (i, j) of x lives at
 * x[i*rs_x + j*cs_x].  A 1-D vector of length n is the 1 x n case.
 *
 * Aliasing: an output may be *exactly* the same memory (same base, same
 * strides) as an input of the same kernel (relu(x, out=x)); partially
 * overlapping outputs are the caller's job (ops.py copies first).
 */
#ifndef FASTDENSE_H
#define FASTDENSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef ptrdiff_t fd_index;     /* sizes and element strides */

#define FD_OK       0
#define FD_EINVAL  (-1)          /* bad argument (size < 0, label out of range...) */
#define FD_ENOMEM  (-2)          /* a workspace could not be allocated */

/* Elementwise work below this many elements runs on one thread.  Such a
 * pass takes microseconds on one core; a parallel region costs 1-5 us of
 * fork/join when the machine is idle and a whole scheduler time slice
 * (milliseconds) whenever another process holds one of the cores. */
#define FD_PAR_MIN_ELEMS 131072

/* ---- runtime configuration (cpu.c) ------------------------------------ */

/* SIMD levels, in increasing order: every run-time selector compares
 * against these names (never bare 0/1/2). */
#define FD_SIMD_GENERIC 0       /* portable C */
#define FD_SIMD_AVX2    1       /* AVX2 + FMA */
#define FD_SIMD_AVX512  2       /* AVX-512 F/VL/DQ */

/* The SIMD level the kernels use on this CPU: one of FD_SIMD_*.  Detected on each call (cheap: cpuid is cached by the CPU
 * support routines of the compiler, not by us). */
int fd_simd_level(void);
/* "avx512", "avx2", "generic" */
const char *fd_simd_name(void);
/* 1 when the library was compiled with OpenMP, else 0. */
int fd_openmp_enabled(void);

/* ---- matrix product (gemm.c, gemm_avx2.c, gemm_avx512.c) -------------- */

/*
 * C = alpha * op(A) @ B + beta * C, then C += bias (per column), then
 * C = max(C, 0) when relu != 0 (NaN stays NaN).
 *
 *   A is m x k: element (i, p) = a[ri(i)*rs_a + ci(p)*cs_a] where
 *     ri(i) = a_rows ? a_rows[i] : i  and  ci(p) = a_cols ? a_cols[p] : p.
 *     (a_rows gathers a shuffled mini-batch while packing; a_cols does the
 *     same for the transposed batch X_batch^T of the weight gradient.)
 *   B is k x n, C is m x n, bias is n floats at bias[j*inc_bias] or NULL.
 *   When beta == 0, C is not read (NaN/garbage in C does not propagate).
 *   k == 0 gives C = beta*C (+bias, relu).
 *
 * Index arrays must be in range; the caller checks them.
 */
int fd_sgemm(fd_index m, fd_index n, fd_index k, float alpha,
             const float *a, fd_index rs_a, fd_index cs_a,
             const int64_t *a_rows, const int64_t *a_cols,
             const float *b, fd_index rs_b, fd_index cs_b,
             float beta, float *c, fd_index rs_c, fd_index cs_c,
             const float *bias, fd_index inc_bias, int relu, int nthreads);

/* ---- elementwise and row kernels (elementwise.c, softmax.c) ----------- */

/* out = x + y (m x n; broadcasting is expressed with stride-0 views). */
int fd_add_f32(fd_index m, fd_index n,
               const float *x, fd_index rs_x, fd_index cs_x,
               const float *y, fd_index rs_y, fd_index cs_y,
               float *out, fd_index rs_o, fd_index cs_o, int nthreads);

/* out = max(x, 0), NaN stays NaN (as np.maximum). */
int fd_relu_f32(fd_index m, fd_index n,
                const float *x, fd_index rs_x, fd_index cs_x,
                float *out, fd_index rs_o, fd_index cs_o, int nthreads);

/* out = grad where y > 0 else 0 (y is the relu *output*).  When bias_grad is
 * not NULL it also receives the column sums of out (n floats at
 * bias_grad[j*inc_bg]) in the same pass. */
int fd_relu_backward_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         const float *y, fd_index rs_y, fd_index cs_y,
                         float *out, fd_index rs_o, fd_index cs_o,
                         float *bias_grad, fd_index inc_bg, int nthreads);

/* out[j] = sum_i grad[i, j] (the bias gradient), n floats at out[j*inc_o]. */
int fd_bias_grad_f32(fd_index m, fd_index n,
                     const float *grad, fd_index rs_g, fd_index cs_g,
                     float *out, fd_index inc_o, int nthreads);

/* Row softmax: out[i, :] = exp(x[i,:] - max) / sum(exp(x[i,:] - max)).
 * A row of all -inf gives NaN (as the NumPy expression); +inf gives NaN. */
int fd_softmax_f32(fd_index m, fd_index n,
                   const float *x, fd_index rs_x, fd_index cs_x,
                   float *out, fd_index rs_o, fd_index cs_o, int nthreads);

/*
 * Softmax + categorical cross-entropy from logits, one pass per row.
 *   Targets: either y (m x n float, one-hot or any distribution) or
 *   labels (m int64 class indices, sparse); exactly one is non-NULL.
 *   probs (nullable): receives the softmax.
 *   grad  (nullable): receives (softmax - y) * scale  (scale = 1/N for a mean).
 *   *loss_sum = sum over rows of -sum_j y_ij * log_softmax_ij (double).
 *   *n_correct = number of rows where argmax(logits) == argmax(y) (or label);
 *   ties go to the first index, as np.argmax.
 * Returns FD_EINVAL if a label is < 0 or >= n (nothing useful written).
 */
int fd_softmax_xent_f32(fd_index m, fd_index n,
                        const float *logits, fd_index rs_x, fd_index cs_x,
                        const float *y, fd_index rs_y, fd_index cs_y,
                        const int64_t *labels,
                        float *probs, fd_index rs_p, fd_index cs_p,
                        float *grad, fd_index rs_g, fd_index cs_g,
                        float scale, double *loss_sum, int64_t *n_correct,
                        int nthreads);

/* ---- optimizer updates (optim.c), in place, one pass ------------------ */

/* accum = rho*accum + (1-rho)*grad^2;  param -= lr*grad/(sqrt(accum)+eps) */
int fd_rmsprop_update_f32(fd_index m, fd_index n,
                          float *param, fd_index rs_p, fd_index cs_p,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          float *accum, fd_index rs_a, fd_index cs_a,
                          float lr, float rho, float eps, int nthreads);

/* Keras 2.3.1 SGD.  velocity may be NULL when momentum == 0:
 *   v = momentum*v - lr*g
 *   param += nesterov ? momentum*v - lr*g : v           */
int fd_sgd_update_f32(fd_index m, fd_index n,
                      float *param, fd_index rs_p, fd_index cs_p,
                      const float *grad, fd_index rs_g, fd_index cs_g,
                      float *velocity, fd_index rs_v, fd_index cs_v,
                      float lr, float momentum, int nesterov, int nthreads);

/* Keras 2.3.1 Adam; lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t) is the caller's:
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  param -= lr_t*m/(sqrt(v)+eps) */
int fd_adam_update_f32(fd_index m, fd_index n,
                       float *param, fd_index rs_p, fd_index cs_p,
                       const float *grad, fd_index rs_g, fd_index cs_g,
                       float *m1, fd_index rs_m, fd_index cs_m,
                       float *v2, fd_index rs_v, fd_index cs_v,
                       float lr_t, float beta1, float beta2, float eps,
                       int nthreads);

/* ---- sparse inputs (sparse.c, sparse_avx2.c, sparse_avx512.c) ---------- */

/*
 * CSR: an m x k matrix whose row i holds the entries e in
 * [indptr[i], indptr[i+1]): column indices[e] (int32), value values[e].
 * indptr is int64 and holds ABSOLUTE offsets into indices/values, so
 * indptr[0] need not be 0 and rows [r0, r1) of a CSR are the CSR
 * (r1 - r0, indptr + r0, indices, values) -- a free slice.  Duplicate
 * columns in a row are summed; indices need not be sorted.  Explicit
 * entries are always multiplied (an explicit 0 times inf in B gives NaN);
 * the zeros that are not stored are skipped, so where B holds inf or NaN a
 * sparse product can differ from the dense one (0 * inf = NaN there).
 *
 * The kernels below never read outside [indptr[0], indptr[m]) of
 * indices/values and never write outside their outputs: an indptr that
 * decreases or leaves that range, or an index outside [0, k), gives
 * FD_EINVAL (outputs then hold garbage).
 */

/* FD_OK when indptr[0] >= 0, indptr is non-decreasing and every index of
 * [indptr[0], indptr[m]) is in [0, k); FD_EINVAL otherwise. */
int fd_csr_check(fd_index m, fd_index k, const int64_t *indptr,
                 const int32_t *indices, int nthreads);

/*
 * CSR of a dense m x n float32 matrix (any strides), in two calls:
 *   count: indices == values == NULL: indptr[0..m] = 0 and the running
 *          counts of nonzeros (indptr[m] = nnz); capacity is ignored;
 *   fill:  indptr as the count call left it (any offset indptr[0] >= 0
 *          works), indices/values hold `capacity` >= indptr[m] entries:
 *          the nonzeros of each row, in column order.  FD_EINVAL (nothing
 *          written outside [indptr[0], indptr[m])) when indptr does not
 *          match x or exceeds capacity.
 * Zeros are dropped, -0.0 too (it multiplies like +0.0 unless B has inf or
 * NaN); NaN and inf are kept.  n must be at most 2^31.
 */
int fd_csr_from_dense_f32(fd_index m, fd_index n, const float *x,
                          fd_index rs_x, fd_index cs_x, int64_t *indptr,
                          int32_t *indices, float *values, int64_t capacity,
                          int nthreads);

/*
 * The rows rows[0..m) (int64, each in [0, src_m)) of the src_m-row CSR src
 * into a batch CSR: out_indptr[0..m] (starting at 0), out_indices and
 * out_values (capacity entries each).  FD_EINVAL (out_indices/out_values
 * untouched) when a row is out of range or the rows hold more than
 * `capacity` entries.
 */
int fd_csr_gather(fd_index m, const int64_t *rows, fd_index src_m,
                  const int64_t *src_indptr, const int32_t *src_indices,
                  const float *src_values, int64_t *out_indptr,
                  int32_t *out_indices, float *out_values, int64_t capacity,
                  int nthreads);

/*
 * CSR of A^T (k x m; the CSC of A) from the m x k CSR A, by counting sort:
 * out_indptr (k+1, starting at 0), out_indices (row ids, int32; m must be
 * < 2^31) and out_values (indptr[m] - indptr[0] entries each).  Within a
 * row of A^T the entries come in row order of A (duplicates in the order
 * stored), whatever the thread count.  work: caller-owned workspace of
 * FD_CSR_TRANSPOSE_WORK(k, nthreads) int64 values.
 */
#define FD_CSR_TRANSPOSE_WORK(k, nthreads) \
    ((fd_index)(k) * (fd_index)((nthreads) < 1 ? 1 : (nthreads) > 256 ? 256 : (nthreads)))
int fd_csr_transpose(fd_index m, fd_index k, const int64_t *indptr,
                     const int32_t *indices, const float *values,
                     int64_t *out_indptr, int32_t *out_indices,
                     float *out_values, int64_t *work, int nthreads);

/*
 * C = A @ B (+ bias per column) (then max(C, 0), NaN stays NaN), A the
 * m x k CSR, B k x n dense, C m x n; any strides (a unit column stride of
 * B and C is the fast path).  Every element of C is written exactly once
 * and C is never read: an empty row of A gives exact zeros (or the bias).
 * bias is n floats at bias[j*inc_bias] or NULL.  With A = the CSR of X^T
 * (fd_csr_transpose) this is the weight gradient dW = X^T dZ.  Each value
 * of C sums its row's entries in a fixed order: results do not depend on
 * the thread count.  FD_ENOMEM when the copy a strided B needs cannot be
 * allocated.
 */
int fd_csrmm_f32(fd_index m, fd_index n, fd_index k, const int64_t *indptr,
                 const int32_t *indices, const float *values, const float *b,
                 fd_index rs_b, fd_index cs_b, float *c, fd_index rs_c,
                 fd_index cs_c, const float *bias, fd_index inc_bias, int relu,
                 int nthreads);

/*
 * C = A^T @ B straight from the m x k CSR A (no transpose): B m x n, C k x n,
 * any strides.  The weight gradient dW = X^T dZ of a narrow layer: for
 * n <= 64 it beats fd_csr_transpose + fd_csrmm_f32 (see the design note of
 * sparse.c); correct for any n.  Each row of B is loaded once and scattered
 * into a private k x 64 accumulator (threads take whole column blocks);
 * every element of C is then written exactly once (rows of A^T without
 * entries: exact zeros), C is never read.  Each value sums its entries in
 * row order of A, then stored order: results do not depend on the thread
 * count.  FD_ENOMEM when the accumulators cannot be allocated.
 */
int fd_csrtmm_f32(fd_index m, fd_index n, fd_index k, const int64_t *indptr,
                  const int32_t *indices, const float *values, const float *b,
                  fd_index rs_b, fd_index cs_b, float *c, fd_index rs_c,
                  fd_index cs_c, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* FASTDENSE_H */
