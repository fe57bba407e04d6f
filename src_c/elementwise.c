/*
 * elementwise.c -- add, relu, the relu backward mask and the bias gradient.
 *
 * Memory-bound kernels: each is one pass over its operands.  add and relu
 * are split into row/column-chunk tasks (fd_internal.h); the inner loops are
 * those of rows.h (a vectorised unit-stride loop and a strided one for
 * transposes, slices and stride-0 broadcasts), from the ISA build
 * fd_rows_select() picks.  The two column reductions
 * (bias gradient, and relu backward fused with it) give each thread its own
 * range of columns (cut at the output's cache lines) and walk all rows in
 * order, so sums are formed in the same order whatever the thread count:
 * results are reproducible bit for bit.
 */
#include <stdint.h>

#include "fd_internal.h"
#include "rows_internal.h"

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
    const fd_rows_table rows = fd_rows_select();
    FD_FOR_TASKS(m, n, nthreads,
        rows.fd_add_row(j1 - j0, x + i * rs_x + j0 * cs_x, cs_x,
                        y + i * rs_y + j0 * cs_y, cs_y,
                        out + i * rs_o + j0 * cs_o, cs_o));
    return FD_OK;
}

int fd_relu_f32(fd_index m, fd_index n,
                const float *x, fd_index rs_x, fd_index cs_x,
                float *out, fd_index rs_o, fd_index cs_o, int nthreads)
{
    if (m > 0 && fd_rowmajor(n, rs_x, cs_x, m) && fd_rowmajor(n, rs_o, cs_o, m)) {
        n *= m;
        m = 1;
    }
    const fd_rows_table rows = fd_rows_select();
    FD_FOR_TASKS(m, n, nthreads,
        rows.fd_relu_row(j1 - j0, x + i * rs_x + j0 * cs_x, cs_x,
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

/* The two column reductions in one pass each, rows in order:
 *   y != NULL: out = grad where y > 0 else 0, sums += out   (relu_backward)
 *   y == NULL: sums += grad                                (bias_grad)
 * sums (stride inc_s) may be NULL when y is given.  Columns are split at the
 * cache lines of the output that is written per row (out, else sums). */
static void fd_column_pass(fd_index m, fd_index n,
                           const float *grad, fd_index rs_g, fd_index cs_g,
                           const float *y, fd_index rs_y, fd_index cs_y,
                           float *out, fd_index rs_o, fd_index cs_o,
                           float *sums, fd_index inc_s, int nthreads)
{
    const fd_rows_table rows = fd_rows_select();
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = fd_thread_id(), team = fd_team_size();
        float acc[FD_COL_BLOCK];
        fd_index j0, j1, jb;
        if (y)
            fd_column_range(n, out, cs_o, team, id, &j0, &j1);
        else
            fd_column_range(n, sums, inc_s, team, id, &j0, &j1);
        for (jb = j0; jb < j1; jb += FD_COL_BLOCK) {
            const fd_index je = fd_min(j1, jb + FD_COL_BLOCK);
            if (sums)
                for (fd_index j = jb; j < je; j++)
                    acc[j - jb] = 0.0f;
            for (fd_index i = 0; i < m; i++) {
                const float *gi = grad + i * rs_g + jb * cs_g;
                if (y)
                    rows.fd_relu_mask_row(je - jb, gi, cs_g,
                                          y + i * rs_y + jb * cs_y, cs_y,
                                          out + i * rs_o + jb * cs_o, cs_o,
                                          sums ? acc : NULL);
                else   /* a column-major grad reads each row strided */
                    rows.fd_accumulate_row(je - jb, gi, cs_g, acc);
            }
            if (sums)
                for (fd_index j = jb; j < je; j++)
                    sums[j * inc_s] = acc[j - jb];
        }
    }
}

int fd_relu_backward_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         const float *y, fd_index rs_y, fd_index cs_y,
                         float *out, fd_index rs_o, fd_index cs_o,
                         float *bias_grad, fd_index inc_bg, int nthreads)
{
    if (m < 0 || n < 0 || y == NULL || out == NULL)
        return FD_EINVAL;
    if (n > 0)
        fd_column_pass(m, n, grad, rs_g, cs_g, y, rs_y, cs_y, out, rs_o, cs_o,
                       bias_grad, inc_bg, nthreads);
    return FD_OK;
}

int fd_bias_grad_f32(fd_index m, fd_index n,
                     const float *grad, fd_index rs_g, fd_index cs_g,
                     float *out, fd_index inc_o, int nthreads)
{
    if (m < 0 || n < 0)
        return FD_EINVAL;
    if (n > 0)
        fd_column_pass(m, n, grad, rs_g, cs_g, NULL, 0, 0, NULL, 0, 0, out,
                       inc_o, nthreads);
    return FD_OK;
}
