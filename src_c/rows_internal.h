/*
 * rows_internal.h -- the table of row loops (rows.h) for one instruction
 * set, as elementwise.c and optim.c use them.  Not public API.
 */
#ifndef FD_ROWS_INTERNAL_H
#define FD_ROWS_INTERNAL_H

#include "fastdense.h"

/* The signatures, once, as a macro of the name suffix: the function
 * declarations of each ISA build and the pointer types of the table. */
#define FD_ROWS_SIGNATURES(P, sfx)                                            \
    void P(fd_add_row##sfx)(fd_index len, const float *x, fd_index cx,        \
                            const float *y, fd_index cy, float *o,            \
                            fd_index co);                                     \
    void P(fd_relu_row##sfx)(fd_index len, const float *x, fd_index cx,       \
                             float *o, fd_index co);                          \
    void P(fd_accumulate_row##sfx)(fd_index len, const float *src,            \
                                   fd_index cs, float *acc);                  \
    void P(fd_relu_mask_row##sfx)(fd_index len, const float *g, fd_index cg,  \
                                  const float *y, fd_index cy, float *o,      \
                                  fd_index co, float *acc);                   \
    void P(fd_rmsprop_row##sfx)(fd_index len, float *p, fd_index cp,          \
                                const float *g, fd_index cg, float *a,        \
                                fd_index ca, float lr, float rho,             \
                                float one_minus_rho, float eps);              \
    void P(fd_sgd_row##sfx)(fd_index len, float *p, fd_index cp,              \
                            const float *g, fd_index cg, float *v,            \
                            fd_index cv, float lr, float momentum,            \
                            int nesterov);                                    \
    void P(fd_adam_row##sfx)(fd_index len, float *p, fd_index cp,             \
                             const float *g, fd_index cg, float *m1,          \
                             fd_index cm, float *v2, fd_index cv, float lr_t, \
                             float beta1, float beta2, float c1, float c2,    \
                             float eps);

#define FD_ROWS_NAME(name) name
#define FD_ROWS_POINTER(name) (*name)

FD_ROWS_SIGNATURES(FD_ROWS_NAME, _avx2)
FD_ROWS_SIGNATURES(FD_ROWS_NAME, _avx512)

/* the loops of one build; each field is named as the portable function */
typedef struct {
    FD_ROWS_SIGNATURES(FD_ROWS_POINTER, )
} fd_rows_table;

/* The table for this CPU and FASTDENSE_SIMD, read on every call (nothing is
 * cached: no global state). */
fd_rows_table fd_rows_select(void);

#endif
