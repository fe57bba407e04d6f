/*
 * activations_internal.h -- the activation kinds and the table of chunk
 * loops (activations_rows.h) for one instruction set, as activations.c
 * uses them.  Not public API.
 */
#ifndef FD_ACTIVATIONS_INTERNAL_H
#define FD_ACTIVATIONS_INTERNAL_H

#include "fastdense.h"

enum {
    FD_ACT_ELU, FD_ACT_SELU, FD_ACT_GELU, FD_ACT_GELU_TANH, FD_ACT_LEAKY_RELU,
    FD_ACT_SOFTPLUS, FD_ACT_SWISH, FD_ACT_EXPONENTIAL, FD_ACT_HARD_SIGMOID,
    FD_ACT_SOFTSIGN, FD_ACT_SIGMOID, FD_ACT_TANH, FD_ACT_COUNT
};

/* buf[j] = f(buf[j]) for j < len */
typedef void (*fd_act_forward_fn)(int kind, float param, fd_index len, float *buf);
/* g[j] = g[j] * f'(src[j]) for j < len (src: y or z, per kind) */
typedef void (*fd_act_backward_fn)(int kind, float param, fd_index len, float *g,
                                   const float *src);

#define FD_ACT_DECLARE(sfx)                                                   \
    void fd_act_forward_chunk##sfx(int kind, float param, fd_index len,      \
                                   float *buf);                               \
    void fd_act_backward_chunk##sfx(int kind, float param, fd_index len,     \
                                    float *g, const float *src);

FD_ACT_DECLARE(_avx2)
FD_ACT_DECLARE(_avx512)

#endif
