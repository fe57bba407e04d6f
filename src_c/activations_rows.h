/*
 * activations_rows.h -- the chunk loops of the activation kernels, compiled
 * once per instruction set: activations.c includes it for the portable
 * build, activations_avx2.c and activations_avx512.c with their own ISA
 * flags (setup.py), and activations.c picks the build fd_simd_level()
 * allows on every call.
 *
 * Each loop is a unit-stride pass over a stack chunk (activations.c gathers
 * strided operands into it), over the straight-line element functions of
 * activations_math.h, which the compiler vectorises: 4, 8 or 16 floats per
 * step.  No contraction, no libm: every build gives the same bits.
 *
 * GCC needs -fno-trapping-math here (set below for this file only): with
 * the default -ftrapping-math it will not evaluate both arms of a select
 * that holds arithmetic, and jump threading turns the clamps into such
 * selects, so 18 of the 24 loops stayed scalar (SSE2 and AVX2; gcc 12).
 * The flag changes no value (rounding and NaN/inf are IEEE either way), only
 * whether the FP exception flags may be raised speculatively; clang's default
 * is already that.
 *
 * Before including: FD_ACT_SUFFIX (possibly empty), FD_ACT_LINKAGE.
 */
#include "activations_internal.h"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif
#include "activations_math.h"

#define FD_ACT_CAT2(a, b) a##b
#define FD_ACT_CAT(a, b) FD_ACT_CAT2(a, b)
#define FD_ACT_FN(name) FD_ACT_CAT(name, FD_ACT_SUFFIX)

#define FD_ACT_MAP(EXPR)                                                      \
    for (fd_index j = 0; j < len; j++) {                                      \
        const float v = buf[j];                                               \
        buf[j] = (EXPR);                                                      \
    }                                                                         \
    break

#define FD_ACT_GRAD(EXPR)                                                     \
    for (fd_index j = 0; j < len; j++) {                                      \
        const float v = src[j];                                               \
        g[j] = g[j] * (EXPR);                                                 \
    }                                                                         \
    break

FD_ACT_LINKAGE void FD_ACT_FN(fd_act_forward_chunk)(int kind, float param,
                                                   fd_index len, float *restrict buf)
{
    switch (kind) {
    case FD_ACT_ELU: FD_ACT_MAP(fd_a_elu(v, param));
    case FD_ACT_SELU: FD_ACT_MAP(fd_a_selu(v));
    case FD_ACT_GELU: FD_ACT_MAP(fd_a_gelu(v));
    case FD_ACT_GELU_TANH: FD_ACT_MAP(fd_a_gelu_tanh(v));
    case FD_ACT_LEAKY_RELU: FD_ACT_MAP(fd_a_leaky_relu(v, param));
    case FD_ACT_SOFTPLUS: FD_ACT_MAP(fd_a_softplus(v));
    case FD_ACT_SWISH: FD_ACT_MAP(fd_a_swish(v));
    case FD_ACT_EXPONENTIAL: FD_ACT_MAP(fd_a_exponential(v));
    case FD_ACT_HARD_SIGMOID: FD_ACT_MAP(fd_a_hard_sigmoid(v, param));
    case FD_ACT_SOFTSIGN: FD_ACT_MAP(fd_a_softsign(v));
    case FD_ACT_SIGMOID: FD_ACT_MAP(fd_a_sigmoid(v));
    case FD_ACT_TANH: FD_ACT_MAP(fd_a_tanh(v));
    default: break;
    }
}

FD_ACT_LINKAGE void FD_ACT_FN(fd_act_backward_chunk)(int kind, float param,
                                                    fd_index len, float *restrict g,
                                                    const float *restrict src)
{
    switch (kind) {
    case FD_ACT_ELU: FD_ACT_GRAD(fd_a_elu_d(v, param));
    case FD_ACT_SELU: FD_ACT_GRAD(fd_a_selu_d(v));
    case FD_ACT_GELU: FD_ACT_GRAD(fd_a_gelu_d(v));
    case FD_ACT_GELU_TANH: FD_ACT_GRAD(fd_a_gelu_tanh_d(v));
    case FD_ACT_LEAKY_RELU: FD_ACT_GRAD(fd_a_leaky_relu_d(v, param));
    case FD_ACT_SOFTPLUS: FD_ACT_GRAD(fd_a_softplus_d(v));
    case FD_ACT_SWISH: FD_ACT_GRAD(fd_a_swish_d(v));
    case FD_ACT_EXPONENTIAL: FD_ACT_GRAD(v);
    case FD_ACT_HARD_SIGMOID: FD_ACT_GRAD(fd_a_hard_sigmoid_d(v, param));
    case FD_ACT_SOFTSIGN: FD_ACT_GRAD(fd_a_softsign_d(v));
    case FD_ACT_SIGMOID: FD_ACT_GRAD(fd_a_sigmoid_d(v));
    case FD_ACT_TANH: FD_ACT_GRAD(fd_a_tanh_d(v));
    default: break;
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
