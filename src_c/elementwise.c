/*
 * elementwise.c -- add, relu, the relu backward mask and the bias gradient.
 *
 * Memory-bound kernels: each is one pass over its operands.  add and relu
 * are split into row/column-chunk tasks (fd_internal.h) with a unit-stride
 * inner loop the compiler vectorises, and a strided loop for everything else
 * (transposes, slices, stride-0 broadcasts).  The two column reductions
 * (bias gradient, and relu backward fused with it) give each thread its own
 * range of columns and walk all rows in order, so sums are formed in the same
 * order whatever the thread count: results are reproducible bit for bit.
 */
#include "fd_internal.h"

static void fd_add_row(fd_index len, const float *x, fd_index cx,
                       const float *y, fd_index cy, float *o, fd_index co)
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

int fd_add_f32(fd_index m, fd_index n,
               const float *x, fd_index rs_x, fd_index cs_x,
               const float *y, fd_index rs_y, fd_index cs_y,
               float *out, fd_index rs_o, fd_index cs_o, int nthreads)
{
    if (m > 0 && fd_rowmajor(n, rs_x, cs_x, m) && fd_rowmajor(n, rs_y, cs_y, m) &&
        fd_rowmajor(n, rs_o, cs_o, m)) {
        n *= m;
        m = 1;
    }
    FD_FOR_TASKS(m, n, nthreads,
        fd_add_row(j1 - j0, x + i * rs_x + j0 * cs_x, cs_x,
                   y + i * rs_y + j0 * cs_y, cs_y,
                   out + i * rs_o + j0 * cs_o, cs_o));
    return FD_OK;
}

/* x < 0 ? 0 : x keeps NaN (NaN < 0 is false) and -0.0, as np.maximum */
static inline float fd_relu1(float v) { return v < 0.0f ? 0.0f : v; }

static void fd_relu_row(fd_index len, const float *x, fd_index cx,
                        float *o, fd_index co)
{
    if (cx == 1 && co == 1) {
        for (fd_index j = 0; j < len; j++)
            o[j] = fd_relu1(x[j]);
    } else {
        for (fd_index j = 0; j < len; j++)
            o[j * co] = fd_relu1(x[j * cx]);
    }
}

int fd_relu_f32(fd_index m, fd_index n,
                const float *x, fd_index rs_x, fd_index cs_x,
                float *out, fd_index rs_o, fd_index cs_o, int nthreads)
{
    if (m > 0 && fd_rowmajor(n, rs_x, cs_x, m) && fd_rowmajor(n, rs_o, cs_o, m)) {
        n *= m;
        m = 1;
    }
    FD_FOR_TASKS(m, n, nthreads,
        fd_relu_row(j1 - j0, x + i * rs_x + j0 * cs_x, cs_x,
                    out + i * rs_o + j0 * cs_o, cs_o));
    return FD_OK;
}

/* Columns [j0, j1) of thread `id` out of `nt`: multiples of 16 so that two
 * threads never write the same cache line of a row-major output row. */
static void fd_column_range(fd_index n, int nt, int id, fd_index *j0, fd_index *j1)
{
    fd_index blocks = (n + 15) / 16;
    fd_index lo = blocks * id / nt, hi = blocks * (id + 1) / nt;
    *j0 = fd_min(n, lo * 16);
    *j1 = fd_min(n, hi * 16);
}

/* acc[j*inc] += src[j*cs] for j < len: one row into the column sums, the
 * step both column reductions share (rows are added in order, so the sums
 * do not depend on the thread count). */
static void fd_accumulate_row(fd_index len, const float *src, fd_index cs,
                              float *acc, fd_index inc)
{
    if (cs == 1 && inc == 1) {
        for (fd_index j = 0; j < len; j++)
            acc[j] += src[j];
    } else {
        for (fd_index j = 0; j < len; j++)
            acc[j * inc] += src[j * cs];
    }
}

int fd_relu_backward_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         const float *y, fd_index rs_y, fd_index cs_y,
                         float *out, fd_index rs_o, fd_index cs_o,
                         float *bias_grad, fd_index inc_bg, int nthreads)
{
    if (m < 0 || n < 0)
        return FD_EINVAL;
    if (n == 0)
        return FD_OK;
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = fd_thread_id(), team = fd_team_size();
        fd_index j0, j1;
        fd_column_range(n, team, id, &j0, &j1);
        if (bias_grad)
            for (fd_index j = j0; j < j1; j++)
                bias_grad[j * inc_bg] = 0.0f;
        for (fd_index i = 0; i < m; i++) {
            const float *gi = grad + i * rs_g, *yi = y + i * rs_y;
            float *oi = out + i * rs_o;
            if (cs_g == 1 && cs_y == 1 && cs_o == 1) {
                /* both loads unconditional: a select, not a branch on a
                 * data-dependent (half random) mask */
                for (fd_index j = j0; j < j1; j++) {
                    const float g = gi[j], yv = yi[j];
                    oi[j] = yv > 0.0f ? g : 0.0f;
                }
            } else {
                for (fd_index j = j0; j < j1; j++) {
                    const float g = gi[j * cs_g], yv = yi[j * cs_y];
                    oi[j * cs_o] = yv > 0.0f ? g : 0.0f;
                }
            }
            if (bias_grad)
                fd_accumulate_row(j1 - j0, oi + j0 * cs_o, cs_o,
                                  bias_grad + j0 * inc_bg, inc_bg);
        }
    }
    return FD_OK;
}

int fd_bias_grad_f32(fd_index m, fd_index n,
                     const float *grad, fd_index rs_g, fd_index cs_g,
                     float *out, fd_index inc_o, int nthreads)
{
    if (m < 0 || n < 0)
        return FD_EINVAL;
    if (n == 0)
        return FD_OK;
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = fd_thread_id(), team = fd_team_size();
        fd_index j0, j1;
        fd_column_range(n, team, id, &j0, &j1);
        if (inc_o == 1 && cs_g == 1) {
            for (fd_index j = j0; j < j1; j++)
                out[j] = 0.0f;
            for (fd_index i = 0; i < m; i++)
                fd_accumulate_row(j1 - j0, grad + i * rs_g + j0, 1, out + j0, 1);
        } else {
            /* Column-major or strided: one column at a time, rows in order. */
            for (fd_index j = j0; j < j1; j++) {
                float s = 0.0f;
                for (fd_index i = 0; i < m; i++)
                    s += grad[i * rs_g + j * cs_g];
                out[j * inc_o] = s;
            }
        }
    }
    return FD_OK;
}
