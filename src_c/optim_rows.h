/*
 * optim_rows.h -- the row loops of the optimizer family beyond RMSprop / SGD /
 * Adam (Adagrad, Adadelta, Adamax, Nadam, AdamW), the gradient transform of
 * clipnorm / clipvalue, and the sum of squares behind clipnorm's global norm.
 * Compiled once per instruction set like rows.h: optim_rows.c includes it for
 * the portable build, optim_rows_avx2.c and optim_rows_avx512.c with their
 * ISA flags, and fd_optim_rows_select() (optim_rows.c) picks a build on every
 * call by fd_simd_level().  (A table of its own, not rows.h's, so this family
 * never edits the elementwise family's table.)
 *
 * Same rules as rows.h: a unit-stride loop the compiler vectorises and a
 * strided one; only +, -, *, /, sqrt, fabs and selects, which are exact at
 * every vector width, and no contraction (-ffp-contract=off), so every build
 * gives the portable build's bits, NaN and inf included.  The updates are
 * written in the order of the Keras 2.3.1 formulas (and of their NumPy twins
 * in fastdense/reference.py, which give the same bits).
 *
 * The sum of squares keeps 16 double accumulators, element j of a piece
 * going to accumulator j % 16, folded by a fixed tree at the end: a defined
 * order (the same in the scalar and the vector builds, for any thread
 * count), and 16 independent add chains instead of one, so it runs at load
 * speed rather than at the latency of one double add per element.
 *
 * Before including: FD_OPTIM_SUFFIX (the name suffix, possibly empty) and
 * FD_OPTIM_LINKAGE (static or nothing).
 */
#include <math.h>

#include "fastdense.h"

#define FD_OPTIM_CAT2(a, b) a##b
#define FD_OPTIM_CAT(a, b) FD_OPTIM_CAT2(a, b)
#define FD_OROW(name) FD_OPTIM_CAT(name, FD_OPTIM_SUFFIX)

#define FD_SUMSQ_LANES 16

/* ---- gradient transform and norm ------------------------------------------ */

/* min(max(v, -c), c) written as selects: NaN stays NaN (both compares are
 * false), -0.0 stays -0.0, and c = +inf is the identity. */
static inline float FD_OROW(fd_clamp1)(float v, float c)
{
    return v > c ? c : (v < -c ? -c : v);
}

/* out[j] = clamp(g[j*cg] * gscale, clip): the clipnorm scale, then the
 * clipvalue bound, as Keras 2.3.1 applies them. */
FD_OPTIM_LINKAGE void FD_OROW(fd_gclip_row)(fd_index len, const float *g,
                                            fd_index cg, float gscale,
                                            float clip, float *out)
{
    if (cg == 1) {
        for (fd_index j = 0; j < len; j++)
            out[j] = FD_OROW(fd_clamp1)(g[j] * gscale, clip);
    } else {
        for (fd_index j = 0; j < len; j++)
            out[j] = FD_OROW(fd_clamp1)(g[j * cg] * gscale, clip);
    }
}

/* sum_j x[j*cx]^2 in double (each square is exact in double). */
FD_OPTIM_LINKAGE double FD_OROW(fd_sumsq_row)(fd_index len, const float *x,
                                              fd_index cx)
{
    double acc[FD_SUMSQ_LANES];
    fd_index j = 0;
    int k, w;
    for (k = 0; k < FD_SUMSQ_LANES; k++)
        acc[k] = 0.0;
    if (cx == 1) {
        for (; j + FD_SUMSQ_LANES <= len; j += FD_SUMSQ_LANES)
            for (k = 0; k < FD_SUMSQ_LANES; k++) {
                const double v = (double)x[j + k];
                acc[k] += v * v;
            }
    } else {
        for (; j + FD_SUMSQ_LANES <= len; j += FD_SUMSQ_LANES)
            for (k = 0; k < FD_SUMSQ_LANES; k++) {
                const double v = (double)x[(j + k) * cx];
                acc[k] += v * v;
            }
    }
    for (k = 0; j < len; j++, k++) {
        const double v = (double)x[j * cx];
        acc[k] += v * v;
    }
    for (w = FD_SUMSQ_LANES / 2; w >= 1; w /= 2)
        for (k = 0; k < w; k++)
            acc[k] += acc[k + w];
    return acc[0];
}

/* ---- updates ---------------------------------------------------------------- */

/* Adagrad: a += g^2; p -= lr*g/(sqrt(a)+eps) */
FD_OPTIM_LINKAGE void FD_OROW(fd_adagrad_row)(fd_index len, float *p,
                                              fd_index cp, const float *g,
                                              fd_index cg, float *a,
                                              fd_index ca, float lr, float eps)
{
    if (cp == 1 && cg == 1 && ca == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j];
            const float acc = a[j] + gj * gj;
            a[j] = acc;
            p[j] -= (lr * gj) / (sqrtf(acc) + eps);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float acc = a[j * ca] + gj * gj;
            a[j * ca] = acc;
            p[j * cp] -= (lr * gj) / (sqrtf(acc) + eps);
        }
    }
}

/* Adadelta: a = rho*a + (1-rho)*g^2; u = g*sqrt(d+eps)/sqrt(a+eps);
 * p -= lr*u; d = rho*d + (1-rho)*u^2 (the old d in u, the new a). */
FD_OPTIM_LINKAGE void FD_OROW(fd_adadelta_row)(fd_index len, float *p,
                                               fd_index cp, const float *g,
                                               fd_index cg, float *a,
                                               fd_index ca, float *d,
                                               fd_index cd, float lr,
                                               float rho, float one_minus_rho,
                                               float eps)
{
    if (cp == 1 && cg == 1 && ca == 1 && cd == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j];
            const float acc = rho * a[j] + one_minus_rho * (gj * gj);
            const float dj = d[j];
            const float u = (gj * sqrtf(dj + eps)) / sqrtf(acc + eps);
            a[j] = acc;
            p[j] -= lr * u;
            d[j] = rho * dj + one_minus_rho * (u * u);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float acc = rho * a[j * ca] + one_minus_rho * (gj * gj);
            const float dj = d[j * cd];
            const float u = (gj * sqrtf(dj + eps)) / sqrtf(acc + eps);
            a[j * ca] = acc;
            p[j * cp] -= lr * u;
            d[j * cd] = rho * dj + one_minus_rho * (u * u);
        }
    }
}

/* np.maximum(x, y): x when x is NaN or x >= y, else y (so NaN in either
 * comes out); bitwise | keeps it a branch-free select. */
static inline float FD_OROW(fd_maximum1)(float x, float y)
{
    return ((x != x) | (x >= y)) ? x : y;
}

/* Adamax: m = b1*m + (1-b1)*g; u = max(b2*u, |g|); p -= lr_t*m/(u+eps) */
FD_OPTIM_LINKAGE void FD_OROW(fd_adamax_row)(fd_index len, float *p,
                                             fd_index cp, const float *g,
                                             fd_index cg, float *m1,
                                             fd_index cm, float *u,
                                             fd_index cu, float lr_t,
                                             float beta1, float beta2,
                                             float c1, float eps)
{
    if (cp == 1 && cg == 1 && cm == 1 && cu == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j];
            const float mt = beta1 * m1[j] + c1 * gj;
            const float ut = FD_OROW(fd_maximum1)(beta2 * u[j], fabsf(gj));
            m1[j] = mt;
            u[j] = ut;
            p[j] -= (lr_t * mt) / (ut + eps);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float mt = beta1 * m1[j * cm] + c1 * gj;
            const float ut = FD_OROW(fd_maximum1)(beta2 * u[j * cu], fabsf(gj));
            m1[j * cm] = mt;
            u[j * cu] = ut;
            p[j * cp] -= (lr_t * mt) / (ut + eps);
        }
    }
}

/* Nadam (Keras 2.3.1) with the step's schedule folded into three scalars:
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *   mbar = kg*g + km*m    (kg = (1-mc_t)/(1-sched_t), km = mc_t1/(1-sched_t1))
 *   p -= lr*mbar / (sqrt(v*vs) + eps)        (vs = 1/(1-b2^t)) */
FD_OPTIM_LINKAGE void FD_OROW(fd_nadam_row)(fd_index len, float *p,
                                            fd_index cp, const float *g,
                                            fd_index cg, float *m1,
                                            fd_index cm, float *v2,
                                            fd_index cv, float lr,
                                            float beta1, float beta2,
                                            float c1, float c2, float kg,
                                            float km, float vs, float eps)
{
    if (cp == 1 && cg == 1 && cm == 1 && cv == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j];
            const float mt = beta1 * m1[j] + c1 * gj;
            const float vt = beta2 * v2[j] + c2 * (gj * gj);
            const float mbar = kg * gj + km * mt;
            m1[j] = mt;
            v2[j] = vt;
            p[j] -= (lr * mbar) / (sqrtf(vt * vs) + eps);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg];
            const float mt = beta1 * m1[j * cm] + c1 * gj;
            const float vt = beta2 * v2[j * cv] + c2 * (gj * gj);
            const float mbar = kg * gj + km * mt;
            m1[j * cm] = mt;
            v2[j * cv] = vt;
            p[j * cp] -= (lr * mbar) / (sqrtf(vt * vs) + eps);
        }
    }
}

/* AdamW (decoupled weight decay, Keras 3 / Loshchilov & Hutter):
 *   p = p - decay*p   (decay = lr*weight_decay), then the Adam step:
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  p -= lr_t*m/(sqrt(v)+eps) */
FD_OPTIM_LINKAGE void FD_OROW(fd_adamw_row)(fd_index len, float *p,
                                            fd_index cp, const float *g,
                                            fd_index cg, float *m1,
                                            fd_index cm, float *v2,
                                            fd_index cv, float lr_t,
                                            float beta1, float beta2,
                                            float c1, float c2, float eps,
                                            float decay)
{
    if (cp == 1 && cg == 1 && cm == 1 && cv == 1) {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j], pj = p[j];
            const float mt = beta1 * m1[j] + c1 * gj;
            const float vt = beta2 * v2[j] + c2 * (gj * gj);
            const float pd = pj - pj * decay;
            m1[j] = mt;
            v2[j] = vt;
            p[j] = pd - (lr_t * mt) / (sqrtf(vt) + eps);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float gj = g[j * cg], pj = p[j * cp];
            const float mt = beta1 * m1[j * cm] + c1 * gj;
            const float vt = beta2 * v2[j * cv] + c2 * (gj * gj);
            const float pd = pj - pj * decay;
            m1[j * cm] = mt;
            v2[j * cv] = vt;
            p[j * cp] = pd - (lr_t * mt) / (sqrtf(vt) + eps);
        }
    }
}
