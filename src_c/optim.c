/*
 * optim.c -- in-place optimizer updates: RMSprop, SGD (momentum, Nesterov),
 * Adam, with Keras 2.3.1 formulas.
 *
 * The model keeps all its parameters in one flat vector, so one call updates
 * every weight and bias in a single pass over param, grad and the optimizer
 * state.  The matrix is split into row/column-chunk tasks (fd_internal.h);
 * each task runs one row loop of rows.h (a vectorised unit-stride loop and
 * a strided one), from the ISA build fd_rows_select() picks.  Every build
 * gives the same bits (sqrt and division are IEEE-exact in SIMD, no
 * contraction), and elements are independent, so any thread count gives the
 * same result too.
 */
#include "fd_internal.h"
#include "rows_internal.h"

int fd_rmsprop_update_f32(fd_index m, fd_index n,
                          float *param, fd_index rs_p, fd_index cs_p,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          float *accum, fd_index rs_a, fd_index cs_a,
                          float lr, float rho, float eps, int nthreads)
{
    const float one_minus_rho = 1.0f - rho;
    const fd_rows_table rows = fd_rows_select();
    FD_FOR_TASKS(m, n, nthreads,
        rows.fd_rmsprop_row(j1 - j0, param + i * rs_p + j0 * cs_p, cs_p,
                       grad + i * rs_g + j0 * cs_g, cs_g,
                       accum + i * rs_a + j0 * cs_a, cs_a,
                       lr, rho, one_minus_rho, eps));
    return FD_OK;
}

int fd_sgd_update_f32(fd_index m, fd_index n,
                      float *param, fd_index rs_p, fd_index cs_p,
                      const float *grad, fd_index rs_g, fd_index cs_g,
                      float *velocity, fd_index rs_v, fd_index cs_v,
                      float lr, float momentum, int nesterov, int nthreads)
{
    const fd_rows_table rows = fd_rows_select();
    if (velocity == NULL && momentum != 0.0f)
        return FD_EINVAL;
    FD_FOR_TASKS(m, n, nthreads,
        rows.fd_sgd_row(j1 - j0, param + i * rs_p + j0 * cs_p, cs_p,
                   grad + i * rs_g + j0 * cs_g, cs_g,
                   velocity ? velocity + i * rs_v + j0 * cs_v : NULL, cs_v,
                   lr, momentum, nesterov));
    return FD_OK;
}

int fd_adam_update_f32(fd_index m, fd_index n,
                       float *param, fd_index rs_p, fd_index cs_p,
                       const float *grad, fd_index rs_g, fd_index cs_g,
                       float *m1, fd_index rs_m, fd_index cs_m,
                       float *v2, fd_index rs_v, fd_index cs_v,
                       float lr_t, float beta1, float beta2, float eps,
                       int nthreads)
{
    const float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
    const fd_rows_table rows = fd_rows_select();
    FD_FOR_TASKS(m, n, nthreads,
        rows.fd_adam_row(j1 - j0, param + i * rs_p + j0 * cs_p, cs_p,
                    grad + i * rs_g + j0 * cs_g, cs_g,
                    m1 + i * rs_m + j0 * cs_m, cs_m,
                    v2 + i * rs_v + j0 * cs_v, cs_v,
                    lr_t, beta1, beta2, c1, c2, eps));
    return FD_OK;
}
