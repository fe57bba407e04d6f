/*
 * gemm_pack.c -- the packers of fd_sgemm: A blocks into MR-high panels, B
 * blocks into NR-wide panels (zero padded), and B^T for the narrow-n dot
 * path.
 *
 * Design: packing reads the operands through their element strides (any
 * sign, any layout) and the a_rows / a_cols gathers, so C order, Fortran
 * order, transposed, strided and gathered views all cost the same; the only
 * layout-dependent step is the copy itself: plain copies when the packed
 * vectors are contiguous (A in Fortran order, B in C order), an 8x8 (or 4x8)
 * SIMD transpose (gemm_avx2.c) when the packed dimension is strided, general
 * gathers otherwise.  The SIMD transposes run from FD_SIMD_AVX2 up; the
 * result is the same copy at every level.  No state.
 */
#include "fd_internal.h"
#include "gemm_internal.h"

/*
 * One panel: dst[p*nvec + v] = base[V(v)*vs + P(p)*ps] for v < nreal,
 * p < kc, and 0 for nreal <= v < nvec, where V(v) = vidx ? vidx[v0+v] : v0+v
 * and P(p) = pidx ? pidx[p0+p] : p0+p.  For A the vector index is the row
 * (nvec = MR), for B the column (nvec = NR).
 */
void fd_pack_panel(int level, int nvec, fd_index nreal, fd_index kc,
                   const float *base, fd_index vs, const int64_t *vidx,
                   fd_index v0, fd_index ps, const int64_t *pidx, fd_index p0,
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
        if (level >= FD_SIMD_AVX2 && kc >= 8) {
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

/* Columns (values of p) per step of fd_pack_block's contiguous copy. */
#define FD_PACK_PCHUNK 16

/* d[p*nvec + v] = s[p*ps + v] for p < np, v < nvec: one panel's share of a
 * run of columns.  The tile sizes get loops of constant length (a few
 * vector moves per column, no per-piece bookkeeping). */
static void fd_copy_rows(int nvec, fd_index np, const float *restrict s,
                         fd_index ps, float *restrict d)
{
    fd_index p;
    int v;
#define FD_COPY_N(N)                                                          \
    case N:                                                                   \
        for (p = 0; p < np; p++)                                              \
            for (v = 0; v < N; v++)                                           \
                d[p * N + v] = s[p * ps + v];                                 \
        return;
    switch (nvec) {
        FD_COPY_N(4) FD_COPY_N(6) FD_COPY_N(8) FD_COPY_N(12) FD_COPY_N(16)
        FD_COPY_N(32)
    default:
        for (p = 0; p < np; p++)
            for (v = 0; v < nvec; v++)
                d[p * nvec + v] = s[p * ps + v];
    }
#undef FD_COPY_N
}

/*
 * A whole block: ceil(nv / nvec) panels of nvec (the last one zero padded),
 * panel q at dst + q*nvec*kc.  When the vectors are contiguous (A in
 * Fortran order, B in C order) the copy runs along p on the outside, so each
 * p reads one contiguous run of nv floats instead of nv/nvec short pieces
 * scattered over as many pages.
 */
void fd_pack_block(int level, int nvec, fd_index nv, fd_index kc,
                   const float *base, fd_index vs, const int64_t *vidx,
                   fd_index v0, fd_index ps, const int64_t *pidx, fd_index p0,
                   float *restrict dst)
{
    const fd_index npan = (nv + nvec - 1) / nvec;
    fd_index q, p, v;
    if (vidx == NULL && vs == 1) {
        /* FD_PACK_PCHUNK columns at a time (in L1), then each panel's
         * share of them: the panels lie 4*nvec*kc bytes apart, a multiple
         * of 4 KiB for kc = 512, so writing one piece to every panel per p
         * sent 18 stores to the same L1 set (0.33 ns per float; per chunk
         * each panel gets one contiguous run instead). */
        fd_index pc0;
        for (pc0 = 0; pc0 < kc; pc0 += FD_PACK_PCHUNK) {
            const fd_index pc1 = fd_min(kc, pc0 + FD_PACK_PCHUNK);
            for (q = 0; q < npan; q++) {
                const fd_index nr = nv - q * nvec < nvec ? nv - q * nvec
                                                          : nvec;
                if (nr == nvec && pidx == NULL) {
                    fd_copy_rows(nvec, pc1 - pc0,
                                 base + v0 + (p0 + pc0) * ps + q * nvec, ps,
                                 dst + q * nvec * kc + pc0 * nvec);
                    continue;
                }
                for (p = pc0; p < pc1; p++) {
                    const fd_index pp = pidx ? (fd_index)pidx[p0 + p] : p0 + p;
                    const float *s = base + v0 + pp * ps + q * nvec;
                    float *d = dst + q * nvec * kc + p * nvec;
                    for (v = 0; v < nr; v++)
                        d[v] = s[v];
                    for (; v < nvec; v++)
                        d[v] = 0.0f;
                }
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

/* bt[j*ldbt + p] = B[p, j] for j < n, p < ldbt (zero for p >= k). */
void fd_pack_bt(int level, fd_index n, fd_index k, const float *b,
                fd_index rs_b, fd_index cs_b, float *restrict bt,
                fd_index ldbt)
{
    fd_index j, p;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512 && cs_b == 1) { /* C-order B: transposes */
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

