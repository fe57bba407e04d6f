/*
 * kernels_driver.c -- a pure-C test of every fd_* kernel, built together with
 * the src_c sources under AddressSanitizer + UndefinedBehaviorSanitizer (and leak
 * detection) by tools/sanitize.sh.
 *
 * Design: every operand is a strided view (C order, Fortran order, strided,
 * negative strides, and stride-0 broadcasts for inputs) allocated with
 * *exactly* the bytes it addresses, so any read or write one element outside
 * the view is a heap-buffer-overflow that ASan reports.  Output views are
 * filled with NaN (so an element the kernel forgets to write fails the
 * comparison) and the gaps between their elements with a sentinel that must
 * survive the call (a stray write inside the allocation is caught too).
 * Each result is held against a naive C reference computed in double with
 * the error bounds of tests/test_kernels.py (u = 2^-24):
 *   sgemm        |C - C64| <= 2 (k+2) u (|alpha| |A||B| + |beta C0| + |bias|)
 *   add, relu, relu_backward mask: exact
 *   column sums  2 (m+1) u sum |g|
 *   softmax      u (|z| + n + 6) p   (+ a tiny absolute floor)
 *   optimizers   a few ulps of the terms.
 * NaN must be where the reference has NaN.  Shapes cover 0, 1, odd sizes,
 * the micro-tile sizes (4x8, 6x16, 12x32) and the block sizes (MC 128/144,
 * KC 256/384, NC 2048/4080) +-1, the direct/packed threshold, and the
 * OpenMP threshold (FD_PAR_MIN_ELEMS, 131072 elements) of the elementwise,
 * softmax and optimizer kernels.  Thread
 * counts 1..4; bit-for-bit repeatability of a repeated call, and thread-count
 * independence where the kernels promise it (elementwise, column sums,
 * optimizers).  Which SIMD path runs is chosen with FASTDENSE_SIMD.
 *
 * The sparse kernels (fd_csr_*, fd_csrmm_f32, fd_csrtmm_f32) get CSR arrays allocated with
 * exactly the entries of their span, read through an absolute indptr offset,
 * and a csrmm bound of 2 (nnz_i + 2) u sum |a||b| per row.
 *
 * Output: failures (the first 30 in detail), then "N passed, 0 failed";
 * exit status 1 on any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastdense.h"

#define U (1.0 / 16777216.0) /* 2^-24 */
#define SENTINEL 12345.5f

static long n_passed, n_failed;
static char ctx[512]; /* what the current case is, for failure messages */

static void check(int ok, const char *what, fd_index i, fd_index j,
                  double got, double want, double tol)
{
    if (ok) {
        n_passed++;
        return;
    }
    n_failed++;
    if (n_failed <= 30)
        fprintf(stderr, "FAIL %s: %s at (%ld, %ld): got %.9g want %.9g tol %.3g\n",
                ctx, what, (long)i, (long)j, got, want, tol);
}

/* ---- deterministic random numbers ----------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static int rnd_int(int n) { return (int)(rnd() % (uint64_t)n); }
static float rnd_unit(void) /* [-1, 1) */
{
    return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ---- strided views ------------------------------------------------------- */

enum { L_C, L_F, L_STRIDED, L_NEG, L_NEGF, L_ROWB, L_COLB, L_BOTHB, L_COUNT };
static const char *LNAME[] = {"C", "F", "strided", "neg", "negF", "rowbcast",
                              "colbcast", "scalar"};
#define N_OUT_LAYOUTS 5 /* the first five: no stride 0 for outputs */

typedef struct {
    float *mem;   /* the allocation: exactly cnt floats */
    float *base;  /* element (i, j) = base[i*rs + j*cs] */
    fd_index rs, cs, m, n;
    fd_index cnt;
    int layout;
} view;

static float *xmalloc_f(fd_index cnt)
{
    /* malloc(0) under ASan is a zero-size region: any access is reported */
    float *p = (float *)malloc((size_t)cnt * sizeof(float));
    if (p == NULL && cnt > 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static view make_view(fd_index m, fd_index n, int layout)
{
    view v;
    fd_index lo = 0, hi = 0;
    v.m = m;
    v.n = n;
    v.layout = layout;
    switch (layout) {
    case L_C: v.rs = n; v.cs = 1; break;
    case L_F: v.rs = 1; v.cs = m; break;
    case L_STRIDED: v.cs = 2; v.rs = 2 * n + 3; break;
    case L_NEG: v.rs = -n; v.cs = -1; break;
    case L_NEGF: v.rs = -1; v.cs = -(m + 1); break;
    case L_ROWB: v.rs = 0; v.cs = 1; break;
    case L_COLB: v.rs = 1; v.cs = 0; break;
    default: v.rs = 0; v.cs = 0; break;
    }
    if (m > 0 && n > 0) {
        fd_index r = (m - 1) * v.rs, c = (n - 1) * v.cs;
        lo = (r < 0 ? r : 0) + (c < 0 ? c : 0);
        hi = (r > 0 ? r : 0) + (c > 0 ? c : 0);
        v.cnt = hi - lo + 1;
    } else {
        v.cnt = 0;
    }
    v.mem = xmalloc_f(v.cnt);
    v.base = v.mem - lo;
    return v;
}

static void free_view(view *v)
{
    free(v->mem);
    v->mem = v->base = NULL;
}

static float *at(const view *v, fd_index i, fd_index j)
{
    return v->base + i * v->rs + j * v->cs;
}

/* random inputs in [-1, 1), with a NaN now and then when nan_rate > 0 */
static void fill_random(view *v, int nan_rate)
{
    for (fd_index t = 0; t < v->cnt; t++)
        v->mem[t] = rnd_unit();
    if (nan_rate > 0 && v->cnt > 0 && rnd_int(nan_rate) == 0)
        v->mem[rnd_int((int)v->cnt)] = NAN;
}

/* an output: the view's elements `inside` (NaN: must be written), the gaps
 * the sentinel */
static void fill_output(view *v, float inside)
{
    for (fd_index t = 0; t < v->cnt; t++)
        v->mem[t] = SENTINEL;
    for (fd_index i = 0; i < v->m; i++)
        for (fd_index j = 0; j < v->n; j++)
            *at(v, i, j) = inside;
}

/* copy of the view's elements, row-major m x n */
static float *snapshot(const view *v)
{
    float *s = xmalloc_f(v->m * v->n);
    for (fd_index i = 0; i < v->m; i++)
        for (fd_index j = 0; j < v->n; j++)
            s[i * v->n + j] = *at(v, i, j);
    return s;
}

/* the gaps of an output still hold the sentinel */
static void check_gaps(const view *v)
{
    char *mask;
    fd_index bad = -1;
    if (v->cnt == 0)
        return;
    mask = (char *)calloc((size_t)v->cnt, 1);
    for (fd_index i = 0; i < v->m; i++)
        for (fd_index j = 0; j < v->n; j++)
            mask[at(v, i, j) - v->mem] = 1;
    for (fd_index t = 0; t < v->cnt; t++)
        if (!mask[t] && v->mem[t] != SENTINEL) {
            bad = t;
            break;
        }
    free(mask);
    check(bad < 0, "write outside the output view", bad, 0,
          bad < 0 ? 0 : v->mem[bad], SENTINEL, 0);
}

static int same_nan(double got, double want)
{
    return isnan(got) && isnan(want);
}

/* |got - want| <= tol, NaN where want is NaN, inf where want is inf */
static void check_close(const char *what, fd_index i, fd_index j, double got,
                        double want, double tol)
{
    int ok;
    if (isnan(want))
        ok = isnan(got);
    else if (isinf(want))
        ok = got == want;
    else
        ok = !isnan(got) && fabs(got - want) <= tol;
    check(ok, what, i, j, got, want, tol);
}

static void check_exact(const char *what, fd_index i, fd_index j, float got,
                        float want)
{
    check(got == want || same_nan(got, want), what, i, j, got, want, 0);
}

static void check_status(int got, int want, const char *what)
{
    check(got == want, what, 0, 0, got, want, 0);
}

/* the same bits (NaNs equal) */
static void check_identical(const char *what, const float *a, const float *b,
                            fd_index count)
{
    fd_index bad = -1;
    for (fd_index t = 0; t < count; t++)
        if (memcmp(&a[t], &b[t], sizeof(float)) != 0 &&
            !(isnan(a[t]) && isnan(b[t]))) {
            bad = t;
            break;
        }
    check(bad < 0, what, bad, 0, bad < 0 ? 0 : a[bad], bad < 0 ? 0 : b[bad], 0);
}

static int pick_threads(void) { return 1 + rnd_int(4); }

/* ---- fd_sgemm ---------------------------------------------------------- */

static void test_sgemm_case(fd_index m, fd_index n, fd_index k)
{
    const float alphas[] = {1.0f, 0.5f, -2.0f};
    const float betas[] = {0.0f, 1.0f, -0.5f};
    const fd_index bias_incs[] = {1, 3, -1, 0};
    float alpha = alphas[rnd_int(3)], beta = betas[rnd_int(3)];
    int la = rnd_int(N_OUT_LAYOUTS), lb = rnd_int(L_COUNT),
        lc = rnd_int(N_OUT_LAYOUTS);
    int use_rows = rnd_int(4) == 0, use_cols = rnd_int(5) == 0;
    int use_bias = rnd_int(2), relu = rnd_int(2), nt = pick_threads();
    fd_index inc_bias = bias_incs[rnd_int(4)];
    fd_index ma = use_rows ? m + 3 : m, ka = use_cols ? k + 2 : k;
    int64_t *rows = NULL, *cols = NULL;
    view A, B, C, bias;
    float *c0, *first;
    int st;

    A = make_view(ma, ka, la);
    B = make_view(k, n, lb);
    C = make_view(m, n, lc);
    bias = make_view(1, use_bias ? n : 0, L_C);
    fill_random(&A, 8);
    fill_random(&B, 8);
    if (use_bias && inc_bias != 1) {
        free_view(&bias);
        /* a 1 x n row with element stride inc_bias: a n x 1 "column" view */
        bias = make_view(n, 1, inc_bias == 3 ? L_STRIDED : inc_bias < 0 ? L_NEG : L_ROWB);
        fill_random(&bias, 0);
        inc_bias = bias.rs;
    } else {
        fill_random(&bias, 0);
        inc_bias = 1;
    }
    if (use_rows) {
        rows = (int64_t *)malloc((size_t)(m > 0 ? m : 1) * sizeof(int64_t));
        for (fd_index i = 0; i < m; i++)
            rows[i] = rnd_int((int)ma);
    }
    if (use_cols) {
        cols = (int64_t *)malloc((size_t)(k > 0 ? k : 1) * sizeof(int64_t));
        for (fd_index p = 0; p < k; p++)
            cols[p] = rnd_int((int)ka);
    }
    if (beta == 0.0f) {
        fill_output(&C, NAN); /* must not be read */
    } else {
        fill_output(&C, 0.0f);
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++)
                *at(&C, i, j) = rnd_unit();
    }
    c0 = snapshot(&C);
    snprintf(ctx, sizeof ctx,
             "sgemm m=%ld n=%ld k=%ld A=%s%s%s B=%s C=%s alpha=%g beta=%g "
             "bias=%s inc=%ld relu=%d threads=%d",
             (long)m, (long)n, (long)k, LNAME[la], use_rows ? "+rows" : "",
             use_cols ? "+cols" : "", LNAME[lb], LNAME[lc], alpha, beta,
             use_bias ? "yes" : "no", (long)inc_bias, relu, nt);

    st = fd_sgemm(m, n, k, alpha, A.base, A.rs, A.cs, rows, cols, B.base, B.rs,
                  B.cs, beta, C.base, C.rs, C.cs, use_bias ? bias.base : NULL,
                  inc_bias, relu, nt);
    check_status(st, FD_OK, "status");
    check_gaps(&C);
    for (fd_index i = 0; i < m; i++) {
        const fd_index ai = rows ? (fd_index)rows[i] : i;
        for (fd_index j = 0; j < n; j++) {
            double s = 0.0, bound = 0.0, v, tol;
            for (fd_index p = 0; p < k; p++) {
                const fd_index ap = cols ? (fd_index)cols[p] : p;
                const double t = (double)*at(&A, ai, ap) * (double)*at(&B, p, j);
                s += t;
                bound += fabs(t);
            }
            v = (double)alpha * s;
            bound *= fabs((double)alpha);
            if (beta != 0.0f) {
                v += (double)beta * c0[i * n + j];
                bound += fabs((double)beta * c0[i * n + j]);
            }
            if (use_bias) {
                const double bj = bias.base[j * inc_bias];
                v += bj;
                bound += fabs(bj);
            }
            if (relu)
                v = v < 0.0 ? 0.0 : v;
            tol = 2.0 * (double)(k + 2) * U * bound + 1e-30;
            check_close("value", i, j, *at(&C, i, j), v, tol);
        }
    }

    /* the same call again gives the same bits */
    first = snapshot(&C);
    for (fd_index i = 0; i < m; i++)
        for (fd_index j = 0; j < n; j++)
            *at(&C, i, j) = beta == 0.0f ? NAN : c0[i * n + j];
    st = fd_sgemm(m, n, k, alpha, A.base, A.rs, A.cs, rows, cols, B.base, B.rs,
                  B.cs, beta, C.base, C.rs, C.cs, use_bias ? bias.base : NULL,
                  inc_bias, relu, nt);
    {
        float *second = snapshot(&C);
        check_identical("repeat differs", first, second, m * n);
        free(second);
    }
    free(first);
    free(c0);
    free(rows);
    free(cols);
    free_view(&A);
    free_view(&B);
    free_view(&C);
    free_view(&bias);
}

static void test_sgemm(void)
{
    static const fd_index tiny[] = {0, 1, 2, 3, 5};
    static const fd_index mm[] = {1, 4, 6, 7, 12, 13, 17};
    static const fd_index nn[] = {1, 8, 16, 31, 32, 33};
    static const fd_index kk[] = {1, 7, 8, 9, 64};
    /* the block sizes of the three kernels, +-1 */
    static const fd_index blocks[][3] = {
        {127, 9, 20}, {128, 9, 20}, {129, 9, 20}, {143, 17, 20}, {144, 17, 20},
        {145, 17, 20}, {289, 33, 16}, {13, 33, 255}, {13, 33, 256},
        {13, 33, 257}, {13, 33, 383}, {13, 33, 384}, {13, 33, 385},
        {7, 17, 769}, {5, 2047, 9}, {5, 2048, 9}, {5, 2049, 9}, {3, 4079, 9},
        {3, 4080, 9}, {3, 4081, 9}, {2, 8161, 5}, {16, 16, 16}, {16, 16, 17},
        {24, 40, 100}, {130, 70, 395}, {37, 130, 64}, {64, 64, 1}};
    size_t a, b, c;
    int r;
    for (a = 0; a < 5; a++)
        for (b = 0; b < 5; b++)
            for (c = 0; c < 5; c++)
                for (r = 0; r < 2; r++)
                    test_sgemm_case(tiny[a], tiny[b], tiny[c]);
    for (a = 0; a < sizeof mm / sizeof mm[0]; a++)
        for (b = 0; b < sizeof nn / sizeof nn[0]; b++)
            for (c = 0; c < sizeof kk / sizeof kk[0]; c++)
                test_sgemm_case(mm[a], nn[b], kk[c]);
    for (a = 0; a < sizeof blocks / sizeof blocks[0]; a++)
        for (r = 0; r < 3; r++)
            test_sgemm_case(blocks[a][0], blocks[a][1], blocks[a][2]);
    snprintf(ctx, sizeof ctx, "sgemm bad sizes");
    check_status(fd_sgemm(-1, 1, 1, 1.0f, NULL, 1, 1, NULL, NULL, NULL, 1, 1,
                          0.0f, NULL, 1, 1, NULL, 0, 0, 1), FD_EINVAL, "m < 0");
    check_status(fd_sgemm(1, 1, -1, 1.0f, NULL, 1, 1, NULL, NULL, NULL, 1, 1,
                          0.0f, NULL, 1, 1, NULL, 0, 0, 1), FD_EINVAL, "k < 0");
}

/* ---- elementwise ------------------------------------------------------- */

static const fd_index EW_SHAPES[][2] = {
    {0, 0}, {0, 5}, {5, 0}, {1, 1}, {1, 7}, {7, 1}, {3, 5}, {16, 33},
    {1, 8193}, {2, 8191}, {1, 140000}, {200, 170}, {401, 353}, {3, 45001},
    {135000, 1}};
#define N_EW_SHAPES (sizeof EW_SHAPES / sizeof EW_SHAPES[0])

static void test_add(fd_index m, fd_index n, int alias)
{
    int lx = rnd_int(L_COUNT), ly = rnd_int(L_COUNT), lo = rnd_int(N_OUT_LAYOUTS);
    view X, Y, O, O2;
    float *xs, *ys, *r1, *r2;
    float *ob;
    fd_index ors, ocs;
    int nt = pick_threads();
    if (alias)
        lx = lo;
    X = make_view(m, n, lx);
    Y = make_view(m, n, ly);
    fill_random(&X, 4);
    fill_random(&Y, 4);
    xs = snapshot(&X);
    ys = snapshot(&Y);
    O = make_view(m, n, lo);
    fill_output(&O, NAN);
    ob = alias ? X.base : O.base;
    ors = alias ? X.rs : O.rs;
    ocs = alias ? X.cs : O.cs;
    snprintf(ctx, sizeof ctx, "add m=%ld n=%ld x=%s y=%s out=%s%s threads=%d",
             (long)m, (long)n, LNAME[lx], LNAME[ly], LNAME[lo],
             alias ? " (out is x)" : "", nt);
    check_status(fd_add_f32(m, n, X.base, X.rs, X.cs, Y.base, Y.rs, Y.cs, ob,
                            ors, ocs, nt), FD_OK, "status");
    {
        const view *res = alias ? &X : &O;
        if (!alias)
            check_gaps(&O);
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++)
                check_exact("value", i, j, *at(res, i, j),
                            xs[i * n + j] + ys[i * n + j]);
        r1 = snapshot(res);
    }
    /* one thread gives the same bits */
    O2 = make_view(m, n, L_C);
    fill_output(&O2, NAN);
    {
        view Xc = make_view(m, n, L_C);
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++)
                *at(&Xc, i, j) = xs[i * n + j];
        fd_add_f32(m, n, Xc.base, Xc.rs, Xc.cs, Y.base, Y.rs, Y.cs, O2.base,
                   O2.rs, O2.cs, 1);
        free_view(&Xc);
    }
    r2 = snapshot(&O2);
    check_identical("threads change the result", r1, r2, m * n);
    free(r1);
    free(r2);
    free(xs);
    free(ys);
    free_view(&X);
    free_view(&Y);
    free_view(&O);
    free_view(&O2);
}

static void test_relu(fd_index m, fd_index n, int alias)
{
    int lx = rnd_int(L_COUNT), lo = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    view X, O;
    float *xs;
    if (alias)
        lx = lo;
    X = make_view(m, n, lx);
    fill_random(&X, 3);
    xs = snapshot(&X);
    O = make_view(m, n, lo);
    fill_output(&O, NAN);
    snprintf(ctx, sizeof ctx, "relu m=%ld n=%ld x=%s out=%s%s threads=%d",
             (long)m, (long)n, LNAME[lx], LNAME[lo], alias ? " (out is x)" : "", nt);
    if (alias)
        check_status(fd_relu_f32(m, n, X.base, X.rs, X.cs, X.base, X.rs, X.cs, nt),
                     FD_OK, "status");
    else
        check_status(fd_relu_f32(m, n, X.base, X.rs, X.cs, O.base, O.rs, O.cs, nt),
                     FD_OK, "status");
    if (!alias)
        check_gaps(&O);
    for (fd_index i = 0; i < m; i++)
        for (fd_index j = 0; j < n; j++) {
            const float v = xs[i * n + j];
            check_exact("value", i, j, *at(alias ? &X : &O, i, j),
                        v < 0.0f ? 0.0f : v);
        }
    free(xs);
    free_view(&X);
    free_view(&O);
}

static void test_relu_backward(fd_index m, fd_index n, int with_bias, int alias)
{
    int lg = rnd_int(L_COUNT), ly = rnd_int(L_COUNT), lo = rnd_int(N_OUT_LAYOUTS);
    int nt = pick_threads();
    view G, Y, O, BG;
    float *gs, *ys, *first_out = NULL, *first_bg = NULL;
    fd_index inc_bg = 1;
    int pass;
    if (alias)
        lg = lo;
    G = make_view(m, n, lg);
    Y = make_view(m, n, ly);
    fill_random(&G, 4);
    fill_random(&Y, 4);
    gs = snapshot(&G);
    ys = snapshot(&Y);
    O = make_view(m, n, lo);
    BG = make_view(n, 1, rnd_int(2) ? L_C : L_STRIDED);
    inc_bg = BG.rs;
    snprintf(ctx, sizeof ctx,
             "relu_backward m=%ld n=%ld grad=%s y=%s out=%s%s bias_grad=%s threads=%d",
             (long)m, (long)n, LNAME[lg], LNAME[ly], LNAME[lo],
             alias ? " (out is grad)" : "", with_bias ? LNAME[BG.layout] : "none", nt);
    for (pass = 0; pass < 2; pass++) { /* nt threads, then 1 thread */
        const view *res = alias ? &G : &O;
        float *o, *b;
        if (alias) {
            for (fd_index i = 0; i < m; i++)
                for (fd_index j = 0; j < n; j++)
                    *at(&G, i, j) = gs[i * n + j];
        } else {
            fill_output(&O, NAN);
        }
        fill_output(&BG, NAN);
        check_status(fd_relu_backward_f32(
                         m, n, G.base, G.rs, G.cs, Y.base, Y.rs, Y.cs,
                         alias ? G.base : O.base, alias ? G.rs : O.rs,
                         alias ? G.cs : O.cs, with_bias ? BG.base : NULL, inc_bg,
                         pass == 0 ? nt : 1),
                     FD_OK, "status");
        if (!alias)
            check_gaps(&O);
        check_gaps(&BG);
        o = snapshot(res);
        b = snapshot(&BG);
        if (pass == 0) {
            for (fd_index i = 0; i < m; i++)
                for (fd_index j = 0; j < n; j++)
                    check_exact("value", i, j, o[i * n + j],
                                ys[i * n + j] > 0.0f ? gs[i * n + j] : 0.0f);
            for (fd_index j = 0; j < n && with_bias; j++) {
                double s = 0.0, sa = 0.0;
                for (fd_index i = 0; i < m; i++) {
                    const double v = ys[i * n + j] > 0.0f ? gs[i * n + j] : 0.0f;
                    s += v;
                    sa += fabs(v);
                }
                check_close("bias_grad", 0, j, b[j], s, 2.0 * (m + 1) * U * sa);
            }
            first_out = o;
            first_bg = b;
        } else {
            check_identical("threads change the result", first_out, o, m * n);
            if (with_bias)
                check_identical("threads change bias_grad", first_bg, b, n);
            free(o);
            free(b);
        }
    }
    free(first_out);
    free(first_bg);
    free(gs);
    free(ys);
    free_view(&G);
    free_view(&Y);
    free_view(&O);
    free_view(&BG);
}

static void test_bias_grad(fd_index m, fd_index n)
{
    int lg = rnd_int(L_COUNT), nt = pick_threads(), pass;
    view G = make_view(m, n, lg), O = make_view(n, 1, rnd_int(3) == 0 ? L_NEG : L_C);
    float *gs, *first = NULL;
    fill_random(&G, 5);
    gs = snapshot(&G);
    snprintf(ctx, sizeof ctx, "bias_grad m=%ld n=%ld grad=%s out=%s threads=%d",
             (long)m, (long)n, LNAME[lg], LNAME[O.layout], nt);
    for (pass = 0; pass < 2; pass++) {
        float *o;
        fill_output(&O, NAN);
        check_status(fd_bias_grad_f32(m, n, G.base, G.rs, G.cs, O.base, O.rs,
                                      pass == 0 ? nt : 1), FD_OK, "status");
        check_gaps(&O);
        o = snapshot(&O);
        if (pass == 0) {
            for (fd_index j = 0; j < n; j++) {
                double s = 0.0, sa = 0.0;
                for (fd_index i = 0; i < m; i++) {
                    s += gs[i * n + j];
                    sa += fabs(gs[i * n + j]);
                }
                check_close("value", 0, j, o[j], s, 2.0 * (m + 1) * U * sa);
            }
            first = o;
        } else {
            check_identical("threads change the result", first, o, n);
            free(o);
        }
    }
    free(first);
    free(gs);
    free_view(&G);
    free_view(&O);
}

/* ---- softmax ----------------------------------------------------------- */

/* x = (m x n) row-major copy; specials: some rows get -inf, +inf, NaN */
static void spice_rows(view *X, fd_index m, fd_index n)
{
    if (m < 3 || n < 1 || X->rs == 0)
        return;
    for (fd_index j = 0; j < n; j++)
        *at(X, 0, j) = -INFINITY;                /* all -inf: NaN row */
    *at(X, 1, n - 1) = -INFINITY;                /* one -inf: p = 0 */
    if (m > 3 && X->cs != 0)
        *at(X, 2, 0) = 80.0f;                    /* large logit: no overflow */
}

static void test_softmax(fd_index m, fd_index n, int alias)
{
    int lx = rnd_int(L_COUNT), lo = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    view X, O;
    float *xs;
    if (alias)
        lx = lo;
    X = make_view(m, n, lx);
    fill_random(&X, 6);
    for (fd_index t = 0; t < X.cnt; t++)
        X.mem[t] *= 8.0f;
    spice_rows(&X, m, n);
    xs = snapshot(&X);
    O = make_view(m, n, lo);
    fill_output(&O, NAN);
    snprintf(ctx, sizeof ctx, "softmax m=%ld n=%ld x=%s out=%s%s threads=%d",
             (long)m, (long)n, LNAME[lx], LNAME[lo], alias ? " (out is x)" : "", nt);
    check_status(fd_softmax_f32(m, n, X.base, X.rs, X.cs, alias ? X.base : O.base,
                                alias ? X.rs : O.rs, alias ? X.cs : O.cs, nt),
                 FD_OK, "status");
    if (!alias)
        check_gaps(&O);
    for (fd_index i = 0; i < m; i++) {
        const float *xi = xs + i * n;
        double mx, sum = 0.0;
        if (n == 0)
            continue;
        mx = xi[0];
        for (fd_index j = 1; j < n; j++)
            if (xi[j] > mx || isnan(xi[j]) || isnan(mx))
                mx = isnan(mx) ? mx : xi[j];
        for (fd_index j = 0; j < n; j++)
            sum += exp((double)xi[j] - mx);
        for (fd_index j = 0; j < n; j++) {
            const double z = (double)xi[j] - mx, p = exp(z) / sum;
            const double tol = U * ((isinf(z) ? 0.0 : fabs(z)) + n + 6) * p * 2.0 + 1e-37;
            check_close("value", i, j, *at(alias ? &X : &O, i, j), p, tol);
        }
    }
    free(xs);
    free_view(&X);
    free_view(&O);
}

static fd_index ref_argmax(const float *x, fd_index n)
{
    fd_index best = 0;
    for (fd_index j = 0; j < n; j++) {
        if (isnan(x[j]))
            return j;
        if (x[j] > x[best])
            best = j;
    }
    return best;
}

static void test_softmax_xent(fd_index m, fd_index n, int sparse)
{
    int lx = rnd_int(L_COUNT), ly = rnd_int(L_COUNT), lp = rnd_int(N_OUT_LAYOUTS),
        lg = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    int want_probs = rnd_int(3) != 0, want_grad = rnd_int(3) != 0;
    /* per-row weights (a strided, negative or contiguous vector) and label
     * smoothing, each in about half of the cases */
    static const float smoothings[] = {0.0f, 0.0f, 0.1f, 1.0f};
    const float ls = smoothings[rnd_int(4)];
    const int lw = rnd_int(2) ? -1 : rnd_int(3);   /* -1: no weights */
    view W = make_view(m > 0 ? m : 0, 1, lw == 0 ? L_C : lw == 1 ? L_STRIDED : L_NEG);
    view X = make_view(m, n, lx), Y = make_view(m, n, ly);
    view P = make_view(m, n, lp), G = make_view(m, n, lg);
    int64_t *labels = (int64_t *)malloc((size_t)(m > 0 ? m : 1) * sizeof(int64_t));
    float *xs, *ys;
    const float scale = m > 0 ? 1.0f / (float)m : 1.0f;
    double loss = -1.0, want_loss = 0.0, loss_bound = 0.0;
    int64_t hits = -1, want_hits = 0;

    fill_random(&X, 6);
    for (fd_index t = 0; t < X.cnt; t++)
        X.mem[t] *= 6.0f;
    fill_random(&Y, 0);
    for (fd_index t = 0; t < Y.cnt; t++) /* non-negative, some exact zeros */
        Y.mem[t] = Y.mem[t] < -0.3f ? 0.0f : fabsf(Y.mem[t]);
    fill_random(&W, 0);
    for (fd_index t = 0; t < W.cnt; t++)  /* weights in [0, 2), some zeros */
        W.mem[t] = W.mem[t] < -0.8f ? 0.0f : W.mem[t] + 1.0f;
    for (fd_index i = 0; i < m; i++)
        labels[i] = n > 0 ? rnd_int((int)n) : 0;
    xs = snapshot(&X);
    ys = snapshot(&Y);
    fill_output(&P, NAN);
    fill_output(&G, NAN);
    snprintf(ctx, sizeof ctx,
             "softmax_xent m=%ld n=%ld %s logits=%s y=%s probs=%s grad=%s weights=%s "
             "ls=%g threads=%d",
             (long)m, (long)n, sparse ? "labels" : "dense", LNAME[lx],
             sparse ? "-" : LNAME[ly], want_probs ? LNAME[lp] : "none",
             want_grad ? LNAME[lg] : "none", lw < 0 ? "none" : LNAME[W.layout],
             (double)ls, nt);
    check_status(fd_softmax_xent_f32(m, n, X.base, X.rs, X.cs,
                                     sparse ? NULL : Y.base, Y.rs, Y.cs,
                                     sparse ? labels : NULL,
                                     lw < 0 ? NULL : W.base, W.rs, ls,
                                     want_probs ? P.base : NULL, P.rs, P.cs,
                                     want_grad ? G.base : NULL, G.rs, G.cs, scale,
                                     &loss, &hits, nt),
                 (m > 0 && n == 0 && sparse) ? FD_EINVAL : FD_OK, "status");
    if (m > 0 && n == 0 && sparse)
        goto done;
    check_gaps(&P);
    check_gaps(&G);
    for (fd_index i = 0; i < m; i++) {
        const float *xi = xs + i * n;
        float yrow[1024];   /* the widest row tested is 700 */
        const float *yi;
        double mx, sum = 0.0, lse;
        if (n == 0)
            continue;
        mx = xi[0];
        if (sparse) {
            for (fd_index j = 0; j < n; j++)
                yrow[j] = j == labels[i] ? 1.0f : 0.0f;
            yi = yrow;
        } else {
            yi = ys + i * n;
        }
        for (fd_index j = 1; j < n; j++)
            if (xi[j] > mx || isnan(xi[j]) || isnan(mx))
                mx = isnan(mx) ? mx : xi[j];
        for (fd_index j = 0; j < n; j++)
            sum += exp((double)xi[j] - mx);
        lse = log(sum);
        const double wi = lw < 0 ? 1.0 : (double)*at(&W, i, 0);
        for (fd_index j = 0; j < n; j++) {
            const double z = (double)xi[j] - mx, p = exp(z) / sum;
            const double ptol = U * ((isinf(z) ? 0.0 : fabs(z)) + n + 6) * p * 2.0 + 1e-37;
            /* the smoothed target, as the kernel rounds it (float) */
            const double t = ls != 0.0f ? (double)(yi[j] * (1.0f - ls) + ls / (float)n)
                                        : (double)yi[j];
            if (t != 0.0) {
                want_loss -= wi * t * (z - lse);
                loss_bound += wi * fabs(t) * (fabs(z) + fabs(lse) + 1.0);
            }
            if (want_probs)
                check_close("probs", i, j, *at(&P, i, j), p, ptol);
            if (want_grad)
                check_close("grad", i, j, *at(&G, i, j), (p - t) * scale * wi,
                            (ptol + U * fabs(p - t) * 4.0) * scale * wi + 1e-37);
        }
        want_hits += n > 0 && ref_argmax(xi, n) ==
                                  (sparse ? (fd_index)labels[i] : ref_argmax(yi, n));
    }
    check_close("loss_sum", 0, 0, loss, want_loss, 4.0 * (n + 8) * U * loss_bound + 1e-30);
    check(hits == want_hits, "n_correct", 0, 0, (double)hits, (double)want_hits, 0);
done:
    free(labels);
    free(xs);
    free(ys);
    free_view(&X);
    free_view(&Y);
    free_view(&P);
    free_view(&G);
    free_view(&W);
}

static void test_softmax_xent_errors(void)
{
    float x[6] = {0, 1, 2, 3, 4, 5}, y[6] = {0};
    int64_t bad[2] = {0, 3}, neg[2] = {-1, 0};
    double loss;
    int64_t hits;
    snprintf(ctx, sizeof ctx, "softmax_xent bad calls");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, NULL, 3, 1, bad, NULL, 0, 0.0f, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label == n");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, NULL, 3, 1, neg, NULL, 0, 0.0f, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label < 0");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, NULL, 3, 1, NULL, NULL, 0, 0.0f, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "no target");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, y, 3, 1, bad, NULL, 0, 0.0f, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "two targets");
    check_status(fd_softmax_xent_f32(-1, 3, x, 3, 1, y, 3, 1, NULL, NULL, 0, 0.0f, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "m < 0");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, y, 3, 1, NULL, NULL, 0, 1.5f, NULL, 0,
                                     0, NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label_smoothing > 1");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, y, 3, 1, NULL, NULL, 0, -0.1f, NULL, 0,
                                     0, NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label_smoothing < 0");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, y, 3, 1, NULL, NULL, 0, NAN, NULL, 0,
                                     0, NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label_smoothing NaN");
}

/* ---- optimizers -------------------------------------------------------- */

enum { OPT_RMSPROP, OPT_SGD, OPT_SGD_MOM, OPT_NESTEROV, OPT_ADAM };
static const char *OPTNAME[] = {"rmsprop", "sgd", "sgd+momentum", "nesterov", "adam"};

static int run_opt(int which, fd_index m, fd_index n, view *P, const view *G,
                   view *S1, view *S2, int nt)
{
    switch (which) {
    case OPT_RMSPROP:
        return fd_rmsprop_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs,
                                     G->cs, S1->base, S1->rs, S1->cs, 0.01f, 0.9f,
                                     1e-7f, nt);
    case OPT_SGD:
        return fd_sgd_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs,
                                 G->cs, NULL, 0, 0, 0.1f, 0.0f, 0, nt);
    case OPT_SGD_MOM:
    case OPT_NESTEROV:
        return fd_sgd_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs,
                                 G->cs, S1->base, S1->rs, S1->cs, 0.1f, 0.9f,
                                 which == OPT_NESTEROV, nt);
    default:
        return fd_adam_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs,
                                  G->cs, S1->base, S1->rs, S1->cs, S2->base, S2->rs,
                                  S2->cs, 0.003f, 0.9f, 0.999f, 1e-7f, nt);
    }
}

static void put(view *v, const float *src)
{
    for (fd_index i = 0; i < v->m; i++)
        for (fd_index j = 0; j < v->n; j++)
            *at(v, i, j) = src[i * v->n + j];
}

static void test_optimizer(int which, fd_index m, fd_index n)
{
    int lp = rnd_int(N_OUT_LAYOUTS), lg = rnd_int(L_COUNT),
        l1 = rnd_int(N_OUT_LAYOUTS), l2 = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    view P = make_view(m, n, lp), G = make_view(m, n, lg);
    view S1 = make_view(m, n, l1), S2 = make_view(m, n, l2);
    float *p0, *g0, *s10, *s20, *pa = NULL, *s1a = NULL, *s2a = NULL;
    int pass;
    fill_output(&P, 0.0f);
    fill_output(&S1, 0.0f);
    fill_output(&S2, 0.0f);
    fill_random(&G, 5);
    {
        view T = make_view(m, n, L_C);
        fill_random(&T, 5);
        p0 = snapshot(&T);
        fill_random(&T, 0);
        for (fd_index t = 0; t < T.cnt; t++)
            T.mem[t] = fabsf(T.mem[t]) * 0.01f; /* accumulators are >= 0 */
        s20 = snapshot(&T);
        fill_random(&T, 0);
        s10 = snapshot(&T);
        if (which == OPT_RMSPROP)
            memcpy(s10, s20, sizeof(float) * (size_t)(m * n));
        free_view(&T);
    }
    g0 = snapshot(&G);
    snprintf(ctx, sizeof ctx, "%s m=%ld n=%ld param=%s grad=%s s1=%s s2=%s threads=%d",
             OPTNAME[which], (long)m, (long)n, LNAME[lp], LNAME[lg], LNAME[l1],
             LNAME[l2], nt);
    for (pass = 0; pass < 2; pass++) {
        float *pb, *s1b, *s2b;
        put(&P, p0);
        put(&S1, s10);
        put(&S2, s20);
        check_status(run_opt(which, m, n, &P, &G, &S1, &S2, pass == 0 ? nt : 1),
                     FD_OK, "status");
        check_gaps(&P);
        check_gaps(&S1);
        check_gaps(&S2);
        pb = snapshot(&P);
        s1b = snapshot(&S1);
        s2b = snapshot(&S2);
        if (pass == 0) {
            pa = pb;
            s1a = s1b;
            s2a = s2b;
            continue;
        }
        check_identical("threads change param", pa, pb, m * n);
        check_identical("threads change state", s1a, s1b, m * n);
        check_identical("threads change state 2", s2a, s2b, m * n);
        free(pb);
        free(s1b);
        free(s2b);
    }
    for (fd_index i = 0; i < m; i++)
        for (fd_index j = 0; j < n; j++) {
            const fd_index t = i * n + j;
            const double g = g0[t], p = p0[t];
            double wp, w1 = s10[t], w2 = s20[t], step, terms;
            switch (which) {
            case OPT_RMSPROP:
                w1 = 0.9 * s10[t] + (1.0 - 0.9f) * g * g;
                step = 0.01 * g / (sqrt(w1) + 1e-7);
                wp = p - step;
                terms = fabs(p) + fabs(step);
                break;
            case OPT_SGD:
                step = 0.1 * g;
                wp = p - step;
                terms = fabs(p) + fabs(step);
                break;
            case OPT_SGD_MOM:
            case OPT_NESTEROV:
                w1 = 0.9 * s10[t] - 0.1 * g;
                step = which == OPT_NESTEROV ? 0.9 * w1 - 0.1 * g : w1;
                wp = p + step;
                /* v and the step are differences: their terms, not results */
                terms = fabs(p) + 2.0 * (0.9 * fabs(s10[t]) + 0.1 * fabs(g)) +
                        0.1 * fabs(g);
                break;
            default:
                w1 = 0.9 * s10[t] + (1.0 - 0.9f) * g;
                w2 = 0.999 * s20[t] + (1.0 - 0.999f) * g * g;
                step = 0.003 * w1 / (sqrt(w2) + 1e-7);
                wp = p - step;
                terms = fabs(p) + 0.003 * (0.9 * fabs(s10[t]) + 0.1 * fabs(g)) /
                                      (sqrt(w2) + 1e-7);
                break;
            }
            check_close("param", i, j, pa[t], wp, 8 * U * terms + 1e-30);
            if (which != OPT_SGD)
                check_close("state", i, j, s1a[t], w1,
                            8 * U * (fabs(s10[t]) + fabs(g) * (fabs(g) + 1)) + 1e-30);
            if (which == OPT_ADAM)
                check_close("state 2", i, j, s2a[t], w2,
                            8 * U * (fabs(s20[t]) + g * g) + 1e-30);
        }
    free(pa);
    free(s1a);
    free(s2a);
    free(p0);
    free(g0);
    free(s10);
    free(s20);
    free_view(&P);
    free_view(&G);
    free_view(&S1);
    free_view(&S2);
}

static void test_bad_sizes(void)
{
    float z = 0;
    snprintf(ctx, sizeof ctx, "elementwise/optimizer bad sizes");
    check_status(fd_add_f32(-1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, 1), FD_EINVAL, "add");
    check_status(fd_relu_f32(1, -1, &z, 1, 1, &z, 1, 1, 1), FD_EINVAL, "relu");
    check_status(fd_relu_backward_f32(-1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, 1),
                 FD_EINVAL, "relu_backward");
    check_status(fd_bias_grad_f32(1, -1, &z, 1, 1, &z, 1, 1), FD_EINVAL, "bias_grad");
    check_status(fd_softmax_f32(-1, 1, &z, 1, 1, &z, 1, 1, 1), FD_EINVAL, "softmax");
    check_status(fd_rmsprop_update_f32(-1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, 0.1f,
                                       0.9f, 1e-7f, 1), FD_EINVAL, "rmsprop");
    check_status(fd_sgd_update_f32(1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, 0, 0.1f, 0.9f,
                                   0, 1), FD_EINVAL, "sgd momentum without velocity");
    check_status(fd_adam_update_f32(1, -1, &z, 1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1,
                                    0.1f, 0.9f, 0.999f, 1e-7f, 1), FD_EINVAL, "adam");
}

static void test_config(void)
{
    const char *env = getenv("FASTDENSE_SIMD");
    const int level = fd_simd_level();
    const char *name = fd_simd_name();
    static const char *names[] = {[FD_SIMD_GENERIC] = "generic",
                                  [FD_SIMD_AVX2] = "avx2",
                                  [FD_SIMD_AVX512] = "avx512"};
    snprintf(ctx, sizeof ctx, "simd level %d name %s env %s", level, name,
             env ? env : "(unset)");
    check(level >= FD_SIMD_GENERIC && level <= FD_SIMD_AVX512 &&
              strcmp(name, names[level]) == 0,
          "simd name matches level", 0, 0, level, 0, 0);
    if (env && strcmp(env, "generic") == 0)
        check(level == FD_SIMD_GENERIC, "FASTDENSE_SIMD=generic caps the level", 0, 0,
              level, FD_SIMD_GENERIC, 0);
    if (env && strcmp(env, "avx2") == 0)
        check(level <= FD_SIMD_AVX2, "FASTDENSE_SIMD=avx2 caps the level", 0, 0, level,
              FD_SIMD_AVX2, 0);
    check(fd_openmp_enabled() == (
#ifdef _OPENMP
              1
#else
              0
#endif
              ), "openmp flag", 0, 0, fd_openmp_enabled(), 0, 0);
    printf("kernels_driver: simd=%s openmp=%d\n", name, fd_openmp_enabled());
}

/* ---- sparse inputs (CSR): fd_csr_* and fd_csrmm_f32 ----------------------- */
/* Every CSR array is allocated with exactly the entries of its span and
 * addressed through a base pointer `off` entries before the allocation
 * (indptr holds absolute offsets starting at off), so a read outside
 * [indptr[0], indptr[m]) is a heap-buffer-overflow. */

typedef struct {
    fd_index m, k;
    int64_t off, nnz;
    int64_t *indptr;      /* m + 1, from off */
    int32_t *idx_mem;     /* exactly nnz */
    float *val_mem;
    const int32_t *indices; /* idx_mem - off: indices[indptr[0]] == idx_mem[0] */
    const float *values;
} csr_t;

static int32_t *xmalloc_i32(int64_t cnt)
{
    int32_t *p = (int32_t *)malloc((size_t)cnt * sizeof(int32_t));
    if (p == NULL && cnt > 0)
        exit(2);
    return p;
}

static int64_t *xmalloc_i64(int64_t cnt)
{
    int64_t *p = (int64_t *)malloc((size_t)cnt * sizeof(int64_t));
    if (p == NULL && cnt > 0)
        exit(2);
    return p;
}

/* random CSR: entries with probability `dens_pm` per mille, every third row
 * empty and the first/last columns unused (when there is room), a duplicate
 * now and then (dup), rows shuffled (unsorted), NaN/inf now and then */
static csr_t make_csr(fd_index m, fd_index k, int dens_pm, int dup, int unsorted,
                      int nonfinite)
{
    csr_t a;
    int32_t *tmp = xmalloc_i32(2 * k + 2);
    int32_t *all = NULL;
    int64_t cap = 0;
    a.m = m;
    a.k = k;
    a.off = rnd_int(7);
    a.indptr = xmalloc_i64(m + 1);
    a.indptr[0] = a.off;
    a.nnz = 0;
    for (fd_index i = 0; i < m; i++) {
        fd_index len = 0;
        if (!(m > 3 && i % 3 == 1)) {
            for (fd_index c = 0; c < k; c++) {
                if (k > 3 && dens_pm < 1000 && (c == 0 || c == k - 1))
                    continue;
                if (rnd_int(1000) < dens_pm) {
                    tmp[len++] = (int32_t)c;
                    if (dup && rnd_int(4) == 0)
                        tmp[len++] = (int32_t)c;
                }
            }
            if (unsorted)
                for (fd_index t = len - 1; t > 0; t--) {
                    fd_index u = rnd_int((int)t + 1);
                    int32_t x = tmp[t];
                    tmp[t] = tmp[u];
                    tmp[u] = x;
                }
        }
        if (a.nnz + len > cap) {
            cap = 2 * (a.nnz + len) + 16;
            all = (int32_t *)realloc(all, (size_t)cap * sizeof(int32_t));
        }
        if (len)
            memcpy(all + a.nnz, tmp, (size_t)len * sizeof(int32_t));
        a.nnz += len;
        a.indptr[i + 1] = a.off + a.nnz;
    }
    a.idx_mem = xmalloc_i32(a.nnz);
    a.val_mem = xmalloc_f(a.nnz);
    if (a.nnz)
        memcpy(a.idx_mem, all, (size_t)a.nnz * sizeof(int32_t));
    for (int64_t e = 0; e < a.nnz; e++) {
        a.val_mem[e] = rnd_unit();
        if (nonfinite && rnd_int(50) == 0)
            a.val_mem[e] = rnd_int(3) == 0 ? NAN : rnd_int(2) ? INFINITY : -INFINITY;
    }
    a.indices = a.idx_mem - a.off;
    a.values = a.val_mem - a.off;
    free(all);
    free(tmp);
    return a;
}

static void free_csr(csr_t *a)
{
    free(a->indptr);
    free(a->idx_mem);
    free(a->val_mem);
}

static void test_csrmm_case(fd_index m, fd_index k, fd_index n, int dens_pm)
{
    const fd_index bias_incs[] = {1, 3, -1, 0};
    int lb = rnd_int(L_COUNT), lc = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    int use_bias = rnd_int(2), relu = rnd_int(2), dup = rnd_int(3) == 0;
    int unsorted = rnd_int(3) == 0, nonfinite = rnd_int(4) == 0;
    fd_index inc_bias = bias_incs[rnd_int(4)];
    csr_t A = make_csr(m, k, dens_pm, dup, unsorted, nonfinite);
    view B = make_view(k, n, lb), C = make_view(m, n, lc), bias;
    float *first;
    int st;

    fill_random(&B, 6);
    if (use_bias) {
        bias = make_view(n, 1, inc_bias == 1 ? L_C : inc_bias == 3 ? L_STRIDED
                               : inc_bias < 0 ? L_NEG : L_ROWB);
        fill_random(&bias, 0);
        inc_bias = bias.rs;
    } else {
        bias = make_view(0, 0, L_C);
    }
    fill_output(&C, NAN);
    snprintf(ctx, sizeof ctx,
             "csrmm m=%ld k=%ld n=%ld density=%d/1000 nnz=%ld off=%ld dup=%d "
             "unsorted=%d nonfinite=%d B=%s C=%s bias=%s inc=%ld relu=%d threads=%d",
             (long)m, (long)k, (long)n, dens_pm, (long)A.nnz, (long)A.off, dup,
             unsorted, nonfinite, LNAME[lb], LNAME[lc], use_bias ? "yes" : "no",
             (long)inc_bias, relu, nt);
    st = fd_csrmm_f32(m, n, k, A.indptr, A.indices, A.values, B.base, B.rs, B.cs,
                      C.base, C.rs, C.cs, use_bias ? bias.base : NULL, inc_bias,
                      relu, nt);
    check_status(st, FD_OK, "status");
    check_gaps(&C);
    for (fd_index i = 0; i < m; i++) {
        const int64_t lo = A.indptr[i], hi = A.indptr[i + 1];
        for (fd_index j = 0; j < n; j++) {
            double s = 0.0, mag = 0.0, tol;
            for (int64_t e = lo; e < hi; e++) {
                const double t = (double)A.values[e] * (double)*at(&B, A.indices[e], j);
                s += t;
                mag += fabs(t);
            }
            if (use_bias) {
                const double bj = bias.base[j * inc_bias];
                s += bj;
                mag += fabs(bj);
            }
            if (relu)
                s = s < 0.0 ? 0.0 : s;
            tol = 2.0 * (double)(hi - lo + 2) * U * mag + 1e-30;
            if (isnan(mag) || isinf(mag))
                tol = INFINITY;   /* NaN/inf: only their positions */
            if (isinf(tol) && !isnan(s) && !isinf(s))
                check(!isnan(*at(&C, i, j)), "finite where the sum is", i, j,
                      *at(&C, i, j), s, 0);
            else
                check_close("value", i, j, *at(&C, i, j), s, tol);
        }
    }
    /* another thread count: the same bits */
    first = snapshot(&C);
    fill_output(&C, NAN);
    st = fd_csrmm_f32(m, n, k, A.indptr, A.indices, A.values, B.base, B.rs, B.cs,
                      C.base, C.rs, C.cs, use_bias ? bias.base : NULL, inc_bias,
                      relu, nt == 1 ? 3 : 1);
    {
        float *second = snapshot(&C);
        check_identical("thread count changes the result", first, second, m * n);
        free(second);
    }
    free(first);
    free_csr(&A);
    free_view(&B);
    free_view(&C);
    free_view(&bias);
}

static void test_csrtmm_case(fd_index m, fd_index k, fd_index n, int dens_pm)
{
    int lb = rnd_int(L_COUNT), lc = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    int dup = rnd_int(3) == 0, unsorted = rnd_int(3) == 0, nonfinite = rnd_int(4) == 0;
    csr_t A = make_csr(m, k, dens_pm, dup, unsorted, nonfinite);
    view B = make_view(m, n, lb), C = make_view(k, n, lc);
    double *s = (double *)calloc((size_t)(k * n + 1), sizeof(double));
    double *mag = (double *)calloc((size_t)(k * n + 1), sizeof(double));
    int64_t *cnt = (int64_t *)calloc((size_t)(k + 1), sizeof(int64_t));
    float *first;

    fill_random(&B, 6);
    fill_output(&C, NAN);
    snprintf(ctx, sizeof ctx,
             "csrtmm m=%ld k=%ld n=%ld density=%d/1000 nnz=%ld off=%ld dup=%d "
             "unsorted=%d nonfinite=%d B=%s C=%s threads=%d", (long)m, (long)k,
             (long)n, dens_pm, (long)A.nnz, (long)A.off, dup, unsorted, nonfinite,
             LNAME[lb], LNAME[lc], nt);
    check_status(fd_csrtmm_f32(m, n, k, A.indptr, A.indices, A.values, B.base, B.rs,
                               B.cs, C.base, C.rs, C.cs, nt), FD_OK, "status");
    check_gaps(&C);
    for (fd_index r = 0; r < m; r++)
        for (int64_t e = A.indptr[r]; e < A.indptr[r + 1]; e++) {
            const fd_index c = A.indices[e];
            cnt[c]++;
            for (fd_index j = 0; j < n; j++) {
                const double t = (double)A.values[e] * (double)*at(&B, r, j);
                s[c * n + j] += t;
                mag[c * n + j] += fabs(t);
            }
        }
    for (fd_index c = 0; c < k; c++)
        for (fd_index j = 0; j < n; j++) {
            const double want = s[c * n + j], mg = mag[c * n + j];
            double tol = 2.0 * (double)(cnt[c] + 2) * U * mg + 1e-30;
            if (isnan(mg) || isinf(mg))
                tol = INFINITY;
            if (isinf(tol) && !isnan(want) && !isinf(want))
                check(!isnan(*at(&C, c, j)), "finite where the sum is", c, j,
                      *at(&C, c, j), want, 0);
            else
                check_close("value", c, j, *at(&C, c, j), want, tol);
            if (cnt[c] == 0)
                check(*at(&C, c, j) == 0.0f, "zero row", c, j, *at(&C, c, j), 0, 0);
        }
    first = snapshot(&C);
    fill_output(&C, NAN);
    fd_csrtmm_f32(m, n, k, A.indptr, A.indices, A.values, B.base, B.rs, B.cs, C.base,
                  C.rs, C.cs, nt == 1 ? 3 : 1);
    {
        float *second = snapshot(&C);
        check_identical("thread count changes the result", first, second, k * n);
        free(second);
    }
    if (A.nnz > 0) {
        const int32_t keep = A.idx_mem[0];
        A.idx_mem[0] = (int32_t)k;
        check_status(fd_csrtmm_f32(m, n, k, A.indptr, A.indices, A.values, B.base,
                                   B.rs, B.cs, C.base, C.rs, C.cs, nt),
                     n > 0 ? FD_EINVAL : FD_OK, "index k");
        A.idx_mem[0] = keep;
    }
    free(first);
    free(s);
    free(mag);
    free(cnt);
    free_csr(&A);
    free_view(&B);
    free_view(&C);
}

static void test_csrmm_errors(void)
{
    int64_t ip[4] = {0, 2, 3, 5};
    int32_t ix[5] = {0, 1, 2, 1, 0};
    float vx[5] = {1, 2, 3, 4, 5}, b[12], c[12];
    for (int t = 0; t < 12; t++)
        b[t] = 1.0f;
    snprintf(ctx, sizeof ctx, "csrmm bad arguments");
    check_status(fd_csrmm_f32(3, 4, 3, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 2),
                 FD_OK, "valid");
    check_status(fd_csrmm_f32(3, 4, 2, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 2),
                 FD_EINVAL, "index >= k");
    ix[3] = -1;
    check_status(fd_csrmm_f32(3, 4, 3, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 1),
                 FD_EINVAL, "negative index");
    ix[3] = 1;
    ip[1] = 4;
    check_status(fd_csrmm_f32(3, 4, 3, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 1),
                 FD_EINVAL, "decreasing indptr");
    ip[1] = 2;
    ip[2] = 0;   /* a row [0, 5) inside the span after a negative one */
    check_status(fd_csrmm_f32(3, 4, 3, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 3),
                 FD_EINVAL, "wrapped indptr");
    ip[2] = 3;
    check_status(fd_csrmm_f32(-1, 4, 3, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 1),
                 FD_EINVAL, "m < 0");
    check_status(fd_csrmm_f32(3, 4, 0, ip, ix, vx, b, 4, 1, c, 4, 1, NULL, 0, 0, 1),
                 FD_EINVAL, "entries with k = 0");
}

static void test_csr_check_kernel(void)
{
    csr_t A = make_csr(40, 30, 300, 1, 1, 0);
    int64_t mid;
    snprintf(ctx, sizeof ctx, "csr_check nnz=%ld", (long)A.nnz);
    check_status(fd_csr_check(40, 30, A.indptr, A.indices, 2), FD_OK, "valid");
    check_status(fd_csr_check(40, 29, A.indptr, A.indices, 1),
                 fd_csr_check(40, 29, A.indptr, A.indices, 3), "threads agree");
    mid = A.nnz / 2;
    A.idx_mem[mid] = 30;
    check_status(fd_csr_check(40, 30, A.indptr, A.indices, 2), FD_EINVAL, "index k");
    A.idx_mem[mid] = -1;
    check_status(fd_csr_check(40, 30, A.indptr, A.indices, 1), FD_EINVAL, "index -1");
    A.idx_mem[mid] = 0;
    A.indptr[5] = A.indptr[6] + 1;
    check_status(fd_csr_check(40, 30, A.indptr, A.indices, 1), FD_EINVAL, "decreasing");
    check_status(fd_csr_check(0, 30, A.indptr, A.indices, 1), FD_OK, "no rows");
    free_csr(&A);
}

static void test_csr_from_dense_case(fd_index m, fd_index n, int dens_pm)
{
    int lx = rnd_int(L_COUNT), nt = pick_threads();
    view X = make_view(m, n, lx);
    int64_t *ip = xmalloc_i64(m + 1), nnz, cnt = 0;
    int32_t *ix;
    float *vx;
    for (fd_index t = 0; t < X.cnt; t++) {
        const int r = rnd_int(1000);
        X.mem[t] = r < dens_pm ? rnd_unit() : r < dens_pm + 20 ? -0.0f : 0.0f;
        if (r == 999)
            X.mem[t] = NAN;
    }
    snprintf(ctx, sizeof ctx, "csr_from_dense m=%ld n=%ld x=%s threads=%d", (long)m,
             (long)n, LNAME[lx], nt);
    check_status(fd_csr_from_dense_f32(m, n, X.base, X.rs, X.cs, ip, NULL, NULL, 0, nt),
                 FD_OK, "count");
    nnz = ip[m];
    ix = xmalloc_i32(nnz);
    vx = xmalloc_f(nnz);
    check_status(fd_csr_from_dense_f32(m, n, X.base, X.rs, X.cs, ip, ix, vx, nnz, nt),
                 FD_OK, "fill");
    for (fd_index i = 0; i < m; i++) {
        check(ip[i + 1] >= ip[i], "indptr non-decreasing", i, 0, ip[i + 1], ip[i], 0);
        for (fd_index j = 0; j < n; j++) {
            const float v = *at(&X, i, j);
            if (v != 0.0f) {
                int ok = cnt < nnz && ix[cnt] == j &&
                         (vx[cnt] == v || (isnan(v) && isnan(vx[cnt])));
                check(ok, "entry", i, j, cnt < nnz ? vx[cnt] : -1, v, 0);
                cnt++;
            }
        }
        check(cnt == ip[i + 1], "row count", i, 0, cnt, ip[i + 1], 0);
    }
    if (nnz > 0) {   /* a stale indptr or a capacity one short: FD_EINVAL */
        check_status(fd_csr_from_dense_f32(m, n, X.base, X.rs, X.cs, ip, ix, vx,
                                           nnz - 1, nt), FD_EINVAL, "capacity");
        ip[m] -= 1;
        check_status(fd_csr_from_dense_f32(m, n, X.base, X.rs, X.cs, ip, ix, vx, nnz,
                                           nt), FD_EINVAL, "stale indptr");
    }
    free(ip);
    free(ix);
    free(vx);
    free_view(&X);
}

static void test_csr_gather_case(fd_index src_m, fd_index k, fd_index m, int dens_pm)
{
    csr_t S = make_csr(src_m, k, dens_pm, 1, 1, 0);
    int64_t *rows = xmalloc_i64(m), *ip = xmalloc_i64(m + 1), total = 0;
    int32_t *ix;
    float *vx;
    int nt = pick_threads();
    for (fd_index i = 0; i < m; i++) {
        rows[i] = rnd_int((int)src_m);
        total += S.indptr[rows[i] + 1] - S.indptr[rows[i]];
    }
    ix = xmalloc_i32(total);
    vx = xmalloc_f(total);
    snprintf(ctx, sizeof ctx, "csr_gather src_m=%ld k=%ld m=%ld nnz=%ld threads=%d",
             (long)src_m, (long)k, (long)m, (long)total, nt);
    check_status(fd_csr_gather(m, rows, src_m, S.indptr, S.indices, S.values, ip, ix,
                               vx, total, nt), FD_OK, "status");
    check(ip[0] == 0 && ip[m] == total, "out indptr", 0, 0, ip[m], total, 0);
    for (fd_index i = 0; i < m; i++) {
        const int64_t lo = S.indptr[rows[i]], len = S.indptr[rows[i] + 1] - lo;
        int ok = ip[i + 1] - ip[i] == len;
        for (int64_t t = 0; ok && t < len; t++)
            ok = ix[ip[i] + t] == S.indices[lo + t] &&
                 memcmp(&vx[ip[i] + t], &S.values[lo + t], sizeof(float)) == 0;
        check(ok, "row copied", i, 0, 0, 0, 0);
    }
    if (total > 0)
        check_status(fd_csr_gather(m, rows, src_m, S.indptr, S.indices, S.values, ip,
                                   ix, vx, total - 1, nt), FD_EINVAL, "capacity");
    if (m > 0) {
        const int64_t keep = rows[m - 1];
        rows[m - 1] = src_m;
        check_status(fd_csr_gather(m, rows, src_m, S.indptr, S.indices, S.values, ip,
                                   ix, vx, total, nt), FD_EINVAL, "row out of range");
        rows[m - 1] = keep;
    }
    free(rows);
    free(ip);
    free(ix);
    free(vx);
    free_csr(&S);
}

static void test_csr_transpose_case(fd_index m, fd_index k, int dens_pm)
{
    csr_t A = make_csr(m, k, dens_pm, rnd_int(2), rnd_int(2), 1);
    int nt = pick_threads();
    int64_t *tip = xmalloc_i64(k + 1), *work = xmalloc_i64(FD_CSR_TRANSPOSE_WORK(k, nt));
    int32_t *tix = xmalloc_i32(A.nnz), *tix1 = xmalloc_i32(A.nnz);
    float *tvx = xmalloc_f(A.nnz), *tvx1 = xmalloc_f(A.nnz);
    int64_t *tip1 = xmalloc_i64(k + 1), *w1 = xmalloc_i64(FD_CSR_TRANSPOSE_WORK(k, 1));
    snprintf(ctx, sizeof ctx, "csr_transpose m=%ld k=%ld nnz=%ld off=%ld threads=%d",
             (long)m, (long)k, (long)A.nnz, (long)A.off, nt);
    check_status(fd_csr_transpose(m, k, A.indptr, A.indices, A.values, tip, tix, tvx,
                                  work, nt), FD_OK, "status");
    /* naive: column c lists the entries (row, value) of column c in row order */
    {
        int64_t pos = 0;
        check(tip[0] == 0 && tip[k] == A.nnz, "out indptr ends", 0, 0, tip[k], A.nnz, 0);
        for (fd_index c = 0; c < k; c++) {
            int ok = tip[c] == pos;
            for (fd_index i = 0; i < m; i++)
                for (int64_t e = A.indptr[i]; e < A.indptr[i + 1]; e++)
                    if (A.indices[e] == c) {
                        ok = ok && pos < A.nnz && tix[pos] == i &&
                             memcmp(&tvx[pos], &A.values[e], sizeof(float)) == 0;
                        pos++;
                    }
            check(ok && tip[c + 1] == pos, "column", c, 0, tip[c + 1], pos, 0);
        }
    }
    check_status(fd_csr_transpose(m, k, A.indptr, A.indices, A.values, tip1, tix1, tvx1,
                                  w1, 1), FD_OK, "one thread");
    check(memcmp(tip, tip1, (size_t)(k + 1) * sizeof(int64_t)) == 0 &&
          (A.nnz == 0 || (memcmp(tix, tix1, (size_t)A.nnz * sizeof(int32_t)) == 0 &&
                          memcmp(tvx, tvx1, (size_t)A.nnz * sizeof(float)) == 0)),
          "threads change the transpose", 0, 0, 0, 0, 0);
    if (A.nnz > 0 && k > 0) {
        const int32_t keep = A.idx_mem[A.nnz - 1];
        A.idx_mem[A.nnz - 1] = (int32_t)k;
        check_status(fd_csr_transpose(m, k, A.indptr, A.indices, A.values, tip, tix,
                                      tvx, work, nt), FD_EINVAL, "index k");
        A.idx_mem[A.nnz - 1] = keep;
    }
    free(tip);
    free(tip1);
    free(work);
    free(w1);
    free(tix);
    free(tix1);
    free(tvx);
    free(tvx1);
    free_csr(&A);
}

static void test_sparse(void)
{
    static const fd_index mm[] = {0, 1, 3, 7, 17};
    static const fd_index kk[] = {0, 1, 5, 33};
    static const fd_index nn[] = {0, 1, 7, 16, 17, 33, 64, 65, 129};
    static const int dens[] = {0, 10, 200, 500, 1000};
    /* block widths and the L1 switch (k * nb * 4 = 48 KiB at k = 96 / 192),
     * the pack threshold (nnz >= 4k), the training shapes, threading */
    static const fd_index big[][4] = {
        {8, 95, 127, 300}, {8, 96, 128, 300}, {8, 97, 129, 300}, {6, 191, 200, 500},
        {6, 193, 257, 500}, {128, 784, 512, 190}, {784, 128, 512, 190},
        {128, 784, 16, 190}, {784, 128, 16, 20}, {40, 300, 10, 100}, {3, 11, 520, 900},
        {64, 2000, 33, 20}};
    size_t a, b, c, d;
    for (a = 0; a < sizeof mm / sizeof mm[0]; a++)
        for (b = 0; b < sizeof kk / sizeof kk[0]; b++)
            for (c = 0; c < sizeof nn / sizeof nn[0]; c++)
                for (d = 0; d < sizeof dens / sizeof dens[0]; d += 2)
                    test_csrmm_case(mm[a], kk[b], nn[c], dens[(d + a + c) % 5]);
    for (a = 0; a < sizeof big / sizeof big[0]; a++)
        for (d = 0; d < 2; d++)
            test_csrmm_case(big[a][0], big[a][1], big[a][2], (int)big[a][3]);
    for (a = 0; a < sizeof mm / sizeof mm[0]; a++)
        for (b = 0; b < sizeof kk / sizeof kk[0]; b++)
            for (c = 0; c < sizeof nn / sizeof nn[0]; c++)
                test_csrtmm_case(mm[a], kk[b], nn[c], dens[(a + b + c) % 5]);
    {   /* the narrow weight gradients, column blocks of 64, threads */
        static const fd_index tm[][4] = {{128, 784, 10, 190}, {128, 784, 16, 190},
                                         {128, 784, 32, 500}, {60, 300, 130, 300},
                                         {40, 50, 520, 300}, {9, 70, 65, 1000}};
        for (a = 0; a < sizeof tm / sizeof tm[0]; a++)
            for (d = 0; d < 2; d++)
                test_csrtmm_case(tm[a][0], tm[a][1], tm[a][2], (int)tm[a][3]);
    }
    test_csrmm_errors();
    test_csr_check_kernel();
    for (a = 0; a < sizeof mm / sizeof mm[0]; a++)
        for (b = 0; b < sizeof kk / sizeof kk[0]; b++)
            for (d = 0; d < sizeof dens / sizeof dens[0]; d++) {
                test_csr_from_dense_case(mm[a], kk[b], dens[d]);
                test_csr_transpose_case(mm[a], kk[b], dens[d]);
                if (mm[a] > 0)
                    test_csr_gather_case(mm[a], kk[b], mm[(a + d) % 5], dens[d]);
            }
    test_csr_from_dense_case(401, 353, 190);   /* over FD_PAR_MIN_ELEMS */
    test_csr_from_dense_case(128, 784, 190);
    test_csr_transpose_case(1000, 784, 200);   /* over the threading threshold */
    test_csr_transpose_case(128, 784, 190);
    test_csr_gather_case(3000, 100, 2500, 500);
    test_csr_gather_case(300, 784, 128, 190);
}

/* ---- optimizer family: Adagrad, Adadelta, Adamax, Nadam, AdamW, the
 * *_clip forms of RMSprop/SGD/Adam, fd_sumsq_f32 ----------------------------
 * Each update reads g' = clamp(float(g*gscale), clip); the truth is computed
 * in double from g', with bounds of a few roundings of the terms (as
 * tests/test_optimizers_more.py).  The gradient may be a broadcast view and
 * hold NaN; it must not be written.  Repeated with one thread: the same bits. */

enum { OX_ADAGRAD, OX_ADADELTA, OX_ADAMAX, OX_NADAM, OX_ADAMW, OX_RMSPROP_CLIP,
       OX_SGD_CLIP, OX_ADAM_CLIP, OX_COUNT };
static const char *OXNAME[] = {"adagrad", "adadelta", "adamax", "nadam", "adamw",
                               "rmsprop_clip", "sgd_clip", "adam_clip"};
static const float OX_GSCALE[] = {1.0f, 0.37f, 1.0f, 0.6f};
static const float OX_CLIP[] = {INFINITY, INFINITY, 0.3f, 0.25f};
/* Nadam coefficients of some step (any positive values exercise the loop) */
#define OX_KG 0.55f
#define OX_KM 3.1f
#define OX_VS 1.7f

static int run_ox(int which, fd_index m, fd_index n, view *P, const view *G, view *S1,
                  view *S2, float gs, float cl, int nt)
{
    switch (which) {
    case OX_ADAGRAD:
        return fd_adagrad_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs, G->cs,
                                     S1->base, S1->rs, S1->cs, 0.01f, 1e-7f, gs, cl, nt);
    case OX_ADADELTA:
        return fd_adadelta_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs, G->cs,
                                      S1->base, S1->rs, S1->cs, S2->base, S2->rs, S2->cs,
                                      1.0f, 0.95f, 1e-7f, gs, cl, nt);
    case OX_ADAMAX:
        return fd_adamax_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs, G->cs,
                                    S1->base, S1->rs, S1->cs, S2->base, S2->rs, S2->cs,
                                    0.003f, 0.9f, 0.999f, 1e-7f, gs, cl, nt);
    case OX_NADAM:
        return fd_nadam_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs, G->cs,
                                   S1->base, S1->rs, S1->cs, S2->base, S2->rs, S2->cs,
                                   0.002f, 0.9f, 0.999f, OX_KG, OX_KM, OX_VS, 1e-7f,
                                   gs, cl, nt);
    case OX_ADAMW:
        return fd_adamw_update_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs, G->cs,
                                   S1->base, S1->rs, S1->cs, S2->base, S2->rs, S2->cs,
                                   0.003f, 0.9f, 0.999f, 1e-7f, 0.01f, gs, cl, nt);
    case OX_RMSPROP_CLIP:
        return fd_rmsprop_update_clip_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs,
                                          G->cs, S1->base, S1->rs, S1->cs, 0.01f, 0.9f,
                                          1e-7f, gs, cl, nt);
    case OX_SGD_CLIP:
        return fd_sgd_update_clip_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs, G->cs,
                                      S1->base, S1->rs, S1->cs, 0.1f, 0.9f, 1, gs, cl,
                                      nt);
    default:
        return fd_adam_update_clip_f32(m, n, P->base, P->rs, P->cs, G->base, G->rs,
                                       G->cs, S1->base, S1->rs, S1->cs, S2->base, S2->rs,
                                       S2->cs, 0.003f, 0.9f, 0.999f, 1e-7f, gs, cl, nt);
    }
}

static double ox_clamp(double v, double c) { return v > c ? c : (v < -c ? -c : v); }

static void test_optim_more(int which, fd_index m, fd_index n)
{
    int lp = rnd_int(N_OUT_LAYOUTS), lg = rnd_int(L_COUNT),
        l1 = rnd_int(N_OUT_LAYOUTS), l2 = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    const int tr = rnd_int(4);
    const float gs = OX_GSCALE[tr], cl = OX_CLIP[tr];
    view P = make_view(m, n, lp), G = make_view(m, n, lg);
    view S1 = make_view(m, n, l1), S2 = make_view(m, n, l2);
    float *p0, *g0, *gmem, *s10, *s20, *pa = NULL, *s1a = NULL, *s2a = NULL;
    const int s1_signed = which == OX_ADAMAX || which == OX_NADAM || which == OX_ADAMW ||
                          which == OX_SGD_CLIP || which == OX_ADAM_CLIP;
    int pass;
    fill_output(&P, 0.0f);
    fill_output(&S1, 0.0f);
    fill_output(&S2, 0.0f);
    fill_random(&G, 3);
    gmem = xmalloc_f(G.cnt);
    if (G.cnt)
        memcpy(gmem, G.mem, sizeof(float) * (size_t)G.cnt);
    {
        view T = make_view(m, n, L_C);
        fill_random(&T, 0);
        p0 = snapshot(&T);
        fill_random(&T, 0);
        for (fd_index t = 0; t < T.cnt; t++)
            T.mem[t] = fabsf(T.mem[t]) * 0.3f;
        s20 = snapshot(&T);
        fill_random(&T, 0);
        for (fd_index t = 0; t < T.cnt; t++)
            T.mem[t] = s1_signed ? T.mem[t] * 0.1f : fabsf(T.mem[t]) * 0.3f;
        s10 = snapshot(&T);
        free_view(&T);
    }
    g0 = snapshot(&G);
    snprintf(ctx, sizeof ctx, "%s m=%ld n=%ld param=%s grad=%s s1=%s s2=%s gscale=%g "
             "clip=%g threads=%d", OXNAME[which], (long)m, (long)n, LNAME[lp], LNAME[lg],
             LNAME[l1], LNAME[l2], gs, cl, nt);
    for (pass = 0; pass < 2; pass++) {
        float *pb, *s1b, *s2b;
        put(&P, p0);
        put(&S1, s10);
        put(&S2, s20);
        check_status(run_ox(which, m, n, &P, &G, &S1, &S2, gs, cl, pass == 0 ? nt : 1),
                     FD_OK, "status");
        check_gaps(&P);
        check_gaps(&S1);
        check_gaps(&S2);
        check(G.cnt == 0 || memcmp(gmem, G.mem, sizeof(float) * (size_t)G.cnt) == 0,
              "the gradient was written", 0, 0, 0, 0, 0);
        pb = snapshot(&P);
        s1b = snapshot(&S1);
        s2b = snapshot(&S2);
        if (pass == 0) {
            pa = pb;
            s1a = s1b;
            s2a = s2b;
            continue;
        }
        check_identical("threads change param", pa, pb, m * n);
        check_identical("threads change state", s1a, s1b, m * n);
        check_identical("threads change state 2", s2a, s2b, m * n);
        free(pb);
        free(s1b);
        free(s2b);
    }
    for (fd_index i = 0; i < m; i++)
        for (fd_index j = 0; j < n; j++) {
            const fd_index t = i * n + j;
            const double g = ox_clamp((double)(float)(g0[t] * gs), (double)cl);
            const double p = p0[t], a = s10[t], b = s20[t];
            double wp, w1 = a, w2 = b, b1 = 0, b2 = 0, pb, step, den, mb;
            switch (which) {
            case OX_ADAGRAD:
                w1 = a + g * g;
                step = 0.01f * g / (sqrt(w1) + 1e-7f);
                wp = p - step;
                pb = 8 * U * (fabs(p) + fabs(step));
                b1 = 3 * U * w1;
                break;
            case OX_ADADELTA: {
                const double rho = 0.95f, omr = 1.0 - rho;
                double u;
                w1 = rho * a + omr * g * g;
                u = g * sqrt(b + 1e-7f) / sqrt(w1 + 1e-7f);
                wp = p - u;
                w2 = rho * b + omr * u * u;
                pb = 4 * U * fabs(p) + 12 * U * fabs(u);
                b1 = 4 * U * w1;
                b2 = 24 * U * w2;
                break;
            }
            case OX_SGD_CLIP: {
                const double mom = 0.9f, lr = 0.1f;
                w1 = mom * a - lr * g;
                b1 = 4 * U * (fabs(mom * a) + fabs(lr * g));
                wp = p + mom * w1 - lr * g;
                pb = 6 * U * (fabs(p) + mom * (fabs(w1) + b1) + fabs(lr * g));
                break;
            }
            case OX_RMSPROP_CLIP: {
                const double rho = 0.9f;
                w1 = rho * a + (1.0 - rho) * g * g;
                step = 0.01f * g / (sqrt(w1) + 1e-7f);
                wp = p - step;
                pb = 8 * U * (fabs(p) + fabs(step));
                b1 = 4 * U * w1;
                break;
            }
            default: {   /* Adam-like: m in S1, second moment in S2 */
                const double B1v = 0.9f, B2v = 0.999f, c1 = 1.0 - B1v;
                w1 = B1v * a + c1 * g;
                mb = 4 * U * (fabs(B1v * a) + fabs(c1 * g));
                b1 = mb;
                if (which == OX_ADAMAX) {
                    const double x = B2v * b, y = fabs(g);
                    w2 = (isnan(x) || x >= y) ? x : y;
                    b2 = U * w2;
                    den = w2 + 1e-7f;
                    step = 0.003f * w1 / den;
                    wp = p - step;
                    pb = 4 * U * fabs(p) + 8 * U * fabs(step) + 0.003f * mb / den;
                } else if (which == OX_NADAM) {
                    const double mbar = (double)OX_KG * g + (double)OX_KM * w1;
                    const double mbb = 3 * U * (fabs(OX_KG * g) + fabs(OX_KM * w1)) +
                                       OX_KM * mb;
                    w2 = B2v * b + (1.0 - B2v) * g * g;
                    b2 = 4 * U * w2;
                    den = sqrt(w2 * (double)OX_VS) + 1e-7f;
                    step = 0.002f * mbar / den;
                    wp = p - step;
                    pb = 4 * U * fabs(p) + 10 * U * fabs(step) + 0.002f * mbb / den;
                } else {
                    const double dec = which == OX_ADAMW ? (double)0.01f : 0.0;
                    w2 = B2v * b + (1.0 - B2v) * g * g;
                    b2 = 4 * U * w2;
                    den = sqrt(w2) + 1e-7f;
                    step = 0.003f * w1 / den;
                    wp = p - p * dec - step;
                    pb = 4 * U * (fabs(p) + fabs(p * dec)) + 8 * U * fabs(step) +
                         0.003f * mb / den;
                }
                break;
            }
            }
            check_close("param", i, j, pa[t], wp, pb + 1e-30);
            check_close("state", i, j, s1a[t], w1, b1 + 1e-30);
            if (which == OX_ADADELTA || which == OX_ADAMAX || which == OX_NADAM ||
                which == OX_ADAMW || which == OX_ADAM_CLIP)
                check_close("state 2", i, j, s2a[t], w2, b2 + 1e-30);
        }
    free(pa);
    free(s1a);
    free(s2a);
    free(p0);
    free(g0);
    free(gmem);
    free(s10);
    free(s20);
    free_view(&P);
    free_view(&G);
    free_view(&S1);
    free_view(&S2);
}

static void test_sumsq(fd_index m, fd_index n)
{
    const int lx = rnd_int(L_COUNT);
    view X = make_view(m, n, lx);
    double want = 0.0, bound = 0.0, got1 = -1.0, got = -1.0;
    int nt;
    fill_random(&X, 0);
    for (fd_index t = 0; t < X.cnt; t++)
        X.mem[t] *= 3.0f;
    for (fd_index i = 0; i < m; i++)
        for (fd_index j = 0; j < n; j++) {
            const double v = *at(&X, i, j);
            want += v * v;
        }
    bound = (double)(m * n + 1) * ldexp(1.0, -52) * want + 1e-300;
    snprintf(ctx, sizeof ctx, "sumsq m=%ld n=%ld x=%s", (long)m, (long)n, LNAME[lx]);
    check_status(fd_sumsq_f32(m, n, X.base, X.rs, X.cs, &got1, 1), FD_OK, "status");
    check_close("sum of squares", 0, 0, got1, want, bound);
    for (nt = 2; nt <= 4; nt++) {
        check_status(fd_sumsq_f32(m, n, X.base, X.rs, X.cs, &got, nt), FD_OK, "status");
        check(memcmp(&got, &got1, sizeof got) == 0, "threads change the sum", 0, 0, got,
              got1, 0);
    }
    free_view(&X);
}

static void test_optim_more_errors(void)
{
    float z = 0;
    double out = 1.0;
    snprintf(ctx, sizeof ctx, "optimizer family bad calls");
    check_status(fd_adagrad_update_f32(-1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, .1f, 1e-7f,
                                       1.0f, INFINITY, 1), FD_EINVAL, "adagrad m < 0");
    check_status(fd_adamw_update_f32(1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, .1f,
                                     .9f, .999f, 1e-7f, 0.f, 1.0f, -1.0f, 1), FD_EINVAL,
                 "adamw clip < 0");
    check_status(fd_rmsprop_update_clip_f32(1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, .1f, .9f,
                                            1e-7f, 1.0f, NAN, 1), FD_EINVAL,
                 "rmsprop clip NaN");
    check_status(fd_sgd_update_clip_f32(1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, 0, .1f, .9f, 0,
                                        1.0f, INFINITY, 1), FD_EINVAL,
                 "sgd momentum without velocity");
    check_status(fd_sumsq_f32(1, -1, &z, 1, 1, &out, 1), FD_EINVAL, "sumsq n < 0");
    check_status(fd_sumsq_f32(1, 1, &z, 1, 1, NULL, 1), FD_EINVAL, "sumsq out NULL");
    check_status(fd_sumsq_f32(0, 3, &z, 1, 1, &out, 1), FD_OK, "sumsq empty");
    check(out == 0.0, "empty sum is 0", 0, 0, out, 0, 0);
}

static void test_optim_family(void)
{
    static const fd_index extra[][2] = {{1, 1023}, {1, 1025}, {2, 2049}, {3000, 3}};
    size_t s;
    int w;
    for (s = 0; s < N_EW_SHAPES; s++)
        for (w = 0; w < OX_COUNT; w++)
            test_optim_more(w, EW_SHAPES[s][0], EW_SHAPES[s][1]);
    for (s = 0; s < sizeof extra / sizeof extra[0]; s++) {
        for (w = 0; w < OX_COUNT; w++)
            test_optim_more(w, extra[s][0], extra[s][1]);
        test_sumsq(extra[s][0], extra[s][1]);
    }
    for (s = 0; s < N_EW_SHAPES; s++)
        test_sumsq(EW_SHAPES[s][0], EW_SHAPES[s][1]);
    test_optim_more_errors();
}

/* ---- dropout and weight regularizers (philox.h, dropout.c, regularize.c) -- */
/* Philox against Random123's known answers; every ISA fill (the one
 * FASTDENSE_SIMD selects) against the scalar block, across the carry of the
 * low counter word, into buffers of exactly the documented size; dropout
 * forward/backward against the mask written out from philox.h's definition,
 * exact, every layout, aliasing, 1..4 threads with the same bits; the fused
 * relu + dropout backward against the composition of the separate kernels
 * (bits); the l1/l2 gradient exact and the penalty within (N+2) 2^-53 of the
 * double sum, the same bits for any thread count; bad arguments. */

#include "dropout_internal.h"
#include "philox.h"

static void test_philox_kat(void)
{
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
         0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
         0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    snprintf(ctx, sizeof ctx, "philox4x32_10 known answers");
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        check_status(fd_philox4x32_10(kat[t], kat[t] + 4, out), FD_OK, "status");
        for (int w = 0; w < 4; w++)
            check(out[w] == kat[t][6 + w], "known answer", t, w, out[w], kat[t][6 + w], 0);
    }
    check_status(fd_philox4x32_10(NULL, kat[0], (uint32_t *)kat), FD_EINVAL, "NULL ctr");
}

static void test_philox_fill(void)
{
    const fd_dropout_table T = fd_dropout_select();
    static const uint64_t starts[] = {0, 1, 3, 0xFFFFFFC0ull, 0xFFFFFFF9ull,
                                      0x1FFFFFFF1ull, 0xFFFFFFFFFFFFFFC0ull, 123456789012345ull};
    snprintf(ctx, sizeof ctx, "philox fill (%s)", fd_simd_name());
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++)
        for (fd_index nb = 1; nb <= 300; nb += 1 + nb / 8) {
            /* exactly the blocks a vector build may write: nb rounded up */
            const fd_index room = (nb + FD_PHILOX_GROUP - 1) / FD_PHILOX_GROUP * FD_PHILOX_GROUP;
            uint32_t *got = (uint32_t *)malloc((size_t)room * 16);
            const uint32_t k0 = (uint32_t)rnd(), k1 = (uint32_t)rnd();
            const uint32_t s0 = (uint32_t)rnd(), s1 = (uint32_t)rnd();
            fd_index bad = -1;
            T.fd_philox_fill(got, starts[s], nb, k0, k1, s0, s1);
            for (fd_index q = 0; q < nb && bad < 0; q++) {
                const uint64_t b = starts[s] + (uint64_t)q;
                uint32_t c[4] = {(uint32_t)b, (uint32_t)(b >> 32), s0, s1};
                fd_philox4x32_10_block(c, k0, k1);
                if (memcmp(c, got + 4 * q, sizeof c) != 0)
                    bad = q;
            }
            check(bad < 0, "fill == scalar blocks", (fd_index)s, nb, (double)bad, -1, 0);
            free(got);
        }
}

/* u(e) >= t of philox.h, written out */
static int ref_kept(uint64_t e, double rate, uint64_t seed, uint64_t step)
{
    const uint64_t t = fd_dropout_threshold(rate), b = e >> 2;
    uint32_t c[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)step, (uint32_t)(step >> 32)};
    fd_philox4x32_10_block(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    return (uint64_t)c[e & 3] >= t;
}

static const double DROP_RATES[] = {0.0, 0.1, 0.5, 0.875, 0.999, 1.0 - 1.0 / 1073741824.0,
                                    1.0 - 1.0 / 8589934592.0};
#define N_DROP_RATES (sizeof DROP_RATES / sizeof DROP_RATES[0])

static void test_dropout(fd_index m, fd_index n, int backward, int alias, double rate)
{
    int lx = rnd_int(L_COUNT), lo = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    const uint64_t seed = rnd(), step = rnd();
    /* a slice of a bigger batch half the time, starting off a 4-word block */
    const uint64_t first = rnd_int(2) ? (uint64_t)rnd_int(1000) * (uint64_t)(n + 1) + 1 : 0;
    const float scale = 1.0f / (1.0f - (float)rate);
    view X, O, O1;
    float *xs, *r1, *r2;
    if (alias)
        lx = lo;
    X = make_view(m, n, lx);
    fill_random(&X, 3);
    xs = snapshot(&X);
    O = make_view(m, n, lo);
    fill_output(&O, NAN);
    snprintf(ctx, sizeof ctx, "dropout_%s m=%ld n=%ld x=%s out=%s%s rate=%.10g threads=%d",
             backward ? "backward" : "forward", (long)m, (long)n, LNAME[lx], LNAME[lo],
             alias ? " (out is x)" : "", rate, nt);
    {
        const view *res = alias ? &X : &O;
        int (*fn)(fd_index, fd_index, const float *, fd_index, fd_index, float *, fd_index,
                  fd_index, double, uint64_t, uint64_t, uint64_t, int) =
            backward ? fd_dropout_backward_f32 : fd_dropout_forward_f32;
        check_status(fn(m, n, X.base, X.rs, X.cs, res->base, res->rs, res->cs, rate, seed,
                        step, first, nt), FD_OK, "status");
        if (!alias)
            check_gaps(&O);
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++) {
                const uint64_t e = first + (uint64_t)i * (uint64_t)n + (uint64_t)j;
                const float want = ref_kept(e, rate, seed, step) ? xs[i * n + j] * scale : 0.0f;
                check_exact("value", i, j, *at(res, i, j), want);
            }
        r1 = snapshot(res);
    }
    /* one thread, C-order copies: the same bits */
    {
        view Xc = make_view(m, n, L_C);
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++)
                *at(&Xc, i, j) = xs[i * n + j];
        O1 = make_view(m, n, L_C);
        fill_output(&O1, NAN);
        fd_dropout_forward_f32(m, n, Xc.base, Xc.rs, Xc.cs, O1.base, O1.rs, O1.cs, rate,
                               seed, step, first, 1);
        free_view(&Xc);
    }
    r2 = snapshot(&O1);
    check_identical("threads or layout change the result", r1, r2, m * n);
    free(r1);
    free(r2);
    free(xs);
    free_view(&X);
    free_view(&O);
    free_view(&O1);
}

/* relu_dropout_backward(g, dropout(relu(z))) against relu_backward(
 * dropout_backward(g), relu(z)): the same bits (NaN where NaN) */
static void test_relu_dropout(fd_index m, fd_index n, int with_bias, int alias_g)
{
    int lg = rnd_int(L_COUNT), ly = rnd_int(N_OUT_LAYOUTS), lo = rnd_int(N_OUT_LAYOUTS);
    int nt = pick_threads();
    const double rate = DROP_RATES[rnd_int((int)N_DROP_RATES)];
    const uint64_t seed = rnd(), step = rnd();
    view G, Z, YR, YD, T, W, O, BG, BW;
    float *gs, *o, *w, *bo, *bw;
    if (alias_g)
        lg = lo;
    G = make_view(m, n, lg);
    fill_random(&G, 3);
    gs = snapshot(&G);
    Z = make_view(m, n, L_C);
    fill_random(&Z, 3);
    YR = make_view(m, n, L_C);
    YD = make_view(m, n, ly);
    T = make_view(m, n, L_C);
    W = make_view(m, n, L_C);
    O = make_view(m, n, lo);
    BG = make_view(n, 1, rnd_int(2) ? L_C : L_STRIDED);
    BW = make_view(n, 1, L_C);
    snprintf(ctx, sizeof ctx,
             "relu_dropout_backward m=%ld n=%ld grad=%s y=%s out=%s%s bias=%s rate=%.10g "
             "threads=%d", (long)m, (long)n, LNAME[lg], LNAME[ly], LNAME[lo],
             alias_g ? " (out is grad)" : "", with_bias ? LNAME[BG.layout] : "none", rate, nt);
    fill_output(&YD, NAN);
    fill_output(&O, NAN);
    fill_output(&BG, NAN);
    fill_output(&BW, NAN);
    fd_relu_f32(m, n, Z.base, Z.rs, Z.cs, YR.base, YR.rs, YR.cs, nt);
    fd_dropout_forward_f32(m, n, YR.base, YR.rs, YR.cs, YD.base, YD.rs, YD.cs, rate, seed,
                           step, 0, nt);
    /* the composition, from a copy of g */
    {
        view Gc = make_view(m, n, L_C);
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++)
                *at(&Gc, i, j) = gs[i * n + j];
        fd_dropout_backward_f32(m, n, Gc.base, Gc.rs, Gc.cs, T.base, T.rs, T.cs, rate, seed,
                                step, 0, 1);
        fd_relu_backward_f32(m, n, T.base, T.rs, T.cs, YR.base, YR.rs, YR.cs, W.base, W.rs,
                             W.cs, with_bias ? BW.base : NULL, BW.rs, 1);
        free_view(&Gc);
    }
    {
        const view *res = alias_g ? &G : &O;
        check_status(fd_relu_dropout_backward_f32(m, n, G.base, G.rs, G.cs, YD.base, YD.rs,
                                                  YD.cs, res->base, res->rs, res->cs, rate,
                                                  with_bias ? BG.base : NULL, BG.rs, nt),
                     FD_OK, "status");
        if (!alias_g)
            check_gaps(&O);
        check_gaps(&BG);
        o = snapshot(res);
    }
    w = snapshot(&W);
    check_identical("fused != composition", o, w, m * n);
    if (with_bias) {
        bo = snapshot(&BG);
        bw = snapshot(&BW);
        check_identical("fused bias_grad != composition", bo, bw, n);
        free(bo);
        free(bw);
    }
    free(o);
    free(w);
    free(gs);
    free_view(&G);
    free_view(&Z);
    free_view(&YR);
    free_view(&YD);
    free_view(&T);
    free_view(&W);
    free_view(&O);
    free_view(&BG);
    free_view(&BW);
}

static float ref_sign(float v) { return v > 0 ? 1.0f : (v < 0 ? -1.0f : (v == v ? 0.0f : v)); }

static void test_l1l2(fd_index m, fd_index n, double l1, double l2, int with_grad)
{
    int lw = rnd_int(L_COUNT), lg = rnd_int(N_OUT_LAYOUTS), nt = pick_threads(), pass;
    view W = make_view(m, n, lw), G = make_view(m, n, lg);
    float *ws, *gs, *first = NULL;
    double first_pen = 0.0;
    const float c1 = (float)l1, c2 = (float)(2.0 * l2);
    fill_random(&W, 3);
    fill_random(&G, 0);
    ws = snapshot(&W);
    gs = snapshot(&G);
    snprintf(ctx, sizeof ctx, "l1l2_penalty_grad m=%ld n=%ld w=%s grad=%s l1=%g l2=%g "
             "threads=%d", (long)m, (long)n, LNAME[lw], with_grad ? LNAME[lg] : "NULL", l1,
             l2, nt);
    for (pass = 0; pass < 2; pass++) {
        double pen = -1.0;
        float *g;
        /* the gradient starts from the same values on both passes */
        for (fd_index t = 0; t < G.cnt; t++)
            G.mem[t] = SENTINEL;
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++)
                *at(&G, i, j) = gs[i * n + j];
        check_status(fd_l1l2_penalty_grad_f32(m, n, W.base, W.rs, W.cs,
                                              with_grad ? G.base : NULL, G.rs, G.cs, l1, l2,
                                              &pen, pass == 0 ? nt : 1), FD_OK, "status");
        check_gaps(&G);
        g = snapshot(&G);
        if (pass == 0) {
            double s1 = 0.0, s2 = 0.0, want;
            for (fd_index i = 0; i < m; i++)
                for (fd_index j = 0; j < n; j++) {
                    const float v = ws[i * n + j], g0 = gs[i * n + j];
                    float d = 0.0f, wantg = g0;
                    s1 += fabs((double)v);
                    s2 += (double)v * (double)v;
                    if (l1 != 0 && l2 != 0)
                        d = c1 * ref_sign(v) + c2 * v;
                    else if (l1 != 0)
                        d = c1 * ref_sign(v);
                    else if (l2 != 0)
                        d = c2 * v;
                    if (with_grad && (l1 != 0 || l2 != 0))
                        wantg = g0 + d;
                    check_exact("gradient", i, j, g[i * n + j], wantg);
                }
            want = (l1 != 0 ? l1 * s1 : 0.0) + (l2 != 0 ? l2 * s2 : 0.0);
            check_close("penalty", 0, 0, pen, want,
                        (double)(m * n + 2) * 2.0 * 1.1102230246251565e-16 * fabs(want));
            first = g;
            first_pen = pen;
        } else {
            check_identical("threads change the gradient", first, g, m * n);
            check(memcmp(&pen, &first_pen, sizeof pen) == 0 ||
                      (isnan(pen) && isnan(first_pen)),
                  "threads change the penalty bits", 0, 0, pen, first_pen, 0);
            free(g);
        }
    }
    free(first);
    free(ws);
    free(gs);
    free_view(&W);
    free_view(&G);
}

static void test_dropout_bad_args(void)
{
    float z = 0;
    double p;
    snprintf(ctx, sizeof ctx, "dropout/regularizer bad arguments");
    check_status(fd_dropout_forward_f32(-1, 1, &z, 1, 1, &z, 1, 1, 0.5, 1, 1,0, 1), FD_EINVAL,
                 "forward m < 0");
    check_status(fd_dropout_forward_f32(1, 1, &z, 1, 1, &z, 1, 1, 1.0, 1, 1,0, 1), FD_EINVAL,
                 "forward rate 1");
    check_status(fd_dropout_forward_f32(1, 1, &z, 1, 1, &z, 1, 1, -0.1, 1, 1,0, 1), FD_EINVAL,
                 "forward rate < 0");
    check_status(fd_dropout_backward_f32(1, 1, &z, 1, 1, &z, 1, 1, NAN, 1, 1,0, 1), FD_EINVAL,
                 "backward rate NaN");
    check_status(fd_dropout_forward_f32(2, 2, NULL, 1, 1, &z, 1, 1, 0.5, 1, 1,0, 1), FD_EINVAL,
                 "forward NULL x");
    check_status(fd_dropout_forward_f32(0, 5, NULL, 1, 1, NULL, 1, 1, 0.5, 1, 1,0, 1), FD_OK,
                 "forward empty");
    check_status(fd_relu_dropout_backward_f32(1, -1, &z, 1, 1, &z, 1, 1, &z, 1, 1, 0.5, NULL,
                                              0, 1), FD_EINVAL, "fused n < 0");
    check_status(fd_relu_dropout_backward_f32(1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, 2.0, NULL,
                                              0, 1), FD_EINVAL, "fused rate 2");
    check_status(fd_l1l2_penalty_grad_f32(1, 1, &z, 1, 1, &z, 1, 1, -1.0, 0.0, &p, 1),
                 FD_EINVAL, "l1 < 0");
    check_status(fd_l1l2_penalty_grad_f32(1, 1, &z, 1, 1, &z, 1, 1, 0.0, INFINITY, &p, 1),
                 FD_EINVAL, "l2 inf");
    check_status(fd_l1l2_penalty_grad_f32(1, 1, &z, 1, 1, &z, 1, 1, NAN, 0.0, &p, 1),
                 FD_EINVAL, "l1 NaN");
    check_status(fd_l1l2_penalty_grad_f32(1, 1, &z, 1, 1, &z, 1, 1, 0.0, 2e38, &p, 1),
                 FD_EINVAL, "2*l2 beyond float32");
    check_status(fd_l1l2_penalty_grad_f32(-1, 1, &z, 1, 1, &z, 1, 1, 0.1, 0.1, &p, 1),
                 FD_EINVAL, "l1l2 m < 0");
    check_status(fd_l1l2_penalty_grad_f32(2, 2, NULL, 1, 1, NULL, 1, 1, 0.1, 0.1, &p, 1),
                 FD_EINVAL, "l1l2 NULL w");
}

static void test_dropout_family(void)
{
    static const double factors[][2] = {{0.01, 0.0}, {0.0, 0.01}, {0.3, 1.7}, {0.0, 0.0}};
    test_philox_kat();
    test_philox_fill();
    for (size_t s = 0; s < N_EW_SHAPES; s++) {
        const fd_index m = EW_SHAPES[s][0], n = EW_SHAPES[s][1];
        for (int w = 0; w < 2; w++) {
            test_dropout(m, n, w, rnd_int(2), DROP_RATES[rnd_int((int)N_DROP_RATES)]);
            test_relu_dropout(m, n, w, rnd_int(2));
            test_l1l2(m, n, factors[rnd_int(4)][0], factors[rnd_int(4)][1], w);
        }
    }
    for (size_t r = 0; r < N_DROP_RATES; r++) {
        test_dropout(37, 53, 0, 0, DROP_RATES[r]);
        test_dropout(401, 353, 1, 1, DROP_RATES[r]);
    }
    for (int f = 0; f < 4; f++)
        test_l1l2(784, 512, factors[f][0], factors[f][1], 1);
    test_dropout_bad_args();
}

/* ---- activations and losses (activations.c, losses.c) ----------------------
 * Each activation kernel against a double reference from the C library,
 * within k u of the magnitudes its float32 evaluation rounds (see
 * tests/test_activations.py for the derivation of the per-kernel bounds):
 *   forward   16 u (|y| + cond)  -- cond: |t| |y| for gelu_tanh (its argument
 *             t is rounded, exp amplifies that), |slope x| + 0.5 for
 *             hard_sigmoid (cancellation), else 0
 *   backward  16 u |g| (|f'| + the magnitudes of the terms of f')
 * plus 1e-37 (the subnormal range).  NaN/inf where the reference has them,
 * gaps untouched, exact aliasing (out = x, out = grad), and the same bits for
 * one thread.  The losses against double references of their formulas
 * (same order of operations: a few ulps of double), the loss bits the same
 * for any thread count. */

enum { A_ELU, A_SELU, A_GELU, A_GELU_TANH, A_LEAKY, A_SOFTPLUS, A_SWISH, A_EXP,
       A_HARD_SIGMOID, A_SOFTSIGN, A_SIGMOID, A_TANH, A_COUNT };
static const char *ANAME[] = {"elu", "selu", "gelu", "gelu_tanh", "leaky_relu",
                              "softplus", "swish", "exponential", "hard_sigmoid",
                              "softsign", "sigmoid", "tanh"};
/* 1: the backward pass reads z; 0: it reads y */
static const int A_FROM_Z[] = {0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0};

#define SELU_A 1.6732632423543772848170429916717
#define SELU_S 1.0507009873554804934193349852946

static int act_forward(int k, fd_index m, fd_index n, const view *X, float *o,
                       fd_index ro, fd_index co, float p, int nt)
{
    const float *x = X->base;
    const fd_index rx = X->rs, cx = X->cs;
    switch (k) {
    case A_ELU: return fd_elu_f32(m, n, x, rx, cx, o, ro, co, p, nt);
    case A_SELU: return fd_selu_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_GELU: return fd_gelu_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_GELU_TANH: return fd_gelu_tanh_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_LEAKY: return fd_leaky_relu_f32(m, n, x, rx, cx, o, ro, co, p, nt);
    case A_SOFTPLUS: return fd_softplus_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_SWISH: return fd_swish_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_EXP: return fd_exponential_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_HARD_SIGMOID: return fd_hard_sigmoid_f32(m, n, x, rx, cx, o, ro, co, p, nt);
    case A_SOFTSIGN: return fd_softsign_f32(m, n, x, rx, cx, o, ro, co, nt);
    case A_SIGMOID: return fd_sigmoid_f32(m, n, x, rx, cx, o, ro, co, nt);
    default: return fd_tanh_f32(m, n, x, rx, cx, o, ro, co, nt);
    }
}

static int act_backward(int k, fd_index m, fd_index n, const float *g, fd_index rg,
                        fd_index cg, const float *s, fd_index rs, fd_index cs,
                        float *o, fd_index ro, fd_index co, float p, int nt)
{
    switch (k) {
    case A_ELU: return fd_elu_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, p, nt);
    case A_SELU: return fd_selu_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_GELU: return fd_gelu_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_GELU_TANH:
        return fd_gelu_tanh_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_LEAKY:
        return fd_leaky_relu_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, p, nt);
    case A_SOFTPLUS:
        return fd_softplus_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_SWISH: return fd_swish_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_EXP:
        return fd_exponential_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_HARD_SIGMOID:
        return fd_hard_sigmoid_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, p, nt);
    case A_SOFTSIGN:
        return fd_softsign_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    case A_SIGMOID:
        return fd_sigmoid_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    default: return fd_tanh_backward_f32(m, n, g, rg, cg, s, rs, cs, o, ro, co, nt);
    }
}

static double ref_sigmoid(double t)
{
    const double e = exp(-fabs(t));
    return t < 0 ? e / (1 + e) : 1 / (1 + e);
}

/* f(x) in double and the magnitude its float32 evaluation rounds */
static double act_ref(int k, double x, double p, double *mag)
{
    double y, cond = 0.0;
    switch (k) {
    case A_ELU: y = x > 0 ? x : p * expm1(x); break;
    case A_SELU: y = SELU_S * (x > 0 ? x : SELU_A * expm1(x)); break;
    case A_GELU: {
        const double c = 0.5 * erfc(-x / sqrt(2.0));
        y = c == 0 ? -0.0 : x * c;
        break;
    }
    case A_GELU_TANH: {
        const double t = 2 * sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x);
        const double sg = ref_sigmoid(t);
        y = sg == 0 ? -0.0 : x * sg;
        cond = isfinite(t) ? fabs(t) * fabs(y) : 0.0;
        break;
    }
    case A_LEAKY: y = x > 0 ? x : p * x; break;
    case A_SOFTPLUS: y = (x < 0 ? 0 : x) + log1p(exp(-fabs(x))); break;
    case A_SWISH: {
        const double sg = ref_sigmoid(x);
        y = sg == 0 ? -0.0 : x * sg;
        break;
    }
    case A_EXP: y = exp(x); break;
    case A_HARD_SIGMOID: {
        const double v = p * x + 0.5;
        y = v < 0 ? 0 : v > 1 ? 1 : v;
        cond = isfinite(x) ? fabs(p * x) + 0.5 : 0.0;
        break;
    }
    case A_SOFTSIGN: y = isinf(x) ? (x > 0 ? 1.0 : -1.0) : x / (1 + fabs(x)); break;
    case A_SIGMOID: y = ref_sigmoid(x); break;
    default: y = tanh(x); break;
    }
    *mag = (isfinite(y) ? fabs(y) : 0.0) + cond;
    return y;
}

/* f'(.) from src (y or z) in double, and the magnitude of its terms */
static double act_dref(int k, double s, double p, double *mag)
{
    double d, terms;
    switch (k) {
    case A_ELU: d = s > 0 ? 1 : s + p; terms = fabs(s) + p + 1; break;
    case A_SELU:
        d = s > 0 ? SELU_S : s + SELU_S * SELU_A;
        terms = fabs(s) + SELU_S * SELU_A + SELU_S;
        break;
    case A_GELU: {
        const double c = 0.5 * erfc(-s / sqrt(2.0));
        const double ph = exp(-0.5 * s * s) / sqrt(2 * 3.14159265358979323846);
        d = ph == 0 ? c : c + s * ph;
        terms = fabs(c) + (ph == 0 ? 0 : fabs(s * ph));
        break;
    }
    case A_GELU_TANH: {
        const double k2 = 2 * sqrt(2 / 3.14159265358979323846);
        const double t = k2 * (s + 0.044715 * s * s * s);
        const double e = exp(-fabs(t)), a = 1 / (1 + e);
        const double sg = t < 0 ? e * a : a, ds = e * a * a;
        const double du = k2 * (1 + 3 * 0.044715 * s * s);
        const double term = ds == 0 ? 0 : s * du * ds;
        d = sg + term;
        terms = sg + fabs(term) * (1 + (isfinite(t) ? fabs(t) : 0));
        break;
    }
    case A_LEAKY: d = s > 0 ? 1 : p; terms = fabs(d); break;
    case A_SOFTPLUS: d = -expm1(-s); terms = fabs(d); break;
    case A_SWISH: {
        const double e = exp(-fabs(s)), a = 1 / (1 + e);
        const double sg = s < 0 ? e * a : a, ds = e * a * a;
        d = ds == 0 ? sg : sg + s * ds;
        terms = sg + (ds == 0 ? 0 : fabs(s * ds));
        break;
    }
    case A_EXP: d = s; terms = fabs(s); break;
    case A_HARD_SIGMOID: d = (s <= 0 || s >= 1) ? 0 : p; terms = fabs(d); break;
    case A_SOFTSIGN: d = 1 / ((1 + fabs(s)) * (1 + fabs(s))); terms = d; break;
    case A_SIGMOID: d = s * (1 - s); terms = fabs(s); break;
    default: d = 1 - s * s; terms = 1 + s * s; break;
    }
    *mag = isfinite(terms) ? terms : isfinite(d) ? fabs(d) : 0.0;
    return d;
}

/* the float32 result the double value rounds to, for the inf cases */
static double as_float_range(double v)
{
    return isinf((float)v) ? (double)(float)v : v;
}

static const float A_SPECIALS[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e30f, -1e30f,
                                   100.0f, -100.0f, 20.5f, -20.5f, 88.9f, -88.9f,
                                   -13.5f, 1e-40f, -1e-40f, 2.5f, -2.5f, 5.0f, -5.0f};
#define N_A_SPECIALS (sizeof A_SPECIALS / sizeof A_SPECIALS[0])

static void test_activation(int k, fd_index m, fd_index n, int alias)
{
    static const float params[] = {1.0f, 0.3f, 0.0f, 2.5f};
    const float p = k == A_HARD_SIGMOID ? (rnd_int(2) ? 0.2f : 1.0f / 6.0f)
                                        : params[rnd_int(4)];
    int lx = rnd_int(L_COUNT), lg = rnd_int(L_COUNT), lo = rnd_int(N_OUT_LAYOUTS),
        nt = pick_threads();
    view X, O, G, Y, D, Yc, Dc;
    float *xs, *gs, *ys, *first;
    if (alias)
        lx = lo;
    X = make_view(m, n, lx);
    fill_random(&X, 3);
    for (fd_index t = 0; t < X.cnt; t++)
        X.mem[t] *= 12.0f;
    for (fd_index t = 0; t < X.cnt && t < (fd_index)N_A_SPECIALS; t++)
        X.mem[(t * 7919) % X.cnt] = A_SPECIALS[t];
    xs = snapshot(&X);
    O = make_view(m, n, lo);
    fill_output(&O, NAN);
    snprintf(ctx, sizeof ctx, "%s m=%ld n=%ld p=%g x=%s out=%s%s threads=%d", ANAME[k],
             (long)m, (long)n, (double)p, LNAME[lx], LNAME[lo],
             alias ? " (out is x)" : "", nt);
    check_status(act_forward(k, m, n, &X, alias ? X.base : O.base, alias ? X.rs : O.rs,
                             alias ? X.cs : O.cs, p, nt), FD_OK, "status");
    if (!alias)
        check_gaps(&O);
    {
        const view *res = alias ? &X : &O;
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++) {
                double mag;
                const double want = as_float_range(act_ref(k, xs[i * n + j], p, &mag));
                check_close("forward", i, j, *at(res, i, j), want, 16 * U * mag + 1e-37);
            }
        ys = snapshot(res);
    }
    /* one thread, contiguous: the same bits */
    Yc = make_view(m, n, L_C);
    fill_output(&Yc, NAN);
    {
        view Xc = make_view(m, n, L_C);
        put(&Xc, xs);
        act_forward(k, m, n, &Xc, Yc.base, Yc.rs, Yc.cs, p, 1);
        free_view(&Xc);
    }
    first = snapshot(&Yc);
    check_identical("layout or threads change the forward bits", ys, first, m * n);
    free(first);

    /* backward from y (the kernel's own output) or z; out is grad when alias */
    G = make_view(m, n, alias ? lo : lg);
    fill_random(&G, 5);
    gs = snapshot(&G);
    Y = make_view(m, n, rnd_int(L_COUNT));
    put(&Y, A_FROM_Z[k] ? xs : ys);
    D = make_view(m, n, lo);
    fill_output(&D, NAN);
    snprintf(ctx, sizeof ctx, "%s backward m=%ld n=%ld p=%g grad=%s src=%s out=%s%s "
             "threads=%d", ANAME[k], (long)m, (long)n, (double)p, LNAME[G.layout],
             LNAME[Y.layout], LNAME[lo], alias ? " (out is grad)" : "", nt);
    check_status(act_backward(k, m, n, G.base, G.rs, G.cs, Y.base, Y.rs, Y.cs,
                              alias ? G.base : D.base, alias ? G.rs : D.rs,
                              alias ? G.cs : D.cs, p, nt), FD_OK, "status");
    if (!alias)
        check_gaps(&D);
    {
        const view *res = alias ? &G : &D;
        float *src = snapshot(&Y), *got;
        for (fd_index i = 0; i < m; i++)
            for (fd_index j = 0; j < n; j++) {
                double mag;
                const double g = gs[i * n + j];
                const double d = act_dref(k, src[i * n + j], p, &mag);
                check_close("backward", i, j, *at(res, i, j), g * d,
                            16 * U * fabs(g) * mag + 1e-37);
            }
        got = snapshot(res);
        Dc = make_view(m, n, L_C);
        fill_output(&Dc, NAN);
        {
            view Gc = make_view(m, n, L_C), Sc = make_view(m, n, L_C);
            put(&Gc, gs);
            put(&Sc, src);
            act_backward(k, m, n, Gc.base, Gc.rs, Gc.cs, Sc.base, Sc.rs, Sc.cs, Dc.base,
                         Dc.rs, Dc.cs, p, 1);
            free_view(&Gc);
            free_view(&Sc);
        }
        first = snapshot(&Dc);
        check_identical("layout or threads change the backward bits", got, first, m * n);
        free(first);
        free(got);
        free(src);
    }
    free(xs);
    free(gs);
    free(ys);
    free_view(&X);
    free_view(&O);
    free_view(&G);
    free_view(&Y);
    free_view(&D);
    free_view(&Yc);
    free_view(&Dc);
}

/* the whole float32 line through each forward kernel, contiguous, one call */
static void test_activation_range(int k)
{
    const fd_index n = 1 << 16;
    view X = make_view(1, n, L_C), O = make_view(1, n, L_C);
    const float p = k == A_HARD_SIGMOID ? 0.2f : 0.3f;
    for (fd_index j = 0; j < n; j++) {   /* every 2^16-th bit pattern: all exponents */
        const uint32_t bits = (uint32_t)j << 16 | (uint32_t)(j * 40503u & 0xffffu);
        memcpy(&X.base[j], &bits, sizeof(float));
    }
    fill_output(&O, NAN);
    snprintf(ctx, sizeof ctx, "%s over the float32 range", ANAME[k]);
    check_status(act_forward(k, 1, n, &X, O.base, O.rs, O.cs, p, 2), FD_OK, "status");
    for (fd_index j = 0; j < n; j++) {
        double mag;
        const double want = as_float_range(act_ref(k, X.base[j], p, &mag));
        check_close("forward", 0, j, O.base[j], want, 16 * U * mag + 1e-37);
    }
    free_view(&X);
    free_view(&O);
}

enum { L_MSE, L_MAE, L_HUBER, L_LOGCOSH, L_KLD, L_BCE, L_KINDS };
static const char *LOSSNAME[] = {"mse", "mae", "huber", "log_cosh", "kld", "sigmoid_bce"};

static double ref_log_cosh(double x)
{
    const double a = fabs(x);
    if (a < 1e-3)
        return x * x * (0.5 - x * x / 12.0);
    return a + log1p(exp(-2.0 * a)) - 0.69314718055994530942;
}

static void test_loss(int kind, fd_index m, fd_index n)
{
    int lp = rnd_int(L_COUNT), lt = rnd_int(L_COUNT), lg = rnd_int(N_OUT_LAYOUTS),
        lpr = rnd_int(N_OUT_LAYOUTS), nt = pick_threads();
    const int use_w = rnd_int(2), use_g = rnd_int(4) != 0, use_pr = rnd_int(2);
    const float delta = rnd_int(2) ? 1.0f : 0.25f, ls = rnd_int(2) ? 0.0f : 0.2f;
    const float scale = m > 0 ? 1.0f / (float)m : 1.0f;
    view P = make_view(m, n, lp), T = make_view(m, n, lt), G = make_view(m, n, lg);
    view PR = make_view(m, n, lpr);
    view W = make_view(m, 1, rnd_int(2) ? L_STRIDED : L_NEG);
    float *ps, *ts;
    double loss = -1, loss1 = -2, want = 0, mag = 0;
    int64_t hits = -1, hits1 = -1, want_hits = 0;
    int st;
    fill_random(&P, 7);
    fill_random(&T, 0);
    fill_random(&W, 0);
    for (fd_index t = 0; t < W.cnt; t++)
        W.mem[t] += 1.0f;
    if (kind == L_KLD || kind == L_BCE)   /* distributions / labels in [0, 1] */
        for (fd_index t = 0; t < T.cnt; t++)
            T.mem[t] = kind == L_BCE && rnd_int(2) ? (T.mem[t] > 0 ? 1.0f : 0.0f)
                                                   : 0.5f * (T.mem[t] + 1.0f);
    if (kind == L_KLD)
        for (fd_index t = 0; t < P.cnt; t++)  /* mostly inside [eps, 1], some outside */
            P.mem[t] = rnd_int(8) ? 0.5f * (P.mem[t] + 1.0f) : P.mem[t] * 2.0f;
    if (kind == L_BCE)
        for (fd_index t = 0; t < P.cnt; t++)
            P.mem[t] = rnd_int(10) ? P.mem[t] * 8.0f
                                   : (rnd_int(2) ? INFINITY : -INFINITY);
    ps = snapshot(&P);
    ts = snapshot(&T);
    fill_output(&G, NAN);
    fill_output(&PR, NAN);
    snprintf(ctx, sizeof ctx, "%s loss m=%ld n=%ld pred=%s true=%s grad=%s w=%d ls=%g "
             "delta=%g threads=%d", LOSSNAME[kind], (long)m, (long)n, LNAME[lp],
             LNAME[lt], use_g ? LNAME[lg] : "none", use_w, (double)ls, (double)delta, nt);
    for (int pass = 0; pass < 2; pass++) {
        const int threads = pass == 0 ? nt : 1;
        double *lo = pass == 0 ? &loss : &loss1;
        const float *wp = use_w ? W.base : NULL;
        float *gp = use_g ? G.base : NULL;
        switch (kind) {
        case L_MSE:
            st = fd_mse_loss_f32(m, n, P.base, P.rs, P.cs, T.base, T.rs, T.cs, wp, W.rs,
                                 gp, G.rs, G.cs, scale, lo, threads);
            break;
        case L_MAE:
            st = fd_mae_loss_f32(m, n, P.base, P.rs, P.cs, T.base, T.rs, T.cs, wp, W.rs,
                                 gp, G.rs, G.cs, scale, lo, threads);
            break;
        case L_HUBER:
            st = fd_huber_loss_f32(m, n, P.base, P.rs, P.cs, T.base, T.rs, T.cs, wp,
                                   W.rs, gp, G.rs, G.cs, delta, scale, lo, threads);
            break;
        case L_LOGCOSH:
            st = fd_log_cosh_loss_f32(m, n, P.base, P.rs, P.cs, T.base, T.rs, T.cs, wp,
                                      W.rs, gp, G.rs, G.cs, scale, lo, threads);
            break;
        case L_KLD:
            st = fd_kld_loss_f32(m, n, P.base, P.rs, P.cs, T.base, T.rs, T.cs, wp, W.rs,
                                 gp, G.rs, G.cs, scale, lo, threads);
            break;
        default:
            st = fd_sigmoid_bce_f32(m, n, P.base, P.rs, P.cs, T.base, T.rs, T.cs, wp,
                                    W.rs, ls, use_pr ? PR.base : NULL, PR.rs, PR.cs, gp,
                                    G.rs, G.cs, scale, lo, pass == 0 ? &hits : &hits1,
                                    threads);
            break;
        }
        check_status(st, FD_OK, "status");
        if (pass == 0) {
            check_gaps(&G);
            check_gaps(&PR);
        }
    }
    check(memcmp(&loss, &loss1, sizeof loss) == 0 || (isnan(loss) && isnan(loss1)),
          "threads change the loss bits", 0, 0, loss, loss1, 0);
    check(hits == hits1, "threads change n_correct", 0, 0, (double)hits, (double)hits1, 0);
    for (fd_index i = 0; i < m && n > 0; i++) {
        const double wi = use_w ? (double)*at(&W, i, 0) : 1.0;
        const double per = kind == L_KLD ? 1.0 : 1.0 / (double)n;
        double row = 0, rmag = 0;
        for (fd_index j = 0; j < n; j++) {
            const double pv = ps[i * n + j], tv = ts[i * n + j], e = pv - tv;
            double l, d;
            switch (kind) {
            case L_MSE: l = e * e; d = 2 * e; break;
            case L_MAE: l = fabs(e); d = e > 0 ? 1 : e < 0 ? -1 : e; break;
            case L_HUBER: {
                const double a = fabs(e), q = a < delta ? a : delta;
                l = 0.5 * q * q + delta * (a - q);
                d = a <= delta ? e : delta * (e > 0 ? 1 : e < 0 ? -1 : e);
                break;
            }
            case L_LOGCOSH: l = ref_log_cosh(e); d = tanh(e); break;
            case L_KLD: {
                const double tc = tv < 1e-7 ? 1e-7 : tv > 1 ? 1 : tv;
                const double pc = pv < 1e-7 ? 1e-7 : pv > 1 ? 1 : pv;
                l = tc * log(tc / pc);
                d = (pv < 1e-7 || pv > 1) ? 0 : -tc / pc;
                break;
            }
            default: {
                const double z = pv, t = tv * (1.0 - (double)ls) + 0.5 * (double)ls;
                const double ez = exp(-fabs(z)), a = z >= 0 ? 1 - t : -t;
                const double sg = z >= 0 ? 1 / (1 + ez) : ez / (1 + ez);
                l = (a == 0 ? 0 : a * z) + log1p(ez);
                d = sg - t;
                if (use_pr)
                    check_close("probs", i, j, *at(&PR, i, j), sg, 2 * U * sg + 1e-37);
                want_hits += ((float)tv == 1.0f && z > 0) || ((float)tv == 0.0f && z <= 0);
                break;
            }
            }
            row += l;
            rmag += fabs(l);
            if (use_g) {
                const double gw = (double)scale * wi * per * d;
                check_close("grad", i, j, *at(&G, i, j), gw, 2 * U * fabs(gw) + 1e-37);
            }
        }
        want += wi * row * per;
        mag += fabs(wi) * rmag * per;
    }
    /* the kernel sums m*n double terms (in a thread-dependent grouping): the
     * recursive-summation bound, (terms) * 2^-53 * sum|term| */
    check_close("loss_sum", 0, 0, loss, want,
                ((double)m * (double)n + 8.0) * 0x1p-53 * mag + 1e-300);
    if (kind == L_BCE)
        check(hits == want_hits, "n_correct", 0, 0, (double)hits, (double)want_hits, 0);
    else
        check(hits == -1, "n_correct untouched", 0, 0, (double)hits, -1, 0);
    free(ps);
    free(ts);
    free_view(&P);
    free_view(&T);
    free_view(&G);
    free_view(&PR);
    free_view(&W);
}

static void test_act_loss_bad_calls(void)
{
    float z = 0;
    double loss;
    int64_t hits;
    snprintf(ctx, sizeof ctx, "activation / loss bad calls");
    for (int k = 0; k < A_COUNT; k++) {
        view X = make_view(1, 1, L_C);
        X.base[0] = 0;
        check_status(act_forward(k, -1, 1, &X, &z, 1, 1, 0.2f, 1), FD_EINVAL, "m < 0");
        check_status(act_backward(k, 1, -1, &z, 1, 1, &z, 1, 1, &z, 1, 1, 0.2f, 1),
                     FD_EINVAL, "n < 0");
        free_view(&X);
    }
    check_status(fd_elu_backward_f32(1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, -1.0f, 1),
                 FD_EINVAL, "elu alpha < 0");
    check_status(fd_leaky_relu_backward_f32(1, 1, &z, 1, 1, &z, 1, 1, &z, 1, 1, NAN, 1),
                 FD_EINVAL, "leaky_relu alpha NaN");
    check_status(fd_huber_loss_f32(1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, NULL, 0, 0, 0.0f,
                                   1.0f, &loss, 1), FD_EINVAL, "huber delta 0");
    check_status(fd_huber_loss_f32(1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, NULL, 0, 0,
                                   INFINITY, 1.0f, &loss, 1), FD_EINVAL, "huber delta inf");
    check_status(fd_mse_loss_f32(-1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, NULL, 0, 0, 1.0f,
                                 &loss, 1), FD_EINVAL, "mse m < 0");
    check_status(fd_kld_loss_f32(1, -1, &z, 1, 1, &z, 1, 1, NULL, 0, NULL, 0, 0, 1.0f,
                                 &loss, 1), FD_EINVAL, "kld n < 0");
    check_status(fd_sigmoid_bce_f32(1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, 1.5f, NULL, 0, 0,
                                    NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "bce label_smoothing > 1");
    check_status(fd_sigmoid_bce_f32(-1, 1, &z, 1, 1, &z, 1, 1, NULL, 0, 0.0f, NULL, 0, 0,
                                    NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "bce m < 0");
}

/* -- gemm: ours or a BLAS (issue 9): fd_sgemm_route -- */
static void test_sgemm_route(void)
{
    /* the rule of gemm_config.h at AVX-512, and BLAS below it */
    static const struct { fd_index m, n, k; int rows, want; } cases[] = {
        {128, 512, 784, 1, FD_ROUTE_OURS}, {784, 512, 128, 0, FD_ROUTE_OURS},
        {128, 784, 512, 1, FD_ROUTE_OURS}, {128, 10, 512, 1, FD_ROUTE_OURS},
        {128, 10, 512, 0, FD_ROUTE_BLAS},  {512, 10, 128, 0, FD_ROUTE_BLAS},
        {128, 512, 10, 1, FD_ROUTE_BLAS},  {10000, 512, 784, 1, FD_ROUTE_OURS},
        {1, 512, 784, 1, FD_ROUTE_BLAS},   {512, 1, 784, 1, FD_ROUTE_BLAS},
        {16, 16, 16, 1, FD_ROUTE_BLAS},    {1000, 16, 512, 1, FD_ROUTE_BLAS},
        {1000, 40, 512, 1, FD_ROUTE_BLAS}, {1000, 20, 512, 0, FD_ROUTE_BLAS},
        {1000, 20, 512, 1, FD_ROUTE_OURS}, {1000, 10, 512, 0, FD_ROUTE_OURS},
        {0, 0, 0, 1, FD_ROUTE_BLAS},       {-1, 5, 5, 1, FD_ROUTE_BLAS},
    };
    size_t i;
    int nt, level;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (nt = 1; nt <= 2; nt++) {
            const int r = fd_sgemm_route(cases[i].m, cases[i].n, cases[i].k,
                                         cases[i].rows, nt, FD_SIMD_AVX512);
            snprintf(ctx, sizeof ctx, "sgemm_route m=%ld n=%ld k=%ld rows=%d nt=%d",
                     (long)cases[i].m, (long)cases[i].n, (long)cases[i].k,
                     cases[i].rows, nt);
            check(r == cases[i].want, "route at avx512", i, nt, r, cases[i].want, 0);
            for (level = FD_SIMD_GENERIC; level < FD_SIMD_AVX512; level++)
                check(fd_sgemm_route(cases[i].m, cases[i].n, cases[i].k,
                                     cases[i].rows, nt, level) == FD_ROUTE_BLAS,
                      "BLAS below avx512", i, level, 0, 0, 0);
        }
    }
    /* -1: the level in use now */
    level = fd_simd_level();
    check(fd_sgemm_route(128, 512, 784, 1, 1, -1) ==
              fd_sgemm_route(128, 512, 784, 1, 1, level),
          "route at the current level", 0, 0, level, 0, 0);
}

int main(int argc, char **argv)
{
    size_t s;
    int w;
    if (argc > 1)
        rng_state = strtoull(argv[1], NULL, 10) * 2654435761ull + 1;
    test_config();
    test_sgemm();
    test_sgemm_route();
    printf("sgemm: %ld checks, %ld failed\n", n_passed + n_failed, n_failed);
    for (s = 0; s < N_EW_SHAPES; s++) {
        const fd_index m = EW_SHAPES[s][0], n = EW_SHAPES[s][1];
        for (w = 0; w < 2; w++) {
            test_add(m, n, w);
            test_relu(m, n, w);
            test_relu_backward(m, n, 1, w);
            test_relu_backward(m, n, 0, !w);
            test_bias_grad(m, n);
            if (n <= 64 || m <= 2) {
                test_softmax(m, n, w);
            }
            if (n <= 64) {
                test_softmax_xent(m, n, w);
                test_softmax_xent(m, n, !w);
            }
            test_optimizer(rnd_int(5), m, n);
        }
        for (w = 0; w < 5; w++)
            test_optimizer(w, m, n);
    }
    {   /* softmax rows: 10 classes as in MNIST, and odd widths */
        static const fd_index sm[][2] = {{128, 10}, {3, 10}, {5, 1}, {4, 2}, {9, 33},
                                         {14000, 10}, {1, 64}, {3, 700}, {2, 256}};
        for (s = 0; s < sizeof sm / sizeof sm[0]; s++)
            for (w = 0; w < 3; w++) {
                test_softmax(sm[s][0], sm[s][1], w == 2);
                test_softmax_xent(sm[s][0], sm[s][1], w);
            }
    }
    test_softmax_xent_errors();
    test_bad_sizes();
    {
        const long before = n_passed + n_failed, failed = n_failed;
        test_sparse();
        printf("sparse: %ld checks, %ld failed\n", n_passed + n_failed - before,
               n_failed - failed);
    }
    test_optim_family();
    test_dropout_family();
    printf("before activations/losses: %ld checks, %ld failed\n", n_passed + n_failed,
           n_failed);
    for (int k = 0; k < A_COUNT; k++) {
        for (s = 0; s < N_EW_SHAPES; s++)
            for (w = 0; w < 2; w++)
                if (EW_SHAPES[s][0] * EW_SHAPES[s][1] <= 200000)
                    test_activation(k, EW_SHAPES[s][0], EW_SHAPES[s][1], w);
        test_activation_range(k);
    }
    {
        static const fd_index ls_shapes[][2] = {{0, 0}, {0, 3}, {3, 0}, {1, 1}, {5, 1},
                                                {128, 10}, {7, 33}, {512, 1},
                                                {4100, 3}, {20000, 10}, {3, 5000}};
        for (int kind = 0; kind < L_KINDS; kind++)
            for (s = 0; s < sizeof ls_shapes / sizeof ls_shapes[0]; s++)
                for (w = 0; w < 3; w++)
                    test_loss(kind, ls_shapes[s][0], ls_shapes[s][1]);
    }
    test_act_loss_bad_calls();
    printf("%ld passed, %ld failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
