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
 *   AVX-512F  12x32  MC 144  KC 384  NC 4080   (gemm_avx512.c)
 *   AVX2+FMA   6x16  MC 144  KC 256  NC 4080   (gemm_avx2.c)
 *   portable   4x8   MC 128  KC 256  NC 2048   (below; plain C)
 * Block sizes, for Zen 5 (L1d 48 KiB, L2 1 MiB per core, L3 32 MiB): the
 * KC x NR B micro-panel should stay in L1 (384*32*4 = 48 KiB is streamed
 * with the A micro-panel; 256 and 512 measured within 2%), the MC x KC
 * A block in L2 (144*384*4 = 216 KiB), the KC x NC B block in L3.  The
 * block counts are balanced (784 = 2 blocks of 392 rather than 384 + 16).
 *
 * Threads (OpenMP, static): one parallel region per call.  All threads
 * pack the B block and the A block cooperatively into shared buffers
 * (panel ranges split evenly; a barrier after packing and after use), then
 * the MR x NR tiles of the block are split on a 2-D grid of jr_ways x
 * ir_ways threads, chosen to minimise the tiles on the critical path: at
 * m = 128, n = 512 each thread takes half of the columns (jr split); at
 * n = 10 the rows are split instead.  Tiny problems run on one thread, and
 * tiny m*n*k skip packing altogether (direct triple loop).
 *
 * No global mutable state: the packing buffers are allocated per call
 * (64-byte aligned) and freed before returning; FD_ENOMEM if that fails.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200112L /* posix_memalign under -std=c99 */
#endif
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(_WIN32)
#include <malloc.h>
#endif

#include "gemm_internal.h"

/* Direct (unpacked) path below this m*n*k. */
#define FD_GEMM_SMALL_MNK 4096.0
/* Roughly the flops one more thread must get to pay for waking it. */
#define FD_GEMM_FLOPS_PER_THREAD 300000.0

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
                                 const float *restrict b, float *restrict c,
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
        b += NR;
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
} fd_gemm_kernel;

static fd_gemm_kernel fd_gemm_select(int level)
{
    fd_gemm_kernel kk;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= 2) {
        kk.ukr = fd_sgemm_ukr_avx512_12x32;
        kk.mr = FD_GEMM_AVX512_MR;
        kk.nr = FD_GEMM_AVX512_NR;
        kk.mc = 144;
        kk.kc = 384;
        kk.nc = 4080;
        kk.level = 2;
        return kk;
    }
#endif
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= 1) {
        kk.ukr = fd_sgemm_ukr_avx2_6x16;
        kk.mr = FD_GEMM_AVX2_MR;
        kk.nr = FD_GEMM_AVX2_NR;
        kk.mc = 144;
        kk.kc = 256;
        kk.nc = 4080;
        kk.level = 1;
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

/* ---- epilogue helpers ---------------------------------------------------- */

/* C[0:mr, 0:nr] = alpha*T + beta*C (+bias)(relu), T row-major with ld ldt. */
static void fd_merge_tile(const float *restrict t, fd_index ldt, fd_index mr,
                          fd_index nr, float *c, fd_index rs_c,
                          fd_index cs_c, float alpha, float beta,
                          const float *bias, int relu)
{
    fd_index i, j;
    for (i = 0; i < mr; i++) {
        for (j = 0; j < nr; j++) {
            float *cp = c + i * rs_c + j * cs_c;
            float v = alpha * t[i * ldt + j];
            if (beta != 0.0f)
                v += beta * *cp;
            if (bias != NULL)
                v += bias[j];
            if (relu)
                v = v < 0.0f ? 0.0f : v;
            *cp = v;
        }
    }
}

/* ---- the parallel job --------------------------------------------------- */

typedef struct {
    fd_index m, n, k;
    float alpha, beta;
    const float *a;
    fd_index rs_a, cs_a;
    const int64_t *a_rows, *a_cols;
    const float *b;
    fd_index rs_b, cs_b;
    float *c;
    fd_index rs_c, cs_c;
    const float *bias; /* packed: contiguous, zero padded to a multiple of NR */
    int relu;
    fd_gemm_kernel kk;
    fd_index mcb, kcb, ncb; /* balanced block sizes */
    float *apack, *bpack;
} fd_gemm_job;

static fd_index fd_cdiv(fd_index a, fd_index b) { return (a + b - 1) / b; }
static fd_index fd_min(fd_index a, fd_index b) { return a < b ? a : b; }

/* Even split of [0, n) into parts; part t gets [*lo, *hi). */
static void fd_split(fd_index n, int parts, int t, fd_index *lo,
                     fd_index *hi)
{
    const fd_index q = n / parts, r = n % parts;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r ? 1 : 0);
}

/* 2-D thread grid over the tiles of one block: jr_ways * ir_ways == nt,
 * minimising the tiles of the busiest thread (ties favour jr). */
static int fd_grid_jr_ways(int nt, fd_index n_jr, fd_index n_ir)
{
    int d, best = 1;
    fd_index best_cost = -1;
    for (d = nt; d >= 1; d--) {
        fd_index cost;
        if (nt % d != 0)
            continue;
        cost = fd_cdiv(n_jr, d) * fd_cdiv(n_ir, nt / d);
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best = d;
        }
    }
    return best;
}

static void fd_gemm_barrier(int nt)
{
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp barrier
    }
#else
    (void)nt;
#endif
}

static void fd_gemm_run(const fd_gemm_job *J, int tid, int nt)
{
    const int MR = J->kk.mr, NR = J->kk.nr, level = J->kk.level;
    const fd_sgemm_ukr_fn ukr = J->kk.ukr;
    const fd_index m = J->m, n = J->n, k = J->k;
    const int jr_ways = fd_grid_jr_ways(
        nt, fd_cdiv(fd_min(n, J->ncb), NR), fd_cdiv(fd_min(m, J->mcb), MR));
    const int ir_ways = nt / jr_ways;
    const int jt = tid / ir_ways, it = tid % ir_ways;
    FD_ALIGN64 float tmp[FD_GEMM_MR_MAX * FD_GEMM_NR_MAX];
    fd_index jc, pc, ic, lo, hi, jr, ir, j0, j1, i0, i1;

    for (jc = 0; jc < n; jc += J->ncb) {
        const fd_index nc = fd_min(J->ncb, n - jc);
        const fd_index n_jr = fd_cdiv(nc, NR);
        fd_split(n_jr, jr_ways, jt, &j0, &j1);
        for (pc = 0; pc < k; pc += J->kcb) {
            const fd_index kc = fd_min(J->kcb, k - pc);
            const int last = pc + kc >= k;
            const float beta = pc == 0 ? J->beta : 1.0f;
            const int relu = last && J->relu;

            /* pack the B block: each thread the panels it will use when the
             * grid splits columns, otherwise an even share */
            if (ir_ways == 1) {
                lo = j0;
                hi = j1;
            } else {
                fd_split(n_jr, nt, tid, &lo, &hi);
            }
            for (jr = lo; jr < hi; jr++)
                fd_pack_panel(level, NR, fd_min(NR, nc - jr * NR), kc, J->b,
                              J->cs_b, NULL, jc + jr * NR, J->rs_b, NULL, pc,
                              J->bpack + jr * NR * kc);

            for (ic = 0; ic < m; ic += J->mcb) {
                const fd_index mc = fd_min(J->mcb, m - ic);
                const fd_index n_ir = fd_cdiv(mc, MR);
                fd_split(n_ir, nt, tid, &lo, &hi);
                for (ir = lo; ir < hi; ir++)
                    fd_pack_panel(level, MR, fd_min(MR, mc - ir * MR), kc,
                                  J->a, J->rs_a, J->a_rows, ic + ir * MR,
                                  J->cs_a, J->a_cols, pc,
                                  J->apack + ir * MR * kc);
                fd_gemm_barrier(nt);

                fd_split(n_ir, ir_ways, it, &i0, &i1);
                for (jr = j0; jr < j1; jr++) {
                    const fd_index nr = fd_min(NR, nc - jr * NR);
                    const fd_index col = jc + jr * NR;
                    const float *bp = J->bpack + jr * NR * kc;
                    const float *bias =
                        (last && J->bias != NULL) ? J->bias + col : NULL;
                    for (ir = i0; ir < i1; ir++) {
                        const fd_index mr = fd_min(MR, mc - ir * MR);
                        const fd_index row = ic + ir * MR;
                        const float *ap = J->apack + ir * MR * kc;
                        float *cp = J->c + row * J->rs_c + col * J->cs_c;
                        if (mr == MR && nr == NR && J->cs_c == 1) {
                            ukr(kc, ap, bp, cp, J->rs_c, J->alpha, beta, bias,
                                relu);
                        } else {
                            ukr(kc, ap, bp, tmp, NR, 1.0f, 0.0f, NULL, 0);
                            fd_merge_tile(tmp, NR, mr, nr, cp, J->rs_c,
                                          J->cs_c, J->alpha, beta, bias,
                                          relu);
                        }
                    }
                }
                fd_gemm_barrier(nt);
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
    fd_index nmb, nkb, nnb, mcap, ncap, npad, j;
    float *bias_pack = NULL;
    double flops;
    int nt;

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
    J.m = m;
    J.n = n;
    J.k = k;
    J.alpha = alpha;
    J.beta = beta;
    J.a = a;
    J.rs_a = rs_a;
    J.cs_a = cs_a;
    J.a_rows = a_rows;
    J.a_cols = a_cols;
    J.b = b;
    J.rs_b = rs_b;
    J.cs_b = cs_b;
    J.c = c;
    J.rs_c = rs_c;
    J.cs_c = cs_c;
    J.relu = relu != 0;

    /* balanced block sizes (MC, NC multiples of MR, NR; KC of 8) */
    nmb = fd_cdiv(m, J.kk.mc);
    nkb = fd_cdiv(k, J.kk.kc);
    nnb = fd_cdiv(n, J.kk.nc);
    J.mcb = fd_cdiv(fd_cdiv(m, nmb), J.kk.mr) * J.kk.mr;
    J.kcb = fd_cdiv(fd_cdiv(k, nkb), 8) * 8;
    J.ncb = fd_cdiv(fd_cdiv(n, nnb), J.kk.nr) * J.kk.nr;
    mcap = fd_cdiv(fd_min(J.mcb, m), J.kk.mr) * J.kk.mr;
    ncap = fd_cdiv(fd_min(J.ncb, n), J.kk.nr) * J.kk.nr;

    J.apack = (float *)fd_gemm_alloc((size_t)(mcap * J.kcb) * sizeof(float));
    J.bpack = (float *)fd_gemm_alloc((size_t)(ncap * J.kcb) * sizeof(float));
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
    if (J.apack == NULL || J.bpack == NULL ||
        (bias != NULL && bias_pack == NULL)) {
        fd_gemm_free(J.apack);
        fd_gemm_free(J.bpack);
        fd_gemm_free(bias_pack);
        return FD_ENOMEM;
    }

    /* threads: enough work each, and no more than the tiles of a block */
    nt = nthreads < 1 ? 1 : nthreads;
    {
        const double by_work = flops / FD_GEMM_FLOPS_PER_THREAD;
        const fd_index tiles = fd_cdiv(fd_min(m, J.mcb), J.kk.mr) *
                               fd_cdiv(fd_min(n, J.ncb), J.kk.nr);
        if (by_work < (double)nt)
            nt = by_work < 1.0 ? 1 : (int)by_work;
        if ((fd_index)nt > tiles)
            nt = (int)tiles;
    }

#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        fd_gemm_run(&J, omp_get_thread_num(), omp_get_num_threads());
    } else {
        fd_gemm_run(&J, 0, 1);
    }
#else
    fd_gemm_run(&J, 0, 1);
#endif

    fd_gemm_free(J.apack);
    fd_gemm_free(J.bpack);
    fd_gemm_free(bias_pack);
    return FD_OK;
}
