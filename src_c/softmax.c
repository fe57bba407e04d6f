/*
 * softmax.c -- row softmax, and softmax fused with cross-entropy.
 *
 * One task per row (rows are short: 10 classes in the seed network).  Row
 * sums are accumulated in double, so wide rows (thousands of classes) stay
 * within float32 rounding of NumPy's pairwise sums.  Each row is
 * max-subtracted before exp so that large logits never overflow, and the loss
 * uses log-softmax (x - max - log(sum)) so that it stays finite where
 * the probability underflows to 0.  The fused kernel writes probabilities,
 * the gradient (p - y) * scale, the loss and the argmax hits in one visit of
 * the row; with per-row weights w (sample_weight / class_weight) the row's
 * loss counts w times and its gradient is scaled by w, and label smoothing
 * replaces y by y (1 - ls) + ls / n on the fly (the hits still compare with
 * the argmax of y).  Row losses are added per thread over a fixed contiguous range of
 * rows and the partial sums combined in thread order: the result does not
 * depend on timing.
 *
 * The exponentials are taken FD_EXP_CHUNK at a time in a stack buffer,
 * buf = x - max then exp in place, by the widest exp step fd_simd_level()
 * allows (softmax_avx512.c, softmax_avx2.c: vector Cephes expf; else the C
 * library's expf), so every layout of x gives the same values.  The fused
 * kernel keeps the buffer for its second visit when the row fits in one
 * chunk (the seed network's 10 classes) and recomputes it otherwise.
 */
#include <math.h>
#include <string.h>

#include "fd_internal.h"
#include "softmax_internal.h"

#define FD_EXP_CHUNK 256

static double fd_exp_sum_generic(fd_index n, float *buf)
{
    double acc = 0.0;
    for (fd_index j = 0; j < n; j++) {
        buf[j] = expf(buf[j]);
        acc += buf[j];
    }
    return acc;
}

/* The exp step for this CPU (chosen per call: no global state). */
static fd_exp_sum_fn fd_exp_select(void)
{
    const int level = fd_simd_level();
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512)
        return fd_exp_sum_avx512;
#endif
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2)
        return fd_exp_sum_avx2;
#endif
    (void)level;
    return fd_exp_sum_generic;
}

/* buf[0:len] = exp(x[j0 + j] - mx) for j < len; returns their sum. */
static double fd_exp_chunk(fd_exp_sum_fn exp_sum, fd_index j0, fd_index len,
                           const float *x, fd_index cs, float mx, float *buf)
{
    if (cs == 1) {              /* unit stride: a vectorised loop */
        const float *xs = x + j0;
        for (fd_index j = 0; j < len; j++)
            buf[j] = xs[j] - mx;
    } else {
        for (fd_index j = 0; j < len; j++)
            buf[j] = x[(j0 + j) * cs] - mx;
    }
    return exp_sum(len, buf);
}

/* max with NaN propagation, as np.max: the largest value, or NaN if there
 * is one (a running max and a NaN flag: no early exit, no branch) */
static float fd_row_max(fd_index n, const float *x, fd_index cs)
{
    float mx = x[0];
    int nan = x[0] != x[0];
    if (cs == 1) {
        for (fd_index j = 1; j < n; j++) {
            const float v = x[j];
            mx = v > mx ? v : mx;
            nan |= v != v;
        }
    } else {
        for (fd_index j = 1; j < n; j++) {
            const float v = x[j * cs];
            mx = v > mx ? v : mx;
            nan |= v != v;
        }
    }
    return nan ? NAN : mx;
}

/* first index of the maximum; a NaN counts as the maximum (as np.argmax) */
static fd_index fd_row_argmax(fd_index n, const float *x, fd_index cs)
{
    fd_index best = 0;
    float bv = x[0];
    if (bv != bv)
        return 0;
    for (fd_index j = 1; j < n; j++) {
        float v = x[j * cs];
        if (v != v)
            return j;
        if (v > bv) {
            bv = v;
            best = j;
        }
    }
    return best;
}

int fd_softmax_f32(fd_index m, fd_index n,
                   const float *x, fd_index rs_x, fd_index cs_x,
                   float *out, fd_index rs_o, fd_index cs_o, int nthreads)
{
    if (m < 0 || n < 0)
        return FD_EINVAL;
    if (m == 0 || n == 0)
        return FD_OK;
    const fd_exp_sum_fn exp_sum = fd_exp_select();
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (fd_index i = 0; i < m; i++) {
        float buf[FD_EXP_CHUNK];
        const float *xi = x + i * rs_x;
        float *oi = out + i * rs_o;
        const float mx = fd_row_max(n, xi, cs_x);
        double acc = 0.0;
        for (fd_index j0 = 0; j0 < n; j0 += FD_EXP_CHUNK) {
            const fd_index len = fd_min(FD_EXP_CHUNK, n - j0);
            acc += fd_exp_chunk(exp_sum, j0, len, xi, cs_x, mx, buf);
            if (cs_o == 1)
                memcpy(oi + j0, buf, (size_t)len * sizeof(float));
            else
                for (fd_index j = 0; j < len; j++)
                    oi[(j0 + j) * cs_o] = buf[j];
        }
        const float sum = (float)acc;
        if (cs_o == 1)          /* unit stride: vector division (exact) */
            for (fd_index j = 0; j < n; j++)
                oi[j] = oi[j] / sum;
        else
            for (fd_index j = 0; j < n; j++)
                oi[j * cs_o] = oi[j * cs_o] / sum;
    }
    return FD_OK;
}

/* The targets of the fused kernel after label smoothing: t = y (1 - ls) +
 * ls / n, or y itself when ls == 0 (then nothing is rounded). */
typedef struct {
    int smooth;
    float keep;     /* 1 - ls */
    float add;      /* ls / n */
} fd_smoothing;

/* One row of the fused kernel; returns the row's (unweighted) loss.  gscale
 * is scale * the row's weight. */
static double fd_xent_row(fd_exp_sum_fn exp_sum, fd_index n, const float *xi,
                          fd_index cs_x, const float *yi, fd_index cs_y,
                          int64_t label, fd_smoothing sm, float *pi,
                          fd_index cs_p, float *gi, fd_index cs_g, float gscale,
                          int64_t *hit)
{
    float buf[FD_EXP_CHUNK];
    const float mx = fd_row_max(n, xi, cs_x);
    double acc = 0.0;
    for (fd_index j0 = 0; j0 < n; j0 += FD_EXP_CHUNK)
        acc += fd_exp_chunk(exp_sum, j0, fd_min(FD_EXP_CHUNK, n - j0), xi, cs_x,
                            mx, buf);
    const float sum = (float)acc;
    const float lse = (float)log(acc);
    /* the hit before any output is written: probs or grad may be the
     * logits themselves (each element is read before it is overwritten);
     * it compares with the unsmoothed target */
    const fd_index want = yi ? fd_row_argmax(n, yi, cs_y) : (fd_index)label;
    *hit = fd_row_argmax(n, xi, cs_x) == want;
    double loss = 0.0;
    for (fd_index j0 = 0; j0 < n; j0 += FD_EXP_CHUNK) {
        const fd_index len = fd_min(FD_EXP_CHUNK, n - j0);
        if (n > FD_EXP_CHUNK)  /* one chunk: buf still holds it */
            fd_exp_chunk(exp_sum, j0, len, xi, cs_x, mx, buf);
        for (fd_index jj = 0; jj < len; jj++) {
            const fd_index j = j0 + jj;
            const float z = xi[j * cs_x] - mx;
            const float p = buf[jj] / sum;
            const float y = yi ? yi[j * cs_y] : (j == label ? 1.0f : 0.0f);
            const float t = sm.smooth ? y * sm.keep + sm.add : y;
            if (t != 0.0f)
                loss -= (double)(t * (z - lse));
            if (pi)
                pi[j * cs_p] = p;
            if (gi)
                gi[j * cs_g] = (p - t) * gscale;
        }
    }
    return loss;
}

int fd_softmax_xent_f32(fd_index m, fd_index n,
                        const float *logits, fd_index rs_x, fd_index cs_x,
                        const float *y, fd_index rs_y, fd_index cs_y,
                        const int64_t *labels,
                        const float *weights, fd_index inc_w,
                        float label_smoothing,
                        float *probs, fd_index rs_p, fd_index cs_p,
                        float *grad, fd_index rs_g, fd_index cs_g,
                        float scale, double *loss_sum, int64_t *n_correct,
                        int nthreads)
{
    if (m < 0 || n < 0)
        return FD_EINVAL;
    *loss_sum = 0.0;
    *n_correct = 0;
    if (m == 0)
        return FD_OK;
    if ((y == NULL) == (labels == NULL))
        return FD_EINVAL;
    if (labels)
        for (fd_index i = 0; i < m; i++)
            if (labels[i] < 0 || labels[i] >= n)
                return FD_EINVAL;
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return FD_EINVAL;
    if (n == 0)
        return FD_OK;

    fd_smoothing sm;
    sm.smooth = label_smoothing != 0.0f;
    sm.keep = 1.0f - label_smoothing;
    sm.add = label_smoothing / (float)n;
    double part_loss[FD_MAX_THREADS];
    int64_t part_hits[FD_MAX_THREADS];
    int used = 1;
    const fd_exp_sum_fn exp_sum = fd_exp_select();
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int id = fd_thread_id(), team = fd_team_size();
        if (id == 0)
            used = team;
        const fd_index r0 = m * id / team, r1 = m * (id + 1) / team;
        double loss = 0.0;
        int64_t hits = 0;
        for (fd_index i = r0; i < r1; i++) {
            int64_t hit;
            const float w = weights ? weights[i * inc_w] : 1.0f;
            const double row = fd_xent_row(exp_sum, n, logits + i * rs_x, cs_x,
                                           y ? y + i * rs_y : NULL, cs_y,
                                           labels ? labels[i] : 0, sm,
                                           probs ? probs + i * rs_p : NULL, cs_p,
                                           grad ? grad + i * rs_g : NULL, cs_g,
                                           scale * w, &hit);
            loss += weights ? (double)w * row : row;
            hits += hit;
        }
        part_loss[id] = loss;
        part_hits[id] = hits;
    }
    double total = 0.0;
    int64_t hits = 0;
    for (int t = 0; t < used; t++) {
        total += part_loss[t];
        hits += part_hits[t];
    }
    *loss_sum = total;
    *n_correct = hits;
    return FD_OK;
}
