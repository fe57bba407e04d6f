/*
 * gemm_dot.c -- the narrow-n path of fd_sgemm: C = A @ B as dot products
 * along k, for n <= FD_GEMM_NARROW_MAX_N (24) and A with contiguous rows
 * (cs_a == 1, no a_cols): the logits layer, 128x512 @ 512x10.
 *
 * Design: the five loops of gemm.c would pad n = 10 to a 32-wide tile, or,
 * transposed, pack a C-order A through 8x8 transposes (~40% of the time).
 * Here B^T is packed once (n x k, K blocks of FD_GEMM_DOT_BT_FLOATS = 24 KiB
 * that stay in L1) and each C[i, j] is a dot product of row i of A, read in
 * place, with row j of B^T -- R x n vector accumulators over k, one
 * shuffle-tree reduction per row, the micro-kernels' epilogue.  Every lane
 * is useful and A is never transposed.  Wider n runs in even chunks of
 * <= FD_GEMM_DOT_MAX_N (16) columns (20 = 10 + 10); chunks of 13..16 go one
 * row at a time (17 loads per 16 FMAs), so n = 25..32 measured slower than
 * the tiles and stays with them.  The kernels are gemm_avx512.c's and
 * gemm_avx2.c's fd_sgemm_dot_*; the portable level has none (the tiles
 * serve).
 *
 * Threads split the blocks of FD_GEMM_DOT_ROWS rows evenly (static, one
 * parallel region, no barriers); each packs its own B^T when that is small
 * (see fd_gemm_dot_run).  K blocks accumulate into C as in gemm.c (beta = 1
 * after the first; bias and relu on the last), so results do not depend on
 * the thread count.  Buffers are per call; no state.
 */
#include "fd_internal.h"
#include "gemm_internal.h"

typedef struct {
    fd_index m, n, k;
    float alpha, beta;
    const float *a;             /* row i at a + ri(i)*rs_a, unit stride */
    fd_index rs_a;
    const int64_t *a_rows;
    const float *b;             /* B as given */
    fd_index rs_b, cs_b;
    float *bt_work;             /* packed B^T: one per thread, bt_sz floats */
    fd_index bt_sz;             /*   apart (n rows of row stride ldbt), or */
    int bt_shared;              /*   one for all, packed before the region */
    int level;                  /* SIMD level for fd_pack_bt */
    fd_index ldbt;
    fd_index kcb;               /* K block: a multiple of 16 */
    float *c;
    fd_index rs_c, cs_c;
    const float *bias;          /* packed: n contiguous floats, or NULL */
    int relu;
    fd_sgemm_dot_fn dot;
} fd_dot_job;

/* Thread tid's share: an even split of the blocks of FD_GEMM_DOT_ROWS rows.
 * Each thread packs its own copy of B^T first when B^T is small (the usual
 * case: n <= 24 and a few hundred k): a private copy costs less than a
 * serial pack before the parallel region plus the other core fetching it
 * (1.3 MFLOP logits products: the serial pack was the largest part of what
 * did not scale).  A large B^T is packed once, before the region. */
static void fd_gemm_dot_run(const fd_dot_job *J, int tid, int nt)
{
    const float *rows[FD_GEMM_DOT_ROWS];
    FD_ALIGN64 float tmp[FD_GEMM_DOT_ROWS * FD_GEMM_DOT_MAX_N];
    /* even chunks of at most FD_GEMM_DOT_MAX_N columns (20 = 10 + 10) */
    const fd_index nw = fd_cdiv(J->n, fd_cdiv(J->n, FD_GEMM_DOT_MAX_N));
    float *bt = J->bt_work + (J->bt_shared ? 0 : (fd_index)tid * J->bt_sz);
    fd_index b0, b1, ib, i, j0, pc;

    fd_split(fd_cdiv(J->m, FD_GEMM_DOT_ROWS), nt, tid, &b0, &b1);
    if (b0 >= b1)
        return;
    if (!J->bt_shared)
        fd_pack_bt(J->level, J->n, J->k, J->b, J->rs_b, J->cs_b, bt, J->ldbt);
    for (ib = b0; ib < b1; ib++) {
        const fd_index i0 = ib * FD_GEMM_DOT_ROWS;
        const fd_index mr = fd_min(FD_GEMM_DOT_ROWS, J->m - i0);
        float *cp = J->c + i0 * J->rs_c;
        for (i = 0; i < mr; i++)
            rows[i] = J->a + (J->a_rows ? (fd_index)J->a_rows[i0 + i]
                                        : i0 + i) * J->rs_a;
        /* K blocks as in fd_gemm_run: earlier ones accumulate into C with
         * beta = 1, the last one adds the bias and applies relu */
        for (pc = 0; pc < J->k; pc += J->kcb) {
            const fd_index kc = fd_min(J->kcb, J->k - pc);
            const int last = pc + kc >= J->k;
            const float beta = pc == 0 ? J->beta : 1.0f;
            const int relu = last && J->relu;
            /* column chunks of nw (the rows stay in L1 for the next one) */
            for (j0 = 0; j0 < J->n; j0 += nw) {
                const fd_index nr = fd_min(nw, J->n - j0);
                const float *btj = bt + j0 * J->ldbt + pc;
                const float *bias =
                    last && J->bias != NULL ? J->bias + j0 : NULL;
                float *cj = cp + j0 * J->cs_c;
                if (J->cs_c == 1) {
                    J->dot(mr, nr, kc, rows, btj, J->ldbt, cj, J->rs_c,
                           J->alpha, beta, bias, relu);
                } else {
                    J->dot(mr, nr, kc, rows, btj, J->ldbt, tmp,
                           FD_GEMM_DOT_MAX_N, 1.0f, 0.0f, NULL, 0);
                    fd_merge_tile(tmp, FD_GEMM_DOT_MAX_N, mr, nr, cj,
                                  J->rs_c, J->cs_c, J->alpha, beta, bias, 0,
                                  relu);
                }
            }
            for (i = 0; i < mr; i++)
                rows[i] += kc;
        }
    }
}

/* C = A @ B for n <= FD_GEMM_NARROW_MAX_N and A with contiguous rows
 * (cs_a == 1, no a_cols): rows split over threads, each with its own packed
 * B^T. */
int fd_gemm_dot(int level, fd_sgemm_dot_fn dot, fd_index m, fd_index n,
                fd_index k, float alpha, const float *a, fd_index rs_a,
                const int64_t *a_rows, const float *b, fd_index rs_b,
                fd_index cs_b, float beta, float *c, fd_index rs_c,
                fd_index cs_c, const float *bias, fd_index inc_bias,
                int relu, int nthreads)
{
    fd_dot_job J;
    const fd_index ldbt = fd_cdiv(k, 16) * 16;
    const fd_index nblk = fd_cdiv(m, FD_GEMM_DOT_ROWS);
    const double by_work = 2.0 * (double)m * (double)n * (double)k /
                           FD_GEMM_FLOPS_PER_THREAD;
    float *work;
    fd_index j;
    int nt = nthreads < 1 ? 1 : nthreads;

    if (by_work < (double)nt)
        nt = by_work < 1.0 ? 1 : (int)by_work;
    if ((fd_index)nt > nblk)
        nt = (int)nblk;
    /* bias (n floats, padded to 16) then B^T: one per thread, or one in all
     * when it is large (nt copies of a long B^T would cost memory and the
     * packing would no longer be small next to the product) */
    J.bt_sz = fd_cdiv(n * ldbt, 16) * 16;
    J.bt_shared = nt == 1 || J.bt_sz > FD_GEMM_DOT_BT_PRIVATE_MAX;
    work = (float *)fd_gemm_alloc(
        (size_t)(fd_cdiv(n, 16) * 16 +
                 (J.bt_shared ? 1 : (fd_index)nt) * J.bt_sz) * sizeof(float));
    if (work == NULL)
        return FD_ENOMEM;
    J.bt_work = work + fd_cdiv(n, 16) * 16;
    if (J.bt_shared)
        fd_pack_bt(level, n, k, b, rs_b, cs_b, J.bt_work, ldbt);
    J.b = b;
    J.rs_b = rs_b;
    J.cs_b = cs_b;
    J.level = level;
    J.bias = NULL;
    if (bias != NULL) {
        float *bp = work;
        for (j = 0; j < n; j++)
            bp[j] = bias[j * inc_bias];
        J.bias = bp;
    }
    J.m = m;
    J.n = n;
    J.k = k;
    J.alpha = alpha;
    J.beta = beta;
    J.a = a;
    J.rs_a = rs_a;
    J.a_rows = a_rows;
    J.ldbt = ldbt;
    {
        const fd_index nkb = fd_cdiv(k, fd_cdiv(FD_GEMM_DOT_BT_FLOATS, n));
        J.kcb = fd_cdiv(fd_cdiv(k, nkb), 16) * 16;
    }
    J.c = c;
    J.rs_c = rs_c;
    J.cs_c = cs_c;
    J.relu = relu != 0;
    J.dot = dot;

#pragma omp parallel num_threads(nt) if (nt > 1)
    fd_gemm_dot_run(&J, fd_thread_id(), fd_team_size());

    fd_gemm_free(work);
    return FD_OK;
}
