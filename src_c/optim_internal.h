/*
 * optim_internal.h -- the per-ISA row functions of the optimizer updates
 * (optim_rows.h compiled in optim_avx2.c / optim_avx512.c) and the table
 * optim.c chooses from.  Not public API.
 */
#ifndef FD_OPTIM_INTERNAL_H
#define FD_OPTIM_INTERNAL_H

#include "fastdense.h"

typedef void (*fd_rmsprop_row_fn)(fd_index len, float *p, fd_index cp,
                                  const float *g, fd_index cg, float *a,
                                  fd_index ca, float lr, float rho,
                                  float one_minus_rho, float eps);
typedef void (*fd_sgd_row_fn)(fd_index len, float *p, fd_index cp,
                              const float *g, fd_index cg, float *v,
                              fd_index cv, float lr, float momentum,
                              int nesterov);
typedef void (*fd_adam_row_fn)(fd_index len, float *p, fd_index cp,
                               const float *g, fd_index cg, float *m1,
                               fd_index cm, float *v2, fd_index cv,
                               float lr_t, float beta1, float beta2, float c1,
                               float c2, float eps);

typedef struct {
    fd_rmsprop_row_fn rmsprop;
    fd_sgd_row_fn sgd;
    fd_adam_row_fn adam;
} fd_optim_rows;

#define FD_OPTIM_DECLARE(sfx)                                                \
    void fd_rmsprop_row##sfx(fd_index len, float *p, fd_index cp,            \
                             const float *g, fd_index cg, float *a,          \
                             fd_index ca, float lr, float rho,               \
                             float one_minus_rho, float eps);                \
    void fd_sgd_row##sfx(fd_index len, float *p, fd_index cp,                \
                         const float *g, fd_index cg, float *v, fd_index cv, \
                         float lr, float momentum, int nesterov);            \
    void fd_adam_row##sfx(fd_index len, float *p, fd_index cp,               \
                          const float *g, fd_index cg, float *m1,            \
                          fd_index cm, float *v2, fd_index cv, float lr_t,   \
                          float beta1, float beta2, float c1, float c2,      \
                          float eps);

FD_OPTIM_DECLARE(_avx2)
FD_OPTIM_DECLARE(_avx512)

#endif
