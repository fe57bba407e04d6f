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

/* -- gemm: ours or a BLAS (issue 9) -- */

#define FD_ROUTE_BLAS 0         /* a tuned BLAS sgemm is expected faster */
#define FD_ROUTE_OURS 1         /* fd_sgemm is expected at least as fast */

/*
 * Who should compute C = A @ B (m x k times k x n, float32): fd_sgemm or an
 * optimised BLAS (OpenBLAS-class, as NumPy ships).  A fixed rule of the
 * shape, whether A's rows are contiguous (A[i, p] at i*lda + p), the thread
 * count and the SIMD level (FD_SIMD_*, or -1 for fd_simd_level()); never a
 * timing, so the same product always takes the same path.  The rule and its
 * measurements are in gemm_config.h.
 */
int fd_sgemm_route(fd_index m, fd_index n, fd_index k, int a_rows_contiguous,
                   int nthreads, int level);

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
 *   weights (nullable: all ones): one float per row at weights[i*inc_w]
 *   (sample weights); row i's loss counts w_i times and its gradient row is
 *   scaled by w_i.
 *   label_smoothing in [0, 1] (Keras): the target t = y (1 - ls) + ls / n;
 *   0 uses y exactly.
 *   probs (nullable): receives the softmax.
 *   grad  (nullable): receives (softmax - t) * scale * w_i  (scale = 1/N for
 *   a mean).
 *   *loss_sum = sum over rows of w_i * -sum_j t_ij * log_softmax_ij (double;
 *   a zero target times a -inf logit counts 0).
 *   *n_correct = number of rows where argmax(logits) == argmax(y) (or label),
 *   unweighted and with the unsmoothed y; ties go to the first index, as
 *   np.argmax.
 * Returns FD_EINVAL if a label is < 0 or >= n, or label_smoothing is outside
 * [0, 1] (nothing useful written).
 */
int fd_softmax_xent_f32(fd_index m, fd_index n,
                        const float *logits, fd_index rs_x, fd_index cs_x,
                        const float *y, fd_index rs_y, fd_index cs_y,
                        const int64_t *labels,
                        const float *weights, fd_index inc_w,
                        float label_smoothing,
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

/* ---- optimizers beyond RMSprop/SGD/Adam, gradient clipping (optim.c) ---
 *
 * Gradient transform: the kernels below read every gradient element as
 *   g' = min(max(g * gscale, -clip), clip)
 * (Keras 2.3.1 order: clipnorm's scale c/||g||, then clipvalue's bound; NaN
 * stays NaN).  gscale = 1 and clip = +INFINITY read g as it is; clip must be
 * >= 0 (else FD_EINVAL).  grad itself is never written. */

/* *out = sum of x[i, j]^2 in double (the squared norm behind clipnorm).
 * The order of the sum is fixed by the shape alone (16-lane sums over
 * FD_CHUNK-column pieces of each row, then the pieces in row-major order):
 * the same bits for every thread count and SIMD level.  FD_ENOMEM when the
 * partial sums of a matrix with more than 64 pieces cannot be allocated. */
int fd_sumsq_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                 fd_index cs_x, double *out, int nthreads);

/* fd_rmsprop_update_f32 / fd_sgd_update_f32 / fd_adam_update_f32 on g'. */
int fd_rmsprop_update_clip_f32(fd_index m, fd_index n,
                               float *param, fd_index rs_p, fd_index cs_p,
                               const float *grad, fd_index rs_g, fd_index cs_g,
                               float *accum, fd_index rs_a, fd_index cs_a,
                               float lr, float rho, float eps, float gscale,
                               float clip, int nthreads);
int fd_sgd_update_clip_f32(fd_index m, fd_index n,
                           float *param, fd_index rs_p, fd_index cs_p,
                           const float *grad, fd_index rs_g, fd_index cs_g,
                           float *velocity, fd_index rs_v, fd_index cs_v,
                           float lr, float momentum, int nesterov,
                           float gscale, float clip, int nthreads);
int fd_adam_update_clip_f32(fd_index m, fd_index n,
                            float *param, fd_index rs_p, fd_index cs_p,
                            const float *grad, fd_index rs_g, fd_index cs_g,
                            float *m1, fd_index rs_m, fd_index cs_m,
                            float *v2, fd_index rs_v, fd_index cs_v,
                            float lr_t, float beta1, float beta2, float eps,
                            float gscale, float clip, int nthreads);

/* Keras 2.3.1 Adagrad:  accum += g'^2;  param -= lr*g'/(sqrt(accum)+eps) */
int fd_adagrad_update_f32(fd_index m, fd_index n,
                          float *param, fd_index rs_p, fd_index cs_p,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          float *accum, fd_index rs_a, fd_index cs_a,
                          float lr, float eps, float gscale, float clip,
                          int nthreads);

/* Keras 2.3.1 Adadelta:
 *   accum = rho*accum + (1-rho)*g'^2
 *   u = g'*sqrt(delta+eps)/sqrt(accum+eps);  param -= lr*u
 *   delta = rho*delta + (1-rho)*u^2 */
int fd_adadelta_update_f32(fd_index m, fd_index n,
                           float *param, fd_index rs_p, fd_index cs_p,
                           const float *grad, fd_index rs_g, fd_index cs_g,
                           float *accum, fd_index rs_a, fd_index cs_a,
                           float *delta, fd_index rs_d, fd_index cs_d,
                           float lr, float rho, float eps, float gscale,
                           float clip, int nthreads);

/* Keras 2.3.1 Adamax; lr_t = lr/(1-beta1^t) is the caller's:
 *   m = b1*m + (1-b1)*g';  u = max(b2*u, |g'|) (NaN propagates, as
 *   np.maximum);  param -= lr_t*m/(u+eps) */
int fd_adamax_update_f32(fd_index m, fd_index n,
                         float *param, fd_index rs_p, fd_index cs_p,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         float *m1, fd_index rs_m, fd_index cs_m,
                         float *u, fd_index rs_u, fd_index cs_u,
                         float lr_t, float beta1, float beta2, float eps,
                         float gscale, float clip, int nthreads);

/* Keras 2.3.1 Nadam, the step's momentum schedule folded by the caller into
 * kg = (1-mc_t)/(1-sched_t), km = mc_t1/(1-sched_t*mc_t1), vs = 1/(1-b2^t):
 *   m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
 *   param -= lr*(kg*g' + km*m) / (sqrt(v*vs) + eps) */
int fd_nadam_update_f32(fd_index m, fd_index n,
                        float *param, fd_index rs_p, fd_index cs_p,
                        const float *grad, fd_index rs_g, fd_index cs_g,
                        float *m1, fd_index rs_m, fd_index cs_m,
                        float *v2, fd_index rs_v, fd_index cs_v,
                        float lr, float beta1, float beta2, float kg, float km,
                        float vs, float eps, float gscale, float clip,
                        int nthreads);

/* AdamW (decoupled weight decay as in Keras 3; decay = lr*weight_decay and
 * lr_t = lr*sqrt(1-b2^t)/(1-b1^t) are the caller's):
 *   param = param - param*decay, then the Adam step of fd_adam_update_f32 */
int fd_adamw_update_f32(fd_index m, fd_index n,
                        float *param, fd_index rs_p, fd_index cs_p,
                        const float *grad, fd_index rs_g, fd_index cs_g,
                        float *m1, fd_index rs_m, fd_index cs_m,
                        float *v2, fd_index rs_v, fd_index cs_v,
                        float lr_t, float beta1, float beta2, float eps,
                        float decay, float gscale, float clip, int nthreads);
/* ---- dropout and weight regularizers (philox.h, dropout.c, regularize.c) */

/* out = Philox4x32-10(ctr, key) (Random123's philox4x32_10), for tests. */
int fd_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                     uint32_t out[4]);

/*
 * Inverted dropout.  Element (i, j) of the m x n batch has the global index
 * e = i*n + j; its word u(e) is word e % 4 of Philox4x32-10 with
 *   key = (seed mod 2^32, seed >> 32),
 *   counter = (e/4 mod 2^32, e/4 >> 32, step mod 2^32, step >> 32)
 * and it is kept iff u(e) >= ceil(rate * 2^32) (philox.h has the details):
 *   out = kept ? x * scale : 0,   scale = 1.0f / (1.0f - (float)rate)
 * The mask depends on (seed, step, e) only: not on threads, SIMD level or
 * layout.  e = first + i*n + j: ``first`` is 0 for a whole batch, and r*n
 * for rows r.. of a batch split between processes, so that each piece gets
 * the mask the whole batch would.  0 <= rate < 1, else FD_EINVAL.  out may
 * be x.
 */
int fd_dropout_forward_f32(fd_index m, fd_index n,
                           const float *x, fd_index rs_x, fd_index cs_x,
                           float *out, fd_index rs_o, fd_index cs_o,
                           double rate, uint64_t seed, uint64_t step,
                           uint64_t first, int nthreads);

/* grad_in = kept ? grad * scale : 0 with the forward's mask, regenerated
 * from (rate, seed, step, first) (nothing is stored).  out may be grad. */
int fd_dropout_backward_f32(fd_index m, fd_index n,
                            const float *grad, fd_index rs_g, fd_index cs_g,
                            float *out, fd_index rs_o, fd_index cs_o,
                            double rate, uint64_t seed, uint64_t step,
                            uint64_t first, int nthreads);

/* Dropout after a relu layer, both backward steps in one pass:
 *   out = y > 0 ? grad * scale : 0      (y: the dropout *output*)
 * with scale as above; bits of fd_dropout_backward_f32 then
 * fd_relu_backward_f32 on the relu output.  When bias_grad is not NULL it
 * receives the column sums of out (n floats at bias_grad[j*inc_bg]), summed
 * as fd_relu_backward_f32 sums them.  out may be grad or y. */
int fd_relu_dropout_backward_f32(fd_index m, fd_index n,
                                 const float *grad, fd_index rs_g, fd_index cs_g,
                                 const float *y, fd_index rs_y, fd_index cs_y,
                                 float *out, fd_index rs_o, fd_index cs_o,
                                 double rate, float *bias_grad, fd_index inc_bg,
                                 int nthreads);

/*
 * The l1/l2 penalty and its gradient in one pass (regularize.c):
 *   grad += c1*sign(w) + c2*w    c1 = (float)l1, c2 = (float)(2*l2), only
 *                                the terms with a nonzero factor; sign(+-0)
 *                                = 0, sign(NaN) = NaN (np.sign)
 *   *penalty = l1*sum|w| + l2*sum w^2   (double; same bits for every thread
 *                                count, SIMD level and layout)
 * grad may be NULL (penalty only); penalty may be NULL.  l1, l2 must be
 * finite and >= 0 with l1 and 2*l2 finite in float32, else FD_EINVAL.
 * grad must not overlap w.
 */
int fd_l1l2_penalty_grad_f32(fd_index m, fd_index n,
                             const float *w, fd_index rs_w, fd_index cs_w,
                             float *grad, fd_index rs_g, fd_index cs_g,
                             double l1, double l2, double *penalty,
                             int nthreads);

/* ---- activations (activations.c, activations_avx2.c, activations_avx512.c) ----
 *
 * Elementwise, one pass, any strides; out may be exactly the input (x, or
 * grad for the backward passes).  fd_NAME_f32: out = f(x).
 * fd_NAME_backward_f32: out = grad * f'(z), the gradient with respect to the
 * pre-activation z, computed from the *output* y where the name of the
 * argument is y, and from z where it is z.  Keras 2.3 / 3 formulas; the
 * limits at +-inf are exact (never inf * 0 = NaN), NaN stays NaN.
 *
 *   elu          x > 0 ? x : alpha (exp(x) - 1)        f' = y > 0 ? 1 : y + alpha
 *   selu         scale * elu(x, alpha_selu)            f' = y > 0 ? scale : y + scale alpha
 *                (alpha 1.6732632..., scale 1.0507009..., as Keras)
 *   gelu         x Phi(x)  (erf form)                  f' = Phi(x) + x phi(x)           [z]
 *   gelu_tanh    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))                      [z]
 *   leaky_relu   x > 0 ? x : alpha x                   f' = y > 0 ? 1 : alpha
 *   softplus     log(1 + exp(x))                       f' = 1 - exp(-y)
 *   swish        x sigmoid(x)  (= silu)                f' = s + x s (1 - s)           [z]
 *   exponential  exp(x)                                f' = y
 *   hard_sigmoid clip(slope x + 0.5, 0, 1)             f' = 0 < y < 1 ? slope : 0
 *   softsign     x / (1 + |x|)                         f' = 1 / (1 + |x|)^2           [z]
 *   sigmoid      1 / (1 + exp(-x))                     f' = y (1 - y)
 *   tanh         tanh(x)                               f' = 1 - y^2
 *
 * The backward passes of elu and leaky_relu return FD_EINVAL for a negative
 * (or NaN) alpha: their y no longer tells the two branches apart.
 */
int fd_elu_f32(fd_index m, fd_index n, const float *x, fd_index rs_x, fd_index cs_x,
               float *out, fd_index rs_o, fd_index cs_o, float alpha, int nthreads);
int fd_elu_backward_f32(fd_index m, fd_index n,
                        const float *grad, fd_index rs_g, fd_index cs_g,
                        const float *y, fd_index rs_y, fd_index cs_y,
                        float *out, fd_index rs_o, fd_index cs_o, float alpha,
                        int nthreads);
int fd_selu_f32(fd_index m, fd_index n, const float *x, fd_index rs_x, fd_index cs_x,
                float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_selu_backward_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         const float *y, fd_index rs_y, fd_index cs_y,
                         float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_gelu_f32(fd_index m, fd_index n, const float *x, fd_index rs_x, fd_index cs_x,
                float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_gelu_backward_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         const float *z, fd_index rs_z, fd_index cs_z,
                         float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_gelu_tanh_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                     fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                     int nthreads);
int fd_gelu_tanh_backward_f32(fd_index m, fd_index n,
                              const float *grad, fd_index rs_g, fd_index cs_g,
                              const float *z, fd_index rs_z, fd_index cs_z,
                              float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_leaky_relu_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                      fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                      float alpha, int nthreads);
int fd_leaky_relu_backward_f32(fd_index m, fd_index n,
                               const float *grad, fd_index rs_g, fd_index cs_g,
                               const float *y, fd_index rs_y, fd_index cs_y,
                               float *out, fd_index rs_o, fd_index cs_o, float alpha,
                               int nthreads);
int fd_softplus_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                    fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                    int nthreads);
int fd_softplus_backward_f32(fd_index m, fd_index n,
                             const float *grad, fd_index rs_g, fd_index cs_g,
                             const float *y, fd_index rs_y, fd_index cs_y,
                             float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_swish_f32(fd_index m, fd_index n, const float *x, fd_index rs_x, fd_index cs_x,
                 float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_swish_backward_f32(fd_index m, fd_index n,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          const float *z, fd_index rs_z, fd_index cs_z,
                          float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_exponential_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                       fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                       int nthreads);
int fd_exponential_backward_f32(fd_index m, fd_index n,
                                const float *grad, fd_index rs_g, fd_index cs_g,
                                const float *y, fd_index rs_y, fd_index cs_y,
                                float *out, fd_index rs_o, fd_index cs_o,
                                int nthreads);
int fd_hard_sigmoid_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                        fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                        float slope, int nthreads);
int fd_hard_sigmoid_backward_f32(fd_index m, fd_index n,
                                 const float *grad, fd_index rs_g, fd_index cs_g,
                                 const float *y, fd_index rs_y, fd_index cs_y,
                                 float *out, fd_index rs_o, fd_index cs_o,
                                 float slope, int nthreads);
int fd_softsign_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                    fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                    int nthreads);
int fd_softsign_backward_f32(fd_index m, fd_index n,
                             const float *grad, fd_index rs_g, fd_index cs_g,
                             const float *z, fd_index rs_z, fd_index cs_z,
                             float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_sigmoid_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                   fd_index cs_x, float *out, fd_index rs_o, fd_index cs_o,
                   int nthreads);
int fd_sigmoid_backward_f32(fd_index m, fd_index n,
                            const float *grad, fd_index rs_g, fd_index cs_g,
                            const float *y, fd_index rs_y, fd_index cs_y,
                            float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_tanh_f32(fd_index m, fd_index n, const float *x, fd_index rs_x, fd_index cs_x,
                float *out, fd_index rs_o, fd_index cs_o, int nthreads);
int fd_tanh_backward_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         const float *y, fd_index rs_y, fd_index cs_y,
                         float *out, fd_index rs_o, fd_index cs_o, int nthreads);

/* ---- losses (losses.c): value and gradient in one pass ---------------------
 *
 * y_pred, y_true: m x n; weights (nullable: all ones): one float per row at
 * weights[i*inc_w] (sample weights); grad (nullable): m x n.  With the
 * per-sample loss L_i of Keras (the mean over the n columns of the element
 * losses; KL sums them):
 *   *loss_sum = sum_i w_i L_i                               (double)
 *   grad[i, j] = scale * w_i * dL_i / dy_pred[i, j]         (scale = 1/N: the
 *                                                            batch mean)
 * Element losses (e = y_pred - y_true):
 *   mse       e^2                         mae    |e|  (gradient sign(e), 0 at 0)
 *   huber     0.5 min(|e|, d)^2 + d (|e| - min(|e|, d)),  delta d > 0
 *   log_cosh  log(cosh(e))  (gradient tanh(e))
 *   kld       t log(t / p), t and p clipped to [1e-7, 1]; gradient -t / p where
 *             1e-7 <= y_pred <= 1, else 0 (as TensorFlow's clip)
 * The loss has the same bits for every thread count.  FD_EINVAL for a
 * negative size or delta <= 0 (or not finite).
 */
int fd_mse_loss_f32(fd_index m, fd_index n,
                    const float *y_pred, fd_index rs_p, fd_index cs_p,
                    const float *y_true, fd_index rs_t, fd_index cs_t,
                    const float *weights, fd_index inc_w,
                    float *grad, fd_index rs_g, fd_index cs_g,
                    float scale, double *loss_sum, int nthreads);
int fd_mae_loss_f32(fd_index m, fd_index n,
                    const float *y_pred, fd_index rs_p, fd_index cs_p,
                    const float *y_true, fd_index rs_t, fd_index cs_t,
                    const float *weights, fd_index inc_w,
                    float *grad, fd_index rs_g, fd_index cs_g,
                    float scale, double *loss_sum, int nthreads);
int fd_huber_loss_f32(fd_index m, fd_index n,
                      const float *y_pred, fd_index rs_p, fd_index cs_p,
                      const float *y_true, fd_index rs_t, fd_index cs_t,
                      const float *weights, fd_index inc_w,
                      float *grad, fd_index rs_g, fd_index cs_g,
                      float delta, float scale, double *loss_sum, int nthreads);
int fd_log_cosh_loss_f32(fd_index m, fd_index n,
                         const float *y_pred, fd_index rs_p, fd_index cs_p,
                         const float *y_true, fd_index rs_t, fd_index cs_t,
                         const float *weights, fd_index inc_w,
                         float *grad, fd_index rs_g, fd_index cs_g,
                         float scale, double *loss_sum, int nthreads);
int fd_kld_loss_f32(fd_index m, fd_index n,
                    const float *y_pred, fd_index rs_p, fd_index cs_p,
                    const float *y_true, fd_index rs_t, fd_index cs_t,
                    const float *weights, fd_index inc_w,
                    float *grad, fd_index rs_g, fd_index cs_g,
                    float scale, double *loss_sum, int nthreads);

/*
 * Sigmoid + binary cross-entropy from logits (the output layer of a binary
 * classifier), one pass.  With t = y (1 - ls) + 0.5 ls (label_smoothing ls in
 * [0, 1]) and p = sigmoid(z):
 *   element loss  max(z, 0) - z t + log1p(exp(-|z|))   (= -t log p - (1-t) log(1-p),
 *                 exact for any z; a zero coefficient times an infinite z is 0)
 *   *loss_sum = sum_i w_i * mean_j (element loss)
 *   probs (nullable) = p;  grad (nullable) = scale * w_i / n * (p - t)
 *   *n_correct = the number of entries with round(p) == y: y == 1 and z > 0,
 *   or y == 0 and z <= 0 (unweighted, unsmoothed y; divide by n for Keras's
 *   binary accuracy).  probs or grad may be exactly the logits.
 * FD_EINVAL for a negative size or label_smoothing outside [0, 1].
 */
int fd_sigmoid_bce_f32(fd_index m, fd_index n,
                       const float *logits, fd_index rs_x, fd_index cs_x,
                       const float *y, fd_index rs_y, fd_index cs_y,
                       const float *weights, fd_index inc_w,
                       float label_smoothing,
                       float *probs, fd_index rs_p, fd_index cs_p,
                       float *grad, fd_index rs_g, fd_index cs_g,
                       float scale, double *loss_sum, int64_t *n_correct,
                       int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* FASTDENSE_H */
