/*
 * dropout.c -- inverted dropout, forward and backward, with masks from
 * Philox4x32-10 (philox.h defines the mask), the fused relu + dropout
 * backward, and the choice of the ISA build of the row loops
 * (dropout_rows.h) for this file and regularize.c.
 *
 * Model: the mask of element (i, j) is a pure function of (seed, step,
 * i*n + j), so nothing is stored between forward and backward (the backward
 * regenerates the words) and no split of the work can change a bit.  The
 * m x n matrix is cut into the row/column-chunk tasks of the elementwise
 * kernels (fd_internal.h; one long row when every operand is row-major); a
 * task makes the Philox words of 1024 elements at a time into a 4 KB stack
 * buffer (fd_philox_fill, vectorised per ISA) and applies them
 * (fd_dropout_row): the words never leave L1.  Generating the words costs
 * several times the memory traffic of the pass (128x512: 4.5 relu passes;
 * the AVX-512 fill alone is ~11 us, about one vpmuludq per cycle), so the
 * team is forked from FD_DROPOUT_PAR_MIN elements on, not FD_PAR_MIN_ELEMS.
 *
 * The arithmetic, which fastdense/reference.py repeats:
 *     scale = 1.0f / (1.0f - (float)rate)            (float32, as Keras/TF)
 *     out   = u(e) >= t ? x * scale : 0.0f            (t = ceil(rate * 2^32))
 * rate must be in [0, 1) (FD_EINVAL otherwise, NaN included).  rate = 0
 * keeps every element (t = 0; scale = 1, so out = x * 1).
 *
 * fd_relu_dropout_backward_f32 (Dropout after a relu layer) needs no mask:
 * the dropout output y is > 0 exactly where relu(z) > 0 and the unit was
 * kept (scale >= 1, so relu(z) * scale > 0 iff relu(z) > 0), hence
 *     dz = y > 0 ? g * scale : 0,   bias_grad = column sums of dz,
 * bit for bit fd_dropout_backward_f32 followed by fd_relu_backward_f32 on
 * relu(z): the same product, the same select, and the column sums formed
 * as elementwise.c forms them (rows in order from 0.0f, per column).
 */
#include <stdint.h>

#include "fd_internal.h"
#include "dropout_internal.h"
#include "philox.h"

#define FD_DR_SUFFIX
#define FD_DR_LINKAGE static
#include "dropout_rows.h"

/* Masked dropout work below this many elements runs on one thread.
 * Measured with tests_c/bench_dropout.py (AVX-512, Zen 5, medians of
 * interleaved runs): 32x512 takes 7 us on one thread, 64x512 12.6 us (7.4 on
 * two), 128x512 21.7 us (13.5 on two): two threads pay from 32k elements. */
#define FD_DROPOUT_PAR_MIN 32768

/* elements per Philox buffer (a multiple of 4 * FD_PHILOX_GROUP) */
#define FD_DROP_BUF 1024

#define FD_DROPOUT_FILL(t, sfx)                                               \
    do {                                                                      \
        (t).fd_philox_fill = fd_philox_fill##sfx;                             \
        (t).fd_dropout_row = fd_dropout_row##sfx;                             \
        (t).fd_relu_dropout_row = fd_relu_dropout_row##sfx;                   \
        (t).fd_l1l2_row = fd_l1l2_row##sfx;                                   \
    } while (0)

fd_dropout_table fd_dropout_select(void)
{
    fd_dropout_table t;
    const int level = fd_simd_level();
    FD_DROPOUT_FILL(t, );
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2)
        FD_DROPOUT_FILL(t, _avx2);
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512)
        FD_DROPOUT_FILL(t, _avx512);
#endif
    (void)level;
    return t;
}

int fd_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                     uint32_t out[4])
{
    uint32_t c[4];
    if (ctr == NULL || key == NULL || out == NULL)
        return FD_EINVAL;
    c[0] = ctr[0];
    c[1] = ctr[1];
    c[2] = ctr[2];
    c[3] = ctr[3];
    fd_philox4x32_10_block(c, key[0], key[1]);
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
    return FD_OK;
}

/* ---- forward and backward --------------------------------------------- */

enum { FD_DROP_MASK, FD_DROP_KEEP_ALL, FD_DROP_NONE_KEPT };

typedef struct {
    uint32_t k0, k1, s0, s1, t;
    int mode;
    float scale;
} fd_dropout_plan;

/* FD_EINVAL unless 0 <= rate < 1 (NaN fails both compares). */
static int fd_dropout_scale(double rate, float *scale)
{
    if (!(rate >= 0.0 && rate < 1.0))
        return FD_EINVAL;
    *scale = 1.0f / (1.0f - (float)rate);
    return FD_OK;
}

static int fd_dropout_plan_make(double rate, uint64_t seed, uint64_t step,
                                fd_dropout_plan *p)
{
    if (fd_dropout_scale(rate, &p->scale) != FD_OK)
        return FD_EINVAL;
    const uint64_t t = fd_dropout_threshold(rate);
    p->k0 = (uint32_t)seed;
    p->k1 = (uint32_t)(seed >> 32);
    p->s0 = (uint32_t)step;
    p->s1 = (uint32_t)(step >> 32);
    p->t = t > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)t;
    p->mode = t == 0 ? FD_DROP_KEEP_ALL
                     : (t > 0xFFFFFFFFu ? FD_DROP_NONE_KEPT : FD_DROP_MASK);
    return FD_OK;
}

/* Elements e0 .. e0+len-1 (global indices) of one row piece. */
static void fd_dropout_piece(const fd_dropout_table *T, const fd_dropout_plan *p,
                             uint64_t e0, fd_index len, const float *x,
                             fd_index cx, float *o, fd_index co)
{
    if (p->mode == FD_DROP_KEEP_ALL) {
        for (fd_index j = 0; j < len; j++)
            o[j * co] = x[j * cx] * p->scale;
        return;
    }
    if (p->mode == FD_DROP_NONE_KEPT) {
        for (fd_index j = 0; j < len; j++)
            o[j * co] = 0.0f;
        return;
    }
    uint32_t buf[FD_DROP_BUF + 4 * FD_PHILOX_GROUP];
    while (len > 0) {
        const fd_index off = (fd_index)(e0 & 3u);
        /* after the first piece, e0 is a multiple of 4: no block twice */
        const fd_index l = fd_min(len, FD_DROP_BUF - off);
        const fd_index nblocks = (off + l + 3) / 4;
        T->fd_philox_fill(buf, e0 >> 2, nblocks, p->k0, p->k1, p->s0, p->s1);
        T->fd_dropout_row(l, buf + off, p->t, p->scale, x, cx, o, co);
        e0 += (uint64_t)l;
        x += l * cx;
        o += l * co;
        len -= l;
    }
}

/* fd_threads_for with the threshold of the masked pass */
static int fd_dropout_threads(fd_index work, int nthreads)
{
    if (nthreads < 1 || work < FD_DROPOUT_PAR_MIN)
        return 1;
    return nthreads > FD_MAX_THREADS ? FD_MAX_THREADS : nthreads;
}

static int fd_dropout_run(fd_index m, fd_index n, const float *x,
                          fd_index rs_x, fd_index cs_x, float *o, fd_index rs_o,
                          fd_index cs_o, double rate, uint64_t seed,
                          uint64_t step, uint64_t first, int nthreads)
{
    fd_dropout_plan p;
    if (m < 0 || n < 0 || fd_dropout_plan_make(rate, seed, step, &p) != FD_OK)
        return FD_EINVAL;
    if (m == 0 || n == 0)
        return FD_OK;
    if (x == NULL || o == NULL)
        return FD_EINVAL;
    /* row-major throughout: one long row, and e = i*n + j is unchanged */
    if (fd_rowmajor(n, rs_x, cs_x, m) && fd_rowmajor(n, rs_o, cs_o, m)) {
        n *= m;
        m = 1;
    }
    const fd_dropout_table T = fd_dropout_select();
    const fd_index per_row = (n + FD_CHUNK - 1) / FD_CHUNK;
    const fd_index tasks = m * per_row;
    int nt = p.mode == FD_DROP_MASK ? fd_dropout_threads(m * n, nthreads)
                                    : fd_threads_for(m * n, nthreads);
    if (nt > tasks)
        nt = (int)tasks;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (fd_index t = 0; t < tasks; t++) {
        const fd_index i = t / per_row;
        const fd_index j0 = (t % per_row) * FD_CHUNK;
        const fd_index j1 = fd_min(n, j0 + FD_CHUNK);
        fd_dropout_piece(&T, &p, first + (uint64_t)i * (uint64_t)n + (uint64_t)j0,
                         j1 - j0, x + i * rs_x + j0 * cs_x, cs_x,
                         o + i * rs_o + j0 * cs_o, cs_o);
    }
    return FD_OK;
}

int fd_dropout_forward_f32(fd_index m, fd_index n,
                           const float *x, fd_index rs_x, fd_index cs_x,
                           float *out, fd_index rs_o, fd_index cs_o,
                           double rate, uint64_t seed, uint64_t step,
                           uint64_t first, int nthreads)
{
    return fd_dropout_run(m, n, x, rs_x, cs_x, out, rs_o, cs_o, rate, seed,
                          step, first, nthreads);
}

int fd_dropout_backward_f32(fd_index m, fd_index n,
                            const float *grad, fd_index rs_g, fd_index cs_g,
                            float *out, fd_index rs_o, fd_index cs_o,
                            double rate, uint64_t seed, uint64_t step,
                            uint64_t first, int nthreads)
{
    /* the same mask, the same scale: grad_in = keep ? grad * scale : 0 */
    return fd_dropout_run(m, n, grad, rs_g, cs_g, out, rs_o, cs_o, rate, seed,
                          step, first, nthreads);
}

/* ---- relu + dropout backward ------------------------------------------ */

/* Columns [j0, j1) of thread `id` of `nt`, cut where the output row `o`
 * (column stride co) starts a 64-byte line, as elementwise.c does. */
static void fd_dropout_column_range(fd_index n, const float *o, fd_index co,
                                    int nt, int id, fd_index *j0, fd_index *j1)
{
    const fd_index shift =
        co == 1 ? (fd_index)(((uintptr_t)o / sizeof(float)) % 16) : 0;
    const fd_index blocks = (n + shift + 15) / 16;
    const fd_index lo = blocks * id / nt * 16 - shift;
    const fd_index hi = blocks * (id + 1) / nt * 16 - shift;
    *j0 = lo < 0 ? 0 : fd_min(n, lo);
    *j1 = hi < 0 ? 0 : fd_min(n, hi);
}

#define FD_DROP_COL_BLOCK 512

int fd_relu_dropout_backward_f32(fd_index m, fd_index n,
                                 const float *grad, fd_index rs_g, fd_index cs_g,
                                 const float *y, fd_index rs_y, fd_index cs_y,
                                 float *out, fd_index rs_o, fd_index cs_o,
                                 double rate, float *bias_grad, fd_index inc_bg,
                                 int nthreads)
{
    float scale;
    if (m < 0 || n < 0 || fd_dropout_scale(rate, &scale) != FD_OK)
        return FD_EINVAL;
    if (n == 0)
        return FD_OK;
    if (grad == NULL || y == NULL || out == NULL)
        return FD_EINVAL;
    const fd_dropout_table T = fd_dropout_select();
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = fd_thread_id(), team = fd_team_size();
        float acc[FD_DROP_COL_BLOCK];
        fd_index j0, j1;
        fd_dropout_column_range(n, out, cs_o, team, id, &j0, &j1);
        for (fd_index jb = j0; jb < j1; jb += FD_DROP_COL_BLOCK) {
            const fd_index je = fd_min(j1, jb + FD_DROP_COL_BLOCK);
            if (bias_grad)
                for (fd_index j = jb; j < je; j++)
                    acc[j - jb] = 0.0f;
            for (fd_index i = 0; i < m; i++)
                T.fd_relu_dropout_row(je - jb, grad + i * rs_g + jb * cs_g, cs_g,
                                      y + i * rs_y + jb * cs_y, cs_y,
                                      out + i * rs_o + jb * cs_o, cs_o, scale,
                                      bias_grad ? acc : NULL);
            if (bias_grad)
                for (fd_index j = jb; j < je; j++)
                    bias_grad[j * inc_bg] = acc[j - jb];
        }
    }
    return FD_OK;
}
