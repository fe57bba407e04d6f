/*
 * activations.c -- elementwise activations and their backward passes: elu,
 * selu, gelu (erf and tanh forms), leaky_relu, softplus, swish (silu),
 * exponential, hard_sigmoid, softsign, sigmoid, tanh.
 *
 * Model: one pass each.  A forward kernel maps z to y; a backward kernel
 * maps dL/dy to dL/dz = dL/dy * f'(.) from y where that is exact and stable
 * (the derivative is a function of the output: elu, selu, leaky_relu,
 * softplus, exponential, hard_sigmoid, sigmoid, tanh -- what TensorFlow's
 * gradients use too) and from z where it is not (gelu, swish, softsign).
 * The matrix is split into the row/column-chunk tasks of fd_internal.h
 * (threads above FD_PAR_MIN_ELEMS elements times the kind's cost, below;
 * each element is independent, so any thread count gives the same bits).  Each task walks its columns 256 at a
 * time through stack buffers: strided operands are gathered there, the
 * chunk loop of activations_rows.h runs unit-stride in place, and the result
 * is stored back -- so every layout gives the bits of the contiguous case,
 * and an output that is exactly an input (out = z, out = grad) is safe.
 * The chunk loops are compiled per ISA (the portable build here,
 * activations_avx2.c, activations_avx512.c) from one source; the vector math
 * (activations_math.h) has no branches and no libm calls, so the compiler
 * vectorises every loop and all levels give the same bits.  Measured on
 * 128 x 512 (AMD Zen 5, one thread, median of 60): generic / AVX2 / AVX-512
 * elu 77 / 38 / 21 us, gelu 470 / 215 / 114, softplus 360 / 149 / 76,
 * swish 213 / 70 / 42 (NumPy float32 idioms: elu 285, softplus 1357, swish
 * 54; np.tanh's own SIMD tanh, 18 us, beats ours, 30).
 */
#include <string.h>

#include "fd_internal.h"
#include "activations_internal.h"

#define FD_ACT_SUFFIX
#define FD_ACT_LINKAGE static
#include "activations_rows.h"

#define FD_ACT_BUF 256

typedef struct {
    fd_act_forward_fn forward;
    fd_act_backward_fn backward;
} fd_act_table;

/* The chunk loops for this CPU and FASTDENSE_SIMD (read on every call). */
static fd_act_table fd_act_select(void)
{
    fd_act_table t = {fd_act_forward_chunk, fd_act_backward_chunk};
    const int level = fd_simd_level();
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2) {
        t.forward = fd_act_forward_chunk_avx2;
        t.backward = fd_act_backward_chunk_avx2;
    }
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512) {
        t.forward = fd_act_forward_chunk_avx512;
        t.backward = fd_act_backward_chunk_avx512;
    }
#endif
    (void)level;
    return t;
}

static void fd_act_load(fd_index len, const float *src, fd_index cs, float *buf)
{
    if (cs == 1)
        memcpy(buf, src, (size_t)len * sizeof(float));
    else
        for (fd_index j = 0; j < len; j++)
            buf[j] = src[j * cs];
}

static void fd_act_store(fd_index len, const float *buf, float *dst, fd_index cs)
{
    if (cs == 1)
        memcpy(dst, buf, (size_t)len * sizeof(float));
    else
        for (fd_index j = 0; j < len; j++)
            dst[j * cs] = buf[j];
}

static void fd_act_forward_task(const fd_act_table *t, int kind, float param,
                                fd_index len, const float *x, fd_index cx,
                                float *o, fd_index co)
{
    float buf[FD_ACT_BUF];
    for (fd_index j0 = 0; j0 < len; j0 += FD_ACT_BUF) {
        const fd_index l = fd_min(FD_ACT_BUF, len - j0);
        fd_act_load(l, x + j0 * cx, cx, buf);
        t->forward(kind, param, l, buf);
        fd_act_store(l, buf, o + j0 * co, co);
    }
}

static void fd_act_backward_task(const fd_act_table *t, int kind, float param,
                                 fd_index len, const float *g, fd_index cg,
                                 const float *s, fd_index cs, float *o,
                                 fd_index co)
{
    float gb[FD_ACT_BUF], sb[FD_ACT_BUF];
    for (fd_index j0 = 0; j0 < len; j0 += FD_ACT_BUF) {
        const fd_index l = fd_min(FD_ACT_BUF, len - j0);
        fd_act_load(l, g + j0 * cg, cg, gb);
        fd_act_load(l, s + j0 * cs, cs, sb);
        t->backward(kind, param, l, gb, sb);
        fd_act_store(l, gb, o + j0 * co, co);
    }
}

/* The cost of one element in units of a memory-bound pass (measured on
 * 128 x 512, AVX-512, one thread: leaky_relu 8 us, elu 17, sigmoid 36, swish
 * 42, gelu_tanh 53, softplus 75, gelu 101): the work the threading threshold
 * FD_PAR_MIN_ELEMS is compared with is elements * cost, so the expensive
 * kinds take both cores from 32768 elements on (128 x 512 gelu: 100 -> 52 us
 * on two threads; elementwise, so the bits do not change). */
static fd_index fd_act_cost(int kind)
{
    switch (kind) {
    case FD_ACT_GELU: case FD_ACT_GELU_TANH: case FD_ACT_SOFTPLUS: case FD_ACT_SWISH:
        return 4;
    case FD_ACT_LEAKY_RELU: case FD_ACT_HARD_SIGMOID: case FD_ACT_SOFTSIGN:
        return 1;
    default:
        return 2;
    }
}

/* FD_FOR_TASKS (fd_internal.h) with the work weighted by the kind's cost */
#define FD_ACT_FOR_TASKS(kind, m, n, nthreads, CALL)                          \
    do {                                                                      \
        if ((m) < 0 || (n) < 0)                                               \
            return FD_EINVAL;                                                 \
        if ((m) == 0 || (n) == 0)                                             \
            return FD_OK;                                                     \
        const fd_index per_row_ = ((n) + FD_CHUNK - 1) / FD_CHUNK;            \
        const fd_index tasks_ = (m) * per_row_;                               \
        const int nt_ = fd_threads_for((m) * (n) * fd_act_cost(kind), (nthreads)); \
        (void)nt_;                                                            \
        _Pragma("omp parallel for num_threads(nt_) schedule(static) if (nt_ > 1)") \
        for (fd_index t_ = 0; t_ < tasks_; t_++) {                            \
            const fd_index i = t_ / per_row_;                                 \
            const fd_index j0 = (t_ % per_row_) * FD_CHUNK;                   \
            const fd_index j1 = fd_min((n), j0 + FD_CHUNK);                   \
            CALL;                                                             \
        }                                                                     \
    } while (0)

static int fd_act_forward(int kind, float param, fd_index m, fd_index n,
                          const float *x, fd_index rs_x, fd_index cs_x,
                          float *out, fd_index rs_o, fd_index cs_o, int nthreads)
{
    if (m > 0 && fd_rowmajor(n, rs_x, cs_x, m) && fd_rowmajor(n, rs_o, cs_o, m)) {
        n *= m;
        m = 1;
    }
    const fd_act_table t = fd_act_select();
    FD_ACT_FOR_TASKS(kind, m, n, nthreads,
        fd_act_forward_task(&t, kind, param, j1 - j0, x + i * rs_x + j0 * cs_x,
                            cs_x, out + i * rs_o + j0 * cs_o, cs_o));
    return FD_OK;
}

static int fd_act_backward(int kind, float param, fd_index m, fd_index n,
                           const float *grad, fd_index rs_g, fd_index cs_g,
                           const float *src, fd_index rs_s, fd_index cs_s,
                           float *out, fd_index rs_o, fd_index cs_o, int nthreads)
{
    if (m > 0 && fd_rowmajor(n, rs_g, cs_g, m) && fd_rowmajor(n, rs_s, cs_s, m) &&
        fd_rowmajor(n, rs_o, cs_o, m)) {
        n *= m;
        m = 1;
    }
    const fd_act_table t = fd_act_select();
    FD_ACT_FOR_TASKS(kind, m, n, nthreads,
        fd_act_backward_task(&t, kind, param, j1 - j0,
                             grad + i * rs_g + j0 * cs_g, cs_g,
                             src + i * rs_s + j0 * cs_s, cs_s,
                             out + i * rs_o + j0 * cs_o, cs_o));
    return FD_OK;
}

/* ---- the public kernels ------------------------------------------------- */

#define FD_ACT_FORWARD_ARGS                                                   \
    fd_index m, fd_index n, const float *x, fd_index rs_x, fd_index cs_x,    \
        float *out, fd_index rs_o, fd_index cs_o
#define FD_ACT_BACKWARD_ARGS(src)                                             \
    fd_index m, fd_index n, const float *grad, fd_index rs_g, fd_index cs_g, \
        const float *src, fd_index rs_s, fd_index cs_s, float *out,          \
        fd_index rs_o, fd_index cs_o
#define FD_ACT_FWD(kind, p)                                                   \
    fd_act_forward(kind, p, m, n, x, rs_x, cs_x, out, rs_o, cs_o, nthreads)
#define FD_ACT_BWD(kind, p, src)                                              \
    fd_act_backward(kind, p, m, n, grad, rs_g, cs_g, src, rs_s, cs_s, out,    \
                    rs_o, cs_o, nthreads)

/* the backward passes that read y need a non-negative slope (NaN refused) */
#define FD_ACT_NONNEG(p) if (!((p) >= 0.0f)) return FD_EINVAL

int fd_elu_f32(FD_ACT_FORWARD_ARGS, float alpha, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_ELU, alpha);
}
int fd_elu_backward_f32(FD_ACT_BACKWARD_ARGS(y), float alpha, int nthreads)
{
    FD_ACT_NONNEG(alpha);
    return FD_ACT_BWD(FD_ACT_ELU, alpha, y);
}

int fd_selu_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_SELU, 0.0f);
}
int fd_selu_backward_f32(FD_ACT_BACKWARD_ARGS(y), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_SELU, 0.0f, y);
}

int fd_gelu_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_GELU, 0.0f);
}
int fd_gelu_backward_f32(FD_ACT_BACKWARD_ARGS(z), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_GELU, 0.0f, z);
}

int fd_gelu_tanh_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_GELU_TANH, 0.0f);
}
int fd_gelu_tanh_backward_f32(FD_ACT_BACKWARD_ARGS(z), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_GELU_TANH, 0.0f, z);
}

int fd_leaky_relu_f32(FD_ACT_FORWARD_ARGS, float alpha, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_LEAKY_RELU, alpha);
}
int fd_leaky_relu_backward_f32(FD_ACT_BACKWARD_ARGS(y), float alpha, int nthreads)
{
    FD_ACT_NONNEG(alpha);
    return FD_ACT_BWD(FD_ACT_LEAKY_RELU, alpha, y);
}

int fd_softplus_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_SOFTPLUS, 0.0f);
}
int fd_softplus_backward_f32(FD_ACT_BACKWARD_ARGS(y), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_SOFTPLUS, 0.0f, y);
}

int fd_swish_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_SWISH, 0.0f);
}
int fd_swish_backward_f32(FD_ACT_BACKWARD_ARGS(z), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_SWISH, 0.0f, z);
}

int fd_exponential_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_EXPONENTIAL, 0.0f);
}
int fd_exponential_backward_f32(FD_ACT_BACKWARD_ARGS(y), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_EXPONENTIAL, 0.0f, y);
}

int fd_hard_sigmoid_f32(FD_ACT_FORWARD_ARGS, float slope, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_HARD_SIGMOID, slope);
}
int fd_hard_sigmoid_backward_f32(FD_ACT_BACKWARD_ARGS(y), float slope, int nthreads)
{
    return FD_ACT_BWD(FD_ACT_HARD_SIGMOID, slope, y);
}

int fd_softsign_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_SOFTSIGN, 0.0f);
}
int fd_softsign_backward_f32(FD_ACT_BACKWARD_ARGS(z), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_SOFTSIGN, 0.0f, z);
}

int fd_sigmoid_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_SIGMOID, 0.0f);
}
int fd_sigmoid_backward_f32(FD_ACT_BACKWARD_ARGS(y), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_SIGMOID, 0.0f, y);
}

int fd_tanh_f32(FD_ACT_FORWARD_ARGS, int nthreads)
{
    return FD_ACT_FWD(FD_ACT_TANH, 0.0f);
}
int fd_tanh_backward_f32(FD_ACT_BACKWARD_ARGS(y), int nthreads)
{
    return FD_ACT_BWD(FD_ACT_TANH, 0.0f, y);
}
