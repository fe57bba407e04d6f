/*
 * gemm.c -- fd_sgemm: C = alpha*op(A) @ B + beta*C, + bias, relu (float32).
 *
 * Design (BLIS-style): five loops around a register-blocked micro-kernel.
 *
 *   for jc in n by NC            B block  (KC x NC) lives in L3
 *     for pc in k by KC          pack B block into NR-wide panels
 *       for ic in m by MC        pack A block (MC x KC) into MR-high panels, L2
 *         for jr in nc by NR     B micro-panel (KC x NR) stays in L1
 *           for ir in mc by MR   micro-kernel: MR x NR tile of C in registers
 *
 * Packing reads A and B through their element strides (any sign, any
 * layout, and the a_rows / a_cols gathers), so C order, Fortran order,
 * transposed, strided and gathered views all cost the same; the only
 * layout-dependent step is the copy itself (contiguous copy, or an 8x8
 * SIMD transpose when the packed dimension is strided).  Panels are padded
 * with zeros, so the micro-kernel always computes full tiles; partial tiles
 * (and C views whose column stride is not 1) are computed into a small
 * temporary tile and merged by scalar code.  The epilogue -- alpha, beta
 * (C never read when beta == 0), bias per column, relu as x < 0 ? 0 : x --
 * is applied in the write-back of the *last* K block; earlier K blocks
 * accumulate into C with beta = 1.  Zeros are never skipped, so inf*0 = NaN
 * propagates as in NumPy.
 *
 * Kernels (chosen at run time by fd_simd_level()):
 *             micro-kernel                             narrow n (dot form)
 *   AVX-512F  8x32 or 12x32  MC 144  KC 800  NC 4080   R x n, 16 lanes of k
 *   AVX2+FMA  6x16           MC 144  KC 256  NC 4080   R x n,  8 lanes of k
 *   portable  4x8            MC 128  KC 256  NC 2048   (none)
 * (gemm_avx512.c, gemm_avx2.c, and the portable one below.)
 * Block sizes, for Zen 5 (L1d 48 KiB, L2 1 MiB per core, L3 32 MiB),
 * measured on one core with thread CPU time: KC 256, 384 and 512 ran within
 * noise of each other (~220-235 GFLOP/s at 128x784x512); KC 800, i.e. one K
 * block for k = 784, gained ~3-6% at 128x784x512 and 10000x784x512 because
 * C is then written once instead of written, re-read and written again.  The
 * KC x 32 B micro-panel (784*32*4 = 98 KiB) then streams from L2 rather than
 * sitting in L1 -- at 128 bytes per 8 cycles that is well within Zen 5's L2
 * bandwidth -- and the MC x KC A block (144*784*4 = 441 KiB) plus the B
 * micro-panel fit the 1 MiB L2; the KC x NC B block lives in L3.  (Zen 3
 * BLIS's MC 144 / KC 256 assume a 512 KiB L2.)  The block counts are
 * balanced (k = 1000 gives 2 blocks of 504, not 800 + 200).
 *
 * Narrow n (n <= 24) with contiguous rows of A (cs_a == 1, no a_cols; the
 * logits layer 128x512 @ 512x10) skips all of the above: B^T is packed
 * once (n x k, 24 KiB K blocks that stay in L1) and each C[i, j] is a dot
 * product of row i of A, read in place, with row j of B^T -- R x n vector
 * accumulators over k, one shuffle-tree reduction per row, the same
 * epilogue.  Every lane is useful and A is never transposed (the 8x8
 * transposes that packed C-order A were ~40% of the time); threads split
 * the rows.  Wider n runs in chunks of <= 16 columns, and chunks of 13..16
 * go one row at a time (17 loads per 16 FMAs), so n = 25..32 measured
 * slower than the tiles and stays with them.
 *
 * Orientation: when n is narrow against the 32-wide tile (n = 10) or C is
 * Fortran ordered, the driver computes C^T = B^T A^T instead (10 of 12 rows
 * of a tile used rather than 10 of 32 columns); the bias then applies per
 * row in the scalar write-back.
 *
 * Threads (OpenMP, static, one parallel region per call, no barriers): each
 * thread owns a rectangle of whole tiles of C and runs the five loops on it
 * with its *own* packing buffers.  The jr_ways x ir_ways grid minimises the
 * busiest thread's tile area plus its packing: at m = 128, n = 512 the two
 * threads take half of the columns each (each packs all of A, ~4% extra
 * work, its own half of B); at m = 10000 they split the rows; at n = 10
 * (transposed: 10 x 128) the columns of C^T.  No shared buffers means no
 * barriers, so a thread descheduled on a loaded machine delays nobody but
 * the final join.  Small problems use fewer threads (~300 kflop each), and
 * m*n*k <= 4096 skips packing altogether (direct triple loop).
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

/* Block sizes (overridable with -D for tuning experiments). */
/* AVX2 6x16: BLIS's Zen block sizes (MC 144, KC 256) */
#ifndef FD_GEMM_AVX2_MC
#define FD_GEMM_AVX2_MC 144
#endif
#ifndef FD_GEMM_AVX2_KC
#define FD_GEMM_AVX2_KC 256
#endif
#ifndef FD_GEMM_AVX2_NC
#define FD_GEMM_AVX2_NC 4080
#endif
#ifndef FD_GEMM_AVX512_MC
#define FD_GEMM_AVX512_MC 144
#endif
#ifndef FD_GEMM_AVX512_KC
#define FD_GEMM_AVX512_KC 800
#endif
#ifndef FD_GEMM_AVX512_NC
#define FD_GEMM_AVX512_NC 4080
#endif

/* B read in place (not packed) when the rows of the problem are at most
 * this many; see fd_sgemm. */
#ifndef FD_GEMM_DIRECT_B_MAX_M
#define FD_GEMM_DIRECT_B_MAX_M 1024
#endif

/* Direct (unpacked) path below this m*n*k. */
#define FD_GEMM_SMALL_MNK 4096.0
/* Roughly the flops one more thread must get to pay for waking it (a
 * fork/join costs ~0.45 us here).  Measured on the seed network's
 * 1.3-MFLOP products, 2 threads against 1, in one C loop on an idle
 * machine: 128x512 @ 512x10 (dot path) 6.8 -> 4.1 us, (512x128)^T @ 128x10
 * 10.0 -> 5.8 us, 128x10 @ (512x10)^T 7.5 -> 5.0 us.  (An earlier tuning,
 * taken while the other core was busy, had kept the first and last on one
 * thread.) */
#ifndef FD_GEMM_FLOPS_PER_THREAD
#define FD_GEMM_FLOPS_PER_THREAD 500000.0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FD_ALIGN64 __attribute__((aligned(64)))
#elif defined(_MSC_VER)
#define FD_ALIGN64 __declspec(align(64))
#else
#define FD_ALIGN64
#endif

static void *fd_gemm_alloc(size_t bytes)
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

static void fd_gemm_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* ---- portable micro-kernel ------------------------------------------- */

static void fd_sgemm_ukr_generic(fd_index kc, const float *restrict a,
                                 const float *restrict b, fd_index ldb,
                                 float *restrict c,
                                 fd_index ldc, float alpha, float beta,
                                 const float *restrict bias, int relu)
{
    enum { MR = FD_GEMM_GENERIC_MR, NR = FD_GEMM_GENERIC_NR };
    float acc[MR][NR];
    fd_index p;
    int i, j;

    for (i = 0; i < MR; i++)
        for (j = 0; j < NR; j++)
            acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++) {
        for (i = 0; i < MR; i++) {
            const float ai = a[i];
            for (j = 0; j < NR; j++)
                acc[i][j] += ai * b[j];
        }
        a += MR;
        b += ldb;
    }
    for (i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        for (j = 0; j < NR; j++) {
            float v = alpha * acc[i][j];
            if (beta != 0.0f)
                v += beta * ci[j];
            if (bias != NULL)
                v += bias[j];
            if (relu)
                v = v < 0.0f ? 0.0f : v;
            ci[j] = v;
        }
    }
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
    if (level >= 2) {
        kk.ukr = fd_sgemm_ukr_avx512_12x32;
        kk.mr = 12;
        kk.nr = FD_GEMM_AVX512_NR;
        kk.mc = FD_GEMM_AVX512_MC;
        kk.kc = FD_GEMM_AVX512_KC;
        kk.nc = FD_GEMM_AVX512_NC;
        kk.level = 2;
        kk.dot = fd_sgemm_dot_avx512;
        return kk;
    }
#endif
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= 1) {
        kk.ukr = fd_sgemm_ukr_avx2_6x16;
        kk.mr = FD_GEMM_AVX2_MR;
        kk.nr = FD_GEMM_AVX2_NR;
        kk.mc = FD_GEMM_AVX2_MC;
        kk.kc = FD_GEMM_AVX2_KC;
        kk.nc = FD_GEMM_AVX2_NC;
        kk.level = 1;
        kk.dot = fd_sgemm_dot_avx2;
        return kk;
    }
#endif
    (void)level;
    kk.ukr = fd_sgemm_ukr_generic;
    kk.mr = FD_GEMM_GENERIC_MR;
    kk.nr = FD_GEMM_GENERIC_NR;
    kk.mc = 128;
    kk.kc = 256;
    kk.nc = 2048;
    kk.level = 0;
    kk.dot = NULL;
    return kk;
}

/* ---- packing ----------------------------------------------------------- */

/*
 * One panel: dst[p*nvec + v] = base[V(v)*vs + P(p)*ps] for v < nreal,
 * p < kc, and 0 for nreal <= v < nvec, where V(v) = vidx ? vidx[v0+v] : v0+v
 * and P(p) = pidx ? pidx[p0+p] : p0+p.  For A the vector index is the row
 * (nvec = MR), for B the column (nvec = NR).
 */
static void fd_pack_panel(int level, int nvec, fd_index nreal, fd_index kc,
                          const float *base, fd_index vs,
                          const int64_t *vidx, fd_index v0, fd_index ps,
                          const int64_t *pidx, fd_index p0,
                          float *restrict dst)
{
    fd_index p, v;

    if (vidx == NULL && vs == 1) {
        /* the panel's rows are contiguous: plain copies */
        for (p = 0; p < kc; p++) {
            const fd_index pp = pidx ? (fd_index)pidx[p0 + p] : p0 + p;
            const float *src = base + v0 + pp * ps;
            float *d = dst + p * nvec;
            for (v = 0; v < nreal; v++)
                d[v] = src[v];
            for (; v < nvec; v++)
                d[v] = 0.0f;
        }
        return;
    }

    if (pidx == NULL && ps == 1) {
        /* each vector element is contiguous along p: transposing copy */
        const float *rows[FD_GEMM_NR_MAX > FD_GEMM_MR_MAX ? FD_GEMM_NR_MAX
                                                          : FD_GEMM_MR_MAX];
        fd_index pdone = 0;
        for (v = 0; v < nreal; v++) {
            const fd_index vv = vidx ? (fd_index)vidx[v0 + v] : v0 + v;
            rows[v] = base + vv * vs + p0;
        }
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
        if (level >= 1 && kc >= 8) {
            const fd_index np8 = kc / 8;
            v = 0;
            for (; v + 8 <= nreal; v += 8)
                fd_pack_t8_avx2(np8, rows + v, dst + v, nvec);
            for (; v + 4 <= nreal; v += 4)
                fd_pack_t4_avx2(np8, rows + v, dst + v, nvec);
            for (; v < nreal; v++) {
                const float *s = rows[v];
                for (p = 0; p < 8 * np8; p++)
                    dst[p * nvec + v] = s[p];
            }
            pdone = 8 * np8;
        }
#else
        (void)level;
#endif
        for (p = pdone; p < kc; p++) {
            float *d = dst + p * nvec;
            for (v = 0; v < nreal; v++)
                d[v] = rows[v][p];
        }
        if (nreal < nvec) {
            for (p = 0; p < kc; p++)
                for (v = nreal; v < nvec; v++)
                    dst[p * nvec + v] = 0.0f;
        }
        return;
    }

    {
        /* general strides and gathers */
        fd_index voff[FD_GEMM_NR_MAX > FD_GEMM_MR_MAX ? FD_GEMM_NR_MAX
                                                      : FD_GEMM_MR_MAX];
        for (v = 0; v < nreal; v++)
            voff[v] = (vidx ? (fd_index)vidx[v0 + v] : v0 + v) * vs;
        for (p = 0; p < kc; p++) {
            const fd_index pp = pidx ? (fd_index)pidx[p0 + p] : p0 + p;
            const float *src = base + pp * ps;
            float *d = dst + p * nvec;
            for (v = 0; v < nreal; v++)
                d[v] = src[voff[v]];
            for (; v < nvec; v++)
                d[v] = 0.0f;
        }
    }
}

/*
 * A whole block: ceil(nv / nvec) panels of nvec (the last one zero padded),
 * panel q at dst + q*nvec*kc.  When the vectors are contiguous (A in
 * Fortran order, B in C order) the copy runs along p on the outside, so each
 * p reads one contiguous run of nv floats instead of nv/nvec short pieces
 * scattered over as many pages.
 */
static void fd_pack_block(int level, int nvec, fd_index nv, fd_index kc,
                          const float *base, fd_index vs,
                          const int64_t *vidx, fd_index v0, fd_index ps,
                          const int64_t *pidx, fd_index p0,
                          float *restrict dst)
{
    const fd_index npan = (nv + nvec - 1) / nvec;
    fd_index q, p, v;
    if (vidx == NULL && vs == 1) {
        for (p = 0; p < kc; p++) {
            const fd_index pp = pidx ? (fd_index)pidx[p0 + p] : p0 + p;
            const float *src = base + v0 + pp * ps;
            for (q = 0; q < npan; q++) {
                const fd_index nr = nv - q * nvec < nvec ? nv - q * nvec
                                                          : nvec;
                const float *s = src + q * nvec;
                float *d = dst + q * nvec * kc + p * nvec;
                for (v = 0; v < nr; v++)
                    d[v] = s[v];
                for (; v < nvec; v++)
                    d[v] = 0.0f;
            }
        }
        return;
    }
    for (q = 0; q < npan; q++) {
        const fd_index nr = nv - q * nvec < nvec ? nv - q * nvec : nvec;
        fd_pack_panel(level, nvec, nr, kc, base, vs, vidx, v0 + q * nvec, ps,
                      pidx, p0, dst + q * nvec * kc);
    }
}

/* ---- epilogue helpers ---------------------------------------------------- */

/* C[0:mr, 0:nr] = alpha*T + beta*C (+bias)(relu), T row-major with ld ldt.
 * The bias is per column (bias[j]) or, for the transposed orientation, per
 * row (bias[i]). */
static void fd_merge_tile(const float *restrict t, fd_index ldt, fd_index mr,
                          fd_index nr, float *c, fd_index rs_c,
                          fd_index cs_c, float alpha, float beta,
                          const float *bias, int bias_rows, int relu)
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

static fd_index fd_cdiv(fd_index a, fd_index b) { return (a + b - 1) / b; }

/* Even split of [0, n) into parts; part t gets [*lo, *hi). */
static void fd_split(fd_index n, int parts, int t, fd_index *lo,
                     fd_index *hi)
{
    const fd_index q = n / parts, r = n % parts;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r ? 1 : 0);
}

/* Relative cost of packing one element, in units of one multiply-add of
 * the micro-kernel (measured: ~0.3 ns against ~0.01 ns). */
#define FD_GEMM_PACK_COST 30

/* B blocks of at most this many floats (32 KiB, within L1) are walked a row
 * of tiles at a time (see fd_gemm_run). */
#define FD_GEMM_ROWS_OUTER_B_FLOATS 8192

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

/* ---- narrow n: dot-product form ----------------------------------------- */

/* Widest C that takes the dot-product path (in chunks of at most
 * FD_GEMM_DOT_MAX_N columns). */
#ifndef FD_GEMM_NARROW_MAX_N
#define FD_GEMM_NARROW_MAX_N 24
#endif

/* K block of the dot path: at most this many floats of B^T (24 KiB), which
 * then stay in L1 for all rows (a 16 x 784 B^T block streamed from L2 ran at
 * half speed). */
#ifndef FD_GEMM_DOT_BT_FLOATS
#define FD_GEMM_DOT_BT_FLOATS 6144
#endif

/* Largest B^T (floats) each thread packs for itself: 256 KiB, i.e. n = 10
 * up to k = 6550; beyond, one shared copy. */
#ifndef FD_GEMM_DOT_BT_PRIVATE_MAX
#define FD_GEMM_DOT_BT_PRIVATE_MAX 65536
#endif

/* Rows of A per call of the dot kernel (also the height of the temporary
 * tile for C views whose column stride is not 1). */
#define FD_GEMM_DOT_ROWS 16

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

/* bt[j*ldbt + p] = B[p, j] for j < n, p < ldbt (zero for p >= k). */
static void fd_pack_bt(int level, fd_index n, fd_index k, const float *b,
                       fd_index rs_b, fd_index cs_b, float *restrict bt,
                       fd_index ldbt)
{
    fd_index j, p;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= 2 && cs_b == 1) { /* C-order B: SIMD transposes */
        for (j = 0; j < n; j += FD_GEMM_DOT_MAX_N)
            fd_pack_bt_avx512(k, fd_min(FD_GEMM_DOT_MAX_N, n - j), b + j,
                              rs_b, bt + j * ldbt, ldbt);
        return;
    }
#else
    (void)level;
#endif
    for (j = 0; j < n; j++) {
        const float *src = b + j * cs_b;
        float *d = bt + j * ldbt;
        for (p = 0; p < k; p++)
            d[p] = src[p * rs_b];
        for (; p < ldbt; p++)
            d[p] = 0.0f;
    }
}

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

/* C = A @ B for n <= FD_GEMM_DOT_MAX_N and A with contiguous rows (cs_a == 1,
 * no a_cols): rows split over threads, each with its own packed B^T. */
static int fd_gemm_dot(int level, fd_sgemm_dot_fn dot, fd_index m, fd_index n,
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
    if (J.kk.level == 2) {
        /* 8x32 when it pads fewer rows than 12x32 (m = 128: 128 vs 132) */
        const fd_index mm = transpose ? n : m;
        if (fd_cdiv(mm, 8) * 8 < fd_cdiv(mm, 12) * 12) {
            J.kk.ukr = fd_sgemm_ukr_avx512_8x32;
            J.kk.mr = 8;
            J.kk.mc = FD_GEMM_AVX512_MC / 8 * 8;
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
