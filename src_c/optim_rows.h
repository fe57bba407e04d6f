/*
 * optim_rows.h -- the row loops of the optimizer updates, compiled once per
 * instruction set: optim.c includes it for the portable build,
 * optim_avx2.c and optim_avx512.c with their own ISA flags, and optim.c
 * picks one set per call from fd_simd_level().
 *
 * The loops are plain C that the compiler vectorises (16 floats per
 * instruction with AVX-512 instead of SSE2's 4: the update of the seed
 * network's 407,050 parameters is bound by sqrt and division).  The results
 * do not depend on the build: sqrt, division, + and * are IEEE-exact in
 * every vector width, and floating-point contraction is off (-std=c99 and
 * -ffp-contract=off in setup.py), so no a*b+c is fused into one rounding.
 *
 * Before including: FD_ROWS_SUFFIX (the name suffix, possibly empty) and
 * FD_ROWS_LINKAGE (static or nothing).
 */
#include <math.h>

#include "fastdense.h"

#define FD_ROWS_CAT2(a, b) a##b
#define FD_ROWS_CAT(a, b) FD_ROWS_CAT2(a, b)
#define FD_ROW(name) FD_ROWS_CAT(name, FD_ROWS_SUFFIX)

FD_ROWS_LINKAGE void FD_ROW(fd_rmsprop_row)(fd_index len, float *p,
                                            fd_index cp, const float *g,
                                            fd_index cg, float *a, fd_index ca,
                                            float lr, float rho,
                                            float one_minus_rho, float eps)
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

FD_ROWS_LINKAGE void FD_ROW(fd_sgd_row)(fd_index len, float *p, fd_index cp,
                                        const float *g, fd_index cg, float *v,
                                        fd_index cv, float lr, float momentum,
                                        int nesterov)
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

FD_ROWS_LINKAGE void FD_ROW(fd_adam_row)(fd_index len, float *p, fd_index cp,
                                         const float *g, fd_index cg,
                                         float *m1, fd_index cm, float *v2,
                                         fd_index cv, float lr_t, float beta1,
                                         float beta2, float c1, float c2,
                                         float eps)
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
