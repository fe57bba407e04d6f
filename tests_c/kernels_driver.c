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
    for (fd_index i = 0; i < m; i++)
        labels[i] = n > 0 ? rnd_int((int)n) : 0;
    xs = snapshot(&X);
    ys = snapshot(&Y);
    fill_output(&P, NAN);
    fill_output(&G, NAN);
    snprintf(ctx, sizeof ctx,
             "softmax_xent m=%ld n=%ld %s logits=%s y=%s probs=%s grad=%s threads=%d",
             (long)m, (long)n, sparse ? "labels" : "dense", LNAME[lx],
             sparse ? "-" : LNAME[ly], want_probs ? LNAME[lp] : "none",
             want_grad ? LNAME[lg] : "none", nt);
    check_status(fd_softmax_xent_f32(m, n, X.base, X.rs, X.cs,
                                     sparse ? NULL : Y.base, Y.rs, Y.cs,
                                     sparse ? labels : NULL,
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
        for (fd_index j = 0; j < n; j++) {
            const double z = (double)xi[j] - mx, p = exp(z) / sum;
            const double ptol = U * ((isinf(z) ? 0.0 : fabs(z)) + n + 6) * p * 2.0 + 1e-37;
            if (yi[j] != 0.0f) {
                want_loss -= yi[j] * (z - lse);
                loss_bound += fabs(yi[j]) * (fabs(z) + fabs(lse) + 1.0);
            }
            if (want_probs)
                check_close("probs", i, j, *at(&P, i, j), p, ptol);
            if (want_grad)
                check_close("grad", i, j, *at(&G, i, j), (p - yi[j]) * scale,
                            (ptol + U * fabs(p - yi[j]) * 4.0) * scale + 1e-37);
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
}

static void test_softmax_xent_errors(void)
{
    float x[6] = {0, 1, 2, 3, 4, 5}, y[6] = {0};
    int64_t bad[2] = {0, 3}, neg[2] = {-1, 0};
    double loss;
    int64_t hits;
    snprintf(ctx, sizeof ctx, "softmax_xent bad calls");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, NULL, 3, 1, bad, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label == n");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, NULL, 3, 1, neg, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "label < 0");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, NULL, 3, 1, NULL, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "no target");
    check_status(fd_softmax_xent_f32(2, 3, x, 3, 1, y, 3, 1, bad, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "two targets");
    check_status(fd_softmax_xent_f32(-1, 3, x, 3, 1, y, 3, 1, NULL, NULL, 0, 0,
                                     NULL, 0, 0, 1.0f, &loss, &hits, 1),
                 FD_EINVAL, "m < 0");
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
    printf("%ld passed, %ld failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
