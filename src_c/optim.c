/*
 * optim.c -- in-place optimizer updates: RMSprop, SGD (momentum, Nesterov),
 * Adam, with Keras 2.3.1 formulas.
 *
 * The model keeps all its parameters in one flat vector, so one call updates
 * every weight and bias in a single pass over param, grad and the optimizer
 * state.  Work is split into row/column-chunk tasks (fd_internal.h); each
 * element is independent, so results are identical for any thread count.
 */
#include <math.h>
#include "fd_internal.h"

/* Loop skeleton shared by the three updates: BODY sees p, g, s1, s2 as
 * pointers to element (i, j) of each operand (s1/s2 unused ones are NULL). */
#define FD_UPDATE_LOOP(BODY)                                                   \
    if (m < 0 || n < 0)                                                       \
        return FD_EINVAL;                                                     \
    if (m == 0 || n == 0)                                                     \
        return FD_OK;                                                         \
    const fd_index per_row = (n + FD_CHUNK - 1) / FD_CHUNK;                   \
    const fd_index tasks = m * per_row;                                       \
    const int nt = fd_threads_for(m * n, nthreads);                           \
    (void)nt;                                                                 \
    _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")  \
    for (fd_index t = 0; t < tasks; t++) {                                    \
        const fd_index i = t / per_row, j0 = (t % per_row) * FD_CHUNK;        \
        const fd_index j1 = fd_min(n, j0 + FD_CHUNK);                         \
        for (fd_index j = j0; j < j1; j++) {                                  \
            BODY                                                              \
        }                                                                     \
    }                                                                         \
    return FD_OK;

int fd_rmsprop_update_f32(fd_index m, fd_index n,
                          float *param, fd_index rs_p, fd_index cs_p,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          float *accum, fd_index rs_a, fd_index cs_a,
                          float lr, float rho, float eps, int nthreads)
{
    const float one_minus_rho = 1.0f - rho;
    FD_UPDATE_LOOP(
        float *p = param + i * rs_p + j * cs_p;
        float *a = accum + i * rs_a + j * cs_a;
        const float g = grad[i * rs_g + j * cs_g];
        const float acc = rho * *a + one_minus_rho * (g * g);
        *a = acc;
        *p -= (lr * g) / (sqrtf(acc) + eps);
    )
}

int fd_sgd_update_f32(fd_index m, fd_index n,
                      float *param, fd_index rs_p, fd_index cs_p,
                      const float *grad, fd_index rs_g, fd_index cs_g,
                      float *velocity, fd_index rs_v, fd_index cs_v,
                      float lr, float momentum, int nesterov, int nthreads)
{
    if (velocity == NULL && momentum != 0.0f)
        return FD_EINVAL;
    FD_UPDATE_LOOP(
        float *p = param + i * rs_p + j * cs_p;
        const float g = grad[i * rs_g + j * cs_g];
        if (velocity == NULL) {
            *p -= lr * g;
        } else {
            float *v = velocity + i * rs_v + j * cs_v;
            const float vel = momentum * *v - lr * g;
            *v = vel;
            *p += nesterov ? momentum * vel - lr * g : vel;
        }
    )
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
    FD_UPDATE_LOOP(
        float *p = param + i * rs_p + j * cs_p;
        float *mm = m1 + i * rs_m + j * cs_m;
        float *vv = v2 + i * rs_v + j * cs_v;
        const float g = grad[i * rs_g + j * cs_g];
        const float mt = beta1 * *mm + c1 * g;
        const float vt = beta2 * *vv + c2 * (g * g);
        *mm = mt;
        *vv = vt;
        *p -= (lr_t * mt) / (sqrtf(vt) + eps);
    )
}
