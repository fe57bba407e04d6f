/*
 * losses.c -- loss value and gradient in one pass: mean squared error, mean
 * absolute error, Huber, log-cosh, Kullback-Leibler divergence, and the
 * fused sigmoid + binary cross-entropy from logits.
 *
 * Model: Keras's per-sample losses over the n columns of a row (the mean for
 * all but KL, which sums), times an optional per-row weight w_i, summed over
 * the rows into *loss_sum (double); the gradient row i is scale * w_i * the
 * derivative of the row loss with respect to y_pred (scale = 1/N gives the
 * gradient of the batch mean).  Rows are short (the network's outputs: 10
 * classes, 1 for a binary or regression head), so each element is computed
 * in double with the C library (exp, log1p, tanh): the loss is accurate to
 * double rounding and the gradient is the float32 rounding of the double
 * value -- what the NumPy twins compute too.  Rows are cut into fixed blocks
 * (their number depends on m and n only); each block sums its rows in order,
 * threads take whole blocks, and the block sums are added in block order:
 * the loss has the same bits for any thread count.
 */
#include <math.h>

#include "fd_internal.h"

enum { FD_LOSS_MSE, FD_LOSS_MAE, FD_LOSS_HUBER, FD_LOSS_LOG_COSH, FD_LOSS_KLD };

#define FD_LOSS_EPSILON 1e-7      /* Keras's backend epsilon (KL's clip) */
#define FD_LOSS_BLOCK_ELEMS 4096  /* elements per block, about */
#define FD_LOSS_MAX_BLOCKS 256

/* The fixed row blocks: count and rows per block, from m and n only. */
static void fd_loss_blocks(fd_index m, fd_index n, fd_index *nb, fd_index *rows)
{
    fd_index per = FD_LOSS_BLOCK_ELEMS / (n > 0 ? n : 1);
    if (per < 1)
        per = 1;
    fd_index count = (m + per - 1) / per;
    if (count > FD_LOSS_MAX_BLOCKS)
        count = FD_LOSS_MAX_BLOCKS;
    if (count < 1)
        count = 1;
    *nb = count;
    *rows = (m + count - 1) / count;
}

static double fd_sign(double x) { return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x; }

/* log(cosh(x)): the series below 1e-3 (|x|^6/45 is then < 1e-14 of the
 * value), else |x| + log1p(exp(-2|x|)) - log 2 (no overflow) */
static double fd_log_cosh(double x)
{
    const double a = fabs(x);
    if (a < 1e-3) {
        const double x2 = x * x;
        return x2 * (0.5 - x2 / 12.0);
    }
    return a + log1p(exp(-2.0 * a)) - 0.69314718055994530942;
}

/* One row of a regression loss: the sum over j of the element losses (the
 * caller divides by n for the means) and, when g is not NULL, g_j = gscale *
 * d(element loss)/d p_j. */
static double fd_loss_row(int kind, double param, fd_index n, const float *p,
                          fd_index cp, const float *t, fd_index ct, float *g,
                          fd_index cg, double gscale)
{
    double sum = 0.0;
    for (fd_index j = 0; j < n; j++) {
        const double pv = p[j * cp], tv = t[j * ct];
        const double e = pv - tv;
        double l, d;
        switch (kind) {
        case FD_LOSS_MSE:
            l = e * e;
            d = 2.0 * e;
            break;
        case FD_LOSS_MAE:
            l = fabs(e);
            d = fd_sign(e);
            break;
        case FD_LOSS_HUBER: {
            const double a = fabs(e);
            const double q = a < param ? a : param;
            l = 0.5 * q * q + param * (a - q);
            d = a <= param ? e : param * fd_sign(e);
            break;
        }
        case FD_LOSS_LOG_COSH:
            l = fd_log_cosh(e);
            d = tanh(e);
            break;
        default: {  /* FD_LOSS_KLD: clip both to [eps, 1] (NaN stays NaN) */
            const double tc = tv < FD_LOSS_EPSILON ? FD_LOSS_EPSILON : tv > 1.0 ? 1.0 : tv;
            const double pc = pv < FD_LOSS_EPSILON ? FD_LOSS_EPSILON : pv > 1.0 ? 1.0 : pv;
            l = tc * log(tc / pc);
            /* the clip passes the gradient on [eps, 1], as TensorFlow's */
            d = (pv < FD_LOSS_EPSILON || pv > 1.0) ? 0.0 : -tc / pc;
            break;
        }
        }
        sum += l;
        if (g)
            g[j * cg] = (float)(gscale * d);
    }
    return sum;
}

static int fd_loss_run(int kind, double param, fd_index m, fd_index n,
                       const float *p, fd_index rs_p, fd_index cs_p,
                       const float *t, fd_index rs_t, fd_index cs_t,
                       const float *w, fd_index inc_w,
                       float *g, fd_index rs_g, fd_index cs_g,
                       float scale, double *loss_sum, int nthreads)
{
    if (m < 0 || n < 0 || loss_sum == NULL)
        return FD_EINVAL;
    *loss_sum = 0.0;
    if (m == 0 || n == 0)
        return FD_OK;
    /* KL sums over the columns; the others take the mean */
    const double per_col = kind == FD_LOSS_KLD ? 1.0 : 1.0 / (double)n;
    double part[FD_LOSS_MAX_BLOCKS];
    fd_index nb, rows;
    fd_loss_blocks(m, n, &nb, &rows);
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (fd_index b = 0; b < nb; b++) {
        const fd_index r1 = fd_min(m, (b + 1) * rows);
        double acc = 0.0;
        for (fd_index i = b * rows; i < r1; i++) {
            const double wi = w ? (double)w[i * inc_w] : 1.0;
            const double row = fd_loss_row(kind, param, n, p + i * rs_p, cs_p,
                                           t + i * rs_t, cs_t,
                                           g ? g + i * rs_g : NULL, cs_g,
                                           (double)scale * wi * per_col);
            acc += w ? wi * (row * per_col) : row * per_col;
        }
        part[b] = acc;
    }
    double total = 0.0;
    for (fd_index b = 0; b < nb; b++)
        total += part[b];
    *loss_sum = total;
    return FD_OK;
}

#define FD_LOSS_ARGS                                                          \
    fd_index m, fd_index n, const float *y_pred, fd_index rs_p,              \
        fd_index cs_p, const float *y_true, fd_index rs_t, fd_index cs_t,    \
        const float *weights, fd_index inc_w, float *grad, fd_index rs_g,    \
        fd_index cs_g
#define FD_LOSS_CALL(kind, param)                                             \
    fd_loss_run(kind, param, m, n, y_pred, rs_p, cs_p, y_true, rs_t, cs_t,   \
                weights, inc_w, grad, rs_g, cs_g, scale, loss_sum, nthreads)

int fd_mse_loss_f32(FD_LOSS_ARGS, float scale, double *loss_sum, int nthreads)
{
    return FD_LOSS_CALL(FD_LOSS_MSE, 0.0);
}

int fd_mae_loss_f32(FD_LOSS_ARGS, float scale, double *loss_sum, int nthreads)
{
    return FD_LOSS_CALL(FD_LOSS_MAE, 0.0);
}

int fd_huber_loss_f32(FD_LOSS_ARGS, float delta, float scale, double *loss_sum,
                      int nthreads)
{
    if (!(delta > 0.0f) || delta == INFINITY)
        return FD_EINVAL;
    return FD_LOSS_CALL(FD_LOSS_HUBER, (double)delta);
}

int fd_log_cosh_loss_f32(FD_LOSS_ARGS, float scale, double *loss_sum, int nthreads)
{
    return FD_LOSS_CALL(FD_LOSS_LOG_COSH, 0.0);
}

int fd_kld_loss_f32(FD_LOSS_ARGS, float scale, double *loss_sum, int nthreads)
{
    return FD_LOSS_CALL(FD_LOSS_KLD, 0.0);
}

/* ---- sigmoid + binary cross-entropy from logits --------------------------- */

/* One row; returns the sum over j of the element losses. */
static double fd_bce_row(fd_index n, const float *x, fd_index cx, const float *y,
                         fd_index cy, double keep, double add, float *pr,
                         fd_index cpr, float *g, fd_index cg, double gscale,
                         int64_t *hits)
{
    double sum = 0.0;
    int64_t h = 0;
    for (fd_index j = 0; j < n; j++) {
        const double z = x[j * cx];
        const float yv = y[j * cy];
        const double t = (double)yv * keep + add;
        const double e = exp(-fabs(z));              /* in [0, 1] */
        /* max(z, 0) - z t = a z with a = 1 - t or -t; a = 0 adds 0 even at
         * z = +-inf (the limit), not inf * 0 */
        const double a = z >= 0.0 ? 1.0 - t : -t;
        sum += (a == 0.0 ? 0.0 : a * z) + log1p(e);
        const double s = z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        if (pr)
            pr[j * cpr] = (float)s;
        if (g)
            g[j * cg] = (float)(gscale * (s - t));
        /* round(sigmoid(z)) == y: z > 0 predicts 1 (sigmoid(0) = 0.5 rounds
         * to 0, half to even); NaN matches neither */
        h += (yv == 1.0f && z > 0.0) || (yv == 0.0f && z <= 0.0);
    }
    *hits += h;
    return sum;
}

int fd_sigmoid_bce_f32(fd_index m, fd_index n,
                       const float *logits, fd_index rs_x, fd_index cs_x,
                       const float *y, fd_index rs_y, fd_index cs_y,
                       const float *weights, fd_index inc_w,
                       float label_smoothing,
                       float *probs, fd_index rs_p, fd_index cs_p,
                       float *grad, fd_index rs_g, fd_index cs_g,
                       float scale, double *loss_sum, int64_t *n_correct,
                       int nthreads)
{
    if (m < 0 || n < 0 || loss_sum == NULL || n_correct == NULL)
        return FD_EINVAL;
    *loss_sum = 0.0;
    *n_correct = 0;
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return FD_EINVAL;
    if (m == 0 || n == 0)
        return FD_OK;
    const double ls = label_smoothing, per_col = 1.0 / (double)n;
    const double keep = 1.0 - ls, add = 0.5 * ls;
    double part[FD_LOSS_MAX_BLOCKS];
    int64_t part_hits[FD_LOSS_MAX_BLOCKS];
    fd_index nb, rows;
    fd_loss_blocks(m, n, &nb, &rows);
    const int nt = fd_threads_for(m * n, nthreads);
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (fd_index b = 0; b < nb; b++) {
        const fd_index r1 = fd_min(m, (b + 1) * rows);
        double acc = 0.0;
        int64_t hits = 0;
        for (fd_index i = b * rows; i < r1; i++) {
            const double wi = weights ? (double)weights[i * inc_w] : 1.0;
            const double row = fd_bce_row(n, logits + i * rs_x, cs_x, y + i * rs_y,
                                          cs_y, keep, add,
                                          probs ? probs + i * rs_p : NULL, cs_p,
                                          grad ? grad + i * rs_g : NULL, cs_g,
                                          (double)scale * wi * per_col, &hits);
            acc += weights ? wi * (row * per_col) : row * per_col;
        }
        part[b] = acc;
        part_hits[b] = hits;
    }
    double total = 0.0;
    int64_t hits = 0;
    for (fd_index b = 0; b < nb; b++) {
        total += part[b];
        hits += part_hits[b];
    }
    *loss_sum = total;
    *n_correct = hits;
    return FD_OK;
}
