/*
 * sparse.c -- sparse (CSR) x dense kernels for inputs with many zeros: the
 * first layer's two products, x @ W and x^T @ dZ, when x is mostly zeros
 * (MNIST: 81% zeros; bag-of-words: 98%).
 *
 * Model.  CSR with int64 indptr of ABSOLUTE offsets (a row slice is
 * indptr + r0), int32 column indices, float32 values; duplicates summed,
 * indices in any order.  The engine compresses a training set once
 * (fd_csr_from_dense_f32, or scipy's arrays checked by fd_csr_check), then
 * per step gathers the shuffled batch (fd_csr_gather) into preallocated
 * buffers, runs the forward product (fd_csrmm_f32 with bias and relu) and
 * the weight gradient: fd_csr_transpose + fd_csrmm_f32 on the transposed
 * batch for wide layers, fd_csrtmm_f32 on the batch itself for narrow ones
 * (<= 32 units; see below).  No kernel allocates its outputs; fd_csrmm_f32
 * and fd_csrtmm_f32 allocate per-call workspaces (packed B blocks,
 * accumulators) like fd_sgemm does.
 *
 * Safety.  Every kernel checks each row's range against
 * [indptr[0], indptr[m]] (the bindings check that span against the
 * arrays) and each index against k (one compare per entry and column
 * block, free beside the vector work): a malformed CSR is FD_EINVAL,
 * never a read outside the arrays.
 *
 * fd_csrmm_f32 (C = A @ B).  Column blocks of nb floats of C; for each
 * block, each row's block of C lives in registers over the row's entries
 * (sparse_avx512.c / sparse_avx2.c / the portable loop below): per entry one
 * index, one broadcast, nb/16 loads of B's row and as many FMAs; narrow
 * blocks interleave accumulator sets so 8 FMA chains are in flight; one
 * store per vector with the bias/relu epilogue.  Measured at the seed
 * shapes (a 128 x 784 MNIST batch, 19.2k entries, @ 784 x 512; and its dW
 * 784 x 128 @ 128 x 512), AVX-512, one thread, minimum of 300 samples:
 *   - B's rows n = 512 floats apart (2 KiB) put every row's block in a
 *     quarter of the L1 and L2 sets; each block of B is therefore copied
 *     contiguously first (per thread) when nnz >= 4 k: forward 3x faster
 *     (574 -> 196 us), dW 416 -> 150 us.  Below that reuse B is read in
 *     place; a B with another column stride is always copied (same bits).
 *   - block width: the widest (128 AVX-512, 64 AVX2, 32 portable) whose
 *     k x nb block of B fits 48 KiB of L1, halved down to 32 floats:
 *     forward (k = 784, B block in L2) nb 128/64/32/16 took 290-330 /
 *     251-272 / 215-225 / 297 us (32: a row's 150 B rows, 19 KiB, stay in L1
 *     for the next rows); dW (k = 128) nb 128/64/32: 152-168 / 156-168 /
 *     206 us.  At k = 784 a floor of 32 beat 16 on AVX2 (311 vs 361 us) and
 *     the portable path (530 vs 1994 us) too.
 *   - the outer-product order over the CSC (C block of 128 x 64 in L1, W
 *     read once) took 243-251 us against 215-223: not used.
 *   - threads: a grid of column parts x row parts (rows split by entries +
 *     4 per row), columns preferred (each thread then copies only its
 *     blocks of B); a thread per FD_CSRMM_WORK_PER_THREAD = 262144
 *     multiply-adds (nnz n + m n), as fd_sgemm's 500k flops: 2 threads took
 *     the forward 217 -> 145 us and dW 154 -> 104 us (minima; a loaded
 *     machine's medians are far worse for any 2-thread team).
 *   - every output value sums its row's entries in stored order (spread
 *     over the fixed accumulator sets): the bits depend on the data and the
 *     SIMD level only, never on the thread count or split.
 *
 * fd_csrtmm_f32 (C = A^T @ B from the CSR of A).  For narrow layers the
 * batch transpose costs more than both products: each row of B (n <= 64
 * floats) is held in registers and scattered into a private, aligned
 * k x 64 accumulator (one read-modify-write per entry), then C is written
 * once.  dW of a 128 x 784 MNIST batch, minimum of 200, one thread,
 * against fd_csr_transpose + fd_csrmm_f32: 16 units 21 vs 46 us (AVX-512),
 * 21 vs 48 (AVX2), 68 vs 101 (portable); 32 units 31 vs 53; 64: 55 vs 57,
 * 64 (AVX2) 64 vs 70, portable 218 vs 172; 128: 117 vs 86; 512: 449 vs 238.
 * Hence BatchWorkspace uses it up to 32 units.  Threads take whole column
 * blocks of 64 (deterministic sums).
 *
 * fd_csr_transpose: a stable counting sort (per-thread counts over row
 * ranges, one serial prefix, scatter): ~1 ns per entry, 20 us for the
 * MNIST batch; threaded only from FD_SPARSE_PAR_MIN_NNZ entries (2 threads
 * gave 20 -> 15 us at best but milliseconds whenever the other core was
 * busy).  Row order within each row of A^T whatever the thread count.
 * fd_csr_gather: memcpy of the rows, the row FD_GATHER_AHEAD ahead
 * prefetched (scattered over a big CSR: 18 -> 16 us for 128 rows).
 * fd_csr_from_dense_f32: a counting pass, then a branch-free fill
 * (write every element, advance past the nonzeros) that checks the counts:
 * 8192 x 784 MNIST rows in 1.6 + 8.5 ms on one thread.
 *
 * Seed shapes (tests_c/bench_sparse.c: 128 random MNIST rows of 8192, in
 * CSR @ 784 x 512; wall clock, minimum of 301 samples, load ~1; us):
 *             threads  dense: fwd    dW | sparse: gather transp  fwd   dW | ratio
 *   AVX-512      1           505    498 |           16     21    220  157 | 0.41
 *   AVX-512      2           340    302 |           26     30    157  114 | 0.51
 *   AVX2         1          1069    965 |           18     22    318  252 | 0.30
 *   AVX2         2           602    536 |           20     23    207  166 | 0.37
 *   portable     1          6053   5719 |           25     31    634  710 | 0.12
 *   portable     2          3319   3060 |           28     31    355  414 | 0.13
 * 16 units, AVX-512, 1 thread: dense 65 + 45, sparse 23 (gather) + 13 (fwd)
 * + 19 (dW by fd_csrtmm_f32): ratio 0.50.  (With another process on the
 * second core every 2-thread call, dense or sparse, waits a scheduler slice:
 * medians of ~8 ms; the minima above are what the kernels cost.)
 *
 * The crossover ('auto': fastdense/_sparse.py CROSSOVER_TABLE), by
 * benchmarks/sparse_crossover.py: batch 128, k 784, entries at random
 * positions, the whole first-layer step work sparse against dense, ratio of
 * the minima of 101 interleaved samples per cell (cells where a 2-thread
 * team stalled are measured again), two runs at load < 2.  Per width
 * (1 thread, 2 threads): the highest grid density with the ratio <= 0.85
 * there and at every lower grid density, element-wise minimum of the runs:
 *              units      16          64          128         512
 *   AVX-512          0.35  0.20  0.30  0.20  0.25  0.15  0.25  0.25
 *   AVX2             0.60  0.35  0.40  0.35  0.40  0.35  0.40  0.40
 *   portable         0.60  0.35  1     0.80  1     1     1     1
 * The ratios behind the AVX-512 row (run 2), at d = 0.05 0.1 0.2 0.3 0.4
 * 0.5 1:
 *    16 units 1 / 2 threads: 0.22 0.30 0.46 0.62 0.77 0.93 1.72 /
 *                            0.34 0.49 0.75 1.03 1.13 1.47 2.52
 *    64 units 1 / 2 threads: 0.27 0.38 0.61 0.84 1.07 1.33 3.37 /
 *                            0.47 0.53 0.82 1.12 1.54 1.94 5.25
 *   128 units 1 / 2 threads: 0.23 0.34 0.56 0.78 1.00 1.31 3.34 /
 *                            0.36 0.49 0.74 1.01 1.29 1.63 4.00
 *   512 units 1 / 2 threads: 0.18 0.36 0.49 0.88 0.93 1.18 3.02 /
 *                            0.26 0.41 0.69 1.11 1.46 1.68 3.45
 * (MNIST rows overlap more than random ones: 0.41 at d = 0.19 above against
 * 0.49 at 0.2 here.)  The dense GEMM runs at ~2 FMAs per cycle; the sparse
 * products are bound by L2 bandwidth on B (~0.7 FMA/cycle), hence
 * break-even near d = 0.35-0.45 on one thread.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200112L /* posix_memalign under -std=c99 */
#endif
#include <stdlib.h>
#include <string.h>

#include "fd_internal.h"
#include "sparse_internal.h"

/* Work (multiply-adds, nnz*n, plus m*n for the stores) one more thread must
 * get before it is woken for fd_csrmm_f32. */
#ifndef FD_CSRMM_WORK_PER_THREAD
#define FD_CSRMM_WORK_PER_THREAD 262144.0
#endif
/* Entries (or dense elements for fd_csr_from_dense_f32) below which the
 * structural kernels (check, gather, transpose) run on one thread. */
#ifndef FD_SPARSE_PAR_MIN_NNZ
#define FD_SPARSE_PAR_MIN_NNZ 65536
#endif
/* Rows ahead whose first lines the gather prefetches. */
#ifndef FD_GATHER_AHEAD
#define FD_GATHER_AHEAD 4
#endif
/* Per-row fixed cost of the csrmm kernels, in entries, for the row split. */
#define FD_CSRMM_ROW_COST 4
/* Rows per temporary tile when C has a non-unit column stride. */
#define FD_CSRMM_TMP_ROWS 16
/* Column blocks: halved from the kernel's widest while k x nb floats of B
 * exceed FD_CSRMM_L1_BYTES, down to FD_CSRMM_MIN_NB. */
#ifndef FD_CSRMM_L1_BYTES
#define FD_CSRMM_L1_BYTES 49152.0
#endif
#ifndef FD_CSRMM_MIN_NB
#define FD_CSRMM_MIN_NB 32
#endif
/* B is copied block by block when nnz >= this times k (see fd_csrmm_f32). */
#ifndef FD_CSRMM_PACK_REUSE
#define FD_CSRMM_PACK_REUSE 4.0
#endif

static inline fd_index fd_cdiv_sp(fd_index a, fd_index b) { return (a + b - 1) / b; }

static int fd_sparse_threads(fd_index work, double per_thread, int nthreads)
{
    int nt = nthreads < 1 ? 1 : nthreads;
    const double by_work = (double)work / per_thread;
    if (nt > FD_MAX_THREADS)
        nt = FD_MAX_THREADS;
    if (by_work < (double)nt)
        nt = by_work < 1.0 ? 1 : (int)by_work;
    return nt;
}

/* the smallest row r in [0, m] with (indptr[r] - base) + r*rc >= target
 * (indptr non-decreasing; otherwise some r in [0, m]) */
static fd_index fd_split_rows(fd_index m, const int64_t *indptr, int64_t base,
                              fd_index rc, double target)
{
    fd_index lo = 0, hi = m;
    while (lo < hi) {
        const fd_index mid = lo + (hi - lo) / 2;
        const double cost = (double)(indptr[mid] - base) + (double)mid * (double)rc;
        if (cost >= target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* rows [r0, r1) of part t of `parts`, balanced by entries + rows */
static void fd_row_range(fd_index m, const int64_t *indptr, fd_index rc,
                         int t, int parts, fd_index *r0, fd_index *r1)
{
    const int64_t base = indptr[0];
    const double total = (double)(indptr[m] - base) + (double)m * (double)rc;
    fd_index a = t == 0 ? 0 : fd_split_rows(m, indptr, base, rc, total * t / parts);
    fd_index b = t + 1 == parts
                     ? m
                     : fd_split_rows(m, indptr, base, rc, total * (t + 1) / parts);
    if (b < a)   /* only for a decreasing indptr, which the callers reject */
        b = a;
    *r0 = a;
    *r1 = b;
}

/* every row of [r0, r1) lies inside [indptr[0], indptr[m]] and has a
 * non-negative length */
static int fd_rows_ok(fd_index r0, fd_index r1, const int64_t *indptr,
                      int64_t base, int64_t end)
{
    int bad = 0;
    for (fd_index i = r0; i < r1; i++) {
        const int64_t lo = indptr[i], hi = indptr[i + 1];
        bad |= (lo < base) | (hi < lo) | (hi > end);
    }
    return !bad;
}

static void *fd_sparse_alloc(size_t bytes)
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

static void fd_sparse_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* ---- fd_csr_check -------------------------------------------------------- */

int fd_csr_check(fd_index m, fd_index k, const int64_t *indptr,
                 const int32_t *indices, int nthreads)
{
    if (m < 0 || k < 0 || indptr == NULL)
        return FD_EINVAL;
    if (indptr[0] < 0)
        return FD_EINVAL;
    for (fd_index i = 0; i < m; i++)
        if (indptr[i + 1] < indptr[i])
            return FD_EINVAL;
    const int64_t lo = indptr[0], hi = indptr[m];
    if (hi == lo)
        return FD_OK;
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    const int nt = fd_sparse_threads(hi - lo, (double)FD_SPARSE_PAR_MIN_NNZ, nthreads);
    int bad = 0;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(|: bad) if (nt > 1)
    for (int64_t e = lo; e < hi; e++)
        bad |= (uint32_t)indices[e] >= kk;
    return bad ? FD_EINVAL : FD_OK;
}

/* ---- fd_csr_from_dense_f32 ------------------------------------------------- */

static fd_index fd_count_row(fd_index n, const float *x, fd_index cs)
{
    fd_index cnt = 0;
    if (cs == 1) {
        for (fd_index j = 0; j < n; j++)
            cnt += x[j] != 0.0f;
    } else {
        for (fd_index j = 0; j < n; j++)
            cnt += x[j * cs] != 0.0f;
    }
    return cnt;
}

/* writes the nonzeros of row x into [lo, hi); 0 when there were exactly
 * hi - lo of them (nothing is written outside [lo, hi) either way) */
static int fd_fill_row(fd_index n, const float *x, fd_index cs, int64_t lo,
                       int64_t hi, int32_t *indices, float *values)
{
    int64_t pos = lo;
    fd_index j = 0;
    /* branch-free: write every element, keep it by advancing past it */
    if (cs == 1) {
        for (; j < n && pos < hi; j++) {
            const float v = x[j];
            values[pos] = v;
            indices[pos] = (int32_t)j;
            pos += v != 0.0f;
        }
    } else {
        for (; j < n && pos < hi; j++) {
            const float v = x[j * cs];
            values[pos] = v;
            indices[pos] = (int32_t)j;
            pos += v != 0.0f;
        }
    }
    if (pos != hi)
        return 1;
    return fd_count_row(n - j, x + j * cs, cs) != 0;
}

int fd_csr_from_dense_f32(fd_index m, fd_index n, const float *x,
                          fd_index rs_x, fd_index cs_x, int64_t *indptr,
                          int32_t *indices, float *values, int64_t capacity,
                          int nthreads)
{
    if (m < 0 || n < 0 || n > (fd_index)0x7FFFFFFF + 1 || indptr == NULL)
        return FD_EINVAL;
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
    if (indices == NULL && values == NULL) {            /* count */
        indptr[0] = 0;
        if (n == 0) {
            for (fd_index i = 0; i < m; i++)
                indptr[i + 1] = 0;
            return FD_OK;
        }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (fd_index i = 0; i < m; i++)
            indptr[i + 1] = (int64_t)fd_count_row(n, x + i * rs_x, cs_x);
        for (fd_index i = 0; i < m; i++)
            indptr[i + 1] += indptr[i];
        return FD_OK;
    }
    if (indices == NULL || values == NULL || indptr[0] < 0 ||
        indptr[m] > capacity)
        return FD_EINVAL;
    for (fd_index i = 0; i < m; i++)
        if (indptr[i + 1] < indptr[i])
            return FD_EINVAL;
    int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(|: bad) if (nt > 1)
    for (fd_index i = 0; i < m; i++)
        bad |= fd_fill_row(n, x + i * rs_x, cs_x, indptr[i], indptr[i + 1],
                           indices, values);
    return bad ? FD_EINVAL : FD_OK;
}

/* ---- fd_csr_gather ------------------------------------------------------- */

int fd_csr_gather(fd_index m, const int64_t *rows, fd_index src_m,
                  const int64_t *src_indptr, const int32_t *src_indices,
                  const float *src_values, int64_t *out_indptr,
                  int32_t *out_indices, float *out_values, int64_t capacity,
                  int nthreads)
{
    if (m < 0 || src_m < 0 || out_indptr == NULL)
        return FD_EINVAL;
    out_indptr[0] = 0;
    if (m == 0)
        return FD_OK;
    if (src_indptr == NULL || rows == NULL)
        return FD_EINVAL;
    const int64_t base = src_indptr[0], end = src_indptr[src_m];
    int64_t total = 0;
    for (fd_index i = 0; i < m; i++) {
        const int64_t r = rows[i];
        if (r < 0 || r >= src_m)
            return FD_EINVAL;
        const int64_t lo = src_indptr[r], hi = src_indptr[r + 1];
        if (lo < base || hi < lo || hi > end)
            return FD_EINVAL;
        total += hi - lo;
        out_indptr[i + 1] = total;
    }
    if (total > capacity)
        return FD_EINVAL;
    const int nt = fd_sparse_threads(total, (double)FD_SPARSE_PAR_MIN_NNZ, nthreads);
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        fd_index r0, r1;
        fd_row_range(m, out_indptr, 8, fd_thread_id(), fd_team_size(), &r0, &r1);
        for (fd_index i = r0; i < r1; i++) {
            const int64_t lo = src_indptr[rows[i]];
            const int64_t len = out_indptr[i + 1] - out_indptr[i];
#if defined(__GNUC__) || defined(__clang__)
            /* the source rows are scattered over a big CSR (out of cache):
             * start fetching the row FD_GATHER_AHEAD ahead */
            if (i + FD_GATHER_AHEAD < r1) {
                const int64_t la = src_indptr[rows[i + FD_GATHER_AHEAD]];
                __builtin_prefetch(src_indices + la, 0, 0);
                __builtin_prefetch(src_indices + la + 16, 0, 0);
                __builtin_prefetch(src_values + la, 0, 0);
                __builtin_prefetch(src_values + la + 16, 0, 0);
            }
#endif
            if (len > 0) {
                memcpy(out_indices + out_indptr[i], src_indices + lo,
                       (size_t)len * sizeof(int32_t));
                memcpy(out_values + out_indptr[i], src_values + lo,
                       (size_t)len * sizeof(float));
            }
        }
    }
    return FD_OK;
}

/* ---- fd_csr_transpose ---------------------------------------------------- */

/* Part `id` of `team` of the outputs of a transpose, fetched for writing:
 * the scatter writes them in an order no prefetcher follows, and after the
 * rest of a training step they are out of cache (warm: 19 us for a
 * 128 x 784 MNIST batch, cold: 50 us; cold with this: see the note). */
static void fd_prefetch_out(int64_t nnz, int id, int team,
                            const int32_t *out_indices, const float *out_values)
{
#if defined(__GNUC__) || defined(__clang__)
    const int64_t lo = nnz * id / team, hi = nnz * (id + 1) / team;
    for (int64_t e = lo; e < hi; e += 16) {
        __builtin_prefetch(out_indices + e, 1, 3);
        __builtin_prefetch(out_values + e, 1, 3);
    }
#else
    (void)nnz; (void)id; (void)team; (void)out_indices; (void)out_values;
#endif
}

/* cnt[col] += 1 for the entries [lo, hi); 1 at the first index >= kk */
static int fd_count_cols(int64_t lo, int64_t hi, const int32_t *restrict indices,
                         uint32_t kk, int64_t *restrict cnt)
{
    for (int64_t e = lo; e < hi; e++) {
        const uint32_t col = (uint32_t)indices[e];
        if (col >= kk)
            return 1;
        cnt[col]++;
    }
    return 0;
}

/* the entries of rows [r0, r1) into their rows of A^T, at cnt[col]++ */
static void fd_scatter_rows(fd_index r0, fd_index r1,
                            const int64_t *restrict indptr,
                            const int32_t *restrict indices,
                            const float *restrict values, int64_t *restrict cnt,
                            int32_t *restrict out_indices,
                            float *restrict out_values)
{
    int64_t e = indptr[r0];
    for (fd_index i = r0; i < r1; i++) {
        const int64_t hi = indptr[i + 1];
        const int32_t row = (int32_t)i;
        for (; e < hi; e++) {
            const int64_t pos = cnt[indices[e]]++;
            out_indices[pos] = row;
            out_values[pos] = values[e];
        }
    }
}

int fd_csr_transpose(fd_index m, fd_index k, const int64_t *indptr,
                     const int32_t *indices, const float *values,
                     int64_t *out_indptr, int32_t *out_indices,
                     float *out_values, int64_t *work, int nthreads)
{
    if (m < 0 || k < 0 || m > (fd_index)0x7FFFFFFF || indptr == NULL ||
        out_indptr == NULL)
        return FD_EINVAL;
    const int64_t base = indptr[0], end = indptr[m];
    if (base < 0 || end < base)
        return FD_EINVAL;
    if (k == 0) {
        out_indptr[0] = 0;
        return end == base ? FD_OK : FD_EINVAL;
    }
    if (work == NULL)
        return FD_EINVAL;
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    const int nt = fd_sparse_threads(end - base + m, (double)FD_SPARSE_PAR_MIN_NNZ,
                                     nthreads);
    int bad = 0, used = 1;
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = fd_thread_id(), team = fd_team_size();
        int64_t *cnt = work + (fd_index)id * k;
        fd_index r0, r1;
        int mine = 0;
        fd_row_range(m, indptr, 1, id, team, &r0, &r1);
        memset(cnt, 0, (size_t)k * sizeof(int64_t));
        fd_prefetch_out(end - base, id, team, out_indices, out_values);
        if (!fd_rows_ok(r0, r1, indptr, base, end))
            mine = 1;
        else
            mine = fd_count_cols(indptr[r0], indptr[r1], indices, kk, cnt);
        if (mine) {
#pragma omp atomic write
            bad = 1;
        }
#pragma omp barrier
#pragma omp single
        {
            /* column c of A^T's row c: out_indptr[c]; within it, thread t's
             * entries after those of threads < t (rows in order) */
            int64_t off = 0;
            used = team;
            for (fd_index c = 0; c < k; c++) {
                out_indptr[c] = off;
                for (int t = 0; t < team; t++) {
                    const int64_t v = work[(fd_index)t * k + c];
                    work[(fd_index)t * k + c] = off;
                    off += v;
                }
            }
            out_indptr[k] = off;
        } /* implicit barrier */
        int stop;
#pragma omp atomic read
        stop = bad;
        if (!stop)
            fd_scatter_rows(r0, r1, indptr, indices, values, cnt, out_indices,
                            out_values);
    }
    (void)used;
    return bad ? FD_EINVAL : FD_OK;
}

/* ---- fd_csrmm_f32 -------------------------------------------------------- */

FD_SP_INLINE int fd_csrmm_rows_generic(const fd_index NB, fd_index r0,
                                       fd_index r1, const int64_t *indptr,
                                       const int32_t *indices,
                                       const float *values, fd_index k,
                                       const float *b, fd_index rs_b,
                                       fd_index nb, float *c, fd_index rs_c,
                                       const float *bias, int relu)
{
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    for (fd_index i = r0; i < r1; i++) {
        float acc[FD_CSRMM_GENERIC_NB];
        float *ci = c + (i - r0) * rs_c;
        for (fd_index j = 0; j < NB; j++)
            acc[j] = 0.0f;
        for (int64_t e = indptr[i]; e < indptr[i + 1]; e++) {
            const uint32_t col = (uint32_t)indices[e];
            if (col >= kk)
                return FD_EINVAL;
            const float v = values[e];
            const float *bp = b + (fd_index)col * rs_b;
            for (fd_index j = 0; j < NB; j++)
                acc[j] += v * bp[j];
        }
        for (fd_index j = 0; j < NB; j++) {
            float x = acc[j];
            if (bias != NULL)
                x += bias[j];
            if (relu)
                x = x < 0.0f ? 0.0f : x;   /* NaN: x */
            ci[j] = x;
        }
    }
    (void)nb;
    return FD_OK;
}

int fd_csrmm_block_generic(fd_index r0, fd_index r1, const int64_t *indptr,
                           const int32_t *indices, const float *values,
                           fd_index k, const float *b, fd_index rs_b,
                           fd_index nb, float *c, fd_index rs_c,
                           const float *bias, int relu)
{
    if (nb == FD_CSRMM_GENERIC_NB)   /* constant trip counts: registers */
        return fd_csrmm_rows_generic(FD_CSRMM_GENERIC_NB, r0, r1, indptr,
                                     indices, values, k, b, rs_b, nb, c, rs_c,
                                     bias, relu);
    if (nb <= 0 || nb > FD_CSRMM_GENERIC_NB)
        return nb <= 0 ? FD_OK : FD_EINVAL;
    return fd_csrmm_rows_generic(nb, r0, r1, indptr, indices, values, k, b,
                                 rs_b, nb, c, rs_c, bias, relu);
}

typedef struct {
    fd_csrmm_block_fn block;
    fd_index nb;     /* widest block, floats */
    fd_index vl;     /* vector length, floats: blocks are whole vectors */
} fd_csrmm_kernel;

static fd_csrmm_kernel fd_csrmm_select(int level)
{
    fd_csrmm_kernel kk;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512) {
        kk.block = fd_csrmm_block_avx512;
        kk.nb = FD_CSRMM_AVX512_NB;
        kk.vl = 16;
        return kk;
    }
#endif
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2) {
        kk.block = fd_csrmm_block_avx2;
        kk.nb = FD_CSRMM_AVX2_NB;
        kk.vl = 8;
        return kk;
    }
#endif
    (void)level;
    kk.block = fd_csrmm_block_generic;
    kk.nb = FD_CSRMM_GENERIC_NB;
    kk.vl = 4;
    return kk;
}

typedef struct {
    fd_csrmm_kernel kk;
    fd_index nb;         /* this call's block width (floats, <= kk.nb) */
    fd_index m, n, k, nblk, nvec;
    const int64_t *indptr;
    const int32_t *indices;
    const float *values;
    const float *b;
    fd_index rs_b;
    float *c;
    fd_index rs_c, cs_c;
    fd_index cs_b;
    const float *bias;   /* contiguous or NULL */
    int relu;
    int jways, iways;
    int pack;            /* copy each column block of B before use */
    float *packbuf;      /* one k x nb block per thread */
} fd_csrmm_job;

/* columns [j0, j1) of column block q (blocks are balanced whole vectors) */
static void fd_csrmm_block_cols(const fd_csrmm_job *J, fd_index q,
                                fd_index *j0, fd_index *j1)
{
    const fd_index v0 = J->nvec * q / J->nblk, v1 = J->nvec * (q + 1) / J->nblk;
    *j0 = v0 * J->kk.vl;
    *j1 = fd_min(J->n, v1 * J->kk.vl);
}

static int fd_csrmm_run(const fd_csrmm_job *J, int id, int team)
{
    const int iways = team >= J->iways * J->jways ? J->iways : 1;
    const int jways = team >= J->iways * J->jways ? J->jways : team;
    const int ti = id % iways, tj = id / iways;
    const int64_t base = J->indptr[0], end = J->indptr[J->m];
    fd_index r0, r1;
    if (tj >= jways)
        return FD_OK;
    fd_row_range(J->m, J->indptr, FD_CSRMM_ROW_COST, ti, iways, &r0, &r1);
    if (!fd_rows_ok(r0, r1, J->indptr, base, end))
        return FD_EINVAL;
    const fd_index q0 = J->nblk * tj / jways, q1 = J->nblk * (tj + 1) / jways;
    for (fd_index q = q0; q < q1; q++) {
        fd_index j0, j1;
        fd_csrmm_block_cols(J, q, &j0, &j1);
        const float *bq = J->b + j0 * J->cs_b;
        fd_index rs_b = J->rs_b;
        const float *biasq = J->bias ? J->bias + j0 : NULL;
        if (J->pack) {
            float *buf = J->packbuf + (fd_index)id * J->k * J->nb;
            const fd_index w = j1 - j0, ld = fd_cdiv_sp(w, J->kk.vl) * J->kk.vl;
            if (J->cs_b == 1) {
                for (fd_index p = 0; p < J->k; p++)
                    memcpy(buf + p * ld, bq + p * J->rs_b, (size_t)w * sizeof(float));
            } else {
                for (fd_index p = 0; p < J->k; p++)
                    for (fd_index j = 0; j < w; j++)
                        buf[p * ld + j] = bq[p * J->rs_b + j * J->cs_b];
            }
            bq = buf;
            rs_b = ld;
        }
        if (J->cs_c == 1) {
            if (J->kk.block(r0, r1, J->indptr, J->indices, J->values, J->k, bq,
                            rs_b, j1 - j0, J->c + r0 * J->rs_c + j0,
                            J->rs_c, biasq, J->relu) != FD_OK)
                return FD_EINVAL;
        } else {   /* strided C: through a small tile, same arithmetic */
            float tile[FD_CSRMM_TMP_ROWS * FD_CSRMM_MAX_NB];
            for (fd_index i0 = r0; i0 < r1; i0 += FD_CSRMM_TMP_ROWS) {
                const fd_index i1 = fd_min(r1, i0 + FD_CSRMM_TMP_ROWS);
                if (J->kk.block(i0, i1, J->indptr, J->indices, J->values, J->k,
                                bq, rs_b, j1 - j0, tile, FD_CSRMM_MAX_NB, biasq,
                                J->relu) != FD_OK)
                    return FD_EINVAL;
                for (fd_index i = i0; i < i1; i++) {
                    float *ci = J->c + i * J->rs_c + j0 * J->cs_c;
                    const float *ti_ = tile + (i - i0) * FD_CSRMM_MAX_NB;
                    for (fd_index j = 0; j < j1 - j0; j++)
                        ci[j * J->cs_c] = ti_[j];
                }
            }
        }
    }
    return FD_OK;
}

/* jways (column parts) x iways (row parts) = nt, minimising the busiest
 * thread's share; ties go to column parts (each thread then reads only its
 * columns of B) */
static int fd_csrmm_jways(int nt, fd_index nblk, fd_index m)
{
    int best = 1;
    double best_cost = 2.0;
    for (int d = 1; d <= nt; d++) {
        if (nt % d || (fd_index)d > nblk || (fd_index)(nt / d) > (m > 0 ? m : 1))
            continue;
        const double cost = (double)fd_cdiv_sp(nblk, d) / (double)nblk *
                            (double)d / (double)nt;
        if (cost <= best_cost + 1e-12) {
            best_cost = cost;
            best = d;
        }
    }
    return best;
}

int fd_csrmm_f32(fd_index m, fd_index n, fd_index k, const int64_t *indptr,
                 const int32_t *indices, const float *values, const float *b,
                 fd_index rs_b, fd_index cs_b, float *c, fd_index rs_c,
                 fd_index cs_c, const float *bias, fd_index inc_bias, int relu,
                 int nthreads)
{
    fd_csrmm_job J;
    float *biaspack = NULL;
    int bad = 0;

    if (m < 0 || n < 0 || k < 0 || (m > 0 && indptr == NULL))
        return FD_EINVAL;
    if (m == 0 || n == 0)
        return FD_OK;
    {
        const int64_t base = indptr[0], end = indptr[m];
        if (base < 0 || end < base)
            return FD_EINVAL;
    }
    J.kk = fd_csrmm_select(fd_simd_level());
    if (n == 1) {   /* a single column: any strides are unit strides */
        cs_b = 1;
        cs_c = 1;
        inc_bias = 1;
    }
    J.b = b;
    J.rs_b = rs_b;
    J.cs_b = cs_b;
    J.bias = bias;
    if (bias != NULL && inc_bias != 1) {
        biaspack = (float *)fd_sparse_alloc((size_t)n * sizeof(float));
        if (biaspack == NULL)
            return FD_ENOMEM;
        for (fd_index j = 0; j < n; j++)
            biaspack[j] = bias[j * inc_bias];
        J.bias = biaspack;
    }
    J.m = m;
    J.n = n;
    J.k = k;
    J.indptr = indptr;
    J.indices = indices;
    J.values = values;
    J.c = c;
    J.rs_c = rs_c;
    J.cs_c = cs_c;
    J.relu = relu != 0;
    /* Block width: the widest whose k x nb block of B fits L1, but at
     * least FD_CSRMM_MIN_NB (see the design note). */
    J.nb = J.kk.nb;
    while (J.nb > FD_CSRMM_MIN_NB && (double)k * (double)J.nb * sizeof(float) >
                                         FD_CSRMM_L1_BYTES)
        J.nb /= 2;
    J.nvec = fd_cdiv_sp(n, J.kk.vl);
    J.nblk = fd_cdiv_sp(J.nvec, J.nb / J.kk.vl);

    {
        const double work = (double)(indptr[m] - indptr[0]) * (double)n +
                            (double)m * (double)n;
        int nt = nthreads < 1 ? 1 : nthreads;
        if (nt > FD_MAX_THREADS)
            nt = FD_MAX_THREADS;
        if (work / FD_CSRMM_WORK_PER_THREAD < (double)nt)
            nt = work < FD_CSRMM_WORK_PER_THREAD
                     ? 1
                     : (int)(work / FD_CSRMM_WORK_PER_THREAD);
        if ((fd_index)nt > J.nblk * m)
            nt = (int)(J.nblk * m);
        J.jways = fd_csrmm_jways(nt, J.nblk, m);
        J.iways = nt / J.jways;
        nt = J.jways * J.iways;
        /* Packing: B's rows n floats apart put every row's block in the
         * same few cache sets when n*4 is a multiple of a large power of
         * two (n = 512: 2 KiB, a quarter of L1 and L2); a contiguous copy
         * of the block uses them all.  It pays when each row of B is used
         * a few times (nnz >= FD_CSRMM_PACK_REUSE * k); a strided B is
         * always copied. */
        J.pack = k > 0 && (cs_b != 1 || (double)(indptr[m] - indptr[0]) >=
                                            FD_CSRMM_PACK_REUSE * (double)k);
        J.packbuf = NULL;
        if (J.pack) {
            J.packbuf = (float *)fd_sparse_alloc((size_t)nt * (size_t)k *
                                                 (size_t)J.nb * sizeof(float));
            if (J.packbuf == NULL) {
                fd_sparse_free(biaspack);
                return FD_ENOMEM;
            }
        }
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            if (fd_csrmm_run(&J, fd_thread_id(), fd_team_size()) != FD_OK) {
#pragma omp atomic write
                bad = 1;
            }
        }
    }
    fd_sparse_free(J.packbuf);
    fd_sparse_free(biaspack);
    return bad ? FD_EINVAL : FD_OK;
}

/* ---- fd_csrtmm_f32 ------------------------------------------------------- */

int fd_csrtmm_block_generic(fd_index r0, fd_index r1, const int64_t *indptr,
                            const int32_t *indices, const float *values,
                            fd_index k, const float *b, fd_index rs_b,
                            fd_index nb, float *acc, fd_index ld)
{
    const uint32_t kk = k > 0x7FFFFFFF ? 0x80000000u : (uint32_t)k;
    for (fd_index r = r0; r < r1; r++) {
        const float *restrict bp = b + r * rs_b;
        for (int64_t e = indptr[r]; e < indptr[r + 1]; e++) {
            const uint32_t col = (uint32_t)indices[e];
            if (col >= kk)
                return FD_EINVAL;
            float *restrict ap = acc + (fd_index)col * ld;
            const float v = values[e];
            for (fd_index j = 0; j < nb; j++)
                ap[j] += v * bp[j];
        }
    }
    return FD_OK;
}

typedef struct {
    fd_csrtmm_block_fn block;
    fd_index vl;
    fd_index m, n, k, nblk, nvec, ld;
    const int64_t *indptr;
    const int32_t *indices;
    const float *values;
    const float *b;
    fd_index rs_b, cs_b;
    float *c;
    fd_index rs_c, cs_c;
    float *work;        /* per thread: acc (k x ld) then, for a strided B, m x ld */
    fd_index work_sz;
} fd_csrtmm_job;

static int fd_csrtmm_run(const fd_csrtmm_job *J, int id, int team)
{
    const fd_index q0 = J->nblk * id / team, q1 = J->nblk * (id + 1) / team;
    float *acc = J->work + (fd_index)id * J->work_sz;
    float *bpack = acc + J->k * J->ld;
    if (q0 == q1)
        return FD_OK;
    if (!fd_rows_ok(0, J->m, J->indptr, J->indptr[0], J->indptr[J->m]))
        return FD_EINVAL;
    for (fd_index q = q0; q < q1; q++) {
        const fd_index j0 = J->nvec * q / J->nblk * J->vl;
        const fd_index j1 = fd_min(J->n, J->nvec * (q + 1) / J->nblk * J->vl);
        const fd_index w = j1 - j0;
        const float *bq = J->b + j0 * J->cs_b;
        fd_index rs_b = J->rs_b;
        memset(acc, 0, (size_t)(J->k * J->ld) * sizeof(float));
        if (J->cs_b != 1) {
            for (fd_index r = 0; r < J->m; r++)
                for (fd_index j = 0; j < w; j++)
                    bpack[r * J->ld + j] = bq[r * J->rs_b + j * J->cs_b];
            bq = bpack;
            rs_b = J->ld;
        }
        if (J->block(0, J->m, J->indptr, J->indices, J->values, J->k, bq, rs_b, w,
                     acc, J->ld) != FD_OK)
            return FD_EINVAL;
        for (fd_index p = 0; p < J->k; p++) {
            float *cp = J->c + p * J->rs_c + j0 * J->cs_c;
            const float *ap = acc + p * J->ld;
            if (J->cs_c == 1)
                memcpy(cp, ap, (size_t)w * sizeof(float));
            else
                for (fd_index j = 0; j < w; j++)
                    cp[j * J->cs_c] = ap[j];
        }
    }
    return FD_OK;
}

int fd_csrtmm_f32(fd_index m, fd_index n, fd_index k, const int64_t *indptr,
                  const int32_t *indices, const float *values, const float *b,
                  fd_index rs_b, fd_index cs_b, float *c, fd_index rs_c,
                  fd_index cs_c, int nthreads)
{
    fd_csrtmm_job J;
    int bad = 0, nt;
    const int level = fd_simd_level();

    if (m < 0 || n < 0 || k < 0 || indptr == NULL)
        return FD_EINVAL;
    {
        const int64_t base = indptr[0], end = indptr[m];
        if (base < 0 || end < base)
            return FD_EINVAL;
        if (k == 0)
            return end == base ? FD_OK : FD_EINVAL;
    }
    if (n == 0)
        return FD_OK;
    if (n == 1) {
        cs_b = 1;
        cs_c = 1;
    }
    J.block = fd_csrtmm_block_generic;
    J.vl = 4;
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2) {
        J.block = fd_csrtmm_block_avx2;
        J.vl = 8;
    }
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512) {
        J.block = fd_csrtmm_block_avx512;
        J.vl = 16;
    }
#endif
    (void)level;
    J.m = m;
    J.n = n;
    J.k = k;
    J.indptr = indptr;
    J.indices = indices;
    J.values = values;
    J.b = b;
    J.rs_b = rs_b;
    J.cs_b = cs_b;
    J.c = c;
    J.rs_c = rs_c;
    J.cs_c = cs_c;
    J.nvec = fd_cdiv_sp(n, J.vl);
    J.nblk = fd_cdiv_sp(J.nvec, FD_CSRTMM_NB / J.vl);
    J.ld = fd_cdiv_sp(fd_cdiv_sp(J.nvec, J.nblk) * J.vl, 16) * 16;
    J.work_sz = k * J.ld + (cs_b != 1 ? m * J.ld : 0);
    {
        const double work = (double)(indptr[m] - indptr[0]) * (double)n +
                            (double)k * (double)n;
        nt = nthreads < 1 ? 1 : nthreads;
        if (nt > FD_MAX_THREADS)
            nt = FD_MAX_THREADS;
        if (work / FD_CSRMM_WORK_PER_THREAD < (double)nt)
            nt = work < FD_CSRMM_WORK_PER_THREAD
                     ? 1
                     : (int)(work / FD_CSRMM_WORK_PER_THREAD);
        if ((fd_index)nt > J.nblk)
            nt = (int)J.nblk;
    }
    J.work = (float *)fd_sparse_alloc((size_t)nt * (size_t)J.work_sz * sizeof(float));
    if (J.work == NULL)
        return FD_ENOMEM;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        if (fd_csrtmm_run(&J, fd_thread_id(), fd_team_size()) != FD_OK) {
#pragma omp atomic write
            bad = 1;
        }
    }
    fd_sparse_free(J.work);
    return bad ? FD_EINVAL : FD_OK;
}
