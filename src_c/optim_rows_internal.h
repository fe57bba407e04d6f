/*
 * optim_rows_internal.h -- the table of the optimizer family's row loops
 * (optim_rows.h) for one instruction set, as optim.c uses them.  Not public
 * API.  Same scheme as rows_internal.h, with a table of its own.
 */
#ifndef FD_OPTIM_ROWS_INTERNAL_H
#define FD_OPTIM_ROWS_INTERNAL_H

#include "fastdense.h"

#define FD_OPTIM_ROWS_SIGNATURES(P, sfx)                                      \
    void P(fd_gclip_row##sfx)(fd_index len, const float *g, fd_index cg,      \
                              float gscale, float clip, float *out);          \
    double P(fd_sumsq_row##sfx)(fd_index len, const float *x, fd_index cx);   \
    void P(fd_adagrad_row##sfx)(fd_index len, float *p, fd_index cp,          \
                                const float *g, fd_index cg, float *a,        \
                                fd_index ca, float lr, float eps);            \
    void P(fd_adadelta_row##sfx)(fd_index len, float *p, fd_index cp,         \
                                 const float *g, fd_index cg, float *a,       \
                                 fd_index ca, float *d, fd_index cd,          \
                                 float lr, float rho, float one_minus_rho,    \
                                 float eps);                                  \
    void P(fd_adamax_row##sfx)(fd_index len, float *p, fd_index cp,           \
                               const float *g, fd_index cg, float *m1,        \
                               fd_index cm, float *u, fd_index cu,            \
                               float lr_t, float beta1, float beta2,          \
                               float c1, float eps);                          \
    void P(fd_nadam_row##sfx)(fd_index len, float *p, fd_index cp,            \
                              const float *g, fd_index cg, float *m1,         \
                              fd_index cm, float *v2, fd_index cv, float lr,  \
                              float beta1, float beta2, float c1, float c2,   \
                              float kg, float km, float vs, float eps);       \
    void P(fd_adamw_row##sfx)(fd_index len, float *p, fd_index cp,            \
                              const float *g, fd_index cg, float *m1,         \
                              fd_index cm, float *v2, fd_index cv,            \
                              float lr_t, float beta1, float beta2, float c1, \
                              float c2, float eps, float decay);

#define FD_OPTIM_ROWS_NAME(name) name
#define FD_OPTIM_ROWS_POINTER(name) (*name)

FD_OPTIM_ROWS_SIGNATURES(FD_OPTIM_ROWS_NAME, _avx2)
FD_OPTIM_ROWS_SIGNATURES(FD_OPTIM_ROWS_NAME, _avx512)

/* the loops of one build; each field is named as the portable function */
typedef struct {
    FD_OPTIM_ROWS_SIGNATURES(FD_OPTIM_ROWS_POINTER, )
} fd_optim_rows_table;

/* The table for this CPU and FASTDENSE_SIMD, read on every call. */
fd_optim_rows_table fd_optim_rows_select(void);

#endif
