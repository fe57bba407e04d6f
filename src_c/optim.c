/*
 * optim.c -- in-place optimizer updates: RMSprop, SGD (momentum, Nesterov),
 * Adam, with Keras 2.3.1 formulas.
 *
 * The model keeps all its parameters in one flat vector, so one call updates
 * every weight and bias in a single pass over param, grad and the optimizer
 * state.  The matrix is split into row/column-chunk tasks (fd_internal.h);
 * each task runs one row function, which has a unit-stride loop that the
 * compiler vectorises (sqrt and division are IEEE-exact in SIMD too, so the
 * vector and scalar loops give the same bits) and a strided loop for other
 * layouts.  Elements are independent: any thread count gives the same result.
 */
#include <math.h>
#include "fd_internal.h"

static void fd_rmsprop_row(fd_index len, float *p, fd_index cp,
                           const float *g, fd_index cg, float *a, fd_index ca,
                           float lr, float rho, float one_minus_rho, float eps)
{
    if (cp == 1 && cg == 1 && ca == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j];
            const float acc = rho * a[j] + one_minus_rho * (gj * gj);
            a[j] = acc;
            p[j] -= (lr * gj) / (sqrtf(acc) + eps);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float acc = rho * a[j * ca] + one_minus_rho * (gj * gj);
            a[j * ca] = acc;
            p[j * cp] -= (lr * gj) / (sqrtf(acc) + eps);
        }
    }
}

int fd_rmsprop_update_f32(fd_index m, fd_index n,
                          float *param, fd_index rs_p, fd_index cs_p,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          float *accum, fd_index rs_a, fd_index cs_a,
                          float lr, float rho, float eps, int nthreads)
{
    const float one_minus_rho = 1.0f - rho;
    FD_FOR_TASKS(m, n, nthreads,
        fd_rmsprop_row(j1 - j0, param + i * rs_p + j0 * cs_p, cs_p,
                       grad + i * rs_g + j0 * cs_g, cs_g,
                       accum + i * rs_a + j0 * cs_a, cs_a,
                       lr, rho, one_minus_rho, eps));
    return FD_OK;
}

static void fd_sgd_row(fd_index len, float *p, fd_index cp,
                       const float *g, fd_index cg, float *v, fd_index cv,
                       float lr, float momentum, int nesterov)
{
    if (v == NULL) {
        for (fd_index j = 0; j < len; j++)
            p[j * cp] -= lr * g[j * cg];
    } else if (cp == 1 && cg == 1 && cv == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float vel = momentum * v[j] - lr * g[j];
            v[j] = vel;
            p[j] += nesterov ? momentum * vel - lr * g[j] : vel;
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float vel = momentum * v[j * cv] - lr * gj;
            v[j * cv] = vel;
            p[j * cp] += nesterov ? momentum * vel - lr * gj : vel;
        }
    }
}

int fd_sgd_update_f32(fd_index m, fd_index n,
                      float *param, fd_index rs_p, fd_index cs_p,
                      const float *grad, fd_index rs_g, fd_index cs_g,
                      float *velocity, fd_index rs_v, fd_index cs_v,
                      float lr, float momentum, int nesterov, int nthreads)
{
    if (velocity == NULL && momentum != 0.0f)
        return FD_EINVAL;
    FD_FOR_TASKS(m, n, nthreads,
        fd_sgd_row(j1 - j0, param + i * rs_p + j0 * cs_p, cs_p,
                   grad + i * rs_g + j0 * cs_g, cs_g,
                   velocity ? velocity + i * rs_v + j0 * cs_v : NULL, cs_v,
                   lr, momentum, nesterov));
    return FD_OK;
}

static void fd_adam_row(fd_index len, float *p, fd_index cp,
                        const float *g, fd_index cg, float *m1, fd_index cm,
                        float *v2, fd_index cv, float lr_t, float beta1,
                        float beta2, float c1, float c2, float eps)
{
    if (cp == 1 && cg == 1 && cm == 1 && cv == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j];
            const float mt = beta1 * m1[j] + c1 * gj;
            const float vt = beta2 * v2[j] + c2 * (gj * gj);
            m1[j] = mt;
            v2[j] = vt;
            p[j] -= (lr_t * mt) / (sqrtf(vt) + eps);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float mt = beta1 * m1[j * cm] + c1 * gj;
            const float vt = beta2 * v2[j * cv] + c2 * (gj * gj);
            m1[j * cm] = mt;
            v2[j * cv] = vt;
            p[j * cp] -= (lr_t * mt) / (sqrtf(vt) + eps);
        }
    }
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
    FD_FOR_TASKS(m, n, nthreads,
        fd_adam_row(j1 - j0, param + i * rs_p + j0 * cs_p, cs_p,
                    grad + i * rs_g + j0 * cs_g, cs_g,
                    m1 + i * rs_m + j0 * cs_m, cs_m,
                    v2 + i * rs_v + j0 * cs_v, cs_v,
                    lr_t, beta1, beta2, c1, c2, eps));
    return FD_OK;
}
