/*
 * dropout_internal.h -- the table of row loops of the dropout and
 * regularizer kernels (dropout_rows.h) for one instruction set, as
 * dropout.c and regularize.c use them.  Not public API.
 */
#ifndef FD_DROPOUT_INTERNAL_H
#define FD_DROPOUT_INTERNAL_H

#include <stdint.h>

#include "fastdense.h"

/* fd_philox_fill may write up to this many blocks past the ones asked for
 * (the vector builds work in whole groups): buffers are rounded up to it. */
#define FD_PHILOX_GROUP 64

/* l1/l2 terms of fd_l1l2_row */
#define FD_L1L2_L1 1
#define FD_L1L2_L2 2

#define FD_DROPOUT_SIGNATURES(P, sfx)                                         \
    void P(fd_philox_fill##sfx)(uint32_t *words, uint64_t b0,                 \
                                fd_index nblocks, uint32_t k0, uint32_t k1,   \
                                uint32_t s0, uint32_t s1);                    \
    void P(fd_dropout_row##sfx)(fd_index len, const uint32_t *u, uint32_t t,  \
                                float scale, const float *x, fd_index cx,     \
                                float *o, fd_index co);                       \
    void P(fd_relu_dropout_row##sfx)(fd_index len, const float *g,            \
                                     fd_index cg, const float *y,             \
                                     fd_index cy, float *o, fd_index co,      \
                                     float scale, float *acc);                \
    void P(fd_l1l2_row##sfx)(fd_index len, const float *w, fd_index cw,       \
                             float *g, fd_index cg, float c1, float c2,       \
                             int terms, double sums[2]);

#define FD_DROPOUT_NAME(name) name
#define FD_DROPOUT_POINTER(name) (*name)

FD_DROPOUT_SIGNATURES(FD_DROPOUT_NAME, _avx2)
FD_DROPOUT_SIGNATURES(FD_DROPOUT_NAME, _avx512)

/* the loops of one build; each field is named as the portable function */
typedef struct {
    FD_DROPOUT_SIGNATURES(FD_DROPOUT_POINTER, )
} fd_dropout_table;

/* The table for this CPU and FASTDENSE_SIMD, read on every call. */
fd_dropout_table fd_dropout_select(void);

#endif
