/*
 * regularize.c -- the l1/l2 weight penalty (Keras's L1L2 regularizer) and
 * its gradient, in one pass over the weights.
 *
 *   grad += c1 * sign(w) + c2 * w      c1 = (float)l1, c2 = (float)(2*l2)
 *   *penalty = l1 * sum|w| + l2 * sum w^2      (sums and products in double)
 *
 * Only the terms with a nonzero factor are formed (as Keras's L1L2 does):
 * with l1 = 0 the gradient is grad + c2*w, with l2 = 0 it is grad + c1*sign(w),
 * with both 0 nothing is touched and the penalty is 0.  sign is np.sign's
 * (+0 for both zeros, NaN for NaN).  Each gradient element is one float32
 * expression, so the result does not depend on threads, SIMD level or
 * layout, and the NumPy twin gives the same bits.
 *
 * Summation order (documented because the penalty is a long sum): the
 * m x n matrix is cut into the tasks of the elementwise kernels -- row i,
 * columns [j0, j1) of FD_CHUNK -- numbered row-major, from the logical
 * (m, n) only (never flattened by layout).  Each task sums |w| and w^2 in
 * 16 double lanes (dropout_rows.h: element k of the task into lane k % 16,
 * lanes added in order).  The T tasks form G = min(T, 256) groups of
 * consecutive tasks (group g: tasks [g*T/G, (g+1)*T/G)), each summed in task
 * order from 0.0; the group sums are added in group order.  Threads take
 * whole groups, so the penalty is the same bits for every thread count,
 * SIMD level and memory layout of the same logical matrix.  (w^2 of a
 * float is exact in double; the error is that of the additions, below
 * (number of terms) * 2^-53 * the sum.)
 */
#include <float.h>

#include "fd_internal.h"
#include "dropout_internal.h"

#define FD_PEN_GROUPS 256

int fd_l1l2_penalty_grad_f32(fd_index m, fd_index n,
                             const float *w, fd_index rs_w, fd_index cs_w,
                             float *grad, fd_index rs_g, fd_index cs_g,
                             double l1, double l2, double *penalty,
                             int nthreads)
{
    /* factors must be finite, >= 0, and c1, c2 finite in float32 */
    if (m < 0 || n < 0 || !(l1 >= 0.0 && l1 <= FLT_MAX) ||
        !(l2 >= 0.0 && l2 <= FLT_MAX / 2))
        return FD_EINVAL;
    if (penalty)
        *penalty = 0.0;
    const int terms = (l1 != 0.0 ? FD_L1L2_L1 : 0) | (l2 != 0.0 ? FD_L1L2_L2 : 0);
    if (m == 0 || n == 0 || terms == 0)
        return FD_OK;
    if (w == NULL)
        return FD_EINVAL;
    const float c1 = (float)l1, c2 = (float)(2.0 * l2);
    const fd_dropout_table T = fd_dropout_select();
    const fd_index per_row = (n + FD_CHUNK - 1) / FD_CHUNK;
    const fd_index tasks = m * per_row;
    const fd_index groups = tasks < FD_PEN_GROUPS ? tasks : FD_PEN_GROUPS;
    double part[2 * FD_PEN_GROUPS];
    int nt = fd_threads_for(m * n, nthreads);
    if (nt > groups)
        nt = (int)groups;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (fd_index g = 0; g < groups; g++) {
        const fd_index t0 = g * tasks / groups, t1 = (g + 1) * tasks / groups;
        double p1 = 0.0, p2 = 0.0, sums[2];
        for (fd_index t = t0; t < t1; t++) {
            const fd_index i = t / per_row;
            const fd_index j0 = (t % per_row) * FD_CHUNK;
            const fd_index j1 = fd_min(n, j0 + FD_CHUNK);
            T.fd_l1l2_row(j1 - j0, w + i * rs_w + j0 * cs_w, cs_w,
                          grad ? grad + i * rs_g + j0 * cs_g : NULL, cs_g, c1,
                          c2, terms, sums);
            p1 += sums[0];
            p2 += sums[1];
        }
        part[2 * g] = p1;
        part[2 * g + 1] = p2;
    }
    if (penalty) {
        double s1 = 0.0, s2 = 0.0, p = 0.0;
        for (fd_index g = 0; g < groups; g++) {
            s1 += part[2 * g];
            s2 += part[2 * g + 1];
        }
        if (terms & FD_L1L2_L1)
            p += l1 * s1;
        if (terms & FD_L1L2_L2)
            p += l2 * s2;
        *penalty = p;
    }
    return FD_OK;
}
