/*
 * elementwise.c -- add, relu, the relu backward mask and the bias gradient.
 *
 * Memory-bound kernels: each is one pass over its operands.  add and relu
 * are split into row/column-chunk tasks (fd_internal.h) with a unit-stride
 * inner loop the compiler vectorises, and a strided loop for everything else
 * (transposes, slices, stride-0 broadcasts).  The two column reductions
 * (bias gradient, and relu backward fused with it) give each thread its own
 * range of columns (cut at the output's cache lines) and walk all rows in
 * order, so sums are formed in the same order whatever the thread count:
 * results are reproducible bit for bit.
 */
#include <stdint.h>

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

/* Columns [j0, j1) of thread `id` out of `nt`: cut where the output row
 * `o` (column stride co) starts a 64-byte cache line, so that two threads
 * never write the same line of a row (NumPy's arrays start 16 bytes into a
 * line: cuts at multiples of 16 columns shared a line in every row, and
 * 1024x512 relu_backward ran 2.5x slower on two threads than on one). */
static void fd_column_range(fd_index n, const float *o, fd_index co, int nt,
                            int id, fd_index *j0, fd_index *j1)
{
    const fd_index shift =
        co == 1 ? (fd_index)(((uintptr_t)o / sizeof(float)) % 16) : 0;
    const fd_index blocks = (n + shift + 15) / 16;
    const fd_index lo = blocks * id / nt * 16 - shift;
    const fd_index hi = blocks * (id + 1) / nt * 16 - shift;
    *j0 = lo < 0 ? 0 : fd_min(n, lo);
    *j1 = hi < 0 ? 0 : fd_min(n, hi);
}

/* Column sums are formed FD_COL_BLOCK columns at a time in a local array and
 * stored once: the rows are still added in order from 0.0f, so the sums are
 * the same bits whatever the thread count, and the output vector is written
 * once per column instead of once per row. */
#define FD_COL_BLOCK 512

/* acc[j] += src[j*cs] for j < len: one row into the block's column sums. */
static void fd_accumulate_row(fd_index len, const float *src, fd_index cs,
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
        float acc[FD_COL_BLOCK];
        fd_index j0, j1, jb;
        fd_column_range(n, out, cs_o, team, id, &j0, &j1);
        for (jb = j0; jb < j1; jb += FD_COL_BLOCK) {
            const fd_index je = fd_min(j1, jb + FD_COL_BLOCK);
            if (bias_grad)
                for (fd_index j = jb; j < je; j++)
                    acc[j - jb] = 0.0f;
            for (fd_index i = 0; i < m; i++) {
                const float *gi = grad + i * rs_g, *yi = y + i * rs_y;
                float *oi = out + i * rs_o;
                if (cs_g == 1 && cs_y == 1 && cs_o == 1) {
                    /* both loads unconditional: a select, not a branch on
                     * a data-dependent (half random) mask */
                    for (fd_index j = jb; j < je; j++) {
                        const float g = gi[j], yv = yi[j];
                        oi[j] = yv > 0.0f ? g : 0.0f;
                    }
                } else {
                    for (fd_index j = jb; j < je; j++) {
                        const float g = gi[j * cs_g], yv = yi[j * cs_y];
                        oi[j * cs_o] = yv > 0.0f ? g : 0.0f;
                    }
                }
                if (bias_grad)
                    fd_accumulate_row(je - jb, oi + jb * cs_o, cs_o, acc);
            }
            if (bias_grad)
                for (fd_index j = jb; j < je; j++)
                    bias_grad[j * inc_bg] = acc[j - jb];
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
        float acc[FD_COL_BLOCK];
        fd_index j0, j1, jb;
        fd_column_range(n, out, inc_o, team, id, &j0, &j1);
        for (jb = j0; jb < j1; jb += FD_COL_BLOCK) {
            const fd_index je = fd_min(j1, jb + FD_COL_BLOCK);
            for (fd_index j = jb; j < je; j++)
                acc[j - jb] = 0.0f;
            /* rows in order; a column-major grad reads each row strided */
            for (fd_index i = 0; i < m; i++)
                fd_accumulate_row(je - jb, grad + i * rs_g + jb * cs_g, cs_g, acc);
            for (fd_index j = jb; j < je; j++)
                out[j * inc_o] = acc[j - jb];
        }
    }
    return FD_OK;
}
