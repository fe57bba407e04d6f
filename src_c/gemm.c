/*
 * gemm.c -- fd_sgemm: C = alpha*op(A) @ B + beta*C, + bias, relu (float32):
 * the frame -- kernel choice, planning, the five loops, the thread split.
 *
 * Design (BLIS-style): five loops around a register-blocked micro-kernel.
 *
 *   for jc in n by NC            B block  (KC x NC) lives in L3
 *     for pc in k by KC          pack B block into NR-wide panels
 *       for ic in m by MC        pack A block (MC x KC) into MR-high panels, L2
 *         for jr in nc by NR     B micro-panel (KC x NR) stays in L1
 *           for ir in mc by MR   micro-kernel: MR x NR tile of C in registers
 *
 * The pieces, one file each (interfaces in gemm_internal.h):
 *   gemm_config.h   every block size and threshold below, with the
 *                   measurement that chose it (the -D overridable ones too)
 *   gemm_pack.c     the packers: any strides, any sign, the a_rows / a_cols
 *                   gathers; panels zero padded, so the micro-kernel always
 *                   computes full tiles
 *   gemm_dot.c      narrow n (n <= 24, C-order A: the logits layer) as dot
 *                   products along k, bypassing the five loops
 *   gemm_generic.c, gemm_avx2.c, gemm_avx512.c   the micro-kernels
 * and, at the end of this file, fd_sgemm_route: whether fd_sgemm or a tuned
 * BLAS should compute a product (ops.dot's choice; rule in gemm_config.h).
 *
 * Kernels (chosen at run time by fd_simd_level(), FD_SIMD_*):
 *             micro-kernel                             narrow n (dot form)
 *   AVX-512F  8x32 or 12x32  MC 144  KC 800  NC 4080   R x n, 16 lanes of k
 *   AVX2+FMA  6x16           MC 144  KC 256  NC 4080   R x n,  8 lanes of k
 *   portable  4x8            MC 128  KC 256  NC 2048   (none)
 *
 * Partial tiles (and C views whose column stride is not 1) are computed
 * into a small temporary tile and merged by scalar code (fd_merge_tile).
 * The epilogue -- alpha, beta (C never read when beta == 0), bias per
 * column, relu as x < 0 ? 0 : x -- is applied in the write-back of the
 * *last* K block; earlier K blocks accumulate into C with beta = 1.  Zeros
 * are never skipped, so inf*0 = NaN propagates as in NumPy.  The summation
 * order along k depends only on the kernel and the K blocking, never on the
 * thread count: results are the same bits at every thread count.
 *
 * Orientation: when n is narrow against the 32-wide tile (n = 10) or C is
 * Fortran ordered, the frame computes C^T = B^T A^T instead (10 of 12 rows
 * of a tile used rather than 10 of 32 columns); the bias then applies per
 * row in the scalar write-back.  B with contiguous rows is read in place by
 * the micro-kernel instead of packed where that measured faster (the
 * direct_b rule in fd_sgemm).
 *
 * Threads (OpenMP, static, one parallel region per call, no barriers): each
 * thread owns a rectangle of whole tiles of C and runs the five loops on it
 * with its *own* packing buffers.  The jr_ways x ir_ways grid minimises the
 * busiest thread's tile area plus its packing: at m = 128, n = 512 the two
 * threads take half of the columns each (each packs all of A, ~4% extra
 * work, its own half of B); at m = 10000 they split the rows; at n = 10
 * (transposed: 10 x 128) the columns of C^T.  No shared buffers means no
 * barriers, so a thread descheduled on a loaded machine delays nobody but
 * the final join.  Small problems use fewer threads
 * (FD_GEMM_FLOPS_PER_THREAD each), and m*n*k <= FD_GEMM_SMALL_MNK skips
 * packing altogether (direct triple loop).
 *
 * No global mutable state: the packing buffers are allocated per call
 * (64-byte aligned) and freed before returning; FD_ENOMEM if that fails.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200112L /* posix_memalign under -std=c99 */
#endif
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(_WIN32)
#include <malloc.h>
#endif

#include "fd_internal.h"
#include "gemm_internal.h"

void *fd_gemm_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
#if defined(_WIN32)
    p = _aligned_malloc(bytes, 64);
#else
    if (posix_memalign(&p, 64, bytes) != 0)
        p = NULL;
#endif
    return p;
}

void fd_gemm_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* ---- kernel selection -------------------------------------------------- */

typedef struct {
    fd_sgemm_ukr_fn ukr;
    int mr, nr;
    fd_index mc, kc, nc;
    int level;
    fd_sgemm_dot_fn dot;        /* narrow-n kernel, or NULL */
} fd_gemm_kernel;

static fd_gemm_kernel fd_gemm_select(int level)
{
    fd_gemm_kernel kk;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512) {
        kk.ukr = fd_sgemm_ukr_avx512_12x32;
        kk.mr = FD_GEMM_AVX512_MR;
        kk.nr = FD_GEMM_AVX512_NR;
        kk.mc = FD_GEMM_AVX512_MC;
        kk.kc = FD_GEMM_AVX512_KC;
        kk.nc = FD_GEMM_AVX512_NC;
        kk.level = FD_SIMD_AVX512;
        kk.dot = fd_sgemm_dot_avx512;
        return kk;
    }
#endif
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2) {
        kk.ukr = fd_sgemm_ukr_avx2_6x16;
        kk.mr = FD_GEMM_AVX2_MR;
        kk.nr = FD_GEMM_AVX2_NR;
        kk.mc = FD_GEMM_AVX2_MC;
        kk.kc = FD_GEMM_AVX2_KC;
        kk.nc = FD_GEMM_AVX2_NC;
        kk.level = FD_SIMD_AVX2;
        kk.dot = fd_sgemm_dot_avx2;
        return kk;
    }
#endif
    (void)level;
    kk.ukr = fd_sgemm_ukr_generic;
    kk.mr = FD_GEMM_GENERIC_MR;
    kk.nr = FD_GEMM_GENERIC_NR;
    kk.mc = FD_GEMM_GENERIC_MC;
    kk.kc = FD_GEMM_GENERIC_KC;
    kk.nc = FD_GEMM_GENERIC_NC;
    kk.level = FD_SIMD_GENERIC;
    kk.dot = NULL;
    return kk;
}

/* ---- epilogue helpers ---------------------------------------------------- */

/* C[0:mr, 0:nr] = alpha*T + beta*C (+bias)(relu), T row-major with ld ldt.
 * The bias is per column (bias[j]) or, for the transposed orientation, per
 * row (bias[i]). */
void fd_merge_tile(const float *restrict t, fd_index ldt, fd_index mr,
                   fd_index nr, float *c, fd_index rs_c, fd_index cs_c,
                   float alpha, float beta, const float *bias, int bias_rows,
                   int relu)
{
    fd_index i, j;
    for (i = 0; i < mr; i++) {
        for (j = 0; j < nr; j++) {
            float *cp = c + i * rs_c + j * cs_c;
            float v = alpha * t[i * ldt + j];
            if (beta != 0.0f)
                v += beta * *cp;
            if (bias != NULL)
                v += bias_rows ? bias[i] : bias[j];
            if (relu)
                v = v < 0.0f ? 0.0f : v;
            *cp = v;
        }
    }
}

/* ---- the parallel job --------------------------------------------------- */

/* One operand as the packer sees it: element (v, p) -- v the row of A or the
 * column of B, p the index along k -- is base[V(v)*vs + P(p)*ps]. */
typedef struct {
    const float *base;
    fd_index vs, ps;
    const int64_t *vidx, *pidx;
} fd_operand;

typedef struct {
    fd_index m, n, k;           /* of the (possibly transposed) problem */
    float alpha, beta;
    fd_operand A, B;
    float *c;
    fd_index rs_c, cs_c;
    const float *bias;          /* packed: contiguous, zero padded */
    int bias_rows;              /* 1: bias per row (transposed problem) */
    int relu;
    int direct_b;               /* full B panels read in place (see below) */
    fd_gemm_kernel kk;
    fd_index mcb, kcb, ncb;     /* balanced block sizes */
    int jr_ways, ir_ways;       /* thread grid over C */
    fd_index apack_sz, bpack_sz; /* floats per thread */
    float *work;                /* nt * (apack_sz + bpack_sz) floats */
} fd_gemm_job;

/* Thread grid jr_ways x ir_ways == nt over the m_t x n_t tiles of C:
 * minimise the busiest thread's work = its tiles' area plus the packing of
 * its own A rows and B columns (threads never share packed data). */
static int fd_grid_jr_ways(int nt, fd_index m_t, fd_index n_t, int mr, int nr)
{
    int d, best = 1;
    double best_cost = -1.0;
    for (d = nt; d >= 1; d--) {
        double rows, cols, cost;
        if (nt % d != 0)
            continue;
        rows = (double)(fd_cdiv(m_t, nt / d) * mr);
        cols = (double)(fd_cdiv(n_t, d) * nr);
        cost = rows * cols + FD_GEMM_PACK_COST * (rows + cols);
        if (best_cost < 0.0 || cost < best_cost) {
            best_cost = cost;
            best = d;
        }
    }
    return best;
}

/* One MR x NR tile of C at (row, col) of the current (pc, kc) block: the
 * micro-kernel writes C directly when the tile is whole and C has unit
 * column stride, else computes into tmp and merges. */
FD_INLINE void fd_gemm_tile(const fd_gemm_job *J, fd_index kc, int last,
                            float beta, int relu, const float *ap,
                            const float *bp, fd_index ldb, fd_index row,
                            fd_index mr, fd_index col, fd_index nr,
                            float *tmp)
{
    const int MR = J->kk.mr, NR = J->kk.nr;
    const int bias_rows = last && J->bias != NULL && J->bias_rows;
    const float *bias = last && J->bias != NULL && !J->bias_rows
                            ? J->bias + col : NULL;
    float *cp = J->c + row * J->rs_c + col * J->cs_c;
    if (mr == MR && nr == NR && J->cs_c == 1 && !bias_rows) {
        J->kk.ukr(kc, ap, bp, ldb, cp, J->rs_c, J->alpha, beta, bias, relu);
    } else {
        J->kk.ukr(kc, ap, bp, ldb, tmp, NR, 1.0f, 0.0f, NULL, 0);
        fd_merge_tile(tmp, NR, mr, nr, cp, J->rs_c, J->cs_c, J->alpha, beta,
                      bias_rows ? J->bias + row : bias, J->bias_rows, relu);
    }
}

/* Panel jr of the B block at (pc, jc): packed, or read in place from B
 * (*ldb = its row stride) when direct_b and the panel is whole. */
FD_INLINE const float *fd_b_panel(const fd_gemm_job *J, const float *bpack,
                                  fd_index pc, fd_index kc, fd_index jc,
                                  fd_index jr, fd_index nr, fd_index *ldb)
{
    const int NR = J->kk.nr;
    if (J->direct_b && nr == NR) {
        *ldb = J->B.ps;
        return J->B.base + pc * J->B.ps + jc + jr * NR;
    }
    *ldb = NR;
    return bpack + jr * NR * kc;
}

/* Thread tid's share: a rectangle of whole tiles of C, computed with the
 * serial five loops and private packing buffers -- no barriers at all.
 *
 * Tile order inside an (ic, pc) block: BLIS walks a column of tiles per B
 * panel (the kc x NR panel stays in L1 while the A block streams from L2).
 * When the whole B block is small (short k: 128x10 @ 10x512 has a 20 KiB
 * block), rows of tiles instead write C row by row, which measured 4-9%
 * faster there (more so on two threads, each writing its own columns). */
static void fd_gemm_run(const fd_gemm_job *J, int tid, int nt)
{
    const int MR = J->kk.mr, NR = J->kk.nr, level = J->kk.level;
    const fd_index k = J->k;
    int jr_ways = J->jr_ways, ir_ways = J->ir_ways;
    float *apack, *bpack;
    FD_ALIGN64 float tmp[FD_GEMM_MR_MAX * FD_GEMM_NR_MAX];
    fd_index r0, r1, c0, c1, jc, pc, ic, jr, ir, ldb;

    if (jr_ways * ir_ways != nt) { /* the runtime gave fewer threads */
        jr_ways = nt;
        ir_ways = 1;
        if (fd_cdiv(J->n, NR) < nt) {
            jr_ways = 1;
            ir_ways = nt;
        }
    }
    fd_split(fd_cdiv(J->m, MR), ir_ways, tid % ir_ways, &r0, &r1);
    fd_split(fd_cdiv(J->n, NR), jr_ways, tid / ir_ways, &c0, &c1);
    r0 *= MR;
    r1 = fd_min(r1 * MR, J->m);
    c0 *= NR;
    c1 = fd_min(c1 * NR, J->n);
    if (r0 >= r1 || c0 >= c1)
        return;
    apack = J->work + (fd_index)tid * (J->apack_sz + J->bpack_sz);
    bpack = apack + J->apack_sz;

    for (jc = c0; jc < c1; jc += J->ncb) {
        const fd_index nc = fd_min(J->ncb, c1 - jc);
        const fd_index n_jr = fd_cdiv(nc, NR);
        for (pc = 0; pc < k; pc += J->kcb) {
            const fd_index kc = fd_min(J->kcb, k - pc);
            const int last = pc + kc >= k;
            const float beta = pc == 0 ? J->beta : 1.0f;
            const int relu = last && J->relu;
            const int rows_outer = kc * nc <= FD_GEMM_ROWS_OUTER_B_FLOATS;

            if (!J->direct_b) {
                fd_pack_block(level, NR, nc, kc, J->B.base, J->B.vs,
                              J->B.vidx, jc, J->B.ps, J->B.pidx, pc, bpack);
            } else if (nc % NR != 0) { /* only the partial panel */
                jr = n_jr - 1;
                fd_pack_panel(level, NR, nc - jr * NR, kc, J->B.base, J->B.vs,
                              J->B.vidx, jc + jr * NR, J->B.ps, J->B.pidx, pc,
                              bpack + jr * NR * kc);
            }

            for (ic = r0; ic < r1; ic += J->mcb) {
                const fd_index mc = fd_min(J->mcb, r1 - ic);
                const fd_index n_ir = fd_cdiv(mc, MR);
                fd_pack_block(level, MR, mc, kc, J->A.base, J->A.vs,
                              J->A.vidx, ic, J->A.ps, J->A.pidx, pc, apack);

                if (rows_outer) {
                    for (ir = 0; ir < n_ir; ir++) {
                        const fd_index mr = fd_min(MR, mc - ir * MR);
                        for (jr = 0; jr < n_jr; jr++) {
                            const fd_index nr = fd_min(NR, nc - jr * NR);
                            const float *bp = fd_b_panel(J, bpack, pc, kc, jc,
                                                         jr, nr, &ldb);
                            fd_gemm_tile(J, kc, last, beta, relu,
                                         apack + ir * MR * kc, bp, ldb,
                                         ic + ir * MR, mr, jc + jr * NR, nr,
                                         tmp);
                        }
                    }
                } else {
                    for (jr = 0; jr < n_jr; jr++) {
                        const fd_index nr = fd_min(NR, nc - jr * NR);
                        const float *bp = fd_b_panel(J, bpack, pc, kc, jc, jr,
                                                     nr, &ldb);
                        for (ir = 0; ir < n_ir; ir++) {
                            const fd_index mr = fd_min(MR, mc - ir * MR);
                            fd_gemm_tile(J, kc, last, beta, relu,
                                         apack + ir * MR * kc, bp, ldb,
                                         ic + ir * MR, mr, jc + jr * NR, nr,
                                         tmp);
                        }
                    }
                }
            }
        }
    }
}


/* ---- paths without packing ---------------------------------------------- */

/* k == 0: C = beta*C (+bias)(relu). */
static void fd_gemm_scale(fd_index m, fd_index n, float beta, float *c,
                          fd_index rs_c, fd_index cs_c, const float *bias,
                          fd_index inc_bias, int relu)
{
    fd_index i, j;
    for (i = 0; i < m; i++) {
        for (j = 0; j < n; j++) {
            float *cp = c + i * rs_c + j * cs_c;
            float v = beta != 0.0f ? beta * *cp : 0.0f;
            if (bias != NULL)
                v += bias[j * inc_bias];
            if (relu)
                v = v < 0.0f ? 0.0f : v;
            *cp = v;
        }
    }
}

/* Tiny problems: dot products straight from the strided operands. */
static void fd_gemm_direct(fd_index m, fd_index n, fd_index k, float alpha,
                           const float *a, fd_index rs_a, fd_index cs_a,
                           const int64_t *a_rows, const int64_t *a_cols,
                           const float *b, fd_index rs_b, fd_index cs_b,
                           float beta, float *c, fd_index rs_c, fd_index cs_c,
                           const float *bias, fd_index inc_bias, int relu)
{
    fd_index i, j, p;
    for (i = 0; i < m; i++) {
        const float *ai =
            a + (a_rows ? (fd_index)a_rows[i] : i) * rs_a;
        for (j = 0; j < n; j++) {
            const float *bj = b + j * cs_b;
            float *cp = c + i * rs_c + j * cs_c;
            float s = 0.0f, v;
            for (p = 0; p < k; p++) {
                const fd_index pp = a_cols ? (fd_index)a_cols[p] : p;
                s += ai[pp * cs_a] * bj[p * rs_b];
            }
            v = alpha * s;
            if (beta != 0.0f)
                v += beta * *cp;
            if (bias != NULL)
                v += bias[j * inc_bias];
            if (relu)
                v = v < 0.0f ? 0.0f : v;
            *cp = v;
        }
    }
}

/* ---- entry point -------------------------------------------------------- */

int fd_sgemm(fd_index m, fd_index n, fd_index k, float alpha,
             const float *a, fd_index rs_a, fd_index cs_a,
             const int64_t *a_rows, const int64_t *a_cols,
             const float *b, fd_index rs_b, fd_index cs_b,
             float beta, float *c, fd_index rs_c, fd_index cs_c,
             const float *bias, fd_index inc_bias, int relu, int nthreads)
{
    fd_gemm_job J;
    fd_index nmb, nkb, nnb, npad, j, m_t, n_t, rows_t, cols_t;
    float *bias_pack = NULL;
    double flops, area1, area2;
    int nt, transpose;

    if (m < 0 || n < 0 || k < 0)
        return FD_EINVAL;
    if (m == 0 || n == 0)
        return FD_OK;
    if (k == 0) {
        fd_gemm_scale(m, n, beta, c, rs_c, cs_c, bias, inc_bias, relu);
        return FD_OK;
    }
    flops = 2.0 * (double)m * (double)n * (double)k;
    if ((double)m * (double)n * (double)k <= FD_GEMM_SMALL_MNK) {
        fd_gemm_direct(m, n, k, alpha, a, rs_a, cs_a, a_rows, a_cols, b, rs_b,
                       cs_b, beta, c, rs_c, cs_c, bias, inc_bias, relu);
        return FD_OK;
    }

    J.kk = fd_gemm_select(fd_simd_level());

    /* Narrow n with contiguous rows of A (the logits layer, C-order A):
     * dot products along k read A in place, every SIMD lane useful. */
    if (J.kk.dot != NULL && n <= FD_GEMM_NARROW_MAX_N && cs_a == 1 &&
        a_cols == NULL)
        return fd_gemm_dot(J.kk.level, J.kk.dot, m, n, k, alpha, a, rs_a, a_rows, b, rs_b,
                           cs_b, beta, c, rs_c, cs_c, bias, inc_bias, relu,
                           nthreads);

    J.alpha = alpha;
    J.beta = beta;
    J.relu = relu != 0;

    /* Orientation: C = A @ B, or C^T = B^T @ A^T when that wastes less of
     * the zero-padded tiles (n = 10 fills 10/32 of a 12x32 tile, but 10/12
     * of it transposed) or when C is Fortran ordered; a C whose column
     * stride is not 1 costs a scalar write-back (weight 1.25). */
    area1 = (double)(fd_cdiv(m, J.kk.mr) * J.kk.mr) *
            (double)(fd_cdiv(n, J.kk.nr) * J.kk.nr);
    area2 = (double)(fd_cdiv(n, J.kk.mr) * J.kk.mr) *
            (double)(fd_cdiv(m, J.kk.nr) * J.kk.nr);
    if (cs_c != 1)
        area1 *= 1.25;
    if (rs_c != 1)
        area2 *= 1.25;
    transpose = area2 < area1;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (J.kk.level == FD_SIMD_AVX512) {
        /* 8x32 when it pads fewer rows than 12x32 (m = 128: 128 vs 132) */
        enum { MR8 = FD_GEMM_AVX512_MR_SMALL, MR12 = FD_GEMM_AVX512_MR };
        const fd_index mm = transpose ? n : m;
        if (fd_cdiv(mm, MR8) * MR8 < fd_cdiv(mm, MR12) * MR12) {
            J.kk.ukr = fd_sgemm_ukr_avx512_8x32;
            J.kk.mr = MR8;
            J.kk.mc = FD_GEMM_AVX512_MC / MR8 * MR8;
        }
    }
#endif
    if (!transpose) {
        J.m = m;
        J.n = n;
        J.A.base = a; J.A.vs = rs_a; J.A.ps = cs_a;
        J.A.vidx = a_rows; J.A.pidx = a_cols;
        J.B.base = b; J.B.vs = cs_b; J.B.ps = rs_b;
        J.B.vidx = NULL; J.B.pidx = NULL;
        J.rs_c = rs_c;
        J.cs_c = cs_c;
    } else {
        J.m = n;
        J.n = m;
        J.A.base = b; J.A.vs = cs_b; J.A.ps = rs_b;
        J.A.vidx = NULL; J.A.pidx = NULL;
        J.B.base = a; J.B.vs = rs_a; J.B.ps = cs_a;
        J.B.vidx = a_rows; J.B.pidx = a_cols;
        J.rs_c = cs_c;
        J.cs_c = rs_c;
    }
    J.k = k;
    J.c = c;
    J.bias_rows = transpose;
    /* B with contiguous rows (C-order B, or A^T of a transposed problem
     * whose A is Fortran ordered / a transposed view) is read in place by
     * the micro-kernel (ldb = its row stride) instead of copied: for the
     * 10-row transposed weight gradient every B panel is used once, so the
     * copy was half the time (512x128 @ 128x10: 72 -> 120 GFLOP/s); at
     * m = 128..784 it pays only when every row of the panel starts on a
     * 64-byte line: 128x784 @ 784x512 took 402 us in place, 430 us packed,
     * and 455-496 us in place from NumPy's usual 16-mod-64 address, where
     * each 64-byte load spans two lines.  A panel used once (m <= MR) is
     * read in place at any alignment.  Large m keeps packing (predict:
     * packed panels ~1% faster, and no long-stride streams). */
    J.direct_b = J.B.vidx == NULL && J.B.pidx == NULL && J.B.vs == 1 &&
                 J.m <= FD_GEMM_DIRECT_B_MAX_M &&
                 (J.m <= J.kk.mr ||
                  ((uintptr_t)J.B.base % 64 == 0 &&
                   (J.B.ps * (fd_index)sizeof(float)) % 64 == 0));

    /* threads: enough work each, and no more than the tiles */
    m_t = fd_cdiv(J.m, J.kk.mr);
    n_t = fd_cdiv(J.n, J.kk.nr);
    nt = nthreads < 1 ? 1 : nthreads;
    {
        const double by_work = flops / FD_GEMM_FLOPS_PER_THREAD;
        if (by_work < (double)nt)
            nt = by_work < 1.0 ? 1 : (int)by_work;
        if ((double)nt > (double)m_t * (double)n_t)
            nt = (int)(m_t * n_t);
    }
    J.jr_ways = fd_grid_jr_ways(nt, m_t, n_t, J.kk.mr, J.kk.nr);
    J.ir_ways = nt / J.jr_ways;
    rows_t = fd_cdiv(m_t, J.ir_ways) * J.kk.mr;
    cols_t = fd_cdiv(n_t, J.jr_ways) * J.kk.nr;

    /* balanced block sizes (MC, NC multiples of MR, NR; KC of 8) */
    nmb = fd_cdiv(rows_t, J.kk.mc);
    nkb = fd_cdiv(k, J.kk.kc);
    nnb = fd_cdiv(cols_t, J.kk.nc);
    J.mcb = fd_cdiv(fd_cdiv(rows_t, nmb), J.kk.mr) * J.kk.mr;
    J.kcb = fd_cdiv(fd_cdiv(k, nkb), 8) * 8;
    J.ncb = fd_cdiv(fd_cdiv(cols_t, nnb), J.kk.nr) * J.kk.nr;
    /* per-thread buffers, each a multiple of 16 floats (64 bytes); sized
     * for the whole C so a smaller team than asked for still fits */
    J.apack_sz = fd_cdiv(fd_min(J.mcb, m_t * J.kk.mr) * J.kcb, 16) * 16;
    J.bpack_sz = fd_cdiv(fd_min(J.ncb, n_t * J.kk.nr) * J.kcb, 16) * 16;

    J.work = (float *)fd_gemm_alloc((size_t)nt *
                                    (size_t)(J.apack_sz + J.bpack_sz) *
                                    sizeof(float));
    J.bias = NULL;
    if (bias != NULL) {
        npad = fd_cdiv(n, J.kk.nr) * J.kk.nr;
        bias_pack = (float *)fd_gemm_alloc((size_t)npad * sizeof(float));
        if (bias_pack != NULL) {
            for (j = 0; j < n; j++)
                bias_pack[j] = bias[j * inc_bias];
            for (; j < npad; j++)
                bias_pack[j] = 0.0f;
        }
        J.bias = bias_pack;
    }
    if (J.work == NULL || (bias != NULL && bias_pack == NULL)) {
        fd_gemm_free(J.work);
        fd_gemm_free(bias_pack);
        return FD_ENOMEM;
    }

#pragma omp parallel num_threads(nt) if (nt > 1)
    fd_gemm_run(&J, fd_thread_id(), fd_team_size());

    fd_gemm_free(J.work);
    fd_gemm_free(bias_pack);
    return FD_OK;
}


/* ---- ours or a BLAS ------------------------------------------------------ */

/* The rule and its measurements: gemm_config.h.  nthreads is part of the
 * interface (a split changes who wins); the rule does not use it yet. */
int fd_sgemm_route(fd_index m, fd_index n, fd_index k, int a_rows_contiguous,
                   int nthreads, int level)
{
    double flops;
    (void)nthreads;
    if (level < 0)
        level = fd_simd_level();
    if (level < FD_SIMD_AVX512)
        return FD_ROUTE_BLAS;
    if (m <= 1 || n <= 1)
        return FD_ROUTE_BLAS;
    flops = 2.0 * (double)m * (double)n * (double)k;
    if (flops < FD_ROUTE_SMALL_FLOPS)
        return FD_ROUTE_BLAS;
    if (n <= FD_ROUTE_DOT_MAX_N && a_rows_contiguous)
        return FD_ROUTE_OURS;
    if (flops < FD_ROUTE_MID_FLOPS)
        return FD_ROUTE_BLAS;
    if ((n >= 13 && n <= 16) || (n >= 33 && n <= 48) ||
        (n >= 17 && n <= 24 && !a_rows_contiguous))
        return FD_ROUTE_BLAS;
    return FD_ROUTE_OURS;
}
