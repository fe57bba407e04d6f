/*
 * rows.h -- the inner loops of the elementwise kernels and the optimizer
 * updates, one row (or row piece) at a time, compiled once per instruction
 * set: rows.c includes it for the portable build, rows_avx2.c and
 * rows_avx512.c with their own ISA flags, and fd_rows_select() (rows.c)
 * hands the kernels the set fd_simd_level() allows, on every call.
 *
 * Each loop has a unit-stride form the compiler vectorises and a strided
 * form for every other layout.  With AVX-512 the vector loops are 16 floats
 * wide instead of SSE2's 4: the RMSprop update of the seed network's 407,050
 * parameters is bound by sqrt and division (254 -> 53 us), add and the relu
 * mask by the L2 (128x512: 6.7 -> 4.7 and 11.6 -> 7.4 us).  The results do
 * not depend on the build: sqrt, division, +, * and the selects are exact
 * at every width, and floating-point contraction is off (-std=c99 and
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

/* ---- elementwise ---------------------------------------------------------- */

FD_ROWS_LINKAGE void FD_ROW(fd_add_row)(fd_index len, const float *x,
                                        fd_index cx, const float *y,
                                        fd_index cy, float *o, fd_index co)
{
    if (cx == 1 && cy == 1 && co == 1) {
        for (fd_index j = 0; j < len; j++)
            o[j] = x[j] + y[j];
    } else if (cx == 1 && cy == 0 && co == 1) {   /* row + broadcast scalar */
        const float v = y[0];
        for (fd_index j = 0; j < len; j++)
            o[j] = x[j] + v;
    } else {
        for (fd_index j = 0; j < len; j++)
            o[j * co] = x[j * cx] + y[j * cy];
    }
}

/* x < 0 ? 0 : x keeps NaN (NaN < 0 is false) and -0.0, as np.maximum */
static inline float FD_ROW(fd_relu1)(float v) { return v < 0.0f ? 0.0f : v; }

FD_ROWS_LINKAGE void FD_ROW(fd_relu_row)(fd_index len, const float *x,
                                         fd_index cx, float *o, fd_index co)
{
    if (cx == 1 && co == 1) {
        for (fd_index j = 0; j < len; j++)
            o[j] = FD_ROW(fd_relu1)(x[j]);
    } else {
        for (fd_index j = 0; j < len; j++)
            o[j * co] = FD_ROW(fd_relu1)(x[j * cx]);
    }
}

/* acc[j] += src[j*cs] for j < len: one row into a block of column sums. */
FD_ROWS_LINKAGE void FD_ROW(fd_accumulate_row)(fd_index len,
                                               const float *src, fd_index cs,
                                               float *acc)
{
    if (cs == 1) {
        for (fd_index j = 0; j < len; j++)
            acc[j] += src[j];
    } else {
        for (fd_index j = 0; j < len; j++)
            acc[j] += src[j * cs];
    }
}

/* o[j] = y[j] > 0 ? g[j] : 0 (a select: both loads unconditional, no
 * branch on the half-random mask), then acc[j] += o[j] when acc != NULL. */
FD_ROWS_LINKAGE void FD_ROW(fd_relu_mask_row)(fd_index len, const float *g,
                                              fd_index cg, const float *y,
                                              fd_index cy, float *o,
                                              fd_index co, float *acc)
{
    if (cg == 1 && cy == 1 && co == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gv = g[j], yv = y[j];
            o[j] = yv > 0.0f ? gv : 0.0f;
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gv = g[j * cg], yv = y[j * cy];
            o[j * co] = yv > 0.0f ? gv : 0.0f;
        }
    }
    if (acc)
        FD_ROW(fd_accumulate_row)(len, o, co, acc);
}

/* ---- optimizer updates (Keras 2.3.1 formulas) ------------------------------ */

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
