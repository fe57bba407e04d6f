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

#ifdef __cplusplus
}
#endif
#endif /* FASTDENSE_H */
